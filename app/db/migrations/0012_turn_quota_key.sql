-- Whose daily token budget a turn spends (app/chat/request_limits.py caller_identity): the user, or
-- an anonymous caller's key and address, which only the web process that took the message knows.
ALTER TABLE ai.turns ADD COLUMN IF NOT EXISTS quota_key text;
