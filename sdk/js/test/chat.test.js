// Chat turns over the live WebSocket: the documented callbacks, their order and parameters; errors
// with their codes; limits with retry_after; cancel.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient } from "../src/index.js";
import { resolveWebSocket } from "../src/websocket.js";
import { ALICE, mintToken, NAMESPACE, recorder, scripted, script, server, uniqueName } from "./helpers.js";

function openChat(options = {}) {
  const client = createClient(server.url, server.anonKey);
  const rec = recorder();
  const chat = client.ai.createChat({ token: mintToken({ userId: ALICE }), ...rec.callbacks, ...options });
  return { client, chat, rec };
}

const ended = (id) => (log) => log.some((e) => e[0] === "onEvent" && ["done", "cancelled", "error"].includes(e[1].type) &&
  e[1].conversationId === id);

test("a streamed text turn calls onProgress, onContent and onDone in order, with their parameters", async () => {
  await scripted(async () => {
    await script.reply({ text: "Hello from the shop assistant.", chunks: 3, usage: [30, 7] });
    const { chat, rec } = openChat();
    await chat.connect();
    assert.equal(chat.isConnected(), true);
    const id = await chat.startChat("shop", NAMESPACE);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(chat.sendMessage(id, "Say hello"), undefined);
    await rec.until(ended(id), "the end of the turn");
    chat.disconnect();

    const named = rec.log.filter((e) => e[0] !== "onEvent");
    assert.deepEqual(named[0], ["onProgress", "thinking", "Thinking...", id]);
    const contents = named.filter((e) => e[0] === "onContent");
    assert.ok(contents.length >= 1);
    assert.equal(contents.map((e) => e[1]).join(""), "Hello from the shop assistant.");
    assert.ok(contents.every((e) => e[2] === id && e.length === 3));
    assert.deepEqual(named.at(-1), ["onDone", { prompt_tokens: 30, completion_tokens: 7, total_tokens: 37 }, id]);
    assert.deepEqual(named.map((e) => e[0]).filter((n, i, all) => n !== all[i - 1]), ["onProgress", "onContent", "onDone"]);
    assert.equal(chat.getAccumulatedContent(id), "Hello from the shop assistant.");

    // onEvent sees everything, in the reference's shape, each after its own callback.
    const types = rec.events().map((e) => e.type);
    assert.deepEqual(types.slice(0, 3), ["connected", "chat_started", "progress"]);
    assert.equal(types.at(-2), "done");
    assert.equal(types.at(-1), "disconnected");
    const started = rec.events("chat_started")[0];
    assert.deepEqual([started.conversationId, started.chatbot, started.resumed], [id, "shop", false]);
    const seqs = rec.events().filter((e) => e.messageId).map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length);
    assert.equal(chat.getLastSeq(id), seqs.at(-1));
  });
});

test("an execute_sql turn gives onQueryResult(query, summary, rowCount, data, conversationId)", async () => {
  await scripted(async () => {
    const sql = "SELECT id, total FROM orders ORDER BY id";
    await script.reply(
      { tool_calls: [{ name: "execute_sql", arguments: { sql, description: "list my orders" } }] },
      { text: "You have 5 orders." },
    );
    const { chat, rec } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop"); // namespace found by name
    chat.sendMessage(id, "List my orders");
    await rec.until(ended(id), "the end of the turn");
    chat.disconnect();

    const [result, ...more] = rec.named("onQueryResult");
    assert.equal(more.length, 0);
    const [, query, summary, rowCount, data, conversationId, details] = result;
    assert.equal(query, sql);
    assert.match(summary, /^Returned 5 rows/);
    assert.equal(rowCount, 5);
    assert.equal(data.length, 5);
    assert.deepEqual(Object.keys(data[0]).sort(), ["id", "total"]);
    assert.equal(conversationId, id);
    assert.equal(details.truncated, false);
    assert.deepEqual(rec.named("onProgress").map((e) => e[1]), ["thinking", "querying", "executing", "generating"]);
    assert.deepEqual(rec.named("onProgress")[2].slice(1, 3), ["executing", "Executing: list my orders"]);
    const order = rec.log.filter((e) => e[0] !== "onEvent").map((e) => e[0]);
    assert.ok(order.indexOf("onQueryResult") < order.indexOf("onContent"));
    assert.equal(order.at(-1), "onDone");
    assert.equal(rec.events("query_result")[0].rowCount, 5);
  });
});

test("a bad token fails connect() with AUTH_INVALID, also given to onError", async () => {
  const { chat, rec } = openChat({ token: "not-a-jwt" });
  await assert.rejects(chat.connect(), (error) => error.code === "AUTH_INVALID" && error.status === 401);
  assert.equal(chat.isConnected(), false);
  const [[, message, code, conversationId]] = rec.named("onError");
  assert.match(message, /invalid token/);
  assert.deepEqual([code, conversationId], ["AUTH_INVALID", undefined]);
  assert.throws(() => chat.sendMessage("x", "hi"), (error) => error.code === "NOT_CONNECTED");
});

test("an unknown chatbot rejects startChat with CHATBOT_NOT_FOUND; other refusals keep the socket", async () => {
  const { chat, rec } = openChat();
  await chat.connect();
  await assert.rejects(chat.startChat("no-such-bot"),
    (error) => error.code === "CHATBOT_NOT_FOUND" && error.message === "Chatbot not found or disabled");
  assert.deepEqual(rec.named("onError").at(-1), ["onError", "Chatbot not found or disabled", "CHATBOT_NOT_FOUND",
    undefined, {}]);

  // A message for a conversation this socket has not started: NO_SESSION, for that conversation.
  const stranger = "00000000-0000-4000-8000-00000000abcd";
  chat.sendMessage(stranger, "hello?");
  await rec.until((log) => log.some((e) => e[0] === "onError" && e[2] === "NO_SESSION"), "NO_SESSION");
  assert.deepEqual(rec.named("onError").at(-1).slice(1, 4), ["No active chat session", "NO_SESSION", stranger]);

  // Still usable: a conversation starts on the same socket.
  const id = await chat.startChat("shop", NAMESPACE);
  assert.ok(id);
  chat.disconnect();

  // Without a token the caller is anonymous, and this chatbot wants a signed-in user.
  const anonymous = openChat({ token: undefined });
  await anonymous.chat.connect();
  await assert.rejects(anonymous.chat.startChat("shop", NAMESPACE), (error) => error.code === "AUTH_REQUIRED");
  anonymous.chat.disconnect();
});

test("a provider failure ends the turn through onError with the code and conversation id", async () => {
  await scripted(async () => {
    await script.reply({ error: { status: 500 } });
    const { chat, rec } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "hello");
    await rec.until(ended(id), "the end of the turn");
    chat.disconnect();
    const [[, message, code, conversationId, details]] = rec.named("onError");
    assert.match(message, /^AI provider not available/);
    assert.deepEqual([code, conversationId], ["PROVIDER_ERROR", id]);
    assert.ok(details.messageId);
    assert.equal(rec.named("onDone").length, 0);
  });
});

test("a rate limit reaches onError with retryAfter", async () => {
  const admin = createClient(server.url, server.serviceKey).admin.ai;
  const namespace = uniqueName("sdk-limits");
  const code = "/**\n * Limited\n *\n * @fluxbase:description One request a minute\n * @fluxbase:allowed-tables products\n" +
    " * @fluxbase:rate-limit 1\n */\nexport default `You answer in one word.`;\n";
  const { error } = await admin.sync({ namespace, chatbots: [{ name: "limited", code }] });
  assert.equal(error, null);
  try {
    await scripted(async () => {
      await script.reply({ text: "Fine." });
      const { chat, rec } = openChat({ token: mintToken() });
      await chat.connect();
      const id = await chat.startChat("limited", namespace);
      chat.sendMessage(id, "first");
      await rec.untilEvent("done");
      chat.sendMessage(id, "second");
      await rec.until((log) => log.some((e) => e[0] === "onError"), "the refusal");
      chat.disconnect();
      const [[, message, errorCode, conversationId, details]] = rec.named("onError");
      assert.deepEqual([message, errorCode, conversationId], ["Rate limit exceeded", "RATE_LIMIT_EXCEEDED", id]);
      assert.ok(details.retryAfter > 0 && details.retryAfter <= 60, JSON.stringify(details));
      assert.equal(rec.events("error")[0].retryAfter, details.retryAfter);
    });
  } finally {
    const { data: bots } = await admin.listChatbots(namespace);
    for (const bot of bots) assert.equal((await admin.deleteChatbot(bot.id)).error, null);
  }
});

test("cancel() stops the turn in flight; the socket stays open for the next one", async () => {
  await scripted(async () => {
    const gate = await script.held("one two three four five six", { afterChunks: 2, chunks: 6 });
    await script.reply({ text: "Next answer." });
    const { chat, rec } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "count slowly");
    await rec.until((log) => log.some((e) => e[0] === "onContent"), "the first delta");
    await script.waitFor({ held: 1 });
    chat.cancel(id);
    await rec.until(ended(id), "the cancellation");
    assert.deepEqual(rec.named("onCancelled"), [["onCancelled", id]]);
    assert.equal(rec.events("cancelled")[0].conversationId, id);
    assert.equal(rec.named("onDone").length, 0);
    await script.waitFor({ disconnected: 1 }); // the provider stream was closed under the model
    await gate.open(); // nothing is waiting on it any more

    chat.sendMessage(id, "and now?");
    await rec.untilEvent("done");
    assert.equal(chat.getAccumulatedContent(id), "Next answer.");
    chat.disconnect();
  });
});

test("the platform's WebSocket is used where there is one (browsers, Node 22), else the ws package", async () => {
  const platform = globalThis.WebSocket;
  if (!platform) {
    const { WebSocket: fromPackage } = await import("ws");
    assert.equal(await resolveWebSocket(undefined), fromPackage);
    return;
  }
  let made = 0;
  globalThis.WebSocket = class extends platform {
    constructor(...args) {
      super(...args);
      made += 1;
    }
  };
  try {
    const { chat } = openChat();
    await chat.connect();
    assert.ok(await chat.startChat("shop", NAMESPACE));
    chat.disconnect();
    assert.equal(made, 1);
  } finally {
    globalThis.WebSocket = platform;
  }
});

test("setToken renews the socket's token: the server answers with an authenticated event", async () => {
  const { chat, rec } = openChat();
  await chat.connect();
  chat.setToken(mintToken({ userId: ALICE, ttlSeconds: 7200 }));
  await rec.untilEvent("authenticated");
  const [event] = rec.events("authenticated");
  assert.ok(event.expiresAt > Date.now() / 1000 + 3600, JSON.stringify(event));
  assert.deepEqual(rec.named("onError"), []);
  chat.disconnect();
});
