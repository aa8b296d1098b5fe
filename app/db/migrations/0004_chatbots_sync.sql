-- Keep what a definition file declared apart from what an admin changed through the API,
-- so that a later file edit does not erase admin edits and an admin can drop them again.
--   file_config       every config key as the file declared it (NULL on rows written before this
--                     migration or by hand: read as "same as config")
--   file_tools        the file's own `export const tools` definitions; NULL when the file has none,
--                     in which case the tools follow the config (see app/chatbots/spec.py)
--   config_overrides  the keys an admin set with PUT /api/v1/admin/ai/chatbots/<id>
-- `config` and `tools` stay the declared result (file_config + overrides), so readers need only them.
ALTER TABLE ai.chatbots
  ADD COLUMN IF NOT EXISTS file_config jsonb,
  ADD COLUMN IF NOT EXISTS file_tools jsonb,
  ADD COLUMN IF NOT EXISTS config_overrides jsonb NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS chatbots_listed ON ai.chatbots (namespace, name) WHERE enabled AND is_public;
