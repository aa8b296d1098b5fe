-- How long a conversation lives (docs/conversations.md).
--
-- persisted     true: `@fluxbase:persist-conversations` was on when it was created; it lives until
--               idle_seconds (its chatbot's conversation-ttl) after its last message.
--               false: it lives while a socket holds it (each web process renews the expiry of
--               the ones its sockets hold) and idle_seconds (EPHEMERAL_CONVERSATION_GRACE_SECONDS)
--               after the last one let go of it or its last turn ended.
-- idle_seconds  how far a turn's start or end pushes expires_at ahead; NULL: it never expires.
ALTER TABLE ai.conversations ADD COLUMN IF NOT EXISTS persisted boolean NOT NULL DEFAULT true;
ALTER TABLE ai.conversations ADD COLUMN IF NOT EXISTS idle_seconds bigint;

-- Conversations made before this migration got expires_at = creation + ttl: they are kept as
-- persisted ones with that ttl, now counted from their last message.
UPDATE ai.conversations
   SET idle_seconds = greatest(1, extract(epoch FROM expires_at - created_at)::bigint)
 WHERE expires_at IS NOT NULL AND idle_seconds IS NULL;

-- The expiry job's scan, oldest expiry first.
CREATE INDEX IF NOT EXISTS conversations_expiry ON ai.conversations (expires_at) WHERE expires_at IS NOT NULL;
-- A user's own conversations, newest first, across chatbots (the user API's list).
CREATE INDEX IF NOT EXISTS conversations_user_recent ON ai.conversations (user_id, updated_at DESC);
