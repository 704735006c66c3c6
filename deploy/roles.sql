-- PostgreSQL privileges of a production helpline database (deploy/README.md, "Roles").
--
--   helpline_owner  owns the database, the schema and every table: `helplined migrate` and the
--                   admin subcommands (helpline, user, ingest-secret, keys) connect as it
--   helpline_app    what `helplined serve` connects as: reads and writes records, may only
--                   append to audit_log, can change no schema, truncate nothing, drop nothing
--
-- Run as a superuser, connected to the helpline database, after `helplined migrate` (as
-- helpline_owner) has created the tables, and again after every upgrade whose migrations add a
-- table: it is idempotent, and it runs as one transaction (all of it or nothing).
--
--     psql -v ON_ERROR_STOP=1 -d helpline -f deploy/roles.sql
--
-- The rule: a migration that adds a table adds it here in the same commit, with the least the
-- daemon needs (tests/integration/test_roles.c fails on a table of the schema this file does not
-- name, and its normal flow fails on one the daemon uses but may not reach). Tables get no default
-- privileges: a table that is not named here is unreachable for the daemon, never over-granted.
BEGIN;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'helpline_owner') THEN
        RAISE EXCEPTION 'role helpline_owner does not exist: create it and run helplined migrate as it first';
    END IF;
    -- No password here: set one (ALTER ROLE helpline_app PASSWORD ...) or use peer or
    -- certificate authentication in pg_hba.conf.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'helpline_app') THEN
        CREATE ROLE helpline_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    -- No temporary tables (helplined uses none), on whichever database this runs in.
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO helpline_app', current_database());
END
$$;

-- Nobody but the owner creates objects in the schema (PostgreSQL 15's default for a new
-- database; a database created by an older version still grants CREATE to PUBLIC).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO helpline_app;

-- Start from nothing, so that a privilege removed from this file is removed from the database.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM helpline_app;

-- 0001: helplines and users are written by the admin subcommands (and users, from 0009 on, by
-- admins through the daemon: below).
GRANT SELECT ON helplines, users TO helpline_app;
-- `helplined migrate`'s bookkeeping: serve never reads it.
REVOKE ALL ON schema_migrations FROM helpline_app;

-- 0002: contacts are stored and PATCHed, never deleted by the daemon; a PATCH replaces the
-- contact's category and term rows.
GRANT SELECT, INSERT, UPDATE ON contacts TO helpline_app;
GRANT SELECT, INSERT, DELETE ON contact_categories, contact_terms TO helpline_app;
-- The audit log is append-only for the daemon, which never reads it either (its triggers refuse
-- UPDATE, DELETE and TRUNCATE to the owner too).
GRANT INSERT ON audit_log TO helpline_app;

-- 0003, 0005, 0010: statistics cells; the writer (and, since 0010, the triggers on referrals and
-- case_entries, which run as the daemon) appends deltas to stats_pending, the merger folds them
-- into stats_daily and stats_monthly (DELETE ... RETURNING, INSERT ... ON CONFLICT DO UPDATE).
GRANT SELECT, INSERT, UPDATE ON stats_daily, stats_monthly TO helpline_app;
GRANT SELECT, INSERT, DELETE ON stats_pending TO helpline_app;

-- 0004: front ends' webhook secrets are set by `helplined ingest-secret`, checked by serve.
GRANT SELECT ON ingest_secrets TO helpline_app;

-- 0007: cases. The timeline is written, never changed (its trigger refuses changes anyway but to
-- the sealed text, which only `helplined keys reencrypt` re-seals); a contact is linked and
-- unlinked.
GRANT SELECT, INSERT, UPDATE ON cases, referrals TO helpline_app;
GRANT SELECT, INSERT ON case_entries TO helpline_app;
GRANT SELECT, INSERT, DELETE ON case_contacts TO helpline_app;

-- 0009: web sessions. Logins open and end sessions; admins add users, set web passwords and
-- revoke users from the web application (docs/http-api.md "Sessions", "Users"): the daemon may
-- insert users and change those three columns of them, nothing else (not a role, a name, a token).
GRANT INSERT ON users TO helpline_app;
GRANT UPDATE (password_hash, password_set_at, revoked_at) ON users TO helpline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO helpline_app;

-- Sequences: nextval for the daemon's inserts (audit_log's id, and any later serial column of a
-- table it may insert into). New sequences get the same by default, so that an INSERT granted
-- above is not refused on its sequence; a sequence alone opens no table.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO helpline_app;
ALTER DEFAULT PRIVILEGES FOR ROLE helpline_owner IN SCHEMA public GRANT USAGE ON SEQUENCES TO helpline_app;

COMMIT;
