// client.admin.ai with the service key: chatbots, providers, usage, audit, conversations.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient } from "../src/index.js";
import { scripted, script, server, uniqueName } from "./helpers.js";

const admin = () => createClient(server.url, server.serviceKey).admin.ai;

const BOT = (description) => `/**\n * SDK admin test\n *\n * @fluxbase:description ${description}\n` +
  " * @fluxbase:allowed-tables products\n */\nexport default `You answer about products.`;\n";

test("admin calls need the service key: the anon key is FORBIDDEN", async () => {
  const anonymous = createClient(server.url, server.anonKey).admin.ai;
  for (const call of [() => anonymous.listChatbots(), () => anonymous.listProviders(), () => anonymous.getUsage()]) {
    const { data, error } = await call();
    assert.equal(data, null);
    assert.deepEqual([error.status, error.code], [403, "FORBIDDEN"]);
  }
});

test("sync, list, get, update, toggle and delete chatbots", async () => {
  const ai = admin();
  const namespace = uniqueName("sdk-admin");
  const preview = await ai.sync({ namespace, chatbots: [{ name: "helper", code: BOT("first") }], options: { dry_run: true } });
  assert.equal(preview.error, null);
  assert.deepEqual([preview.data.dry_run, preview.data.summary.created], [true, 1]);
  assert.deepEqual((await ai.listChatbots(namespace)).data, []);

  const { data: report } = await ai.sync({ namespace, chatbots: [{ name: "helper", code: BOT("first") }] });
  assert.deepEqual(report.summary, { created: 1, updated: 0, deleted: 0, unchanged: 0, errors: 0 });
  assert.deepEqual(report.details.created, ["helper"]);
  const again = await ai.sync({ namespace, chatbots: [{ name: "helper", code: BOT("second") }] });
  assert.equal(again.data.summary.updated, 1);

  const { data: listed } = await ai.listChatbots(namespace);
  assert.deepEqual(listed.map((bot) => bot.name), ["helper"]);
  const id = listed[0].id;
  const { data: bot } = await ai.getChatbot(id);
  assert.deepEqual([bot.namespace, bot.description, bot.config.allowed_tables], [namespace, "second", ["products"]]);

  const { data: changed } = await ai.updateChatbot(id, { config: { max_turns: 3 } });
  assert.equal(changed.config.max_turns, 3);
  const invalid = await ai.updateChatbot(id, { config: { max_turns: -1 } });
  assert.deepEqual([invalid.error.status, invalid.error.code], [400, "INVALID_CONFIG"]);

  const { data: disabled } = await ai.toggleChatbot(id, false);
  assert.equal(disabled.enabled, false);
  const publicList = (await createClient(server.url, server.anonKey).ai.listChatbots()).data;
  assert.ok(!publicList.some((b) => b.id === id), "a disabled chatbot is not listed");
  assert.equal((await ai.toggleChatbot(id, true)).data.enabled, true);

  assert.deepEqual(await ai.deleteChatbot(id), { data: null, error: null });
  const gone = await ai.getChatbot(id);
  assert.deepEqual([gone.error.status, gone.error.code], [404, "CHATBOT_NOT_FOUND"]);
});

test("providers: list, create, get, update, test, set default, delete", async () => {
  await scripted(async () => {
    const ai = admin();
    const { data: before } = await ai.listProviders();
    const environment = before.find((p) => p.id === "FROM_CONFIG");
    assert.deepEqual([environment.is_default, environment.read_only, environment.config.api_key], [true, true, "***"]);

    // The same scripted LLM the environment's provider uses, so turns of other tests still work.
    const llm = new URL(server.llmControl);
    const name = uniqueName("scripted");
    const config = { api_key: "test-llm-key", base_url: `${llm.origin}/v1`, model: "scripted-model" };
    const { data: created, error } = await ai.createProvider({ name, display_name: "Scripted", provider_type: "openai", config });
    assert.equal(error, null);
    try {
      assert.deepEqual([created.name, created.provider_type, created.config.api_key], [name, "openai", "***"]);
      const taken = await ai.createProvider({ name, provider_type: "openai", config });
      assert.deepEqual([taken.error.status, taken.error.code], [409, "PROVIDER_EXISTS"]);
      const bad = await ai.createProvider({ name: uniqueName("bad"), provider_type: "openai", config: { base_url: "ftp://x" } });
      assert.deepEqual([bad.error.code, bad.error.field], ["INVALID_PROVIDER_CONFIG", "config.base_url"]);

      assert.equal((await ai.getProvider(created.id)).data.display_name, "Scripted");
      assert.equal((await ai.updateProvider(created.id, { display_name: "Scripted LLM" })).data.display_name, "Scripted LLM");
      const { data: made } = await ai.setDefaultProvider(created.id);
      assert.equal(made.is_default, true);

      await script.reply({ text: "pong" });
      const { data: probe } = await ai.testProvider(created.id);
      assert.equal(probe.success, true, JSON.stringify(probe));
    } finally {
      assert.deepEqual((await ai.deleteProvider(created.id)).data, { deleted: true, id: created.id });
    }
    const { data: after } = await ai.listProviders();
    assert.ok(!after.some((p) => p.id === created.id));
    assert.equal(after.find((p) => p.id === "FROM_CONFIG").is_default, true);
    const missing = await ai.getProvider(created.id);
    assert.deepEqual([missing.error.status, missing.error.code], [404, "PROVIDER_NOT_FOUND"]);
  });
});

test("usage, the SQL audit and every user's conversations", async () => {
  const ai = admin();
  const { data: usage, error } = await ai.getUsage({ namespace: "tests" });
  assert.equal(error, null);
  assert.ok(Array.isArray(usage.usage) && typeof usage.totals.requests === "number");
  const { data: audit } = await ai.getAuditLog({ limit: 5 });
  assert.ok(Array.isArray(audit.entries) && audit.entries.length <= 5);
  const { data: conversations } = await ai.listConversations({ limit: 5 });
  assert.ok(Array.isArray(conversations.conversations) && typeof conversations.total === "number");
  const unknown = await ai.getConversationMessages("00000000-0000-4000-8000-000000000000");
  assert.deepEqual([unknown.error.status, unknown.error.code], [404, "CONVERSATION_NOT_FOUND"]);
  const badFilter = await ai.getUsage({ colour: "red" });
  assert.deepEqual([badFilter.error.status, badFilter.error.code], [400, "INVALID_REQUEST"]);
});
