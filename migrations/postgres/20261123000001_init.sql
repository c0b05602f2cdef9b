-- The gateway's schema on PostgreSQL: the same tables, columns and constraints as the SQLite
-- migrations add up to, so both backends read and write the same rows.
--
-- Timestamps are UTC RFC 3339 text with microseconds and ids are UUIDv7 text: both are fixed
-- width, so comparing them as text (collation "C", byte order) compares times and creation
-- order, exactly as on SQLite. JSON columns hold text.

CREATE TABLE calls (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    provider              TEXT NOT NULL,
    provider_kind         TEXT NOT NULL,
    provider_call_id      TEXT,
    telephony_ids         TEXT NOT NULL DEFAULT '{}',
    status                TEXT NOT NULL,
    status_reason         TEXT,
    to_number             TEXT NOT NULL,
    from_number_id        TEXT,
    agent_id              TEXT,
    variables             TEXT NOT NULL DEFAULT '{}',
    metadata              TEXT NOT NULL DEFAULT '{}',
    first_message         TEXT,
    created_at            TEXT COLLATE "C" NOT NULL,
    updated_at            TEXT COLLATE "C" NOT NULL,
    started_at            TEXT COLLATE "C",
    ended_at              TEXT COLLATE "C",
    duration_secs         DOUBLE PRECISION,
    cost                  DOUBLE PRECISION,
    cost_unit             TEXT,
    summary               TEXT,
    success               BOOLEAN,
    analysis              TEXT,
    recording_url         TEXT,
    -- Where the recording is stored (a path under the recordings directory), never served as is.
    recording_path        TEXT,
    end_reason            TEXT,
    failure_reason        TEXT,
    -- Vendor figures beyond the normalized ones.
    cost_breakdown        TEXT,
    vendor_metadata       TEXT,
    idempotency_key       TEXT,
    created_by            TEXT,
    -- Opaque provider data (e.g. a control URL): never returned by the API.
    provider_data         TEXT,
    -- Highest transcript sequence number given out for this call.
    last_seq              BIGINT NOT NULL DEFAULT 0,
    -- When a hang-up was requested through the API (a call that then ends is canceled).
    hangup_requested_at   TEXT COLLATE "C",
    -- Until when a reconciler (of any instance) holds the call.
    reconcile_lease_until TEXT COLLATE "C",
    CHECK ((cost IS NULL) = (cost_unit IS NULL))
)
-- Every applied webhook rewrites its call's row: room on each page lets PostgreSQL keep the new
-- version beside the old one (a HOT update, no index entries to add). For the same reason no
-- index covers updated_at, which every such write changes.
WITH (fillfactor = 80);

CREATE UNIQUE INDEX calls_by_provider_call_id ON calls (provider, provider_call_id)
    WHERE provider_call_id IS NOT NULL;
CREATE INDEX calls_by_status ON calls (status, id);
CREATE INDEX calls_by_provider ON calls (provider, id);
CREATE INDEX calls_by_to_number ON calls (to_number, id);

CREATE TABLE call_status_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id       TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    -- Whether the call's status changed; false for stale or post-terminal events kept for history.
    applied       BOOLEAN NOT NULL,
    reason        TEXT,
    vendor_status TEXT,
    -- api | dispatch | webhook | reconcile
    source        TEXT NOT NULL,
    receipt_id    TEXT,
    occurred_at   TEXT COLLATE "C",
    recorded_at   TEXT COLLATE "C" NOT NULL
);

CREATE INDEX call_status_events_by_call ON call_status_events (call_id, id);

CREATE TABLE transcript_turns (
    call_id     TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    speaker     TEXT NOT NULL,
    text        TEXT NOT NULL,
    offset_secs DOUBLE PRECISION,
    is_final    BOOLEAN NOT NULL,
    -- live | post_call
    source      TEXT NOT NULL,
    turn_key    TEXT,
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (call_id, seq)
);

CREATE UNIQUE INDEX transcript_turns_by_key ON transcript_turns (call_id, turn_key)
    WHERE turn_key IS NOT NULL;

CREATE TABLE webhook_receipts (
    id             TEXT COLLATE "C" PRIMARY KEY,
    provider       TEXT NOT NULL,
    topic          TEXT,
    received_at    TEXT COLLATE "C" NOT NULL,
    -- JSON array of [name, value]; credentials redacted.
    headers        TEXT NOT NULL,
    body           BYTEA NOT NULL,
    body_size      BIGINT NOT NULL,
    body_truncated BOOLEAN NOT NULL,
    -- verified | unsigned | invalid
    signature      TEXT NOT NULL,
    event_type     TEXT,
    dedupe_key     TEXT,
    call_id        TEXT COLLATE "C" REFERENCES calls (id) ON DELETE SET NULL,
    -- applied | duplicate | rejected | unknown_call
    outcome        TEXT NOT NULL,
    reason         TEXT
);

-- At most one applied receipt per delivery: the database, not memory, enforces dedupe, also
-- across gateway instances.
CREATE UNIQUE INDEX webhook_receipts_applied_once ON webhook_receipts (provider, dedupe_key)
    WHERE outcome = 'applied';
CREATE INDEX webhook_receipts_by_provider ON webhook_receipts (provider, id);
CREATE INDEX webhook_receipts_by_call ON webhook_receipts (call_id, id);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    call_id      TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    completed    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE users (
    id                TEXT COLLATE "C" PRIMARY KEY,
    -- Lowercase; unique.
    username          TEXT NOT NULL UNIQUE,
    -- Lowercase; unique.
    email             TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash     TEXT NOT NULL,
    -- admin | operator | viewer
    role              TEXT NOT NULL,
    disabled          BOOLEAN NOT NULL DEFAULT FALSE,
    -- Access tokens carry the generation they were issued in; revoking bumps it.
    token_generation  BIGINT NOT NULL DEFAULT 0,
    created_at        TEXT COLLATE "C" NOT NULL,
    updated_at        TEXT COLLATE "C" NOT NULL
);

CREATE TABLE refresh_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    -- Every token descending from one login shares a family; reuse of a retired one revokes it.
    family_id   TEXT NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C" NOT NULL,
    used_at     TEXT COLLATE "C",
    revoked_at  TEXT COLLATE "C"
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    -- The first characters of the key, to recognize it in lists.
    prefix       TEXT NOT NULL,
    -- SHA-256 of the key; the key itself is shown once and never stored.
    key_hash     TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    created_by   TEXT,
    created_at   TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C",
    revoked_at   TEXT COLLATE "C",
    last_used_at TEXT COLLATE "C"
);

CREATE TABLE audit_log (
    id          TEXT COLLATE "C" PRIMARY KEY,
    at          TEXT COLLATE "C" NOT NULL,
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
