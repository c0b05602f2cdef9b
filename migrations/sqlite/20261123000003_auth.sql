-- Users, refresh tokens, API keys and the audit log.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY NOT NULL,
    -- Lowercase; unique.
    username            TEXT NOT NULL UNIQUE,
    -- Lowercase; unique.
    email               TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash       TEXT NOT NULL,
    -- admin | operator | viewer
    role                TEXT NOT NULL,
    disabled            INTEGER NOT NULL DEFAULT 0,
    -- Access tokens issued before this second are no longer accepted (password change, disable).
    tokens_valid_after  INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    -- Every token descending from one login shares a family; reuse of a retired one revokes it.
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    -- Set when the token was exchanged for a new pair (one use each).
    used_at     TEXT,
    revoked_at  TEXT
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    -- The first characters of the key, to recognize it in lists.
    prefix       TEXT NOT NULL,
    -- SHA-256 of the key; the key itself is shown once and never stored.
    key_hash     TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY NOT NULL,
    at          TEXT NOT NULL,
    -- user | api_key | anonymous | cli
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    client_addr TEXT,
    request_id  TEXT,
    -- success | failure | denied
    outcome     TEXT NOT NULL,
    detail      TEXT
);

CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, id);
