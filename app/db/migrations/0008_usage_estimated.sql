-- Token counts the server estimated with its own tokenizer because the provider reported none
-- (app/providers/token_count.py). A turn's counts are estimated when any of its model calls' were.
ALTER TABLE ai.turns ADD COLUMN IF NOT EXISTS usage_estimated boolean NOT NULL DEFAULT false;
ALTER TABLE ai.messages ADD COLUMN IF NOT EXISTS usage_estimated boolean NOT NULL DEFAULT false;
