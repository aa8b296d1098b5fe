-- Conversations, their messages, the turns that produce answers, and the SQL audit trail.
CREATE TABLE IF NOT EXISTS ai.conversations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  chatbot_id uuid NOT NULL REFERENCES ai.chatbots (id) ON DELETE CASCADE,
  user_id uuid,
  user_role text NOT NULL,
  title text,
  turn_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS conversations_owner ON ai.conversations (user_id, chatbot_id, updated_at DESC);

CREATE TABLE IF NOT EXISTS ai.turns (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES ai.conversations (id) ON DELETE CASCADE,
  user_message_id uuid NOT NULL,
  assistant_message_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'cancelled', 'error')),
  error_code text,
  attempts integer NOT NULL DEFAULT 0,
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS turns_conversation ON ai.turns (conversation_id, created_at DESC);
-- At most one unfinished turn per conversation: TURN_IN_PROGRESS is enforced by the database.
CREATE UNIQUE INDEX IF NOT EXISTS turns_one_active ON ai.turns (conversation_id) WHERE status IN ('queued', 'running');

CREATE TABLE IF NOT EXISTS ai.messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  ordinal bigint GENERATED ALWAYS AS IDENTITY,
  conversation_id uuid NOT NULL REFERENCES ai.conversations (id) ON DELETE CASCADE,
  turn_id uuid,
  role text NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
  content text NOT NULL DEFAULT '',
  tool_calls jsonb,
  tool_call_id text,
  tool_name text,
  status text NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'cancelled', 'error')),
  prompt_tokens integer,
  completion_tokens integer,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_conversation ON ai.messages (conversation_id, ordinal);

CREATE TABLE IF NOT EXISTS ai.sql_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chatbot_id uuid,
  conversation_id uuid,
  turn_id uuid,
  user_id uuid,
  user_role text NOT NULL,
  sql text NOT NULL,
  verdict text NOT NULL CHECK (verdict IN ('executed', 'refused', 'failed')),
  reason text,
  row_count integer,
  duration_ms double precision,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sql_audit_created ON ai.sql_audit (created_at DESC);

REVOKE ALL ON ai.conversations, ai.turns, ai.messages, ai.sql_audit FROM PUBLIC;
