// The sidebar: the signed-in user's conversations (newest activity first), each to open, rename in
// place, or delete after a confirmation. Titles are the user's own text and are written as text.

export class ConversationList {
  /**
   * @param {HTMLElement} list  the <ul>
   * @param {{client: any, onOpen: (c: object) => void, onDeleted: (id: string) => void,
   *          describeError: (error: any) => string}} options
   */
  constructor(list, options) {
    this.list = list;
    this.options = options;
    this.currentId = null;
    this.items = [];
  }

  async refresh() {
    const { data, error } = await this.options.client.ai.listConversations({ limit: 50 });
    if (error) {
      this.list.replaceChildren(this._message(this.options.describeError(error), "error"));
      return;
    }
    this.items = data.conversations;
    // A title being edited is not swept away by a refresh (one follows every answer).
    if (!this.list.querySelector(".rename-form")) this.render();
  }

  setCurrent(id) {
    this.currentId = id;
    for (const button of this.list.querySelectorAll("button.conversation-open")) {
      if (button.dataset.id === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  render() {
    if (!this.items.length) {
      this.list.replaceChildren(this._message("No conversations yet.", "empty"));
      return;
    }
    this.list.replaceChildren(...this.items.map((conversation) => this._item(conversation)));
  }

  _item(conversation) {
    const li = document.createElement("li");
    li.className = "conversation";
    li.dataset.id = conversation.id;
    const title = titleOf(conversation);
    const open = button("conversation-open", "");
    open.dataset.id = conversation.id;
    const name = document.createElement("span");
    name.className = "conversation-title";
    name.textContent = title;
    const meta = document.createElement("span");
    meta.className = "conversation-meta";
    meta.textContent = `${conversation.chatbot} · ${conversation.namespace}`;
    open.append(name, meta);
    if (conversation.id === this.currentId) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => this.options.onOpen(conversation));
    const rename = button("secondary small", "Rename");
    rename.setAttribute("aria-label", `Rename ${title}`);
    rename.addEventListener("click", () => this._startRename(li, conversation));
    const remove = button("danger small", "Delete");
    remove.setAttribute("aria-label", `Delete ${title}`);
    remove.addEventListener("click", () => this._delete(li, conversation));
    const actions = document.createElement("div");
    actions.className = "conversation-actions";
    actions.append(rename, remove);
    li.append(open, actions);
    return li;
  }

  _startRename(li, conversation) {
    const title = titleOf(conversation);
    const form = document.createElement("form");
    form.className = "rename-form";
    const inputId = `rename-${conversation.id}`;
    const label = document.createElement("label");
    label.htmlFor = inputId;
    label.textContent = `New title for ${title}`;
    label.className = "visually-hidden";
    const input = document.createElement("input");
    input.id = inputId;
    input.value = conversation.title || "";
    input.maxLength = 200;
    input.required = true;
    const save = button("small", "Save");
    save.type = "submit";
    const cancel = button("secondary small", "Cancel");
    const error = document.createElement("p");
    error.className = "error-text";
    error.setAttribute("role", "alert");
    const restore = () => {
      const fresh = this._item(conversation);
      li.replaceWith(fresh);
      fresh.querySelector("button[aria-label^='Rename']")?.focus();
    };
    cancel.addEventListener("click", restore);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") restore();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const { data, error: failure } = await this.options.client.ai.renameConversation(conversation.id, input.value);
      save.disabled = false;
      if (failure) {
        error.textContent = this.options.describeError(failure);
        return;
      }
      conversation.title = data.title;
      restore();
    });
    form.append(label, input, save, cancel, error);
    li.replaceChildren(form);
    input.focus();
    input.select();
  }

  async _delete(li, conversation) {
    if (!window.confirm(`Delete the conversation "${titleOf(conversation)}"? This cannot be undone.`)) return;
    const { error } = await this.options.client.ai.deleteConversation(conversation.id);
    if (error) {
      li.querySelector(".error-text")?.remove();
      li.append(this._message(this.options.describeError(error), "error", "p"));
      return;
    }
    this.items = this.items.filter((item) => item.id !== conversation.id);
    this.render();
    this.options.onDeleted(conversation.id);
  }

  _message(text, kind, tag = "li") {
    const node = document.createElement(tag);
    node.className = kind === "error" ? "error-text" : "conversation-empty";
    if (kind === "error") node.setAttribute("role", "alert");
    node.textContent = text;
    return node;
  }
}

export function titleOf(conversation) {
  return conversation.title || conversation.preview || "Untitled conversation";
}

function button(className, text) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = className;
  node.textContent = text;
  return node;
}
