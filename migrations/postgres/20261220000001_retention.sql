-- Retention and erasure (issue #17). What was removed is marked, so answers say so instead of
-- showing nothing (or failing): a receipt whose raw body retention or erasure removed, a call
-- whose recording or transcript retention removed, a call whose personal data was erased.
ALTER TABLE webhook_receipts ADD COLUMN body_pruned_at TEXT COLLATE "C";
ALTER TABLE calls ADD COLUMN recording_pruned_at TEXT COLLATE "C";
ALTER TABLE calls ADD COLUMN transcript_pruned_at TEXT COLLATE "C";
ALTER TABLE calls ADD COLUMN erased_at TEXT COLLATE "C";

-- Retention looks rows up by age.
CREATE INDEX webhook_receipts_by_received ON webhook_receipts (received_at);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);

-- Which instance runs a periodic job (the retention pass) and until when: an instance takes
-- the row when it is free or its holder's lease has run out, so one instance prunes at a time.
CREATE TABLE job_leases (
    name        TEXT NOT NULL PRIMARY KEY,
    holder      TEXT NOT NULL,
    lease_until TEXT COLLATE "C" NOT NULL
);
