-- AI providers managed through the admin API and CLI (the one from OPENAI_* lives in the
-- environment, not here). The type is checked by the provider registry, not by a constraint, so a
-- new provider type needs no migration.
CREATE TABLE IF NOT EXISTS ai.providers (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  display_name text NOT NULL,
  provider_type text NOT NULL,
  is_default boolean NOT NULL DEFAULT false,
  enabled boolean NOT NULL DEFAULT true,
  -- Everything but the key, as validated by the type's class.
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- config.api_key, AES-256-GCM under a key derived from ENCRYPTION_KEY (app/secrets/sealing.py),
  -- bound to this row's id.
  api_key_sealed text,
  use_for_embeddings boolean NOT NULL DEFAULT false,
  embedding_model text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT providers_config_is_object CHECK (jsonb_typeof(config) = 'object')
);

-- At most one default and one embedding provider, whatever the requests racing to change them;
-- writers also take an advisory lock so concurrent changes queue instead of failing on these.
CREATE UNIQUE INDEX IF NOT EXISTS providers_one_default ON ai.providers ((true)) WHERE is_default;
CREATE UNIQUE INDEX IF NOT EXISTS providers_one_for_embeddings ON ai.providers ((true)) WHERE use_for_embeddings;

REVOKE ALL ON ai.providers FROM PUBLIC;
