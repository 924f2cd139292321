import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex } from "../src/protocol/bytes.js";
import { open } from "../src/protocol/envelope.js";
import { decodePrivateKeys, importDecapsulationKeys } from "../src/protocol/keys.js";
import { bytesSink, bytesSource } from "../src/protocol/streams.js";
import { unwrapDocumentKey } from "../src/protocol/wrap.js";
import { portReadable, portWritable } from "../src/worker/pieces.js";
import { CryptoService } from "../src/worker/service.js";
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

/** The message `promise` rejects with, or null if it resolves. */
async function failure(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

test("pieces: a reader's cancel fails the writer, and a writer's abort fails the reader", async () => {
  const first = new MessageChannel();
  const cancelled = portWritable(first.port1).getWriter();
  await portReadable(first.port2).cancel(new Error("no more"));
  const writing = (async () => {
    for (let i = 0; i < 5; i++) await cancelled.write(bytes(10, i));
  })();
  const refused = await failure(writing);
  assert.ok(refused !== null && /cancelled/.test(refused), `the writer went on: ${refused}`);

  const second = new MessageChannel();
  const reader = portReadable(second.port2).getReader();
  const writer = portWritable(second.port1).getWriter();
  await writer.write(bytes(10, 1));
  await writer.abort(new Error("source failed"));
  assert.deepEqual((await reader.read()).value, bytes(10, 1));
  const abandoned = await failure(reader.read());
  assert.ok(abandoned !== null && /abandoned/.test(abandoned), `the reader went on: ${abandoned}`);
});

test("pieces: the worker's service seals a source carried over a port into a sink carried over a port, and it opens", async () => {
  const v = loadVectors("keystore.json").vectors[0]!;
  const service = new CryptoService();
  const { bundle } = await service.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: v.password });

  // What the page (client.ts) and the worker (worker.ts) each make of their ends.
  const plaintext = bytes(3 * 4096 + 17, 9);
  const toWorker = new MessageChannel();
  const fromWorker = new MessageChannel();
  const sent = bytesSource(plaintext, 1000).pipeTo(portWritable(toWorker.port1));
  const sealed = bytesSink();
  const drained = portReadable(fromWorker.port1).pipeTo(sealed.sink);
  const answer = await service.handle("seal", {
    source: portReadable(toWorker.port2),
    sink: portWritable(fromWorker.port2),
    recipients: [bundle],
    chunkLog2: 12,
  });
  await Promise.all([sent, drained]);

  const keys = await importDecapsulationKeys(decodePrivateKeys(fromHex(v.private_keys)));
  const documentKey = await unwrapDocumentKey(answer.wrappedKeys[0]!, keys, answer.header);
  assert.deepEqual((await open(documentKey, sealed.bytes())).plaintext, plaintext);
});
