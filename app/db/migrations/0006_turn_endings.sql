-- The seq an ending was published with; NULL while it never reached Redis (Redis was down when the
-- turn finished), so housekeeping can publish it later instead of leaving clients waiting.
ALTER TABLE ai.turns ADD COLUMN IF NOT EXISTS ending_seq bigint;
-- Turns finished before this migration are taken as published.
UPDATE ai.turns SET ending_seq = 0 WHERE ending_seq IS NULL AND status IN ('done', 'cancelled', 'error');
CREATE INDEX IF NOT EXISTS turns_unpublished_ending ON ai.turns (finished_at)
  WHERE ending_seq IS NULL AND status IN ('done', 'cancelled', 'error');
CREATE INDEX IF NOT EXISTS turns_assistant_message ON ai.turns (assistant_message_id);

-- The running attempt's lease, renewed by its worker every few seconds (one statement per worker
-- process). Housekeeping re-enqueues a running turn only once this has lapsed, so a Redis restart
-- that loses the per-turn locks cannot start a second attempt beside a live one.
ALTER TABLE ai.turns ADD COLUMN IF NOT EXISTS lease_until timestamptz;

-- The highest seq the running attempt has published, noted with each lease renewal. If Redis loses
-- the conversation's counter and the worker dies too, the retry numbers its events above it.
ALTER TABLE ai.turns ADD COLUMN IF NOT EXISTS published_seq bigint NOT NULL DEFAULT 0;
