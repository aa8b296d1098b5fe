// The chatbot picker: the chatbots the signed-in caller may use (listChatbots), one <select> option
// each, the SQL assistant first when it is there, and the picked one's description beside it.

export class ChatbotPicker {
  /** @param {HTMLSelectElement} select  @param {HTMLElement} description */
  constructor(select, description) {
    this.select = select;
    this.description = description;
    this.chatbots = [];
    select.addEventListener("change", () => this._describe());
  }

  /** Fills the list; false when there is nothing to pick. */
  fill(chatbots) {
    this.chatbots = chatbots;
    this.select.replaceChildren(...chatbots.map((bot, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = bot.namespace === "default" ? bot.name : `${bot.name} (${bot.namespace})`;
      return option;
    }));
    const preferred = chatbots.findIndex((bot) => bot.name === "sql-assistant" && bot.namespace === "default");
    this.select.value = String(Math.max(0, preferred));
    this._describe();
    return chatbots.length > 0;
  }

  /** `{name, namespace, description, ...}` of the picked chatbot, or null. */
  get picked() {
    return this.chatbots[Number(this.select.value)] || null;
  }

  /** Shows `name` in `namespace` as picked (an opened conversation's chatbot). */
  show(name, namespace) {
    const index = this.chatbots.findIndex((bot) => bot.name === name && bot.namespace === namespace);
    if (index >= 0) this.select.value = String(index);
    this._describe();
  }

  onChange(listener) {
    this.select.addEventListener("change", () => listener(this.picked));
  }

  clear() {
    this.chatbots = [];
    this.select.replaceChildren();
    this._describe();
  }

  _describe() {
    this.description.textContent = this.picked?.description || "";
  }
}

export function sameBot(a, b) {
  return Boolean(a && b) && a.name === b.name && a.namespace === b.namespace;
}
