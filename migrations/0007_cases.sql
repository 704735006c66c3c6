-- Cases (api.md "Cases"): the follow-up of one child's situation across contacts, with an
-- append-only timeline of linked contacts, notes, referrals and status changes.
--
-- Only adds: the tables before this one keep their rows and columns (audit_log gains a nullable
-- column). Free text is sealed in helplined like the contacts' (docs/keys.md, "Case fields"):
-- cases.label and cases.summary, case_entries.text, referrals.organisation and
-- referrals.details are bytea envelopes whose associated data names the table, the column and
-- the case (and entry or referral) they belong to. PostgreSQL never sees them in clear.

CREATE TABLE cases (
    id           uuid PRIMARY KEY,
    helpline_id  bigint NOT NULL REFERENCES helplines (id),
    created_by   bigint NOT NULL REFERENCES users (id),
    assigned_to  bigint REFERENCES users (id),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'closed')),
    priority     text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    follow_up_at timestamptz,
    label        bytea, -- sealed; NULL only once erased
    summary      bytea, -- sealed
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- GET /v1/cases lists newest first by (created_at, id): a case never moves in that order, so
-- cursor pages stay stable while cases change. One index per filter that narrows a helpline's
-- cases a lot (status, assignee, follow-up date); priority is checked on the rows found.
CREATE INDEX cases_list ON cases (helpline_id, created_at DESC, id DESC);
CREATE INDEX cases_status ON cases (helpline_id, status, created_at DESC, id DESC);
CREATE INDEX cases_assigned ON cases (helpline_id, assigned_to, status, created_at DESC, id DESC);
CREATE INDEX cases_follow_up ON cases (helpline_id, follow_up_at) WHERE follow_up_at IS NOT NULL;

-- The contacts a case holds now. The primary key is the rule "a contact is in at most one
-- case"; the link's history is in case_entries.
CREATE TABLE case_contacts (
    contact_id uuid PRIMARY KEY REFERENCES contacts (id),
    case_id    uuid NOT NULL REFERENCES cases (id),
    linked_at  timestamptz NOT NULL DEFAULT now(),
    linked_by  bigint REFERENCES users (id)
);

CREATE INDEX case_contacts_case ON case_contacts (case_id);

-- referral_to is one of lib/contact's referral.* action codes. state is the referral's
-- current state; each state it had is a case_entries row.
CREATE TABLE referrals (
    id           uuid PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    referral_to  text NOT NULL CHECK (referral_to ~ '^referral\.[a-z_]+$'),
    organisation bytea, -- sealed
    details      bytea, -- sealed
    state        text NOT NULL CHECK (state IN ('made', 'accepted', 'declined', 'completed')),
    created_by   bigint REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX referrals_case ON referrals (case_id);

-- The timeline: one row per event, never changed or removed (the trigger below), ordered by
-- (at, seq). A contact entry records a link, or an unlink with unlinked = true. A referral
-- entry records the state the referral was given at that moment. Only the sealed text may be
-- rewritten (key rotation re-seals it; erasure clears it).
CREATE TABLE case_entries (
    id             uuid PRIMARY KEY,
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    case_id        uuid NOT NULL REFERENCES cases (id),
    kind           text NOT NULL CHECK (kind IN ('contact', 'note', 'referral', 'status')),
    at             timestamptz NOT NULL DEFAULT now(),
    by_user        bigint REFERENCES users (id),
    text           bytea, -- note, sealed
    contact_id     uuid REFERENCES contacts (id),
    unlinked       boolean,
    referral_id    uuid REFERENCES referrals (id),
    referral_state text CHECK (referral_state IN ('made', 'accepted', 'declined', 'completed')),
    status_from    text CHECK (status_from IN ('open', 'in_progress', 'closed')),
    status_to      text CHECK (status_to IN ('open', 'in_progress', 'closed')),
    CHECK (kind <> 'contact' OR (contact_id IS NOT NULL AND unlinked IS NOT NULL)),
    CHECK (kind <> 'referral' OR (referral_id IS NOT NULL AND referral_state IS NOT NULL)),
    CHECK (kind <> 'status' OR status_to IS NOT NULL)
);

CREATE INDEX case_entries_timeline ON case_entries (case_id, at, seq);

CREATE FUNCTION case_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND
       ROW(NEW.id, NEW.seq, NEW.case_id, NEW.kind, NEW.at, NEW.by_user, NEW.contact_id, NEW.unlinked,
           NEW.referral_id, NEW.referral_state, NEW.status_from, NEW.status_to)
       IS NOT DISTINCT FROM
       ROW(OLD.id, OLD.seq, OLD.case_id, OLD.kind, OLD.at, OLD.by_user, OLD.contact_id, OLD.unlinked,
           OLD.referral_id, OLD.referral_state, OLD.status_from, OLD.status_to) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'case_entries is append-only';
END;
$$;

CREATE TRIGGER case_entries_no_change BEFORE UPDATE OR DELETE ON case_entries
    FOR EACH ROW EXECUTE FUNCTION case_entries_append_only();
CREATE TRIGGER case_entries_no_truncate BEFORE TRUNCATE ON case_entries
    FOR EACH STATEMENT EXECUTE FUNCTION case_entries_append_only();

-- Reads of sealed case fields and unlinks are audited with the case's id.
ALTER TABLE audit_log ADD COLUMN case_id uuid;
CREATE INDEX audit_log_case ON audit_log (case_id) WHERE case_id IS NOT NULL;
