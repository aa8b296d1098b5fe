-- Model-written SQL must not be able to change the identity RLS sees. `set_config` inside a
-- statement can rewrite request.jwt.claims (or the role) for the rest of that statement, so only
-- the authenticator (which sets them before switching role) and the schema owner may call it.
-- Other roles of your own that need set_config must be granted it explicitly.
REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO authenticator;
DO $$
BEGIN
  EXECUTE format('GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO %I', current_user);
END
$$;

-- The highest event seq of each conversation, so numbering continues after Redis forgot it.
ALTER TABLE ai.conversations ADD COLUMN IF NOT EXISTS last_seq bigint NOT NULL DEFAULT 0;

-- Which statements changed data: a retried turn must not repeat a committed write.
ALTER TABLE ai.sql_audit ADD COLUMN IF NOT EXISTS command text;
CREATE INDEX IF NOT EXISTS sql_audit_turn ON ai.sql_audit (turn_id) WHERE turn_id IS NOT NULL;
