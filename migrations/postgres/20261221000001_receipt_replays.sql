-- Replays of stored webhooks (POST /v1/webhook-receipts/{id}/replay): each replay is a receipt
-- of its own, naming the receipt it replays (NULL for webhooks as received).
ALTER TABLE webhook_receipts ADD COLUMN replay_of TEXT COLLATE "C" REFERENCES webhook_receipts (id) ON DELETE SET NULL;
-- A forced replay re-applies the events of a delivery already applied to its call: such a
-- receipt may be `applied` beside the delivery's first application, which alone is unique.
ALTER TABLE webhook_receipts ADD COLUMN reapplied BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX webhook_receipts_applied_once_per_call;
CREATE UNIQUE INDEX webhook_receipts_applied_once_per_call
    ON webhook_receipts (provider, call_id, dedupe_key)
    WHERE outcome = 'applied' AND NOT reapplied;
