-- Contacts, their categories and terminology findings, and the audit log.
-- Sensitive fields are bytea envelopes sealed in helplined (docs/keys.md): PostgreSQL never
-- sees a child's name, a phone number or a counsellor's notes in clear.

CREATE TABLE contacts (
    id                  uuid PRIMARY KEY,
    helpline_id         bigint NOT NULL REFERENCES helplines (id),
    source_system       text NOT NULL CHECK (length(source_system) BETWEEN 1 AND 64),
    source_id           text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 128),
    channel             text NOT NULL,
    contact_type        text NOT NULL,
    started_at          timestamptz NOT NULL,
    ended_at            timestamptz CHECK (ended_at >= started_at),
    counsellor          text,
    created_by          bigint REFERENCES users (id),
    child_age           smallint CHECK (child_age BETWEEN 0 AND 25),
    child_gender        text,
    child_region        text,
    caller_relationship text,
    urgency             text,
    actions             text[] NOT NULL DEFAULT '{}',
    local_categories    text[] NOT NULL DEFAULT '{}',
    child_name          bytea,
    caller_name         bytea,
    caller_phone        bytea,
    summary             bytea,
    transcript          bytea,
    caller_phone_bidx   bytea,
    taxonomy_version    text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (helpline_id, source_system, source_id)
);

CREATE INDEX contacts_helpline_started ON contacts (helpline_id, started_at);
CREATE INDEX contacts_phone_bidx ON contacts (helpline_id, caller_phone_bidx)
    WHERE caller_phone_bidx IS NOT NULL;
CREATE INDEX contacts_counsellor ON contacts (helpline_id, counsellor);

-- source: given (in the request), mapped (from a local label), suggested (from terms
-- found in the text; not counted in statistics until confirmed).
CREATE TABLE contact_categories (
    contact_id  uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    code        text NOT NULL,
    source      text NOT NULL CHECK (source IN ('given', 'mapped', 'suggested')),
    PRIMARY KEY (contact_id, code)
);

-- A terminology finding stores the term id and where it was found, never the text.
CREATE TABLE contact_terms (
    contact_id  uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    term_id     text NOT NULL,
    field       text NOT NULL CHECK (field IN ('summary', 'transcript')),
    occurrences integer NOT NULL CHECK (occurrences > 0),
    PRIMARY KEY (contact_id, term_id, field)
);

-- Who read or changed what, and when; never the data itself. Append-only for everyone:
-- the trigger below refuses UPDATE, DELETE and TRUNCATE whatever the role.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    helpline_id bigint REFERENCES helplines (id),
    user_id     bigint REFERENCES users (id),
    action      text NOT NULL,
    contact_id  uuid,
    detail      text
);

CREATE INDEX audit_log_contact ON audit_log (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
