-- Vendor figures beyond the normalized ones: every cost figure, and the vendor's raw metadata.
ALTER TABLE calls ADD COLUMN cost_breakdown TEXT;
ALTER TABLE calls ADD COLUMN vendor_metadata TEXT;
-- Where a call's recording is stored (a path under the recordings directory), never served as is.
ALTER TABLE calls ADD COLUMN recording_path TEXT;
-- Why the call has its current status (e.g. vendor_outcome_unknown while a create is unresolved).
ALTER TABLE calls ADD COLUMN status_reason TEXT;
