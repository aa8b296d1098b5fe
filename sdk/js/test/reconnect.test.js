// Reconnect and resume: the network between the SDK and the server is a proxy the test cuts and
// holds. Fluxbase's own SDK loses events here and reconnects after disconnect(); this one must not.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { createClient } from "../src/index.js";
import { ALICE, eventually, mintToken, NAMESPACE, Proxy, recorder, scripted, script, server } from "./helpers.js";

let proxy;
const chats = [];

before(async () => {
  proxy = await new Proxy(server.url).start();
});

afterEach(() => {
  // A test that failed half-way must not leave a chat that reconnects when the next one cuts.
  for (const chat of chats.splice(0)) chat.disconnect();
});

after(async () => {
  await proxy.close();
});

function openChat(options = {}) {
  const rec = recorder();
  const token = mintToken({ userId: ALICE });
  const chat = createClient(proxy.url, server.anonKey).ai.createChat({
    token, reconnectDelay: 20, maxReconnectDelay: 200, ...rec.callbacks, ...options,
  });
  chats.push(chat);
  return { chat, rec, token };
}

/** The turn's events as the callbacks saw them: every content seq once, in order, and one ending. */
function assertDeliveredOnce(rec, id, text) {
  const turnEvents = rec.events().filter((e) => e.conversationId === id && e.messageId);
  const seqs = turnEvents.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `seqs in order: ${seqs}`);
  assert.equal(new Set(seqs).size, seqs.length, `no seq twice: ${seqs}`);
  assert.equal(rec.named("onContent").filter((e) => e[2] === id).map((e) => e[1]).join(""), text);
  assert.equal(turnEvents.filter((e) => e.type === "done").length, 1);
}

/** Polls the stored conversation (directly, not through the proxy) until its answer is stored. */
async function answerStored(token, id, text) {
  const client = createClient(server.url, server.anonKey);
  client.setAuthToken(token);
  await eventually(async () => {
    const { data } = await client.ai.getConversation(id);
    return data?.messages?.some((m) => m.role === "assistant" && m.content === text);
  }, { what: "the stored answer" });
}

test("a socket cut mid-answer is reopened and resumed: nothing lost, nothing twice", async () => {
  await scripted(async () => {
    const text = "alpha beta gamma delta epsilon zeta";
    const gate = await script.held(text, { afterChunks: 3, chunks: 6 });
    const { chat, rec, token } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "six words please");
    await script.waitFor({ held: 1 });
    await rec.until((log) => log.some((e) => e[0] === "onContent"), "the first delta");

    // The network goes away; the SDK's next connection is parked, so the rest of the answer is
    // published while no socket follows the conversation, and has to come from the replay.
    proxy.hold();
    proxy.cut();
    await rec.untilEvent("reconnecting");
    await gate.open();
    await answerStored(token, id, text);
    proxy.release();

    await rec.untilEvent("done");
    assertDeliveredOnce(rec, id, text);
    const resumed = rec.events("chat_started").filter((e) => e.resumed);
    assert.equal(resumed.length, 1);
    assert.ok(rec.events("connected").at(-1).reconnected);
    assert.equal(chat.getAccumulatedContent(id), text);
    assert.deepEqual(rec.named("onError"), []);
    chat.disconnect();
  });
});

test("a resume while the answer is still streaming joins the replay and the live events seamlessly", async () => {
  await scripted(async () => {
    const text = "one two three four five six seven eight";
    const gate = await script.held(text, { afterChunks: 4, chunks: 8 });
    const { chat, rec } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "count");
    await script.waitFor({ held: 1 });
    await rec.until((log) => log.some((e) => e[0] === "onContent"), "the first delta");
    proxy.cut();
    await rec.until((log) => log.some((e) => e[0] === "onEvent" && e[1].type === "chat_started" && e[1].resumed),
      "the resume");
    await gate.open();
    await rec.untilEvent("done");
    assertDeliveredOnce(rec, id, text);
    chat.disconnect();
  });
});

test("messages sent while reconnecting are sent once the conversation is re-attached", async () => {
  await scripted(async () => {
    await script.reply({ text: "First answer." }, { text: "Second answer." });
    const { chat, rec } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "first");
    await rec.untilEvent("done");
    proxy.hold();
    proxy.cut();
    await rec.untilEvent("reconnecting");
    chat.sendMessage(id, "second"); // no socket now: it waits
    proxy.release();
    await rec.untilEvent("done", 2);
    assert.equal(chat.getAccumulatedContent(id), "Second answer.");
    assert.deepEqual(rec.named("onError"), [], "no NO_SESSION: the socket re-attached first");
    chat.disconnect();
  });
});

test("asking again for a finished turn's events on the same chat repeats none of them", async () => {
  await scripted(async () => {
    await script.reply({ text: "Only once." });
    const { chat, rec } = openChat();
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "say it once");
    await rec.untilEvent("done");
    // last_seq 0: the server replays the whole turn; the chat has seen every event of it.
    await chat.startChat("shop", NAMESPACE, id, { lastSeq: 0 });
    const before = rec.log.length;
    chat.sendMessage("00000000-0000-4000-8000-00000000beef", "a round trip after the replay");
    await rec.until((log) => log.some((e) => e[0] === "onError" && e[2] === "NO_SESSION"), "the round trip");
    assert.deepEqual(rec.log.slice(before).map((e) => e[1]?.type ?? e[0]), ["onError", "error"]);
    assert.equal(rec.named("onContent").map((e) => e[1]).join(""), "Only once.");
    assert.equal(rec.named("onDone").length, 1);
    chat.disconnect();
  });
});

test("disconnect() means disconnect: no reconnect follows, unlike a dropped socket", async () => {
  const { chat, rec } = openChat({ reconnectDelay: 5, maxReconnectDelay: 5 });
  await chat.connect();
  const id = await chat.startChat("shop", NAMESPACE);
  const opened = proxy.connections;

  proxy.cut(); // a drop: the SDK comes back on its own
  await rec.until((log) => log.filter((e) => e[0] === "onEvent" && e[1].type === "connected").length === 2,
    "the reconnect");
  assert.equal(proxy.connections, opened + 1);

  chat.disconnect();
  assert.equal(chat.isConnected(), false);
  assert.throws(() => chat.sendMessage(id, "hello?"), (error) => error.code === "NOT_CONNECTED");
  await assert.rejects(chat.startChat("shop", NAMESPACE), (error) => error.code === "NOT_CONNECTED");
  // Fluxbase's SDK opens a new socket about a second after disconnect(); give this one 100 times
  // its reconnect delay.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(proxy.connections, opened + 1);
  assert.equal(rec.events("reconnecting").length, 1);
  assert.deepEqual(rec.events().at(-1), { type: "disconnected", final: true });
});

test("when every reconnect fails the open turn gets onError CONNECTION_LOST", async () => {
  await scripted(async () => {
    await script.held("this answer never arrives here", { afterChunks: 2, chunks: 5 });
    const { chat, rec } = openChat({ reconnectAttempts: 2 });
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "hello");
    await rec.until((log) => log.some((e) => e[0] === "onContent"), "the first delta");
    proxy.refuse();
    try {
      proxy.cut();
      await rec.until((log) => log.some((e) => e[0] === "onError"), "giving up");
    } finally {
      proxy.refuse(false);
    }
    assert.deepEqual(rec.named("onError")[0].slice(1, 4), ["Connection lost: could not reconnect", "CONNECTION_LOST", id]);
    assert.equal(rec.events("reconnecting").length, 2);
    assert.equal(chat.isConnected(), false);
    assert.throws(() => chat.sendMessage(id, "still there?"), (error) => error.code === "NOT_CONNECTED");
    // connect() again works, and startChat re-attaches the conversation where the chat left it.
    await chat.connect();
    await chat.startChat("shop", NAMESPACE, id);
    chat.disconnect();
    await script.reset(); // releases the held stream: the turn ends server-side
  });
});

test("a refusal no retry can change (a bad token) stops reconnecting at once", async () => {
  const { chat, rec } = openChat({ reconnectAttempts: 5 });
  await chat.connect();
  await chat.startChat("shop", NAMESPACE);
  chat.setToken("not-a-jwt"); // refused on the open socket, and used for the next one
  await rec.until((log) => log.some((e) => e[0] === "onError" && e[2] === "AUTH_INVALID"), "the refused auth frame");
  proxy.cut();
  await rec.until((log) => log.some((e) => e[0] === "onEvent" && e[1].type === "disconnected" && e[1].final),
    "giving up");
  const errors = rec.named("onError").map((e) => e[2]);
  assert.deepEqual(errors, ["AUTH_INVALID", "AUTH_INVALID"]);
  assert.match(rec.named("onError")[1][1], /invalid token/);
  assert.equal(rec.events("reconnecting").length, 1, "one try, not five");
});
