-- An admin's per-conversation provider pin (docs/providers.md section 3): when set, every turn of the
-- conversation is answered by this provider, whatever its chatbot names or the default is.
-- The provider's name, not a foreign key: names never change (only display names do), `config` names the
-- provider from OPENAI_*, which has no row, and a pinned provider that is deleted must make the next
-- turn fail with PROVIDER_NOT_FOUND rather than silently fall back (ON DELETE SET NULL would do that).
-- Only the server writes it: the end-user roles have no rights on ai.conversations.
ALTER TABLE ai.conversations
  ADD COLUMN IF NOT EXISTS provider_name text
    CONSTRAINT conversations_provider_name_length CHECK (provider_name IS NULL OR length(provider_name) <= 63);
