-- Access tokens carry the user's token generation; revoking (password change, disable) bumps it,
-- which invalidates every earlier token at once, whatever second it was issued in.
ALTER TABLE users RENAME COLUMN tokens_valid_after TO token_generation;
