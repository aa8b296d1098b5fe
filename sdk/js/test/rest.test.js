// Chatbot discovery over REST: the documented `{data, error}` results, and errors with codes.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient, FluxbaseError } from "../src/index.js";
import { NAMESPACE, server } from "./helpers.js";

const SUMMARY_KEYS = ["created_at", "description", "enabled", "id", "is_public", "name", "namespace", "source",
  "updated_at", "version"];

test("listChatbots with the anon key gives every public chatbot as documented", async () => {
  const client = createClient(server.url, server.anonKey);
  const { data: chatbots, error } = await client.ai.listChatbots();
  assert.equal(error, null);
  const names = chatbots.map((bot) => `${bot.namespace}/${bot.name}`);
  assert.ok(names.includes("default/sql-assistant"), names.join(", "));
  assert.ok(names.includes(`${NAMESPACE}/shop`));
  const shop = chatbots.find((bot) => bot.name === "shop");
  assert.deepEqual(Object.keys(shop).sort(), SUMMARY_KEYS);
  assert.equal(shop.enabled, true);
  assert.equal(shop.is_public, true);
});

test("getChatbot and lookupChatbot find one chatbot; unknown ones are errors with codes", async () => {
  const client = createClient(server.url, server.anonKey);
  const { data: chatbots } = await client.ai.listChatbots();
  const shop = chatbots.find((bot) => bot.name === "shop" && bot.namespace === NAMESPACE);

  const { data: one, error } = await client.ai.getChatbot(shop.id);
  assert.equal(error, null);
  assert.equal(one.name, "shop");

  const { data: found } = await client.ai.lookupChatbot("shop");
  assert.deepEqual([found.chatbot.id, found.ambiguous], [shop.id, false]);
  const { data: narrowed } = await client.ai.lookupChatbot("sql-assistant", "default");
  assert.equal(narrowed.chatbot.namespace, "default");

  const missing = await client.ai.getChatbot("00000000-0000-4000-8000-000000000000");
  assert.equal(missing.data, null);
  assert.ok(missing.error instanceof FluxbaseError);
  assert.deepEqual([missing.error.status, missing.error.code, missing.error.message],
    [404, "CHATBOT_NOT_FOUND", "Chatbot not found"]);
  const unknown = await client.ai.lookupChatbot("no-such-bot");
  assert.equal(unknown.error.code, "CHATBOT_NOT_FOUND");
  // An id that could change the path is sent as one segment.
  const odd = await client.ai.getChatbot("../admin/ai/chatbots");
  assert.equal(odd.error.status, 404);
});

test("a bad key is a 401 with code AUTH_INVALID, never a thrown exception", async () => {
  const client = createClient(server.url, "not-a-key");
  const { data, error } = await client.ai.listChatbots();
  assert.equal(data, null);
  assert.deepEqual([error.status, error.code], [401, "AUTH_INVALID"]);
});

test("a server that does not answer gives NETWORK_ERROR in the result", async () => {
  const client = createClient("http://127.0.0.1:9", server.anonKey);
  const { data, error } = await client.ai.listChatbots();
  assert.equal(data, null);
  assert.equal(error.code, "NETWORK_ERROR");
});

test("createClient refuses what is not an http(s) URL", () => {
  assert.throws(() => createClient("localhost:8080", "key"), (error) => error.code === "INVALID_OPTIONS");
});
