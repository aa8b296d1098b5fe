// The one error type of the SDK: what the server said (its `code`, the HTTP status, `retry_after`),
// so callers branch on codes rather than on message text.

export class FluxbaseError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, status?: number, retryAfter?: number, field?: string, details?: unknown,
   *          cause?: unknown}} [info]
   */
  constructor(message, info = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = "FluxbaseError";
    this.code = info.code;
    this.status = info.status;
    this.retryAfter = info.retryAfter;
    this.field = info.field;
    this.details = info.details;
  }
}

// Codes the SDK itself gives, for failures no server answer describes.
export const CLIENT_CODES = Object.freeze({
  NETWORK_ERROR: "NETWORK_ERROR", // the request never got an HTTP answer
  TIMEOUT: "TIMEOUT", // no answer within the client's timeout
  CONNECTION_FAILED: "CONNECTION_FAILED", // the WebSocket could not be opened, and the server said nothing why
  CONNECTION_LOST: "CONNECTION_LOST", // the WebSocket dropped and every reconnect attempt failed
  NOT_CONNECTED: "NOT_CONNECTED", // a chat call before connect() or after disconnect()
  DISCONNECTED: "DISCONNECTED", // disconnect() was called while the call waited for the server
});

/** Seconds from a Retry-After header value (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value) {
  if (value === null || value === undefined || value === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(String(value));
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
