// The parts that need no server: the seq bookkeeping behind "no event lost or repeated", the
// backoff, and the event mapping. The same behaviour is then checked live in the other files.

import assert from "node:assert/strict";
import { test } from "node:test";

import { backoff } from "../src/reconnect.js";
import { ConversationCursor } from "../src/cursor.js";
import { dispatch, toChatEvent } from "../src/events.js";
import { parseRetryAfter } from "../src/errors.js";

const turn = (seq, type, extra = {}) => ({ type, seq, conversation_id: "c1", message_id: "m1", ...extra });

test("a cursor delivers each numbered event once, whatever order replays bring", () => {
  const cursor = new ConversationCursor();
  assert.equal(cursor.accept({ type: "chat_started", seq: 0, conversation_id: "c1" }), true);
  assert.equal(cursor.accept(turn(1, "progress")), true);
  assert.equal(cursor.accept(turn(2, "content", { delta: "Hel" })), true);
  assert.equal(cursor.accept(turn(2, "content", { delta: "Hel" })), false, "a replayed duplicate");
  assert.equal(cursor.accept(turn(1, "progress")), false, "an older event");
  assert.equal(cursor.accept(turn(4, "content", { delta: "lo" })), true, "merged deltas skip numbers");
  assert.equal(cursor.content, "Hello");
  assert.equal(cursor.turnOpen, true);
  assert.equal(cursor.accept(turn(5, "done", { usage: {} })), true);
  assert.equal(cursor.accept(turn(5, "done", { usage: {} })), false);
  assert.equal(cursor.lastSeq, 5);
  assert.equal(cursor.turnOpen, false);
});

test("events that take no number of their own are never dropped for their seq", () => {
  const cursor = new ConversationCursor(7);
  // A refused frame's error and a loss report carry the seq of what they follow.
  assert.equal(cursor.accept({ type: "error", code: "TURN_IN_PROGRESS", seq: 7, conversation_id: "c1" }), true);
  assert.equal(cursor.accept(turn(7, "events_lost", { first_seq: 5, last_seq: 6 })), true);
  assert.equal(cursor.lastSeq, 7, "they do not move the position either");
  // An ending rebuilt from storage replaces the streamed text, and only once.
  cursor.accept(turn(8, "content", { delta: "partial" }));
  const rebuilt = turn(8, "done", { recovered: true, content: "the whole answer" });
  assert.equal(cursor.accept(rebuilt), true);
  assert.equal(cursor.content, "the whole answer");
  assert.equal(cursor.accept({ ...rebuilt }), false, "the same message ended already");
  assert.equal(cursor.accept(turn(8, "done")), false);
});

test("chat_started moves the position forward, or back only when the server disbelieved our last_seq", () => {
  const cursor = new ConversationCursor(40);
  cursor.started(12, 40); // the server kept no count this high (Redis lost it) and numbers from 12
  assert.equal(cursor.lastSeq, 12);
  assert.equal(cursor.accept(turn(13, "progress")), true);
  cursor.started(0, 0); // a resume from the start: the replay of 1..13 must not be delivered again
  assert.equal(cursor.lastSeq, 13);
  assert.equal(cursor.accept(turn(13, "progress")), false);
  cursor.started(20, 13);
  assert.equal(cursor.lastSeq, 20);
});

test("a retried attempt (a new message id) starts its text afresh", () => {
  const cursor = new ConversationCursor(0);
  cursor.accept(turn(1, "content", { delta: "lost attempt" }));
  cursor.accept({ ...turn(2, "progress"), message_id: "m2" });
  cursor.accept({ ...turn(3, "content", { delta: "second" }), message_id: "m2" });
  assert.equal(cursor.content, "second");
});

test("backoff doubles from the base delay up to the cap, with jitter in the upper half", () => {
  for (let attempt = 1; attempt <= 8; attempt += 1) {
    const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1));
    for (let i = 0; i < 50; i += 1) {
      const delay = backoff(attempt, 100, 1000);
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay} outside ${ceiling / 2}..${ceiling}`);
    }
  }
});

test("callbacks get Fluxbase's parameter order, and one that throws does not stop the others", () => {
  const calls = [];
  const options = {
    onQueryResult: (...args) => calls.push(["query", ...args]),
    onError: (...args) => calls.push(["error", ...args]),
    onDone: () => {
      throw new Error("a broken callback");
    },
    onEvent: (event) => calls.push(["event", event.type, event.conversationId]),
  };
  const quiet = console.error;
  console.error = () => {};
  try {
    dispatch(options, { type: "query_result", conversation_id: "c1", seq: 3, message_id: "m1", query: "SELECT 1",
      summary: "Returned 1 row", row_count: 1, data: [{ n: 1 }], truncated: false });
    dispatch(options, { type: "error", conversation_id: "c1", code: "RATE_LIMIT_EXCEEDED", error: "Rate limit exceeded",
      retry_after: 42 });
    dispatch(options, { type: "done", conversation_id: "c1", seq: 4, usage: { total_tokens: 3 } });
  } finally {
    console.error = quiet;
  }
  assert.deepEqual(calls, [
    ["query", "SELECT 1", "Returned 1 row", 1, [{ n: 1 }], "c1", { truncated: false, messageId: "m1" }],
    ["event", "query_result", "c1"],
    ["error", "Rate limit exceeded", "RATE_LIMIT_EXCEEDED", "c1", { retryAfter: 42 }],
    ["event", "error", "c1"],
    ["event", "done", "c1"],
  ]);
});

test("a loss report reaches onEvent only, with the seq range it is about", () => {
  const seen = [];
  dispatch({ onEvent: (event) => seen.push(event), onError: () => seen.push("onError") },
    { type: "events_lost", conversation_id: "c1", seq: 7, message_id: "m1", first_seq: 5, last_seq: 6 });
  assert.equal(seen.length, 1);
  assert.deepEqual([seen[0].type, seen[0].firstSeq, seen[0].lastSeq, seen[0].messageId], ["events_lost", 5, 6, "m1"]);
});

test("onEvent gets Fluxbase's AIChatEvent fields camel-cased, ours beside them, and the raw event", () => {
  const raw = { type: "query_result", conversation_id: "c1", seq: 9, message_id: "m1", query: "q", summary: "s",
    row_count: 2, data: [], truncated: true, replay_truncated: true, rows_kept: 0 };
  assert.deepEqual(toChatEvent(raw), { type: "query_result", conversationId: "c1", query: "q", summary: "s",
    rowCount: 2, data: [], seq: 9, messageId: "m1", truncated: true, replayTruncated: true, rowsKept: 0, raw });
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(parseRetryAfter("7"), 7);
  assert.equal(parseRetryAfter(null), undefined);
  const inAMinute = new Date(Date.now() + 60_000).toUTCString();
  assert.ok(Math.abs(parseRetryAfter(inAMinute) - 60) <= 2);
});
