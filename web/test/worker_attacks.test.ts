/**
 * The crypto worker against a page that calls it out of turn or with what a hostile
 * server handed it: operations racing the lock, recipient bundles that cannot be
 * encrypted to, requests whose refusal carries no identifier. The keys must be wiped
 * on lock, no operation may go on once the worker is locked, and a refused seal must
 * not have written (and closed) a whole envelope first.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import type { DecapsulationKeys } from "../src/protocol/keys.js";
import { bytesSink, bytesSource } from "../src/protocol/streams.js";
import { CryptoService } from "../src/worker/service.js";
import { loadVectors, outcome } from "./vectors.js";

const v = loadVectors("keystore.json").vectors[0];
const KEYSTORE = fromHex(v.keystore);
const BUNDLE = fromHex(v.public_bundle);
const XWING_X25519 = 5 + 32 + 1184;
const CLASSICAL_X25519 = 5 + 32 + 1216;
const CHUNK = 1 << 16;

/** Every key set the service keeps, seen through its `unlocked` field. */
function watchKeys(service: CryptoService): DecapsulationKeys[] {
  const kept: DecapsulationKeys[] = [];
  let current: { keys: DecapsulationKeys } | null = null;
  Object.defineProperty(service, "unlocked", {
    configurable: true,
    get: () => current,
    set: (value: { keys: DecapsulationKeys } | null) => {
      current = value;
      if (value !== null) kept.push(value.keys);
    },
  });
  return kept;
}

/** Every key held as bytes (X-Wing's seed, noble backend only: Node's case) is zero-filled. */
const zero = (keys: DecapsulationKeys) => Object.values(keys).every((k) => !(k instanceof Uint8Array) || k.every((b) => b === 0));

/** A sink that counts bytes and says whether it was closed or aborted. */
function watchedSink() {
  const state = { bytes: 0, closed: false, aborted: false };
  const sink = new WritableStream<Uint8Array>({
    write: (chunk) => {
      state.bytes += chunk.length;
    },
    close: () => {
      state.closed = true;
    },
    abort: () => {
      state.aborted = true;
    },
  });
  return { sink, state };
}

/** A source that says whether anything was read from it, or it was cancelled. */
function watchedSource(data: Uint8Array) {
  const state = { pulled: 0, cancelled: false };
  const inner = bytesSource(data, 1024).getReader();
  const source = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await inner.read();
      if (done) controller.close();
      else {
        state.pulled += value.length;
        controller.enqueue(value);
      }
    },
    cancel: () => {
      state.cancelled = true;
    },
  });
  return { source, state };
}

test("worker: a lock sent while an unlock is running leaves the worker locked", async () => {
  const service = new CryptoService();
  const unlocking = service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  assert.deepEqual(await service.handle("lock", {}), { locked: true });
  await unlocking.catch(() => undefined);
  // The page was told "locked" after asking for it last: the keys must not come back.
  assert.equal(await outcome(() => service.handle("publicBundle", {})), "locked");
  assert.equal(await outcome(() => service.handle("sign", { purpose: "document", digest: new Uint8Array(32) })), "locked");
});

test("worker: two unlocks at once, then a lock: every key set the worker held is wiped", async () => {
  const service = new CryptoService();
  const kept = watchKeys(service);
  await Promise.all([
    service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password }),
    service.handle("unlockWithRecoveryWords", { keystore: KEYSTORE.slice(), words: v.recovery_words }),
  ]);
  service.handle("lock", {});
  assert.equal(kept.length, 2);
  kept.forEach((keys, i) => assert.ok(zero(keys), `key set ${i} is still in memory after lock`));
});

test("worker: a lock wipes the keys it holds (one unlock, then lock)", async () => {
  const service = new CryptoService();
  const kept = watchKeys(service);
  await service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  await service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  await service.handle("lock", {});
  assert.equal(kept.length, 2);
  for (const keys of kept) assert.ok(zero(keys));
});

test("worker: an open under way when the worker is locked stops, and no plaintext is written after the lock", async () => {
  const service = new CryptoService();
  const { bundle } = await service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  const sealed = bytesSink();
  const { wrappedKeys } = await service.handle("seal", {
    source: bytesSource(new Uint8Array(4 * CHUNK).fill(7)),
    sink: sealed.sink,
    recipients: [bundle],
    chunkLog2: 16,
  });
  const data = sealed.bytes();
  // The worker reads 64 KiB at a time: chunks of that size reach the sink one by one.
  // The source gives the header and three chunks, then waits for the test.
  const held = 78 + 3 * (CHUNK + 16);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let offset = 0;
  const source = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (offset >= held) await gate;
      if (offset >= data.length) return controller.close();
      const end = offset < held ? Math.min(held, offset + 8192) : offset + 8192;
      controller.enqueue(data.slice(offset, end));
      offset = end;
    },
  });
  let written = 0;
  let firstChunk!: () => void;
  const started = new Promise<void>((resolve) => (firstChunk = resolve));
  const sink = new WritableStream<Uint8Array>({
    write: (chunk) => {
      written += chunk.length;
      if (written >= CHUNK) firstChunk();
    },
  });
  const opening = outcome(() => service.handle("open", { source, sink, wrappedKey: wrappedKeys[0]! }));
  await Promise.race([started, opening]);
  service.handle("lock", {});
  const atLock = written;
  release();
  assert.equal(await opening, "locked", "the open went on with the document key after the lock");
  assert.equal(written, atLock, "plaintext was written after the worker was locked");
});

async function sealToSmallOrder(offset: number, suite: "HYBRID" | "CLASSICAL"): Promise<void> {
  const hostile = BUNDLE.slice();
  hostile.fill(0, offset, offset + 32); // 0 is a point of small order
  const service = new CryptoService();
  const { source, state: read } = watchedSource(new Uint8Array(3 * 4096));
  const { sink, state: written } = watchedSink();
  const refused = await outcome(() => service.handle("seal", { source, sink, recipients: [BUNDLE.slice(), hostile], suite, chunkLog2: 12 }));
  assert.equal(refused, "malformed");
  assert.equal(written.bytes, 0, "a whole envelope went out to the sink for a document no recipient gets");
  assert.equal(written.closed, false, "the sink was closed as if the seal had succeeded");
  assert.equal(read.pulled, 0);
}

test("worker: a recipient bundle with the X-Wing key's X25519 part of small order is refused before a byte is read or written", () =>
  sealToSmallOrder(XWING_X25519, "HYBRID"));

test("worker: a recipient bundle with the classical X25519 key of small order is refused before a byte is read or written", () =>
  sealToSmallOrder(CLASSICAL_X25519, "CLASSICAL"));

test("worker: a suite that is not one of the protocol's is refused by name before the document is sealed", async () => {
  for (const suite of ["toString", "constructor", "__proto__", "hybrid"]) {
    const service = new CryptoService();
    const { source } = watchedSource(new Uint8Array(5000));
    const { sink, state } = watchedSink();
    const refused = await outcome(() => service.handle("seal", { source, sink, recipients: [BUNDLE.slice()], suite: suite as "HYBRID", chunkLog2: 12 }));
    assert.equal(refused, "malformed", suite);
    assert.equal(state.bytes, 0, `${suite}: the envelope was written before the suite was looked at`);
  }
});

test("worker: a refused seal or open aborts the page's sink and cancels its source rather than leaving both hanging", async () => {
  const service = new CryptoService();
  const seal = { source: watchedSource(new Uint8Array(10)), sink: watchedSink() };
  assert.equal(
    await outcome(() => service.handle("seal", { source: seal.source.source, sink: seal.sink.sink, recipients: [new Uint8Array(10)] })),
    "malformed",
  );
  assert.ok(seal.sink.state.aborted, "seal refused: the sink is neither closed nor aborted");
  assert.ok(seal.source.state.cancelled, "seal refused: the source is never cancelled");

  await service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  const open = { source: watchedSource(new Uint8Array(200)), sink: watchedSink() };
  assert.equal(
    await outcome(() => service.handle("open", { source: open.source.source, sink: open.sink.sink, wrappedKey: new Uint8Array(3) })),
    "malformed",
  );
  assert.ok(open.sink.state.aborted);
  assert.ok(open.source.state.cancelled);
});

test("worker: a request whose failure has no identifier, even a null one, is still answered", async () => {
  const posted: unknown[] = [];
  const scope: { onmessage?: (event: { data: unknown }) => Promise<void>; postMessage: (m: unknown) => void; location: { origin: string } } = {
    postMessage: (message) => posted.push(message),
    location: { origin: "http://127.0.0.1" },
  };
  // worker.ts wires itself to `self` when imported: here, to this stand-in, built as
  // the app-tests build (vite.config.ts's define), whose worker answers a seal.
  const global = globalThis as { self?: unknown; __UHS_EXPOSE_WORKER__?: boolean };
  const previous = global.self;
  global.self = scope;
  global.__UHS_EXPOSE_WORKER__ = true;
  try {
    await import("../src/worker/worker.js");
  } finally {
    global.self = previous;
    delete global.__UHS_EXPOSE_WORKER__;
  }
  const failing = (reason: unknown) =>
    new ReadableStream<Uint8Array>({
      start: (controller) => controller.error(reason),
    });
  const unhandled: unknown[] = [];
  let id = 0;
  for (const reason of [new Error("x"), null, undefined, "a string"]) {
    id += 1;
    await scope.onmessage!({ data: { id, op: "seal", args: { source: failing(reason), sink: bytesSink().sink, recipients: [] } } }).catch((e) =>
      unhandled.push(e),
    );
    const answer = posted.find((m) => (m as { id: number }).id === id) as { ok: boolean; identifier: string } | undefined;
    assert.ok(answer !== undefined, `no answer when the failure is ${String(reason)}: the page waits for ever`);
    assert.equal(answer.ok, false);
    assert.equal(answer.identifier, "internal");
  }
  // A request that is not even an object is not a reason to throw either.
  await scope.onmessage!({ data: null }).catch((e) => unhandled.push(e));
  assert.deepEqual(unhandled, []);
});

test("worker: op names from Object.prototype and the service's own helpers are refused, locked or not", async () => {
  const service = new CryptoService();
  const names = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "keep", "requireUnlocked", "handle", "unlocked", "", "lock "];
  for (const name of names) assert.equal(await outcome(() => service.handle(name as "lock", {} as never)), "unknown_operation", name);
  await service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  for (const name of names) assert.equal(await outcome(() => service.handle(name as "lock", {} as never)), "unknown_operation", name);
  assert.equal(toHex((await service.handle("publicBundle", {})).bundle), v.public_bundle);
});

test("worker: arguments of the wrong type or size are refused without a secret in the message, and the worker still works", async () => {
  const service = new CryptoService();
  const secrets = [v.password, v.recovery_words, ...v.recovery_words.split(" ").filter((w: string) => w.length > 4)];
  const messages: string[] = [];
  const record = async (action: () => unknown) => {
    try {
      await action();
    } catch (error) {
      messages.push(String((error as Error | null)?.message));
    }
  };
  // Locked: everything that needs a key says so.
  assert.equal(await outcome(() => service.handle("sign", { purpose: "document", digest: new Uint8Array(32) })), "locked");
  assert.equal(await outcome(() => service.handle("publicBundle", {})), "locked");
  assert.equal(await outcome(() => service.handle("open", { source: bytesSource(new Uint8Array(100)), sink: bytesSink().sink, wrappedKey: new Uint8Array(10) })), "locked");
  await record(() => service.handle("unlockWithPassword", { keystore: KEYSTORE.subarray(0, 100), password: v.password }));
  await record(() => service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: `${v.password}x` }));
  await record(() => service.handle("unlockWithRecoveryWords", { keystore: KEYSTORE.slice(), words: v.recovery_words.split(" ").reverse().join(" ") }));
  await record(() => service.handle("unlockWithRecoveryWords", { keystore: KEYSTORE.slice(), words: `${v.recovery_words} zzzz` }));
  await record(() => service.handle("unlockWithPassword", undefined as never));
  await service.handle("unlockWithPassword", { keystore: KEYSTORE.slice(), password: v.password });
  await record(() => service.handle("sign", { purpose: "document", digest: new Uint8Array(31) }));
  await record(() => service.handle("sign", { purpose: "nonsense" as "document", digest: new Uint8Array(32) }));
  await record(() => service.handle("sign", { purpose: "document", digest: "00".repeat(32) as unknown as Uint8Array }));
  await record(() => service.handle("open", { source: bytesSource(new Uint8Array(100)), sink: bytesSink().sink, wrappedKey: new Uint8Array(1300) }));
  await record(() => service.handle("seal", { source: bytesSource(new Uint8Array(10)), sink: bytesSink().sink, recipients: [BUNDLE.slice()], chunkLog2: 60 }));
  for (const message of messages) for (const secret of secrets) assert.ok(!message.includes(secret), `"${message}" carries a secret`);
  assert.equal(toHex((await service.handle("publicBundle", {})).bundle), v.public_bundle);
});
