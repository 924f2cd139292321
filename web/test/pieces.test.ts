import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex } from "../src/protocol/bytes.js";
import { open } from "../src/protocol/envelope.js";
import { bytesSink, bytesSource } from "../src/protocol/streams.js";
import { unwrapDocumentKey } from "../src/protocol/wrap.js";
import { decodePrivateKeys, importDecapsulationKeys } from "../src/protocol/keys.js";
import { portReadable, portWritable } from "../src/worker/pieces.js";
import { loadVectors } from "./vectors.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

test("pieces: what is written on one end of a port is read on the other, whole buffers moved and views copied", async () => {
  const { port1, port2 } = new MessageChannel();
  const whole = bytes(5000, 1);
  const backing = bytes(9000, 2);
  const view = backing.subarray(100, 4100);
  const expected = [whole.slice(), view.slice(), new Uint8Array(0), bytes(1, 3)];
  const received = bytesSink();
  const reading = portReadable(port2).pipeTo(received.sink);
  const writer = portWritable(port1).getWriter();
  await writer.write(whole);
  await writer.write(view);
  await writer.write(new Uint8Array(0));
  await writer.write(bytes(1, 3));
  await writer.close();
  await reading;
  const all = new Uint8Array(expected.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const piece of expected) {
    all.set(piece, offset);
    offset += piece.length;
  }
  assert.deepEqual(received.bytes(), all);
  assert.equal(whole.byteLength, 0, "a whole-buffer piece is transferred, not copied");
  assert.equal(backing.byteLength, 9000, "a view's buffer, which may hold other bytes, is never taken");
});

test("pieces: the writer sends only what the reader asked for, so a slow reader holds memory flat", async () => {
  const { port1, port2 } = new MessageChannel();
  const reader = portReadable(port2).getReader();
  const writer = portWritable(port1).getWriter();
  let written = 0;
  const writing = (async () => {
    for (let i = 0; i < 20; i++) {
      await writer.write(bytes(1024, i));
      written += 1;
    }
    await writer.close();
  })();
  for (let i = 0; i < 5; i++) await tick();
  // The reader's queue (2 pieces) and the writer's (1) fill, then the writer waits.
  assert.ok(written <= 4, `${written} pieces written to a reader that read none`);
  let read = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    assert.deepEqual(value, bytes(1024, read));
    read += 1;
  }
  await writing;
  assert.equal(read, 20);
});

test("pieces: a reader's cancel fails the writer, and a writer's abort fails the reader", async () => {
  const first = new MessageChannel();
  const cancelled = portWritable(first.port1).getWriter();
  await portReadable(first.port2).cancel(new Error("no more"));
  await assert.rejects(async () => {
    for (let i = 0; i < 5; i++) await cancelled.write(bytes(10, i));
  }, /cancelled/);

  const second = new MessageChannel();
  const reader = portReadable(second.port2).getReader();
  const writer = portWritable(second.port1).getWriter();
  await writer.write(bytes(10, 1));
  await writer.abort(new Error("source failed"));
  assert.deepEqual((await reader.read()).value, bytes(10, 1));
  await assert.rejects(reader.read(), /abandoned/);
});

test("pieces: the worker seals a source sent over a port into a sink read over a port, and it opens", async () => {
  const v = loadVectors("keystore.json").vectors[0]!;
  const posted: { id: number; ok: boolean; result?: { header: Uint8Array; wrappedKeys: Uint8Array[] } }[] = [];
  const scope: { onmessage?: (event: { data: unknown }) => Promise<void>; postMessage: (m: unknown) => void } = {
    postMessage: (message) => posted.push(message as never),
  };
  // worker.ts wires itself to `self` when imported: here, to this stand-in; Vite
  // defines the app-tests flag it reads, which Node leaves to this test.
  const global = globalThis as { self?: unknown; __UHS_EXPOSE_WORKER__?: boolean };
  global.__UHS_EXPOSE_WORKER__ = false;
  const previous = global.self;
  global.self = scope;
  try {
    await import("../src/worker/worker.js");
  } finally {
    global.self = previous;
  }
  await scope.onmessage!({ data: { id: 1, op: "unlockWithPassword", args: { keystore: fromHex(v.keystore), password: v.password } } });
  const unlocked = posted.find((m) => m.id === 1) as unknown as { ok: boolean; identifier?: string; result: { bundle: Uint8Array } };
  assert.equal(unlocked.ok, true, unlocked.identifier);
  const bundle = unlocked.result.bundle;

  const plaintext = bytes(3 * 4096 + 17, 9);
  const toWorker = new MessageChannel();
  const fromWorker = new MessageChannel();
  const sent = bytesSource(plaintext, 1000).pipeTo(portWritable(toWorker.port1));
  const sealed = bytesSink();
  const drained = portReadable(fromWorker.port1).pipeTo(sealed.sink);
  await scope.onmessage!({
    data: { id: 2, op: "seal", args: { source: toWorker.port2, sink: fromWorker.port2, recipients: [bundle], chunkLog2: 12 } },
  });
  await Promise.all([sent, drained]);
  const answer = posted.find((m) => m.id === 2)!;
  assert.equal(answer.ok, true);

  const keys = await importDecapsulationKeys(decodePrivateKeys(fromHex(v.private_keys)));
  const documentKey = await unwrapDocumentKey(answer.result!.wrappedKeys[0]!, keys, answer.result!.header);
  assert.deepEqual((await open(documentKey, sealed.bytes())).plaintext, plaintext);
});
