-- The SHA-256 (hex) of a webhook's body as received. A refused webhook keeps only a short
-- prefix of its body, so this (with body_size) is what identifies what was sent. NULL for
-- receipts stored before this column.
ALTER TABLE webhook_receipts ADD COLUMN body_sha256 TEXT;
