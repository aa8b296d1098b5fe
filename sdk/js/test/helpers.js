// What the SDK's live tests share: the server they are pointed at (tests/sdk/test_js_sdk.py sets the
// environment), tokens, the scripted LLM's HTTP control, a recorder of callbacks, and a TCP proxy
// that can cut and hold connections like a network would.

import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import net from "node:net";

export const NAMESPACE = "tests"; // tests/conftest.py sync_test_chatbots
export const ALICE = "a11ce000-0000-4000-8000-000000000001"; // demo user with 5 orders

export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: these tests run against a live server, started by ` +
      "`.venv/bin/python -m pytest tests/sdk/test_js_sdk.py`");
  }
  return value;
}

export const server = {
  get url() { return env("FLUXBASE_URL"); },
  get anonKey() { return env("FLUXBASE_ANON_KEY"); },
  get serviceKey() { return env("FLUXBASE_SERVICE_KEY"); },
  get llmControl() { return env("LLM_CONTROL_URL"); },
};

/** An HS256 JWT as the server's `fluxbase token` mints it. */
export function mintToken({ userId = randomUUID(), role = "authenticated", ttlSeconds = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { role, iat: now, exp: now + ttlSeconds };
  if (userId) claims.sub = userId;
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`;
  const signature = createHmac("sha256", env("FLUXBASE_TEST_JWT_SECRET")).update(body).digest("base64url");
  return `${body}.${signature}`;
}

export function uniqueName(prefix) {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

// -- the scripted LLM ---------------------------------------------------------------------------

async function control(method, action, body) {
  const response = await fetch(`${server.llmControl}/__script__/${action}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

let gates = 0;

export const script = {
  async reset() {
    assert.equal((await control("POST", "reset")).status, 200);
  },
  /** Queues replies: {text, chunks?, usage?}, {tool_calls: [...]}, {error: {status}}. */
  async reply(...specs) {
    const { status, body } = await control("POST", "reply", { replies: specs });
    assert.equal(status, 201, JSON.stringify(body));
  },
  /** Queues a streamed text that stops after `afterChunks` events (the role chunk counts) until opened. */
  async held(text, { afterChunks = 2, chunks = 5, usage } = {}) {
    const gate = `gate-${process.pid}-${++gates}`;
    await this.reply({ text, chunks, usage, hold: { gate, after_chunks: afterChunks } });
    return { open: async () => assert.equal((await control("POST", `gates/${gate}/open`)).status, 200) };
  },
  /** Resolves once at least that many chat requests are received / held / disconnected / finished. */
  async waitFor(counts, timeout = 15) {
    const { status, body } = await control("POST", "wait", { ...counts, timeout });
    assert.equal(status, 200, `scripted LLM: waited ${timeout}s for ${JSON.stringify(counts)}, got ${JSON.stringify(body)}`);
  },
  async requests() {
    return (await control("GET", "requests")).body.requests;
  },
  /** Every reply queued was used, and nothing unscripted was asked for. */
  async assertComplete() {
    assert.deepEqual((await control("GET", "status")).body, { pending: [], unexpected: [] });
  },
};

/**
 * Runs `body` with an empty script and checks afterwards that the script was used up. Before the
 * reset, nothing may have asked the LLM unscripted since the last check (a test outside any
 * `scripted` block that reached the model), or the reset would hide it.
 */
export async function scripted(body) {
  const { unexpected } = (await control("GET", "status")).body;
  assert.deepEqual(unexpected, [], "the LLM was asked something nobody scripted");
  await script.reset();
  await body();
  await script.assertComplete();
}

// -- waiting --------------------------------------------------------------------------------------

export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls an observable condition (a REST read) until it holds, within a deadline. */
export async function eventually(check, { timeout = 15_000, what = "a condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Every callback of a chat, recorded in order as [name, ...args]; `until` waits for an entry.
 * Pass the result's `callbacks` to createChat.
 */
export function recorder() {
  const log = [];
  const waiters = [];
  const record = (name) => (...args) => {
    log.push([name, ...args]);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(log)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(log);
      }
    }
  };
  const callbacks = {};
  for (const name of ["onContent", "onProgress", "onQueryResult", "onToolResult", "onDone", "onCancelled", "onError",
    "onApprovalRequired", "onApprovalResult", "onEvent"]) {
    callbacks[name] = record(name);
  }
  return {
    log,
    callbacks,
    named: (name) => log.filter((entry) => entry[0] === name),
    events: (type) => log.filter((e) => e[0] === "onEvent" && (!type || e[1].type === type)).map((e) => e[1]),
    until(predicate, what = "an event", ms = 15_000) {
      if (predicate(log)) return Promise.resolve(log);
      return within(new Promise((resolve) => waiters.push({ predicate, resolve })), ms, what);
    },
    untilEvent(type, count = 1, ms = 15_000) {
      return this.until((l) => l.filter((e) => e[0] === "onEvent" && e[1].type === type).length >= count,
        `${count} ${type} event(s)`, ms);
    },
  };
}

// -- a network in between -----------------------------------------------------------------------

/** A TCP proxy to the server: `cut()` drops every connection, `hold()` parks new ones until `release()`. */
export class Proxy {
  constructor(targetUrl) {
    const target = new URL(targetUrl);
    this.target = { host: target.hostname, port: Number(target.port) };
    this.connections = 0;
    this.live = new Set();
    this.parked = [];
    this.holding = false;
    this.refusing = false;
    this.server = net.createServer((socket) => this._accept(socket));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  _accept(client) {
    this.connections += 1;
    client.on("error", () => {});
    if (this.refusing) {
      client.destroy();
      return;
    }
    if (this.holding) {
      client.pause();
      this.parked.push(client);
      return;
    }
    this._pipe(client);
  }

  _pipe(client) {
    const upstream = net.connect(this.target);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    const pair = { client, upstream };
    this.live.add(pair);
    const drop = () => {
      this.live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  /** Every open connection dies at once, as when a network drops (no close frame). */
  cut() {
    for (const { client, upstream } of this.live) {
      client.destroy();
      upstream.destroy();
    }
    this.live.clear();
  }

  hold() {
    this.holding = true;
  }

  release() {
    this.holding = false;
    const parked = this.parked;
    this.parked = [];
    for (const client of parked) if (!client.destroyed) this._pipe(client);
  }

  refuse(on = true) {
    this.refusing = on;
  }

  async close() {
    this.cut();
    for (const client of this.parked) client.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
