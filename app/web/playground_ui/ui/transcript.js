// The conversation as shown: user messages as plain text, answers as Markdown (markdown.js) with their
// query results in the order they came. A streaming answer is redrawn at most once per frame.

import { renderMarkdown } from "./markdown.js";
import { renderResult } from "./results.js";

const STATUS_TEXT = { cancelled: "Cancelled: the answer stops here.", error: "The answer ended with an error." };

export class Transcript {
  /** @param {HTMLElement} container  @param {{formatSql?: Function}} options */
  constructor(container, options = {}) {
    this.container = container;
    this.options = options;
  }

  clear() {
    this.container.replaceChildren();
  }

  addUser(text) {
    const article = messageElement("user", "You");
    const body = article.querySelector(".message-body");
    body.textContent = text;
    this._append(article);
    return article;
  }

  /** A new answer, empty until text or results arrive. */
  addAssistant() {
    const message = new AssistantMessage(messageElement("assistant", "Assistant"), this.options, (grow) => this._grow(grow));
    this._append(message.element);
    return message;
  }

  /** An error or notice that belongs to no answer (a refused message, a lost connection). */
  addNotice(text, kind = "error") {
    const notice = document.createElement("p");
    notice.className = `notice notice-${kind}`;
    notice.setAttribute("role", kind === "error" ? "alert" : "status");
    notice.textContent = text;
    this._append(notice);
    return notice;
  }

  /** Stored messages (docs/conversations.md): results come without rows, so only what ran is shown. */
  showHistory(messages) {
    for (const message of messages) {
      if (message.role === "user") {
        this.addUser(message.content || "");
        continue;
      }
      const answer = this.addAssistant();
      for (const result of message.query_results || []) {
        // No `data`: the history keeps no rows, and the panel says so.
        answer.addResult({ query: result.query, summary: result.summary, rowCount: result.row_count, error: result.error });
      }
      answer.appendText(message.content || "");
      answer.finish(message.status === "cancelled" || message.status === "error" ? message.status : "complete");
      answer.flush();
    }
  }

  _append(node) {
    this._grow(() => this.container.append(node));
  }

  /** Runs `change`, then keeps the end in view if the reader was there. */
  _grow(change) {
    const follow = this._nearBottom();
    change();
    if (follow) this._follow();
  }

  // The page scrolls, not the transcript: follow a growing answer only while the reader is at the end.
  _nearBottom() {
    const page = document.scrollingElement;
    return page.scrollHeight - page.scrollTop - page.clientHeight < 120;
  }

  _follow() {
    const page = document.scrollingElement;
    page.scrollTop = page.scrollHeight;
  }
}

class AssistantMessage {
  constructor(element, options, grow) {
    this.element = element;
    this.body = element.querySelector(".message-body");
    this.status = element.querySelector(".message-status");
    this.options = options;
    this.grow = grow;
    this.parts = []; // {text, node} for text, {node} for a result panel
    this.frame = 0;
    this.element.setAttribute("aria-busy", "true");
  }

  get text() {
    return this.parts.filter((part) => "text" in part).map((part) => part.text).join("");
  }

  appendText(delta) {
    if (!delta) return;
    let last = this.parts[this.parts.length - 1];
    if (!last || !("text" in last)) {
      last = { text: "", node: document.createElement("div") };
      last.node.className = "markdown";
      this.parts.push(last);
      this.body.append(last.node);
    }
    last.text += delta;
    last.dirty = true;
    this._schedule();
  }

  /** The whole answer as stored (a recovery after a loss): it replaces what was streamed. */
  replaceText(text) {
    for (const part of this.parts) if ("text" in part) part.node.remove();
    this.parts = this.parts.filter((part) => !("text" in part));
    this.appendText(text);
  }

  addResult(result) {
    const node = renderResult(result, this.options);
    this.parts.push({ node });
    this.grow(() => this.body.append(node));
  }

  /** A panel of its own (an approval request, approval.js), in the answer's order. */
  addPanel(node) {
    this.parts.push({ node });
    this.grow(() => this.body.append(node));
  }

  /** `complete`, `cancelled` or `error`: the answer is over. */
  finish(status) {
    this.element.removeAttribute("aria-busy");
    this.element.dataset.status = status;
    this.status.textContent = STATUS_TEXT[status] || "";
    this.flush();
  }

  /** Draws pending text now (otherwise it waits for the next frame). */
  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.grow(() => {
      for (const part of this.parts) {
        if (part.dirty) {
          part.node.replaceChildren(renderMarkdown(part.text));
          part.dirty = false;
        }
      }
    });
  }

  _schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }
}

function messageElement(role, label) {
  const article = document.createElement("article");
  article.className = `message ${role}`;
  const heading = document.createElement("p");
  heading.className = "message-role";
  heading.textContent = label;
  const body = document.createElement("div");
  body.className = "message-body";
  const status = document.createElement("p");
  status.className = "message-status";
  article.append(heading, body, status);
  article.setAttribute("aria-label", `${label} said`);
  return article;
}
