// Approval before writes (docs/approval.md) over the live WebSocket: onApprovalRequired with the
// preview, chat.approve() runs the call once, chat.deny() runs nothing and the model reads the reason.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient } from "../src/index.js";
import { ALICE, mintToken, recorder, scripted, script, server, uniqueName } from "./helpers.js";

const BOT = "/**\n * SDK approvals\n *\n * @fluxbase:description Asks before it changes orders\n" +
  " * @fluxbase:allowed-tables orders\n * @fluxbase:allowed-operations SELECT,UPDATE\n" +
  " * @fluxbase:approval execute_sql:UPDATE=ask\n * @fluxbase:rate-limit 600\n */\n" +
  "export default `You manage orders.`;\n";
// Changes nothing a later test could notice, yet is an UPDATE of one of Alice's rows.
const SQL = "UPDATE orders SET status = status WHERE id = (SELECT min(id) FROM orders)";

async function approvingChat() {
  const namespace = uniqueName("sdk-approval");
  const admin = createClient(server.url, server.serviceKey).admin.ai;
  const { error } = await admin.sync({ namespace, chatbots: [{ name: "approver", code: BOT }] });
  assert.equal(error, null);
  const rec = recorder();
  const chat = createClient(server.url, server.anonKey).ai.createChat({ token: mintToken({ userId: ALICE }), ...rec.callbacks });
  await chat.connect();
  const id = await chat.startChat("approver", namespace);
  return { chat, rec, id };
}

const named = (name) => (log) => log.some((e) => e[0] === name);
const ended = (log) => log.some((e) => e[0] === "onEvent" && ["done", "cancelled", "error"].includes(e[1].type));

test("onApprovalRequired(approval, conversationId) shows the preview; approve() runs the statement", async () => {
  await scripted(async () => {
    await script.reply({ tool_calls: [{ name: "execute_sql", arguments: { sql: SQL, description: "Touch my first order" } }] },
      { text: "Done." });
    const { chat, rec, id } = await approvingChat();
    chat.sendMessage(id, "Touch my first order");
    await rec.until(named("onApprovalRequired"), "the approval request");
    const [, approval, conversationId] = rec.log.find((e) => e[0] === "onApprovalRequired");
    assert.equal(conversationId, id);
    assert.equal(approval.tool, "execute_sql");
    assert.equal(approval.description, "Touch my first order");
    assert.match(approval.sql, /^UPDATE orders\nSET status = status/);
    assert.deepEqual([approval.preview.kind, approval.preview.operation, approval.preview.row_count], ["sql", "UPDATE", 1]);
    assert.ok(Date.parse(approval.expiresAt) > Date.now());
    assert.equal(rec.log.some((e) => e[0] === "onQueryResult"), false, "nothing ran before the answer");
    const event = rec.events("approval_required")[0];
    assert.equal(event.approvalId, approval.approvalId);

    chat.approve(id, approval.approvalId);
    await rec.until(ended, "the end of the turn");
    chat.disconnect();
    const result = rec.log.find((e) => e[0] === "onApprovalResult");
    assert.deepEqual(result.slice(1, 4), [approval.approvalId, "approved", id]);
    const query = rec.log.find((e) => e[0] === "onQueryResult");
    assert.deepEqual([query[1], query[2], query[3]], [SQL, "Updated 1 row", 1]);
    assert.equal(rec.events().at(-2).type, "done");
    const calls = rec.log.map((e) => e[0]);
    assert.ok(calls.indexOf("onApprovalRequired") < calls.indexOf("onApprovalResult"));
    assert.ok(calls.indexOf("onApprovalResult") < calls.indexOf("onQueryResult"));
  });
});

test("deny(conversationId, approvalId, reason) runs nothing and the model is told the reason", async () => {
  await scripted(async () => {
    await script.reply({ tool_calls: [{ name: "execute_sql", arguments: { sql: SQL, description: "Touch it" } }] },
      { text: "Left it alone." });
    const { chat, rec, id } = await approvingChat();
    chat.sendMessage(id, "Touch my first order");
    await rec.until(named("onApprovalRequired"), "the approval request");
    const [, approval] = rec.log.find((e) => e[0] === "onApprovalRequired");
    chat.deny(id, approval.approvalId, "not today");
    await rec.until(ended, "the end of the turn");
    const result = rec.log.find((e) => e[0] === "onApprovalResult");
    assert.deepEqual(result.slice(1), [approval.approvalId, "denied", id, "not today"]);
    assert.equal(rec.log.some((e) => e[0] === "onQueryResult"), false);
    const requests = await script.requests();
    const tool = requests.at(-1).messages.find((m) => m.role === "tool");
    assert.match(tool.content, /did not approve/);
    assert.match(tool.content, /not today/);
    // Answering again: the approval is closed.
    chat.approve(id, approval.approvalId);
    await rec.until((log) => log.some((e) => e[0] === "onError" && e[2] === "APPROVAL_CLOSED"), "APPROVAL_CLOSED");
    chat.disconnect();
  });
});
