-- Shared secrets of front ends that post webhooks and cannot carry a bearer token
-- (Rocket.Chat Omnichannel's X-RocketChat-Livechat-Token). One secret per helpline and
-- system. Only a keyed BLAKE2b hash of the secret is stored (the token hash key of
-- docs/keys.md), so a copy of the database holds no usable secret. The secret is 256 random
-- bits, so the hash alone identifies the helpline: the request carries no selector.
CREATE TABLE ingest_secrets (
    helpline_id  bigint NOT NULL REFERENCES helplines (id),
    system       text NOT NULL CHECK (system ~ '^[a-z0-9_-]{1,64}$'),
    secret_hash  bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (helpline_id, system)
);
