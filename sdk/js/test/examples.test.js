// The documentation's two examples, as sdk/js/examples has them, run against the live server.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

import ts from "typescript";

import { eventually, mintToken, scripted, script, server } from "./helpers.js";
import { findAll, mount, textOf } from "./fake_react.js";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const run = promisify(execFile);

const sqlReplies = (sql, answer) => [
  { tool_calls: [{ name: "execute_sql", arguments: { sql, description: "the priciest products" } }] },
  { text: answer, usage: [120, 12] },
];

test("the Node example streams an answer with its query result, and exits", async () => {
  await scripted(async () => {
    await script.reply(...sqlReplies("SELECT name, price FROM products ORDER BY price DESC LIMIT 3",
      "The three priciest products are listed above."));
    const { stdout, stderr } = await run(process.execPath, [here("../examples/node-example.mjs"), "What costs most?"], {
      env: { PATH: process.env.PATH, FLUXBASE_URL: server.url, FLUXBASE_ANON_KEY: server.anonKey,
        FLUXBASE_TOKEN: mintToken() },
      timeout: 60_000,
    });
    assert.equal(stderr, "");
    assert.match(stdout, /^Available chatbots: .*sql-assistant/m);
    assert.match(stdout, /^\[thinking\] Thinking\.\.\.$/m);
    assert.match(stdout, /^\[executing\] Executing: the priciest products$/m);
    assert.match(stdout, /^Query: SELECT name, price FROM products ORDER BY price DESC LIMIT 3$/m);
    assert.match(stdout, /^Summary: Returned 3 rows/m);
    assert.match(stdout, /^Rows: 3$/m);
    assert.match(stdout, /The three priciest products are listed above\.\nTokens used: \d+$/m);
    const requests = await script.requests();
    assert.equal(requests.at(-1).messages.at(-1).role, "tool");
    assert.ok(requests[0].messages.some((m) => m.role === "user" && m.content === "What costs most?"));
  });
});

/**
 * The component compiled as a bundler would (TypeScript's JSX transform) against a stand-in React,
 * its SDK import pointed at src/, and the server URL it hard-codes replaced by the test server's.
 */
function loadReactExample() {
  const source = readFileSync(here("../examples/react-example.jsx"), "utf8");
  const { outputText } = ts.transpileModule(source, {
    fileName: "react-example.jsx",
    compilerOptions: { jsx: ts.JsxEmit.ReactJSX, module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const sdkImport = '"../src/index.js"';
  assert.ok(outputText.includes(sdkImport) && outputText.includes('"http://localhost:8080"'));
  const code = outputText.replace(sdkImport, JSON.stringify(pathToFileURL(here("../src/index.js")).href))
    .replace('"http://localhost:8080"', JSON.stringify(server.url));
  const dir = mkdtempSync(join(tmpdir(), "sdk-react-example-"));
  const react = join(dir, "node_modules", "react");
  mkdirSync(react, { recursive: true });
  writeFileSync(join(react, "package.json"), JSON.stringify({ name: "react", type: "module",
    exports: { ".": "./index.js", "./jsx-runtime": "./index.js" } }));
  writeFileSync(join(react, "index.js"), `export * from ${JSON.stringify(pathToFileURL(here("./fake_react.js")).href)};\n`);
  writeFileSync(join(dir, "react-example.mjs"), code);
  return { path: join(dir, "react-example.mjs"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test("the React example's component connects, sends what is typed, streams the answer, and disconnects", async () => {
  await scripted(async () => {
    await script.reply(...sqlReplies("SELECT name FROM products ORDER BY price DESC LIMIT 2", "Two products lead."));
    const example = loadReactExample();
    const logged = [];
    const { log } = console;
    globalThis.localStorage = { getItem: (key) => (key === "access_token" ? mintToken() : null) };
    process.env.ANON_KEY = server.anonKey;
    console.log = (...args) => logged.push(args);
    let app;
    try {
      const { ChatInterface } = await import(pathToFileURL(example.path).href);
      app = mount(ChatInterface);
      const lines = () => {
        const box = findAll(app.tree, "div").find((div) => div.props.className === "messages");
        return findAll(box.props.children, "div").map(textOf);
      };
      // Type and press Enter until the conversation has started (the component ignores it before).
      await eventually(() => {
        findAll(app.tree, "input")[0].props.onChange({ target: { value: "Which products cost most?" } });
        findAll(app.tree, "input")[0].props.onKeyPress({ key: "Enter" });
        return lines().includes("You: Which products cost most?");
      }, { what: "the conversation to start" });
      assert.equal(findAll(app.tree, "input")[0].props.value, "", "the input is cleared once sent");
      await eventually(() => lines().includes("AI: Two products lead."), { what: "the streamed answer" });
      assert.deepEqual(lines(), ["You: Which products cost most?", "AI: Two products lead."]);
      const [[label, result]] = logged.filter((args) => args[0] === "Query executed:");
      assert.equal(label, "Query executed:");
      assert.deepEqual([result.query, result.rowCount, result.data.length],
        ["SELECT name FROM products ORDER BY price DESC LIMIT 2", 2, 2]);
      assert.match(result.summary, /^Returned 2 rows/);
    } finally {
      console.log = log;
      app?.unmount(); // the effect's cleanup: chat.disconnect()
      delete globalThis.localStorage;
      example.cleanup();
    }
  });
});
