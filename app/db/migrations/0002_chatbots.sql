-- Chatbot definitions, parsed from files or sent through the admin API.
CREATE TABLE IF NOT EXISTS ai.chatbots (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  namespace text NOT NULL DEFAULT 'default',
  name text NOT NULL,
  title text,
  description text NOT NULL,
  system_prompt text NOT NULL,
  tools jsonb NOT NULL DEFAULT '[]',
  config jsonb NOT NULL,
  is_public boolean NOT NULL DEFAULT true,
  enabled boolean NOT NULL DEFAULT true,
  source text NOT NULL CHECK (source IN ('filesystem', 'api')),
  content_hash text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (namespace, name)
);
CREATE INDEX IF NOT EXISTS chatbots_name ON ai.chatbots (name);
REVOKE ALL ON ai.chatbots FROM PUBLIC;
