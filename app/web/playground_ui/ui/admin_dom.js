// Small DOM helpers for the admin view: elements built from data with text nodes only (names,
// descriptions and error texts come from the server and are never parsed as markup), status lines,
// and the server's errors in words a person can act on.

/**
 * An element with attributes and children; strings become text nodes.
 * @param {string} tag
 * @param {Record<string, unknown>} [attributes]  `class`, `dataset`-less plain attributes; `hidden`/`disabled` booleans
 * @param {...(Node|string|number|null|undefined|false)} children
 */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Writes a status line: `kind` is "ok", "error" or "" (in progress, neutral). */
export function setStatus(element, kind, ...content) {
  element.classList.remove("ok", "error");
  if (kind) element.classList.add(kind);
  element.replaceChildren(...content.flat().filter((part) => part !== null && part !== undefined && part !== false)
    .map((part) => (part instanceof Node ? part : document.createTextNode(String(part)))));
}

/** A status line's content for a failed call: what the server said, its code, and what to do about it. */
export function errorContent(action, error) {
  const parts = [`${action}: ${error?.message || "failed"}`];
  const tags = [error?.code, error?.status ? `HTTP ${error.status}` : null].filter(Boolean);
  if (tags.length) parts.push(" ", el("span", { class: "code" }, `(${tags.join(", ")})`));
  const hint = errorHint(error);
  if (hint) parts.push(el("span", { class: "hint" }, hint));
  return parts;
}

/** What a person can do about an error, by its status and code; null when the message says it all. */
export function errorHint(error) {
  const status = error?.status;
  const code = error?.code;
  if (status === 401) {
    return "The server did not accept these credentials: check the service key, or get a fresh JWT (it may have expired), and sign in again.";
  }
  if (status === 403 && code === "FORBIDDEN") {
    return "The credentials are valid but not an admin's: use the service key, or a JWT whose role is admin.";
  }
  if (status === 429) {
    return error.retryAfter ? `Try again in ${Math.ceil(error.retryAfter)} s.` : "Try again in a moment.";
  }
  if (code === "NETWORK_ERROR" || code === "TIMEOUT") return "The server did not answer: is it running?";
  if (status >= 500) return "The server failed; its log says why.";
  return null;
}

export function isAuthFailure(error) {
  return error?.status === 401 || error?.status === 403;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const NUMBER = new Intl.NumberFormat(undefined);

export function formatDateTime(value) {
  const date = value ? new Date(value) : null;
  return date && !Number.isNaN(date.getTime()) ? DATE_TIME.format(date) : "";
}

export function formatNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? NUMBER.format(value) : "";
}

/** A <td> with "nothing here" text across the whole table. */
export function emptyRow(columns, text) {
  return el("tr", {}, el("td", { colspan: columns, class: "empty" }, text));
}
