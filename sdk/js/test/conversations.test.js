// A user's conversations over REST: list, get, rename, delete; only one's own.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { createClient } from "../src/index.js";
import { mintToken, NAMESPACE, recorder, scripted, script, server } from "./helpers.js";

test("list, get, rename and delete a conversation, as its owner only", async () => {
  await scripted(async () => {
    await script.reply({ text: "Noted." });
    const user = randomUUID();
    const token = mintToken({ userId: user });
    const client = createClient(server.url, server.anonKey);
    const rec = recorder();
    const chat = client.ai.createChat({ token, ...rec.callbacks });
    await chat.connect();
    const id = await chat.startChat("shop", NAMESPACE);
    chat.sendMessage(id, "Remember the milk");
    await rec.untilEvent("done");
    chat.disconnect();

    // Without a user token the REST calls carry the anon key, which owns nothing.
    const anonymous = await client.ai.listConversations();
    assert.deepEqual([anonymous.error.status, anonymous.error.code], [401, "AUTH_REQUIRED"]);

    client.setAuthToken(token);
    assert.equal(client.getAuthToken(), token);
    const { data: page, error } = await client.ai.listConversations({ chatbot: "shop", namespace: NAMESPACE, limit: 10 });
    assert.equal(error, null);
    assert.deepEqual([page.total, page.has_more, page.conversations.length], [1, false, 1]);
    const [summary] = page.conversations;
    assert.deepEqual([summary.id, summary.chatbot, summary.namespace, summary.message_count], [id, "shop", NAMESPACE, 2]);

    const { data: detail } = await client.ai.getConversation(id);
    assert.deepEqual(detail.messages.map((m) => [m.role, m.content]), [["user", "Remember the milk"], ["assistant", "Noted."]]);
    const { data: messages } = await client.ai.getConversationMessages(id, { limit: 1 });
    assert.deepEqual([messages.total, messages.has_more, messages.messages.length], [2, true, 1]);

    const renamed = await client.ai.renameConversation(id, "Shopping list");
    assert.equal(renamed.data.title, "Shopping list");
    const updated = await client.ai.updateConversation(id, { title: "Groceries" });
    assert.equal(updated.data.title, "Groceries");
    const refused = await client.ai.updateConversation(id, { title: "" });
    assert.deepEqual([refused.error.status, refused.error.code, refused.error.field], [400, "INVALID_REQUEST", "title"]);

    // Somebody else sees nothing of it, and cannot tell it exists.
    const other = createClient(server.url, server.anonKey, { auth: { token: mintToken() } });
    const hidden = await other.ai.getConversation(id);
    assert.deepEqual([hidden.error.status, hidden.error.code], [404, "CONVERSATION_NOT_FOUND"]);
    assert.equal((await other.ai.deleteConversation(id)).error.code, "CONVERSATION_NOT_FOUND");

    const deleted = await client.ai.deleteConversation(id);
    assert.deepEqual(deleted, { data: { deleted: true, id }, error: null });
    assert.equal((await client.ai.getConversation(id)).error.code, "CONVERSATION_NOT_FOUND");
    assert.equal((await client.ai.listConversations()).data.total, 0);
  });
});
