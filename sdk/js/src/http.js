// JSON over HTTP with the credentials Fluxbase's SDK sends, and `{data, error}` results.

import { CLIENT_CODES, FluxbaseError, parseRetryAfter } from "./errors.js";

const DEFAULT_TIMEOUT_MS = 30_000;

export class HttpClient {
  /**
   * @param {string} baseUrl  the server's http(s) URL, without a trailing slash
   * @param {string} key      the anon or service key: sent as `apikey` and, until a user token is set,
   *                          as `Authorization: Bearer` (what Fluxbase's createClient does)
   * @param {{headers?: Record<string,string>, timeout?: number, fetch?: typeof fetch}} [options]
   */
  constructor(baseUrl, key, options = {}) {
    this.baseUrl = baseUrl;
    this.key = key;
    this.token = null;
    this.headers = { ...(options.headers || {}) };
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.fetchImpl = options.fetch || globalThis.fetch?.bind(globalThis);
    if (!this.fetchImpl) throw new FluxbaseError("no fetch(): pass options.fetch", { code: "INVALID_OPTIONS" });
  }

  /** A user's JWT for the calls that act as that user (conversations); null goes back to the key. */
  setAuthToken(token) {
    this.token = token || null;
  }

  /**
   * The parsed JSON body (null for an empty one); throws FluxbaseError for anything but a 2xx.
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, query?: Record<string, unknown>}} [options]
   */
  async request(method, path, { body, query } = {}) {
    const headers = { ...this.headers };
    if (this.key) headers.apikey = this.key;
    const bearer = this.token || this.key;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    const timer = controller && this.timeout > 0 ? setTimeout(() => controller.abort(), this.timeout) : null;
    if (controller) init.signal = controller.signal;
    let response;
    try {
      response = await this.fetchImpl(this.baseUrl + path + queryString(query), init);
    } catch (cause) {
      if (cause?.name === "AbortError") {
        throw new FluxbaseError("Request timeout", { code: CLIENT_CODES.TIMEOUT, status: 408, cause });
      }
      throw new FluxbaseError(`Request failed: ${cause?.message || cause}`, { code: CLIENT_CODES.NETWORK_ERROR, cause });
    } finally {
      if (timer) clearTimeout(timer);
    }
    const data = await readBody(response);
    if (response.ok) return data;
    const answer = data && typeof data === "object" ? data : {};
    throw new FluxbaseError(typeof answer.error === "string" ? answer.error : response.statusText || `HTTP ${response.status}`, {
      status: response.status,
      code: typeof answer.code === "string" ? answer.code : undefined,
      retryAfter: answer.retry_after ?? parseRetryAfter(response.headers.get("Retry-After")),
      field: typeof answer.field === "string" ? answer.field : undefined,
      details: data,
    });
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  post(path, body) {
    return this.request("POST", path, { body });
  }

  put(path, body) {
    return this.request("PUT", path, { body });
  }

  patch(path, body) {
    return this.request("PATCH", path, { body });
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}

/** `{data, error}`: what every REST call of the SDK resolves to; it never rejects. */
export async function result(promise, pick = (data) => data) {
  try {
    return { data: pick(await promise), error: null };
  } catch (error) {
    return { data: null, error: asFluxbaseError(error) };
  }
}

/** A path segment from an id or name given by the caller (never lets it change the path). */
export function segment(value) {
  return encodeURIComponent(String(value));
}

function asFluxbaseError(error) {
  if (error instanceof FluxbaseError) return error;
  return new FluxbaseError(error?.message || String(error), { cause: error });
}

function queryString(query) {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function readBody(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
