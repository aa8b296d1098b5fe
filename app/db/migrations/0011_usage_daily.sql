-- Usage per (UTC day, chatbot, user): requests and tokens, added to as each turn closes (app/chat/usage.py).
--
-- Every closed turn is one request with the tokens it used, whatever its ending (done, cancelled,
-- error): the provider charged for them. The day is the UTC day the turn finished.
--
-- No foreign keys, on purpose: usage is history. Deleting a conversation (or its expiry) leaves its
-- usage here, and so does deleting a chatbot: the rows keep its id and the namespace and name it had
-- (a chatbot's namespace and name never change), so they stay readable and filterable by name.
-- Anonymous callers have no user id; they are counted together per chatbot and day under the key
-- 'anonymous' (user_key is the primary key's stand-in for the nullable user_id).
CREATE TABLE IF NOT EXISTS ai.usage_daily (
  day date NOT NULL,
  chatbot_id uuid NOT NULL,
  user_key text NOT NULL,
  user_id uuid,
  namespace text NOT NULL,
  chatbot text NOT NULL,
  requests bigint NOT NULL DEFAULT 0,
  cancelled bigint NOT NULL DEFAULT 0,
  errors bigint NOT NULL DEFAULT 0,
  prompt_tokens bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  total_tokens bigint GENERATED ALWAYS AS (prompt_tokens + completion_tokens) STORED,
  -- Requests whose counts the server estimated because the provider reported none.
  estimated_requests bigint NOT NULL DEFAULT 0,
  first_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, chatbot_id, user_key),
  CHECK (user_key = coalesce(user_id::text, 'anonymous'))
);
-- The primary key serves date ranges; these serve "one user" and "one chatbot" over many days.
CREATE INDEX IF NOT EXISTS usage_daily_user ON ai.usage_daily (user_key, day);
CREATE INDEX IF NOT EXISTS usage_daily_chatbot ON ai.usage_daily (chatbot_id, day);
REVOKE ALL ON ai.usage_daily FROM PUBLIC;

-- Turns that finished before this migration, as far as their conversations still exist.
INSERT INTO ai.usage_daily (day, chatbot_id, user_key, user_id, namespace, chatbot, requests, cancelled, errors,
                            prompt_tokens, completion_tokens, estimated_requests, first_at, updated_at)
SELECT (t.finished_at AT TIME ZONE 'UTC')::date, c.chatbot_id, coalesce(c.user_id::text, 'anonymous'), c.user_id,
       b.namespace, b.name, count(*), count(*) FILTER (WHERE t.status = 'cancelled'),
       count(*) FILTER (WHERE t.status = 'error'), sum(t.prompt_tokens), sum(t.completion_tokens),
       count(*) FILTER (WHERE t.usage_estimated), min(t.finished_at), max(t.finished_at)
  FROM ai.turns t
  JOIN ai.conversations c ON c.id = t.conversation_id
  JOIN ai.chatbots b ON b.id = c.chatbot_id
 WHERE t.status IN ('done', 'cancelled', 'error') AND t.finished_at IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT DO NOTHING;

-- The admin audit endpoint filters by chatbot or user, newest first (sql_audit_created serves the rest).
CREATE INDEX IF NOT EXISTS sql_audit_chatbot ON ai.sql_audit (chatbot_id, created_at DESC);
CREATE INDEX IF NOT EXISTS sql_audit_user ON ai.sql_audit (user_id, created_at DESC);
