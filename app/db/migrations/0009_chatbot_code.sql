-- The text of the definition a chatbot was last synced from, exactly as it was parsed (a file's
-- bytes decoded as UTF-8, or a payload's `code`), so the admin API can return it as `code` (Fluxbase's
-- SDK reads AIChatbot.code) without reading files that may have changed since.
-- Nullable only for rows synced before this migration: their text was never stored and cannot be
-- recovered here. The next sync of such a chatbot fills it in, even when its definition is unchanged
-- (app/chatbots/sync_service.py); every sync that creates or updates a definition writes it.
ALTER TABLE ai.chatbots ADD COLUMN IF NOT EXISTS code text;
