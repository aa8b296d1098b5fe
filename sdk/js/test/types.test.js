// The hand-written declarations: they type-check a typed use of the SDK (test/typed/usage.ts, which
// also holds misuses they must refuse), and they declare exactly the methods the code has.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import ts from "typescript";

import * as sdk from "../src/index.js";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

test("tsc --noEmit accepts the typed usage and refuses the misuses", async () => {
  const tsc = here("../node_modules/typescript/bin/tsc");
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [tsc, "-p", here("./typed/tsconfig.json")])
    .catch((error) => assert.fail(`tsc failed:\n${error.stdout}${error.stderr}`));
  assert.equal(stdout + stderr, "");
});

function declaredClasses() {
  const file = here("../types/index.d.ts");
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022);
  const classes = new Map();
  const functions = [];
  source.forEachChild((node) => {
    if (ts.isClassDeclaration(node)) {
      const methods = node.members.filter(ts.isMethodDeclaration).map((m) => m.name.getText(source));
      classes.set(node.name.getText(source), methods.sort());
    } else if (ts.isFunctionDeclaration(node)) {
      functions.push(node.name.getText(source));
    }
  });
  return { classes, functions };
}

test("the declarations name every export and every public method of the code, and nothing else", () => {
  const { classes, functions } = declaredClasses();
  const declared = [...classes.keys(), ...functions, "CLIENT_CODES"].sort();
  assert.deepEqual(declared, Object.keys(sdk).sort());
  for (const [name, methods] of classes) {
    const actual = Object.getOwnPropertyNames(sdk[name].prototype)
      .filter((method) => method !== "constructor" && !method.startsWith("_")).sort();
    assert.deepEqual(methods, actual, `${name}'s methods`);
  }
});
