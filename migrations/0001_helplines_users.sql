-- Helplines and the people and machines that use them.
-- A user's token is never stored: only its selector and a keyed hash of its verifier
-- (see docs/keys.md).

CREATE TABLE helplines (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{1,31}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    country     char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    network     text CHECK (network ~ '^[a-z0-9][a-z0-9_-]{1,31}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX helplines_network ON helplines (network) WHERE network IS NOT NULL;

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    helpline_id     bigint NOT NULL REFERENCES helplines (id),
    name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    role            text NOT NULL CHECK (role IN ('frontend', 'counsellor', 'supervisor', 'network', 'admin')),
    token_selector  bytea NOT NULL UNIQUE,
    token_hash      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    UNIQUE (helpline_id, name)
);
