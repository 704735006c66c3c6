-- PostgreSQL roles for a production helpline database (run once as a superuser, after
-- `helplined migrate` has run as the owner role `helpline_owner`).
--   helpline_owner  owns the schema; used only by `helplined migrate` and admin subcommands
--   helpline_app    what `helplined serve` connects as: reads and writes contacts, may only
--                   INSERT into audit_log
CREATE ROLE helpline_app LOGIN;
GRANT USAGE ON SCHEMA public TO helpline_app;
GRANT SELECT ON helplines, users, schema_migrations TO helpline_app;
GRANT SELECT, INSERT, UPDATE ON contacts, contact_categories, contact_terms TO helpline_app;
GRANT DELETE ON contact_categories, contact_terms TO helpline_app;
GRANT SELECT, INSERT ON audit_log TO helpline_app;
-- cases (migration 0007): the timeline is written, never changed (its trigger refuses it anyway)
GRANT SELECT, INSERT, UPDATE ON cases, referrals TO helpline_app;
GRANT SELECT, INSERT ON case_entries TO helpline_app;
GRANT SELECT, INSERT, DELETE ON case_contacts TO helpline_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM helpline_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO helpline_app;
