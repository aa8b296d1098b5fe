// `client.ai`: chatbot discovery, a user's conversations, and createChat() for the WebSocket.

import { FluxbaseAIChat } from "./chat.js";
import { result, segment } from "./http.js";

const CHATBOTS = "/api/v1/ai/chatbots";
const CONVERSATIONS = "/api/v1/ai/conversations";

export class FluxbaseAI {
  /**
   * @param {import("./http.js").HttpClient} http
   * @param {{wsBaseUrl: string, httpBaseUrl: string, WebSocket?: unknown}} endpoints
   */
  constructor(http, endpoints) {
    this.http = http;
    this.endpoints = endpoints;
  }

  /** Every enabled, public chatbot: `{data: [summary], error}`. */
  listChatbots() {
    return result(this.http.get(CHATBOTS), (body) => body?.chatbots || []);
  }

  /** One enabled, public chatbot by id. */
  getChatbot(id) {
    return result(this.http.get(`${CHATBOTS}/${segment(id)}`));
  }

  /**
   * A chatbot by name: the only one of that name, else the one in `default`; several elsewhere give an
   * error with code AMBIGUOUS_CHATBOT (its `details.namespaces` lists them). `namespace` narrows it.
   */
  lookupChatbot(name, namespace) {
    return result(this.http.get(`${CHATBOTS}/by-name/${segment(name)}`, { namespace }));
  }

  /**
   * A chat over the WebSocket (not connected yet: call connect()).
   * @param {import("../types/index.js").AIChatOptions} options
   */
  createChat(options = {}) {
    return new FluxbaseAIChat({
      WebSocket: this.endpoints.WebSocket,
      ...options,
      wsUrl: options.wsUrl || `${this.endpoints.wsBaseUrl}/ai/ws`,
      httpUrl: this.endpoints.httpBaseUrl,
      _lookupChatbot: (name) => this.lookupChatbot(name),
    });
  }

  // -- the signed-in user's conversations (client.setAuthToken(userJwt) first) --------------------

  /** `{data: {conversations, total, has_more, limit, offset}, error}`. */
  listConversations(options = {}) {
    const { chatbot, namespace, limit, offset } = options;
    return result(this.http.get(CONVERSATIONS, { chatbot, namespace, limit, offset }));
  }

  /** One conversation with its messages (and the queries each answer ran). */
  getConversation(id) {
    return result(this.http.get(`${CONVERSATIONS}/${segment(id)}`));
  }

  /** A page of a conversation's messages: `{messages, total, has_more, limit, offset}`. */
  getConversationMessages(id, options = {}) {
    return result(this.http.get(`${CONVERSATIONS}/${segment(id)}/messages`,
      { limit: options.limit, offset: options.offset }));
  }

  /** Fluxbase's name for renaming: `updates` is `{title}`. Resolves to the conversation. */
  updateConversation(id, updates) {
    return result(this.http.patch(`${CONVERSATIONS}/${segment(id)}`, updates));
  }

  renameConversation(id, title) {
    return this.updateConversation(id, { title });
  }

  /** Deletes it with its messages; refused (TURN_IN_PROGRESS) while a turn runs in it. */
  deleteConversation(id) {
    return result(this.http.delete(`${CONVERSATIONS}/${segment(id)}`));
  }
}
