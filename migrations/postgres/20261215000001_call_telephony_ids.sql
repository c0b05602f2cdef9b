-- A call's telephony ids (e.g. a Twilio call sid), one row each, so that finding a call by one
-- (a live-stream subscribe) is an index lookup instead of a scan of every call's JSON.
CREATE TABLE call_telephony_ids (
    telephony_id TEXT NOT NULL,
    call_id      TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    PRIMARY KEY (telephony_id, call_id)
);

INSERT INTO call_telephony_ids (telephony_id, call_id)
    SELECT DISTINCT t.value, calls.id FROM calls, json_each_text(calls.telephony_ids::json) AS t
    WHERE t.value IS NOT NULL;

-- Finding a call by the vendor's id alone (without the provider) is a lookup too.
CREATE INDEX calls_by_vendor_call_id ON calls (provider_call_id, id);
