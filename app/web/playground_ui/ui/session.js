// Who is signed in: a JWT kept in sessionStorage (this tab only, gone when it closes), from the demo
// sign-in (development) or pasted. The page never checks a signature; the server does, and its
// refusal is what the person sees. Decoding here only says whose token it looks like.

const KEY = "fluxbase.playground.session";

export class SignInError extends Error {}

/** The stored `{token, label, userId, role}`, or null. */
export function loadSession() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return stored && typeof stored.token === "string" ? stored : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** `{environment, demo_users}`: whether the demo sign-in exists here. */
export async function pageConfig() {
  const response = await fetch("/playground/api/config");
  if (!response.ok) throw new SignInError(`The server did not answer the page's configuration (HTTP ${response.status})`);
  return response.json();
}

/** A session for a demo user (development only). */
export async function demoSignIn(user) {
  const response = await fetch("/playground/api/demo-session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new SignInError(body.error || `The demo sign-in failed (HTTP ${response.status})`);
  return { token: body.token, label: body.user, userId: body.user_id, role: "authenticated" };
}

/**
 * A session from a pasted JWT; throws SignInError saying what is wrong with its shape or expiry.
 * Whether it is genuine is for the server to say (the caller asks it next).
 */
export function sessionFromToken(text) {
  const token = String(text || "").trim().replace(/^Bearer\s+/i, "");
  if (!token) throw new SignInError("Paste a JWT first.");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part))) {
    throw new SignInError("That is not a JWT: a JWT is three base64url parts separated by dots (header.payload.signature).");
  }
  let claims;
  try {
    claims = JSON.parse(decodeBase64Url(parts[1]));
  } catch {
    throw new SignInError("That is not a JWT: its middle part is not base64url-encoded JSON.");
  }
  if (!claims || typeof claims !== "object") throw new SignInError("That is not a JWT: its claims are not a JSON object.");
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    throw new SignInError(`This token expired at ${new Date(claims.exp * 1000).toISOString()}; mint a fresh one ` +
      "(fluxbase token --user <uuid>).");
  }
  const role = typeof claims.role === "string" ? claims.role : "";
  const userId = typeof claims.sub === "string" ? claims.sub : "";
  return { token, label: userId ? `${role || "user"} ${userId}` : role || "token", userId, role };
}

function decodeBase64Url(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
