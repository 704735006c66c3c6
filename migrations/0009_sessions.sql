-- Web sessions (api.md "Web application and sessions"; docs/http-api.md "Sessions").
--
-- Only adds. users gains a web password: an Argon2id string (crypto_pwhash_str, made in helplined;
-- the password itself never reaches PostgreSQL), NULL when the user has none (no web login).
-- A session is kept like an access token (docs/keys.md section 6): its selector and a keyed hash of
-- its verifier, never the token, so a copy of the table opens no session. helplined ends a session
-- after session_idle unused or session_max after login, on logout, when the user's password is set
-- and when the user is revoked.

ALTER TABLE users ADD COLUMN password_hash text CHECK (password_hash LIKE '$argon2id$%');
ALTER TABLE users ADD COLUMN password_set_at timestamptz;

CREATE TABLE sessions (
    id              bigserial PRIMARY KEY,
    token_selector  bytea NOT NULL UNIQUE CHECK (length(token_selector) = 16),
    token_hash      bytea NOT NULL CHECK (length(token_hash) = 32),
    user_id         bigint NOT NULL REFERENCES users (id),
    helpline_id     bigint NOT NULL REFERENCES helplines (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz NOT NULL DEFAULT now()
);

-- A user's sessions end together (password set, revoke); expired ones are swept at each login.
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_used ON sessions (last_used_at);
