-- Logins (refresh-token families) revoked by logout or by the reuse of a retired refresh token.
-- Access tokens carry their family as the `sid` claim and are refused while it is listed here;
-- a row is kept until every access token of the family has expired, then pruned.
CREATE TABLE revoked_token_families (
    family_id   TEXT COLLATE "C" PRIMARY KEY,
    revoked_at  TEXT COLLATE "C" NOT NULL,
    -- After this, no access token of the family is still valid.
    expires_at  TEXT COLLATE "C" NOT NULL
);

CREATE INDEX revoked_token_families_by_expiry ON revoked_token_families (expires_at);
