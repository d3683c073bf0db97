// node --test web/test: where spec fields are found in the YAML the user edits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lineOfField } from "../src/fields.js";

const BLOCK = `apiVersion: stratops.io/v1
kind: Strategy
metadata:
  name: crossing
  tenant: alice
spec:
  code: {class: Crossing}
  subscriptions: ["trades.BTC-USD", "quotes.BTC-USD"]
  params:
    window: 20
    "odd-key": 1
  resources:
    cpu: "64"
    memory: 256Mi
  state: {persistent: true, size: 1Gi}
`;

test("block and flow keys, each at its own line", () => {
  assert.equal(lineOfField(BLOCK, "spec.resources.cpu"), 13);
  assert.equal(lineOfField(BLOCK, "spec.resources.memory"), 14);
  assert.equal(lineOfField(BLOCK, "metadata.name"), 4);
  assert.equal(lineOfField(BLOCK, "spec.code.class"), 7);
  assert.equal(lineOfField(BLOCK, "spec.state.size"), 15);
  assert.equal(lineOfField(BLOCK, "spec.params.odd-key"), 11);
  assert.equal(lineOfField(BLOCK, "/spec/params/window"), 10);
});

test("a list index or a missing key stops at the deepest part found", () => {
  assert.equal(lineOfField(BLOCK, "spec.subscriptions[1]"), 8);
  assert.equal(lineOfField(BLOCK, "spec.resources.gpu"), 12);
  assert.equal(lineOfField(BLOCK, "nothing.here"), 1);
});

test("a key is looked for only inside its parent's block", () => {
  const text = "a:\n  x: 1\nb:\n  y: 2\nx: 3\n";
  assert.equal(lineOfField(text, "b.x"), 3); // b has no x: not the top-level x on line 5
  assert.equal(lineOfField(text, "a.x"), 2);
});

test("any field text: never throws, always a line of the text", () => {
  const alphabet = "ab.-/[]()*+?^$\\{}|:\"' 0\n#";
  let seed = 7;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let run = 0; run < 2000; run++) {
    const field = Array.from({ length: random(12) }, () => alphabet[random(alphabet.length)]).join("");
    const text = run % 2 ? BLOCK : field;
    const line = lineOfField(text, field);
    assert.ok(Number.isInteger(line) && line >= 1 && line <= text.split("\n").length, `${field} -> ${line}`);
  }
});
