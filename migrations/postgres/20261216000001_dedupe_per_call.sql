-- Webhook dedupe is per call: vendors' event ids are unique within a call (or conversation),
-- not across calls, so an event applied to one call must not make another call's event with
-- the same id a duplicate. At most one applied receipt per (provider, call, delivery); applied
-- receipts about no call (notices with nothing to apply) are deduped by the store's lookup.
DROP INDEX webhook_receipts_applied_once;
CREATE UNIQUE INDEX webhook_receipts_applied_once_per_call
    ON webhook_receipts (provider, call_id, dedupe_key)
    WHERE outcome = 'applied';
