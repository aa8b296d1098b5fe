// Errors as a person should read them: what happened and what to do, with the server's code kept
// at the end for anyone reporting it (codes: docs/chat.md).

const ADVICE = {
  AUTH_INVALID: "The server refused the token (wrong signature, malformed or expired). Sign in again.",
  AUTH_EXPIRED: "Your sign-in has expired. Sign in again.",
  AUTH_REQUIRED: "This needs a signed-in user: sign in with a user's token.",
  FORBIDDEN: "This token is not allowed to do that.",
  ORIGIN_NOT_ALLOWED: "The server does not accept connections from this page's address (ALLOWED_ORIGINS).",
  CHATBOT_NOT_FOUND: "That chatbot does not exist, is disabled, or is not available to you.",
  CONVERSATION_NOT_FOUND: "That conversation no longer exists (it expired or was deleted). Start a new one.",
  TURN_IN_PROGRESS: "An answer is still running in this conversation: wait for it, or cancel it first.",
  TURN_LIMIT: "This conversation has reached its chatbot's turn limit. Start a new conversation.",
  RATE_LIMIT_EXCEEDED: "Too many requests.",
  DAILY_LIMIT_EXCEEDED: "The daily limit for this chatbot is used up.",
  TOKEN_BUDGET_EXCEEDED: "This chatbot's token budget for today is used up.",
  NO_PROVIDER: "No AI provider is configured for this chatbot. An admin can add one.",
  PROVIDER_AUTH_FAILED: "The AI provider refused the server's credentials. An admin should check the provider.",
  PROVIDER_ERROR: "The AI provider is not answering right now.",
  MESSAGE_TOO_LARGE: "The message is too long.",
  SERVICE_UNAVAILABLE: "The server is temporarily unavailable.",
  CONNECTION_FAILED: "Could not connect to the chat server.",
  CONNECTION_LOST: "The connection to the chat server was lost and could not be restored.",
  NETWORK_ERROR: "The server could not be reached.",
  TIMEOUT: "The server took too long to answer.",
};

/**
 * One readable sentence (or two) for an error.
 * @param {string} message  the server's text
 * @param {string} [code]
 * @param {{retryAfter?: number, limit?: string}} [details]
 */
export function describeError(message, code, details = {}) {
  const parts = [];
  const advice = code && ADVICE[code];
  parts.push(advice || message || "Something went wrong.");
  if (advice && message && !sameText(advice, message)) parts.push(`(${message})`);
  const wait = Number(details.retryAfter);
  if (Number.isFinite(wait) && wait > 0) parts.push(`Try again in ${formatWait(wait)}.`);
  if (code) parts.push(`[${code}]`);
  return parts.join(" ");
}

/** The same for an SDK error object (FluxbaseError). */
export function describeFailure(error) {
  return describeError(error?.message, error?.code, { retryAfter: error?.retryAfter });
}

function formatWait(seconds) {
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  if (seconds < 5400) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

function sameText(a, b) {
  return a.toLowerCase().startsWith(b.toLowerCase().replace(/\.$/, ""));
}
