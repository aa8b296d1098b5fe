// `client.admin.ai`: chatbots, providers, usage, the SQL audit and every user's conversations.
// Needs a client created with the service key (or a user token with an admin role).

import { result, segment } from "./http.js";

const ROOT = "/api/v1/admin/ai";

export class FluxbaseAdminAI {
  /** @param {import("./http.js").HttpClient} http */
  constructor(http) {
    this.http = http;
  }

  // -- chatbots -----------------------------------------------------------------------------------

  listChatbots(namespace) {
    return result(this.http.get(`${ROOT}/chatbots`, { namespace }), (body) => body?.chatbots || []);
  }

  getChatbot(id) {
    return result(this.http.get(`${ROOT}/chatbots/${segment(id)}`));
  }

  /** `{enabled?, config?, reset_config?}`: config keys are the annotations' (docs/chatbots.md). */
  updateChatbot(id, updates) {
    return result(this.http.put(`${ROOT}/chatbots/${segment(id)}`, updates));
  }

  toggleChatbot(id, enabled) {
    return result(this.http.put(`${ROOT}/chatbots/${segment(id)}/toggle`, { enabled }));
  }

  deleteChatbot(id) {
    return result(this.http.delete(`${ROOT}/chatbots/${segment(id)}`), () => null);
  }

  /**
   * Without `chatbots`, syncs the server's chatbots directory; with them, these files into `namespace`.
   * @param {{namespace?: string, chatbots?: {name: string, code: string}[],
   *          options?: {delete_missing?: boolean, dry_run?: boolean}}} [options]
   */
  sync(options = {}) {
    const body = {
      namespace: options.namespace || "default",
      options: {
        delete_missing: options.options?.delete_missing ?? false,
        dry_run: options.options?.dry_run ?? false,
      },
    };
    if (options.chatbots !== undefined) body.chatbots = options.chatbots;
    return result(this.http.post(`${ROOT}/chatbots/sync`, body));
  }

  // -- providers ----------------------------------------------------------------------------------

  listProviders() {
    return result(this.http.get(`${ROOT}/providers`), (body) => body?.providers || []);
  }

  getProvider(id) {
    return result(this.http.get(`${ROOT}/providers/${segment(id)}`));
  }

  /**
   * `{name, provider_type: "openai"|"azure"|"ollama", config, display_name?, is_default?, enabled?,
   * embedding_model?}`. Config values go as given (Fluxbase's SDK turns them all into strings; the
   * server takes strings and numbers, and refuses a boolean where no field is a flag).
   */
  createProvider(params) {
    return result(this.http.post(`${ROOT}/providers`, withoutUndefined(params)));
  }

  /** `{display_name?, enabled?, config?, embedding_model?}`; an api_key of "***" keeps the stored key. */
  updateProvider(id, updates) {
    return result(this.http.put(`${ROOT}/providers/${segment(id)}`, withoutUndefined(updates)));
  }

  setDefaultProvider(id) {
    return result(this.http.put(`${ROOT}/providers/${segment(id)}/default`, {}));
  }

  deleteProvider(id) {
    return result(this.http.delete(`${ROOT}/providers/${segment(id)}`));
  }

  /** Asks the provider for a one-token answer: `{success, latency_ms, model}` or `{success: false, error, code}`. */
  testProvider(id) {
    return result(this.http.post(`${ROOT}/providers/${segment(id)}/test`, {}));
  }

  setEmbeddingProvider(id) {
    return result(this.http.put(`${ROOT}/providers/${segment(id)}/embedding`, {}));
  }

  clearEmbeddingProvider(id) {
    return result(this.http.delete(`${ROOT}/providers/${segment(id)}/embedding`));
  }

  // -- usage, audit, conversations -----------------------------------------------------------------

  /** Requests and tokens per UTC day, chatbot and user: `{usage, totals, total, has_more, ...}`. */
  getUsage(filters = {}) {
    return result(this.http.get(`${ROOT}/usage`, filters));
  }

  /** Every statement the model wrote, executed or refused: `{entries, total, has_more, ...}`. */
  getAuditLog(filters = {}) {
    return result(this.http.get(`${ROOT}/audit`, filters));
  }

  /** Every user's conversations: `{conversations, total, has_more, ...}` (`chatbot_id`, `user_id` filters). */
  listConversations(filters = {}) {
    return result(this.http.get(`${ROOT}/conversations`, filters));
  }

  /** All messages of a conversation, tool calls and results included. */
  getConversationMessages(id, options = {}) {
    return result(this.http.get(`${ROOT}/conversations/${segment(id)}/messages`,
      { limit: options.limit, offset: options.offset }));
  }
}

function withoutUndefined(object) {
  if (!object || typeof object !== "object") return object;
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}
