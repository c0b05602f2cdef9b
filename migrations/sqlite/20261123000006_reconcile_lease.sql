-- Until when a reconciler holds the call: claims are leases, so a reconciler that died does not
-- keep the call from being reconciled by another (or by itself after a restart).
ALTER TABLE calls ADD COLUMN reconcile_lease_until TEXT;
