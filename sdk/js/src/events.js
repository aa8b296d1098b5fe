// Server events to the documented callbacks, in Fluxbase's parameter order, and to `onEvent`.

/** The camel-cased event `onEvent` gets: Fluxbase's AIChatEvent fields, then ours, then `raw`. */
export function toChatEvent(raw) {
  const event = {
    type: raw.type,
    conversationId: raw.conversation_id,
    chatbot: raw.chatbot,
    step: raw.step,
    message: raw.message,
    delta: raw.delta,
    query: raw.query,
    summary: raw.summary,
    rowCount: raw.row_count,
    data: raw.data,
    usage: raw.usage,
    error: raw.error,
    code: raw.code,
    // Additions of this server (docs/chat.md).
    seq: raw.seq,
    messageId: raw.message_id,
    resumed: raw.resumed,
    tool: raw.tool,
    truncated: raw.truncated,
    replayTruncated: raw.replay_truncated,
    rowsKept: raw.rows_kept,
    retryAfter: raw.retry_after,
    limit: raw.limit,
    firstSeq: raw.first_seq,
    lastSeq: raw.last_seq,
    content: raw.content,
    recovered: raw.recovered,
    expiresAt: raw.expires_at,
    approvalId: raw.approval_id,
    description: raw.description,
    sql: raw.sql,
    preview: raw.preview,
    decision: raw.decision,
    reason: raw.reason,
    raw,
  };
  for (const key of Object.keys(event)) if (event[key] === undefined) delete event[key];
  return event;
}

/** What onError's fourth argument carries: the details a caller may act on (a wait, a field). */
export function errorDetails(raw) {
  const details = {};
  if (raw.retry_after !== undefined) details.retryAfter = raw.retry_after;
  if (raw.limit !== undefined) details.limit = raw.limit;
  if (raw.field !== undefined) details.field = raw.field;
  if (raw.message_id !== undefined) details.messageId = raw.message_id;
  if (raw.content !== undefined) details.content = raw.content;
  return details;
}

/**
 * Runs the callbacks for one accepted server event. A callback that throws is reported on the
 * console and does not stop the others, nor the chat (it runs inside the socket's handler).
 */
export function dispatch(options, raw) {
  const id = raw.conversation_id;
  switch (raw.type) {
    case "content":
      if (typeof raw.delta === "string" && raw.delta) call(options.onContent, raw.delta, id);
      break;
    case "progress":
      call(options.onProgress, raw.step || "", raw.message || "", id);
      break;
    case "query_result":
      call(options.onQueryResult, raw.query || "", raw.summary || "", raw.row_count || 0, raw.data || [], id,
        queryDetails(raw));
      break;
    case "tool_result":
      // Fluxbase's SDK shows a tool result that carries a query as a query result; so do we.
      if (raw.query !== undefined && raw.data !== undefined) {
        call(options.onQueryResult, raw.query, raw.summary || "", raw.row_count || 0, raw.data, id,
          queryDetails(raw));
      }
      call(options.onToolResult, raw.tool || "", raw.data, raw.error, id);
      break;
    case "approval_required":
      // The turn waits: answer with chat.approve(id, approval.approvalId) or chat.deny(...) (docs/approval.md).
      call(options.onApprovalRequired, toApproval(raw), id);
      break;
    case "approval_result":
      call(options.onApprovalResult, raw.approval_id, raw.decision, id, raw.reason);
      break;
    case "done":
      call(options.onDone, raw.usage, id);
      break;
    case "cancelled":
      call(options.onCancelled, id);
      break;
    case "error":
      call(options.onError, raw.error || "Unknown error", raw.code, id, errorDetails(raw));
      break;
    default:
      break;
  }
  call(options.onEvent, toChatEvent(raw));
}

/** What onApprovalRequired gets: the call waiting for the user, and what it would do. */
export function toApproval(raw) {
  const approval = {
    approvalId: raw.approval_id,
    tool: raw.tool,
    description: raw.description,
    sql: raw.sql,
    preview: raw.preview,
    expiresAt: raw.expires_at,
    messageId: raw.message_id,
  };
  for (const key of Object.keys(approval)) if (approval[key] === undefined) delete approval[key];
  return approval;
}

export function call(callback, ...args) {
  if (typeof callback !== "function") return;
  try {
    callback(...args);
  } catch (error) {
    console.error("[fluxbase-ai-sdk] a chat callback threw:", error);
  }
}

function queryDetails(raw) {
  const details = {};
  if (raw.error !== undefined) details.error = raw.error;
  if (raw.truncated !== undefined) details.truncated = raw.truncated;
  if (raw.replay_truncated !== undefined) details.replayTruncated = raw.replay_truncated;
  if (raw.rows_kept !== undefined) details.rowsKept = raw.rows_kept;
  if (raw.message_id !== undefined) details.messageId = raw.message_id;
  return details;
}
