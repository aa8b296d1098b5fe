-- Execution tools (docs/mcp.md "Execution tools"): the admin's allow-lists of PostgreSQL functions
-- and HTTP functions a chatbot may call, and the background jobs users submit.
-- A namespace here is a chatbot namespace: a chatbot reaches only the entries of its own.
-- These are server tables: the end-user roles get nothing on them (the server reads them as owner).

CREATE TABLE IF NOT EXISTS ai.exposed_rpc (
  namespace text NOT NULL,
  schema_name text NOT NULL,
  function_name text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- A SECURITY DEFINER function runs with its owner's rights, past the caller's row-level security:
  -- exposing one is a decision of its own, refused unless said here.
  allow_security_definer boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, schema_name, function_name),
  CONSTRAINT exposed_rpc_names CHECK (namespace <> '' AND schema_name <> '' AND function_name <> ''
                                      AND length(schema_name) <= 63 AND length(function_name) <= 63)
);

CREATE TABLE IF NOT EXISTS ai.http_functions (
  namespace text NOT NULL,
  name text NOT NULL,
  url text NOT NULL,
  methods text[] NOT NULL DEFAULT '{POST}',
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, name),
  CONSTRAINT http_functions_name CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  CONSTRAINT http_functions_url CHECK (url ~ '^https?://' AND length(url) <= 2048),
  CONSTRAINT http_functions_methods CHECK (cardinality(methods) > 0
                                           AND methods <@ ARRAY['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
);

CREATE TABLE IF NOT EXISTS ai.jobs (
  id uuid PRIMARY KEY,
  namespace text NOT NULL,
  job_name text NOT NULL,
  -- Who submitted it: only they see it, and it runs as them (role and JWT claims, not a token).
  user_id uuid NOT NULL,
  user_role text NOT NULL,
  claims jsonb NOT NULL DEFAULT '{}'::jsonb,
  chatbot_id uuid,
  conversation_id uuid,
  -- The turn (or MCP call) that submitted it: a redelivered turn finds its job instead of queueing another.
  turn_id uuid,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  priority smallint NOT NULL DEFAULT 5,
  scheduled_at timestamptz,
  status text NOT NULL DEFAULT 'pending',
  result jsonb,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  CONSTRAINT jobs_status CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
  CONSTRAINT jobs_priority CHECK (priority BETWEEN 0 AND 9),
  CONSTRAINT jobs_role CHECK (user_role IN ('anon', 'authenticated'))
);
CREATE INDEX IF NOT EXISTS jobs_by_user ON ai.jobs (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_turn ON ai.jobs (turn_id) WHERE turn_id IS NOT NULL;

REVOKE ALL ON ai.exposed_rpc, ai.http_functions, ai.jobs FROM PUBLIC;
