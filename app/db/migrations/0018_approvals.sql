-- Approval before writes (docs/approval.md): one row per tool call a chatbot set to `ask` proposed.
-- The row is the decision's source of truth: the web process writes the user's answer here (only a
-- pending, unexpired row changes), the waiting worker reads it back, and `executed_at` is set once,
-- by the one attempt that runs the approved call, so a redelivered turn cannot run it twice.
-- A server table: the end-user roles get nothing on it.

CREATE TABLE IF NOT EXISTS ai.approvals (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES ai.conversations (id) ON DELETE CASCADE,
  turn_id uuid NOT NULL REFERENCES ai.turns (id) ON DELETE CASCADE,
  tool text NOT NULL,
  arguments jsonb NOT NULL,
  statement text,
  preview jsonb,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
  decided_by uuid,
  reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  decided_at timestamptz,
  executed_at timestamptz,
  CONSTRAINT approvals_reason_length CHECK (reason IS NULL OR length(reason) <= 2000),
  CONSTRAINT approvals_decided CHECK ((status = 'pending') = (decided_at IS NULL))
);

CREATE INDEX IF NOT EXISTS approvals_turn ON ai.approvals (turn_id);
CREATE INDEX IF NOT EXISTS approvals_pending ON ai.approvals (expires_at) WHERE status = 'pending';
