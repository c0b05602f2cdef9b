-- Calls, their history, transcripts, webhook receipts and idempotency keys.
-- Timestamps are UTC RFC 3339 text with microseconds (lexicographic order = time order);
-- ids are UUIDv7 text (lexicographic order = creation order); JSON columns hold text.

CREATE TABLE calls (
    id               TEXT PRIMARY KEY NOT NULL,
    provider         TEXT NOT NULL,
    provider_kind    TEXT NOT NULL,
    provider_call_id TEXT,
    telephony_ids    TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL,
    to_number        TEXT NOT NULL,
    from_number_id   TEXT,
    agent_id         TEXT,
    variables        TEXT NOT NULL DEFAULT '{}',
    metadata         TEXT NOT NULL DEFAULT '{}',
    first_message    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    started_at       TEXT,
    ended_at         TEXT,
    duration_secs    REAL,
    cost             REAL,
    cost_unit        TEXT,
    summary          TEXT,
    success          INTEGER,
    analysis         TEXT,
    recording_url    TEXT,
    end_reason       TEXT,
    failure_reason   TEXT,
    idempotency_key  TEXT,
    created_by       TEXT,
    -- Opaque provider data (e.g. a control URL): never returned by the API.
    provider_data    TEXT,
    -- Highest transcript sequence number given out for this call.
    last_seq         INTEGER NOT NULL DEFAULT 0,
    CHECK ((cost IS NULL) = (cost_unit IS NULL))
);

CREATE UNIQUE INDEX calls_by_provider_call_id ON calls (provider, provider_call_id)
    WHERE provider_call_id IS NOT NULL;
CREATE INDEX calls_by_status ON calls (status, id);
CREATE INDEX calls_by_provider ON calls (provider, id);
CREATE INDEX calls_by_to_number ON calls (to_number, id);

CREATE TABLE call_status_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id       TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    -- 1 when the call's status changed; 0 for stale or post-terminal events kept for history.
    applied       INTEGER NOT NULL,
    reason        TEXT,
    vendor_status TEXT,
    -- api | dispatch | webhook
    source        TEXT NOT NULL,
    receipt_id    TEXT,
    occurred_at   TEXT,
    recorded_at   TEXT NOT NULL
);

CREATE INDEX call_status_events_by_call ON call_status_events (call_id, id);

CREATE TABLE transcript_turns (
    call_id     TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    speaker     TEXT NOT NULL,
    text        TEXT NOT NULL,
    offset_secs REAL,
    is_final    INTEGER NOT NULL,
    -- live | post_call
    source      TEXT NOT NULL,
    turn_key    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);

CREATE UNIQUE INDEX transcript_turns_by_key ON transcript_turns (call_id, turn_key)
    WHERE turn_key IS NOT NULL;

CREATE TABLE webhook_receipts (
    id             TEXT PRIMARY KEY NOT NULL,
    provider       TEXT NOT NULL,
    topic          TEXT,
    received_at    TEXT NOT NULL,
    -- JSON array of [name, value]; credentials redacted.
    headers        TEXT NOT NULL,
    body           BLOB NOT NULL,
    body_size      INTEGER NOT NULL,
    body_truncated INTEGER NOT NULL,
    -- verified | unsigned | invalid
    signature      TEXT NOT NULL,
    event_type     TEXT,
    dedupe_key     TEXT,
    call_id        TEXT REFERENCES calls (id) ON DELETE SET NULL,
    -- applied | duplicate | rejected | unknown_call
    outcome        TEXT NOT NULL,
    reason         TEXT
);

-- At most one applied receipt per delivery: the database, not memory, enforces dedupe.
CREATE UNIQUE INDEX webhook_receipts_applied_once ON webhook_receipts (provider, dedupe_key)
    WHERE outcome = 'applied';
CREATE INDEX webhook_receipts_by_provider ON webhook_receipts (provider, id);
CREATE INDEX webhook_receipts_by_call ON webhook_receipts (call_id, id);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    call_id      TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    completed    INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
