-- When a hang-up was requested through the API: a call that then ends normally is recorded as
-- canceled, whatever end reason the vendor gives.
ALTER TABLE calls ADD COLUMN hangup_requested_at TEXT;
