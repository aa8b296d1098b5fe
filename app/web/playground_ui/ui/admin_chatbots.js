// The admin view's chatbots: every chatbot with an on/off switch (client.admin.ai.toggleChatbot).

import { el, emptyRow, errorContent, formatDateTime, setStatus } from "./admin_dom.js";

const COLUMNS = 5;

export class ChatbotsSection {
  /** @param {{admin: () => any, onAuthFailure: (error: any) => void}} options */
  constructor({ admin, onAuthFailure }) {
    this.admin = admin;
    this.onAuthFailure = onAuthFailure;
    this.body = document.querySelector("#chatbots-table tbody");
    this.status = document.getElementById("chatbots-status");
    document.getElementById("chatbots-refresh").addEventListener("click", () => this.load());
  }

  async load() {
    setStatus(this.status, "", "Loading chatbots…");
    const { data, error } = await this.admin().listChatbots();
    if (error) {
      setStatus(this.status, "error", errorContent("Could not list the chatbots", error));
      this.onAuthFailure(error);
      return;
    }
    const bots = [...data].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    this.body.replaceChildren(...(bots.length ? bots.map((bot) => this.row(bot))
      : [emptyRow(COLUMNS, "No chatbots yet: sync some (fluxbase sync, or POST /api/v1/admin/ai/chatbots/sync).")]));
    const enabled = bots.filter((bot) => bot.enabled).length;
    setStatus(this.status, "", `${bots.length} chatbot${bots.length === 1 ? "" : "s"}, ${enabled} enabled.`);
  }

  clear() {
    this.body.replaceChildren();
    setStatus(this.status, "");
  }

  row(bot) {
    const name = `${bot.namespace}/${bot.name}`;
    const toggle = el("button", {
      type: "button", class: "switch", "aria-pressed": String(Boolean(bot.enabled)),
      "aria-label": `Enabled: ${name}`, "data-chatbot-id": bot.id,
    }, el("span", { class: "track", "aria-hidden": "true" }), el("span", { class: "state" }, bot.enabled ? "On" : "Off"));
    toggle.addEventListener("click", () => this.toggle(bot, toggle));
    const row = el("tr", { "data-chatbot": name },
      el("th", { scope: "row" }, bot.title || bot.name, el("span", { class: "sub" }, name)),
      el("td", {}, bot.description || ""),
      el("td", {}, bot.version ?? ""),
      el("td", {}, formatDateTime(bot.updated_at)),
      el("td", {}, toggle));
    return row;
  }

  async toggle(bot, button) {
    const name = `${bot.namespace}/${bot.name}`;
    const wanted = button.getAttribute("aria-pressed") !== "true";
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    setStatus(this.status, "", `${wanted ? "Enabling" : "Disabling"} ${name}…`);
    const { data, error } = await this.admin().toggleChatbot(bot.id, wanted);
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (error) {
      setStatus(this.status, "error", errorContent(`Could not ${wanted ? "enable" : "disable"} ${name}`, error));
      this.onAuthFailure(error);
      return;
    }
    // The server's answer is the truth, whatever was asked.
    const enabled = Boolean(data?.enabled);
    button.setAttribute("aria-pressed", String(enabled));
    button.querySelector(".state").textContent = enabled ? "On" : "Off";
    setStatus(this.status, "ok", `${name} is ${enabled ? "enabled" : "disabled"}.`);
  }
}
