// When and how often a dropped chat socket is reopened.

export const RECONNECT_DEFAULTS = Object.freeze({ reconnectAttempts: 10, reconnectDelay: 500, maxReconnectDelay: 10_000 });

// Refusals of the upgrade that another try cannot change: reconnecting would only repeat them.
export const PERMANENT = new Set(["AUTH_INVALID", "ORIGIN_NOT_ALLOWED", "FORBIDDEN"]);

/**
 * Exponential backoff with jitter: attempt 1 waits 50-100% of `base` ms, each next one twice as
 * long, up to `max`. The jitter keeps clients that lost the same server from returning in step.
 */
export function backoff(attempt, base, max) {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
