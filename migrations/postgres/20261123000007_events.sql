-- Events to applications: the outbox of normalized call events, the endpoints they go to, one
-- delivery per (event, endpoint) and every attempt of each delivery.

-- The per-call sequence number of the last event written for the call.
ALTER TABLE calls ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE events (
    -- evt_<uuidv7>
    id         TEXT COLLATE "C" PRIMARY KEY,
    type       TEXT NOT NULL,
    -- NULL for ping events.
    call_id    TEXT COLLATE "C",
    sequence   BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    -- The whole envelope, exactly as delivered.
    payload    TEXT NOT NULL
);

CREATE INDEX events_by_call ON events (call_id, sequence);
CREATE INDEX events_by_created ON events (created_at);

CREATE TABLE event_endpoints (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    -- api | config
    source              TEXT NOT NULL,
    url                 TEXT NOT NULL,
    description         TEXT,
    -- JSON array of event types; NULL = every type.
    event_types         TEXT,
    enabled             BOOLEAN NOT NULL,
    disabled_reason     TEXT,
    -- whsec_...
    secret              TEXT NOT NULL,
    -- The secret before the last rotation, signing too until previous_secret_until.
    previous_secret     TEXT,
    previous_secret_until TEXT COLLATE "C",
    -- Since when every attempt to this endpoint failed; NULL after a success.
    failing_since       TEXT COLLATE "C",
    created_at          TEXT COLLATE "C" NOT NULL,
    updated_at          TEXT COLLATE "C" NOT NULL
);

CREATE TABLE event_deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id     TEXT COLLATE "C" NOT NULL REFERENCES event_endpoints (id) ON DELETE CASCADE,
    -- Copied from the event: deliveries of one call to one endpoint go out in sequence order.
    call_id         TEXT COLLATE "C",
    sequence        BIGINT NOT NULL,
    -- pending | succeeded | failed
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    -- Until when a worker (of any instance) holds the delivery.
    lease_until     TEXT COLLATE "C",
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL
);

CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
CREATE INDEX event_deliveries_by_endpoint ON event_deliveries (endpoint_id, id);
CREATE INDEX event_deliveries_by_call ON event_deliveries (endpoint_id, call_id, sequence);
CREATE INDEX event_deliveries_by_event ON event_deliveries (event_id);

CREATE TABLE event_attempts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   TEXT COLLATE "C" NOT NULL REFERENCES event_deliveries (id) ON DELETE CASCADE,
    attempted_at  TEXT COLLATE "C" NOT NULL,
    -- NULL when no answer came (timeout, refused connection, refused destination).
    status_code   BIGINT,
    latency_ms    BIGINT NOT NULL,
    error         TEXT,
    -- The first 1 KiB of the answer.
    response_body TEXT
);

CREATE INDEX event_attempts_by_delivery ON event_attempts (delivery_id, id);
