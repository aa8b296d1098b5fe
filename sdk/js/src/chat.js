// One chat over the WebSocket: Fluxbase's FluxbaseAIChat API, plus what it lacks. A dropped socket is
// reopened with backoff and every conversation is re-attached from the last seq it saw, so no event
// is lost or repeated; disconnect() means disconnect; frames sent while reconnecting wait for it.

import { ConversationCursor } from "./cursor.js";
import { CLIENT_CODES, FluxbaseError } from "./errors.js";
import { call, dispatch } from "./events.js";
import { backoff, PERMANENT, RECONNECT_DEFAULTS } from "./reconnect.js";
import { OPEN, resolveWebSocket } from "./websocket.js";

const DIAGNOSE_TIMEOUT_MS = 5000;

export class FluxbaseAIChat {
  /** @param {import("../types/index.js").AIChatOptions & {wsUrl: string}} options */
  constructor(options) {
    this.options = { ...RECONNECT_DEFAULTS, ...options };
    this._ws = null;
    this._state = "idle"; // idle | connecting | open | reconnecting | closed
    this._generation = 0; // bumped per socket: handlers of an older socket do nothing
    this._attempt = 0;
    this._timer = null;
    this._opening = null; // {promise, reject} of the socket being opened
    this._conversations = new Map(); // id -> {chatbot, namespace, cursor, attached}
    this._starts = []; // start_chat frames, answered one at a time, in order
    this._held = []; // frames sent while the socket was not usable
  }

  // -- connection ---------------------------------------------------------------------------------

  /** Opens the socket; rejects (and calls onError) with the server's reason, e.g. code AUTH_INVALID. */
  async connect() {
    if (this._state === "open") return;
    if (this._opening) return this._opening.promise;
    if (this._timer) clearTimeout(this._timer); // reconnecting: try now instead
    this._timer = null;
    this._state = "connecting";
    this._attempt = 0;
    try {
      await this._open();
    } catch (error) {
      if (this._state !== "closed") this._state = "idle";
      if (error.code !== CLIENT_CODES.DISCONNECTED) call(this.options.onError, error.message, error.code, undefined, {});
      throw error;
    }
  }

  /** Closes the socket for good: no reconnect follows; pending startChat() calls reject. */
  disconnect() {
    const ws = this._ws;
    const wasOpen = this._state === "open";
    this._state = "closed";
    this._generation += 1;
    this._ws = null;
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    const stopped = new FluxbaseError("Disconnected", { code: CLIENT_CODES.DISCONNECTED });
    this._opening?.reject(stopped);
    this._opening = null;
    this._failStarts(stopped);
    this._held = [];
    for (const conversation of this._conversations.values()) conversation.attached = false;
    if (ws) {
      try {
        ws.close(1000, "client disconnect");
      } catch {
        // already closing
      }
    }
    if (ws && wasOpen) this._local({ type: "disconnected", final: true });
  }

  isConnected() {
    return this._state === "open" && this._ws?.readyState === OPEN;
  }

  /** A fresh JWT for the same user: used for reconnects, and sent on the open socket (`auth` frame). */
  setToken(token) {
    this.options.token = token;
    if (this.isConnected() && token) this._send({ type: "auth", token });
  }

  // -- conversations ------------------------------------------------------------------------------

  /**
   * Opens a conversation with a chatbot, or re-attaches one (`conversationId`); resolves to its id.
   * Without `namespace`, the chatbot's namespace is looked up by name (the only match, else
   * "default"); one not listed publicly is tried in "default" and the server decides.
   */
  async startChat(chatbot, namespace, conversationId, options = {}) {
    this._requireUsable();
    const resolved = namespace || (await this._namespaceOf(chatbot));
    this._requireUsable();
    const known = conversationId ? this._conversations.get(conversationId) : undefined;
    const lastSeq = options.lastSeq ?? known?.cursor.lastSeq ?? undefined;
    return new Promise((resolve, reject) => {
      this._starts.push(startEntry({ chatbot, namespace: resolved, conversationId, lastSeq, resolve, reject }));
      this._pump();
    });
  }

  /** One user turn; the answer arrives through the callbacks. Waits for the socket while reconnecting. */
  sendMessage(conversationId, content) {
    this._requireUsable();
    this._conversations.get(conversationId)?.cursor.startTurn();
    this._sendOrHold({ type: "message", conversation_id: conversationId, content });
  }

  /** Stops the turn in flight (the partial answer is kept; `cancelled` ends it); the socket stays open. */
  cancel(conversationId) {
    this._requireUsable();
    this._sendOrHold({ type: "cancel", conversation_id: conversationId });
  }

  /** Runs the tool call an `approval_required` event asked about (onApprovalRequired; docs/approval.md). */
  approve(conversationId, approvalId) {
    this._requireUsable();
    this._sendOrHold({ type: "approve", conversation_id: conversationId, approval_id: approvalId });
  }

  /** Refuses it: nothing runs, and the model reads that the user did not approve it (and why). */
  deny(conversationId, approvalId, reason) {
    this._requireUsable();
    const frame = { type: "deny", conversation_id: conversationId, approval_id: approvalId };
    if (typeof reason === "string" && reason.trim()) frame.reason = reason;
    this._sendOrHold(frame);
  }

  /** The text of the conversation's current (or last) answer, as streamed or as recovered. */
  getAccumulatedContent(conversationId) {
    return this._conversations.get(conversationId)?.cursor.content || "";
  }

  /** The highest seq delivered for the conversation (what a resume sends as `last_seq`). */
  getLastSeq(conversationId) {
    return this._conversations.get(conversationId)?.cursor.lastSeq ?? null;
  }

  // -- the socket ---------------------------------------------------------------------------------

  _open() {
    const promise = new Promise((resolve, reject) => {
      this._opening = { promise: null, reject };
      this._connectSocket(resolve, reject);
    }).finally(() => {
      if (this._opening?.promise === promise) this._opening = null;
    });
    this._opening.promise = promise;
    return promise;
  }

  async _connectSocket(resolve, reject) {
    let WebSocketImpl;
    try {
      WebSocketImpl = await resolveWebSocket(this.options.WebSocket);
    } catch (cause) {
      reject(new FluxbaseError("No WebSocket implementation: install the `ws` package (Node 20) or pass " +
        "options.WebSocket", { code: CLIENT_CODES.CONNECTION_FAILED, cause }));
      return;
    }
    if (this._state === "closed") return; // disconnect() rejected it meanwhile
    const generation = ++this._generation;
    let ws;
    try {
      ws = new WebSocketImpl(this._url());
    } catch (cause) {
      reject(new FluxbaseError(`WebSocket connection failed: ${cause?.message || cause}`,
        { code: CLIENT_CODES.CONNECTION_FAILED, cause }));
      return;
    }
    let opened = false;
    let failed = false;
    const failToOpen = () => {
      if (failed || generation !== this._generation) return;
      failed = true;
      this._ws = null;
      try {
        ws.close();
      } catch {
        // not open: nothing to close
      }
      this._diagnose().then(reject);
    };
    this._ws = ws;
    ws.onopen = () => {
      if (generation !== this._generation || failed) return;
      opened = true;
      this._state = "open";
      this._attempt = 0;
      resolve();
      const reattached = this._reattach();
      this._local({ type: "connected", reconnected: reattached > 0 });
      this._pump();
    };
    ws.onmessage = (message) => {
      if (generation === this._generation) this._onFrame(message.data);
    };
    // Before the open, an error is the failure itself: Node 20's own WebSocket fires no close after
    // a refused upgrade. After it, the close event follows and says more.
    ws.onerror = () => {
      if (!opened) failToOpen();
    };
    ws.onclose = (event) => {
      if (generation !== this._generation) return;
      if (!opened) {
        failToOpen();
        return;
      }
      this._ws = null;
      this._onDropped(event);
    };
  }

  _url() {
    const url = this.options.wsUrl;
    if (!this.options.token) return url;
    return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(this.options.token)}`;
  }

  /** Why the upgrade failed: a WebSocket cannot read the 401/403, the same URL over plain HTTP can. */
  async _diagnose() {
    const fallback = new FluxbaseError("WebSocket connection failed", { code: CLIENT_CODES.CONNECTION_FAILED });
    if (typeof globalThis.fetch !== "function") return fallback;
    try {
      const signal = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(DIAGNOSE_TIMEOUT_MS) : undefined;
      const response = await globalThis.fetch(this._url().replace(/^ws/i, "http"), { signal });
      const body = await response.json().catch(() => null);
      // 400 is the server saying "credentials fine, but this is not an upgrade": the failure was elsewhere.
      if (response.status === 400 || response.ok) return fallback;
      return new FluxbaseError(body?.error || `WebSocket refused (HTTP ${response.status})`,
        { code: body?.code || CLIENT_CODES.CONNECTION_FAILED, status: response.status, details: body });
    } catch {
      return fallback;
    }
  }

  _onDropped(event) {
    this._local({ type: "disconnected", code: event?.code, reason: event?.reason || undefined });
    if (this._state === "closed") return;
    // Re-attaching is rebuilt for the next socket; the user's starts go again on it.
    this._starts = this._starts.filter((start) => !start.internal);
    for (const start of this._starts) start.sent = false;
    this._scheduleReconnect(null);
  }

  _scheduleReconnect(lastError) {
    if (this._attempt >= this.options.reconnectAttempts) {
      this._giveUp(lastError);
      return;
    }
    this._attempt += 1;
    const delay = backoff(this._attempt, this.options.reconnectDelay, this.options.maxReconnectDelay);
    this._state = "reconnecting";
    this._local({ type: "reconnecting", attempt: this._attempt, delay });
    this._timer = setTimeout(() => {
      this._timer = null;
      this._open().catch((error) => {
        if (this._state === "closed") return;
        if (PERMANENT.has(error.code)) this._giveUp(error);
        else this._scheduleReconnect(error);
      });
    }, delay);
  }

  _giveUp(cause) {
    this._state = "closed";
    const permanent = cause && PERMANENT.has(cause.code);
    const error = new FluxbaseError(permanent ? cause.message : "Connection lost: could not reconnect",
      { code: permanent ? cause.code : CLIENT_CODES.CONNECTION_LOST, cause: cause || undefined });
    const affected = new Set(this._held.map((frame) => frame.conversation_id));
    for (const [id, conversation] of this._conversations) {
      if (conversation.attached && conversation.cursor.turnOpen) affected.add(id);
      conversation.attached = false;
    }
    this._held = [];
    this._failStarts(error);
    this._local({ type: "disconnected", final: true });
    if (affected.size === 0) affected.add(undefined);
    for (const id of affected) dispatch(this.options, { type: "error", error: error.message, code: error.code, conversation_id: id });
  }

  // -- frames -------------------------------------------------------------------------------------

  /** Queues a resume of every conversation the dropped socket followed; returns how many. */
  _reattach() {
    const resumes = [];
    for (const [id, conversation] of this._conversations) {
      if (!conversation.attached) continue;
      resumes.push(startEntry({ chatbot: conversation.chatbot, namespace: conversation.namespace,
        conversationId: id, lastSeq: conversation.cursor.lastSeq ?? undefined, internal: true }));
    }
    this._starts = [...resumes, ...this._starts];
    return resumes.length;
  }

  /** Sends the next start_chat once the previous one is answered; then the frames held meanwhile. */
  _pump() {
    if (!this.isConnected()) return;
    const head = this._starts[0];
    if (head) {
      if (!head.sent) {
        head.sent = true;
        this._send(head.frame);
      }
      return;
    }
    const held = this._held;
    this._held = [];
    for (const frame of held) this._send(frame);
  }

  _sendOrHold(frame) {
    const reattaching = this._starts.some((start) => start.internal && start.conversationId === frame.conversation_id);
    if (this.isConnected() && !reattaching) this._send(frame);
    else this._held.push(frame);
  }

  _send(frame) {
    if (!this.isConnected()) {
      this._held.push(frame);
      return;
    }
    this._ws.send(JSON.stringify(frame));
  }

  _onFrame(text) {
    let raw;
    try {
      raw = JSON.parse(typeof text === "string" ? text : String(text));
    } catch {
      return;
    }
    if (!raw || typeof raw !== "object" || typeof raw.type !== "string") return;
    if (raw.type === "chat_started") {
      this._onStarted(raw);
      return;
    }
    const head = this._starts[0];
    if (raw.type === "error" && !raw.message_id && head?.sent &&
        (!raw.conversation_id || raw.conversation_id === head.conversationId)) {
      this._onStartRefused(raw);
      return;
    }
    const conversation = raw.conversation_id ? this._conversations.get(raw.conversation_id) : undefined;
    if (conversation && !conversation.cursor.accept(raw)) return; // seen already
    dispatch(this.options, raw);
  }

  _onStarted(raw) {
    const head = this._starts[0]?.sent ? this._starts.shift() : undefined;
    const id = raw.conversation_id;
    let conversation = this._conversations.get(id);
    if (!conversation) {
      conversation = { chatbot: head?.chatbot ?? raw.chatbot, namespace: head?.namespace ?? "default",
        cursor: new ConversationCursor(), attached: true };
      this._conversations.set(id, conversation);
    }
    conversation.attached = true;
    conversation.cursor.started(raw.seq, head?.frame.last_seq);
    dispatch(this.options, raw);
    head?.resolve?.(id);
    this._pump();
  }

  _onStartRefused(raw) {
    const head = this._starts.shift();
    if (head.internal) {
      // It cannot be re-attached (expired, deleted, its chatbot disabled): no longer followed.
      const conversation = this._conversations.get(head.conversationId);
      if (conversation) conversation.attached = false;
    }
    dispatch(this.options, { ...raw, conversation_id: raw.conversation_id ?? head.conversationId });
    head.reject?.(new FluxbaseError(raw.error || "Unknown error",
      { code: raw.code, retryAfter: raw.retry_after, details: raw }));
    this._pump();
  }

  _failStarts(error) {
    const starts = this._starts;
    this._starts = [];
    for (const start of starts) start.reject?.(error);
  }

  async _namespaceOf(chatbot) {
    const lookup = this.options._lookupChatbot;
    if (!lookup) return "default";
    const { data, error } = await lookup(chatbot);
    if (data?.chatbot?.namespace) return data.chatbot.namespace;
    if (error?.code === "AMBIGUOUS_CHATBOT") {
      call(this.options.onError, error.message, error.code, undefined, {});
      throw error;
    }
    return "default"; // unknown, or not listed publicly: the server decides
  }

  _requireUsable() {
    if (this._state === "idle" || this._state === "closed") {
      throw new FluxbaseError("Not connected to AI chat", { code: CLIENT_CODES.NOT_CONNECTED });
    }
  }

  _local(event) {
    call(this.options.onEvent, event);
  }
}

function startEntry({ chatbot, namespace, conversationId, lastSeq, resolve, reject, internal = false }) {
  const frame = { type: "start_chat", chatbot, namespace };
  if (conversationId) frame.conversation_id = conversationId;
  if (conversationId && Number.isSafeInteger(lastSeq) && lastSeq >= 0) frame.last_seq = lastSeq;
  return { frame, chatbot, namespace, conversationId, resolve, reject, internal, sent: false };
}
