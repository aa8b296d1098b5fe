// The admin view's providers: the list with Test / Set default / Delete, and the form that adds one.
// Config fields per type are docs/providers.md section 1's; the server validates them again and names
// the field it refuses, which the form marks.

import { el, emptyRow, errorContent, setStatus } from "./admin_dom.js";

const COLUMNS = 6;

// type -> the config fields the form offers, in order; `secret` ones are password inputs, never kept.
const CONFIG_FIELDS = {
  openai: [
    { key: "model", label: "Model", placeholder: "gpt-4o-mini" },
    { key: "base_url", label: "Base URL", placeholder: "https://api.openai.com/v1", type: "url" },
    { key: "api_key", label: "API key", secret: true, help: "Needed for api.openai.com; a self-hosted server may take none" },
    { key: "organization_id", label: "Organization ID" },
  ],
  azure: [
    { key: "endpoint", label: "Endpoint", placeholder: "https://RESOURCE.openai.azure.com", type: "url", required: true },
    { key: "deployment_name", label: "Deployment", required: true },
    { key: "api_version", label: "API version", placeholder: "2024-02-15-preview" },
    { key: "api_key", label: "API key", secret: true, required: true },
  ],
  ollama: [
    { key: "model", label: "Model", placeholder: "llama3.2", required: true },
    { key: "endpoint", label: "Endpoint", placeholder: "http://localhost:11434", type: "url" },
  ],
};

export class ProvidersSection {
  /** @param {{admin: () => any, onAuthFailure: (error: any) => void}} options */
  constructor({ admin, onAuthFailure }) {
    this.admin = admin;
    this.onAuthFailure = onAuthFailure;
    this.body = document.querySelector("#providers-table tbody");
    this.status = document.getElementById("providers-status");
    this.form = document.getElementById("provider-form");
    this.formStatus = document.getElementById("provider-form-status");
    this.type = document.getElementById("provider-type");
    this.config = document.getElementById("provider-config");
    document.getElementById("providers-refresh").addEventListener("click", () => this.load());
    this.type.addEventListener("change", () => this.showConfigFields());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    this.showConfigFields();
  }

  async load(message) {
    if (!message) setStatus(this.status, "", "Loading providers…");
    const { data, error } = await this.admin().listProviders();
    if (error) {
      setStatus(this.status, "error", errorContent("Could not list the providers", error));
      this.onAuthFailure(error);
      return;
    }
    this.body.replaceChildren(...(data.length ? data.map((provider) => this.row(provider))
      : [emptyRow(COLUMNS, "No providers: add one below, or set OPENAI_API_KEY for the server.")]));
    if (message) setStatus(this.status, "ok", message);
    else setStatus(this.status, "", `${data.length} provider${data.length === 1 ? "" : "s"}.`);
  }

  clear() {
    this.body.replaceChildren();
    this.form.reset();
    this.showConfigFields();
    setStatus(this.status, "");
    setStatus(this.formStatus, "");
  }

  row(provider) {
    const config = provider.config || {};
    const label = provider.display_name && provider.display_name !== provider.name ? provider.display_name : null;
    const result = el("span", { class: "probe-result", role: "status", "aria-live": "polite" });
    const actions = el("td", { class: "actions" });
    const test = el("button", { type: "button", class: "secondary", "aria-label": `Test ${provider.name}` }, "Test");
    test.addEventListener("click", () => this.test(provider, test, result));
    actions.append(test);
    if (!provider.read_only) {
      const makeDefault = el("button", {
        type: "button", class: "secondary", "aria-label": `Set ${provider.name} as default`,
        disabled: provider.is_default || !provider.enabled,
        title: !provider.enabled ? "A disabled provider cannot be the default" : null,
      }, "Set default");
      makeDefault.addEventListener("click", () => this.makeDefault(provider, makeDefault));
      const remove = el("button", { type: "button", class: "danger", "aria-label": `Delete ${provider.name}` }, "Delete");
      remove.addEventListener("click", () => this.remove(provider, remove));
      actions.append(makeDefault, remove);
    }
    actions.append(result);
    const badges = [
      provider.is_default ? el("span", { class: "badge default" }, "default") : null,
      provider.enabled ? null : el("span", { class: "badge off" }, "disabled"),
      provider.read_only ? el("span", { class: "badge" }, "from environment") : null,
      provider.use_for_embeddings ? el("span", { class: "badge" }, "embeddings") : null,
    ];
    return el("tr", { "data-provider": provider.name },
      el("th", { scope: "row" }, provider.name, label ? el("span", { class: "sub" }, label) : null),
      el("td", {}, provider.provider_type),
      el("td", {}, config.model || config.deployment_name || ""),
      el("td", {}, config.base_url || config.endpoint || ""),
      el("td", {}, badges.some(Boolean) ? badges : "enabled"),
      actions);
  }

  async test(provider, button, result) {
    button.disabled = true;
    setStatus(result, "", "Testing…");
    const { data, error } = await this.admin().testProvider(provider.id);
    button.disabled = false;
    if (error) {
      setStatus(result, "error", errorContent("Test failed", error));
      this.onAuthFailure(error);
      return;
    }
    if (data?.success) {
      const latency = typeof data.latency_ms === "number" ? `${Math.round(data.latency_ms)} ms` : "";
      setStatus(result, "ok", `Works: ${data.model || "the model"} answered${latency ? ` in ${latency}` : ""}` +
        `${data.reply ? ` (“${data.reply}”)` : ""}.`);
    } else {
      setStatus(result, "error", `Failed: ${data?.error || "no answer"}`, " ", el("span", { class: "code" }, `(${data?.code || "PROVIDER_ERROR"})`));
    }
  }

  async makeDefault(provider, button) {
    button.disabled = true;
    const { error } = await this.admin().setDefaultProvider(provider.id);
    if (error) {
      button.disabled = false;
      setStatus(this.status, "error", errorContent(`Could not make ${provider.name} the default`, error));
      this.onAuthFailure(error);
      return;
    }
    await this.load(`${provider.name} is the default provider now.`);
  }

  async remove(provider, button) {
    if (!window.confirm(`Delete the provider ${provider.name}? Chatbots that name it fall back to the default.`)) return;
    button.disabled = true;
    const { error } = await this.admin().deleteProvider(provider.id);
    if (error) {
      button.disabled = false;
      setStatus(this.status, "error", errorContent(`Could not delete ${provider.name}`, error));
      this.onAuthFailure(error);
      return;
    }
    await this.load(`${provider.name} deleted.`);
  }

  showConfigFields() {
    const fields = CONFIG_FIELDS[this.type.value] || [];
    const legend = this.config.querySelector("legend");
    this.config.replaceChildren(legend, ...fields.map((field) => {
      const id = `provider-config-${field.key}`;
      const input = el("input", {
        id, name: `config.${field.key}`, type: field.secret ? "password" : field.type || "text",
        autocomplete: field.secret ? "new-password" : "off", spellcheck: "false",
        placeholder: field.placeholder, required: field.required,
        "aria-describedby": field.help ? `${id}-help` : null,
      });
      return el("div", { class: "field" },
        el("label", { for: id }, field.label, field.required ? " (required)" : ""), input,
        field.help ? el("small", { id: `${id}-help`, class: "muted" }, field.help) : null);
    }));
  }

  values() {
    const value = (id) => document.getElementById(id).value.trim();
    const config = {};
    for (const field of CONFIG_FIELDS[this.type.value] || []) {
      const input = document.getElementById(`provider-config-${field.key}`);
      // A key is taken exactly as pasted; other fields lose stray spaces.
      const text = field.secret ? input.value : input.value.trim();
      if (text) config[field.key] = text;
    }
    const body = { name: value("provider-name"), provider_type: this.type.value, config };
    if (value("provider-display-name")) body.display_name = value("provider-display-name");
    if (document.getElementById("provider-default").checked) body.is_default = true;
    return body;
  }

  async create() {
    for (const marked of this.form.querySelectorAll("[aria-invalid]")) marked.removeAttribute("aria-invalid");
    const body = this.values();
    if (!body.name) {
      this.invalid("name", "Give the provider a name.");
      return;
    }
    const missing = (CONFIG_FIELDS[body.provider_type] || []).find((field) => field.required && !body.config[field.key]);
    if (missing) {
      this.invalid(`config.${missing.key}`, `${missing.label} is required for ${body.provider_type}.`);
      return;
    }
    const submit = this.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    setStatus(this.formStatus, "", `Adding ${body.name}…`);
    const { data, error } = await this.admin().createProvider(body);
    submit.disabled = false;
    // Whatever happened, the key does not stay in the page longer than the request needed it.
    for (const field of this.form.querySelectorAll('input[type="password"]')) field.value = "";
    if (error) {
      const message = errorContent(`Could not add ${body.name}`, error);
      if (error.field) this.invalid(error.field, message);
      else setStatus(this.formStatus, "error", message);
      this.onAuthFailure(error);
      return;
    }
    this.form.reset();
    this.showConfigFields();
    setStatus(this.formStatus, "ok", `Added ${data.name}${data.is_default ? " as the default" : ""}. Test it from the list above.`);
    await this.load();
  }

  invalid(field, message) {
    const input = this.form.querySelector(`[name="${CSS.escape(field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    setStatus(this.formStatus, "error", message);
  }
}
