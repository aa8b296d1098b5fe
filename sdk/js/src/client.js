// createClient(url, key): the entry point, shaped as Fluxbase's (client.ai, client.admin.ai).

import { FluxbaseAdminAI } from "./admin_ai.js";
import { FluxbaseAI } from "./ai.js";
import { FluxbaseError } from "./errors.js";
import { HttpClient } from "./http.js";

export class FluxbaseAdmin {
  constructor(http) {
    this.ai = new FluxbaseAdminAI(http);
  }
}

export class FluxbaseClient {
  /**
   * @param {string} url  the server, e.g. "http://localhost:8080"
   * @param {string} key  the anon key (browsers, end users) or the service key (trusted servers, admin)
   * @param {import("../types/index.js").FluxbaseClientOptions} [options]
   */
  constructor(url, key, options = {}) {
    if (typeof url !== "string" || !/^https?:\/\//i.test(url)) {
      throw new FluxbaseError("createClient needs the server's http(s) URL, e.g. http://localhost:8080",
        { code: "INVALID_OPTIONS" });
    }
    const httpBaseUrl = url.replace(/\/+$/, "");
    this.url = httpBaseUrl;
    this.http = new HttpClient(httpBaseUrl, key, options);
    if (options.auth?.token) this.http.setAuthToken(options.auth.token);
    this.ai = new FluxbaseAI(this.http, {
      httpBaseUrl,
      wsBaseUrl: httpBaseUrl.replace(/^http/i, "ws"),
      WebSocket: options.WebSocket,
    });
    this.admin = new FluxbaseAdmin(this.http);
  }

  /** The user JWT REST calls carry from now on (conversations are a user's own); null: the key again. */
  setAuthToken(token) {
    this.http.setAuthToken(token);
  }

  getAuthToken() {
    return this.http.token;
  }
}

export function createClient(url, key, options) {
  return new FluxbaseClient(url, key, options);
}
