/**
 * What the crypto worker does, apart from messaging (worker.ts wires it to
 * `onmessage`; Node's tests call it directly). It holds the unlocked private keys:
 * the Ed25519 key as a non-extractable CryptoKey, the X25519 key and the X-Wing
 * seed as bytes because HPKE's Decap takes them as such (WebCrypto has no import of
 * an X-Wing seed and X25519 Decap re-derives the public key from the private one).
 * Neither leaves this module: no operation returns them.
 */

import { HEADER_SIZE, generateDocumentKey, openStream, sealStream } from "../protocol/envelope.js";
import { ProtocolError } from "../protocol/errors.js";
import { importSigningSeed } from "../protocol/ed25519.js";
import { type PrivateKeys, decodeBundle } from "../protocol/keys.js";
import { decodeKeystore, recoveryKeyFromWords, unlockWithPassword, unlockWithRecoveryKey } from "../protocol/keystore.js";
import { sign } from "../protocol/signature.js";
import { ExactReader } from "../protocol/streams.js";
import { unwrapDocumentKey, wrapDocumentKey } from "../protocol/wrap.js";
import { type Operation, type Operations, WorkerError } from "./messages.js";

interface Unlocked {
  bundle: Uint8Array;
  signingKey: CryptoKey;
  keys: PrivateKeys;
}

const READ_SIZE = 1 << 16;

function wipe(keys: PrivateKeys): void {
  keys.signingSeed.fill(0);
  keys.xwingSeed.fill(0);
  keys.x25519Private.fill(0);
}

/** A sink that passes everything on to `sink` and keeps the first `size` bytes. */
function recordingPrefix(sink: WritableStream<Uint8Array>, size: number): { sink: WritableStream<Uint8Array>; prefix: () => Uint8Array } {
  const kept = new Uint8Array(size);
  let filled = 0;
  const writer = sink.getWriter();
  const recording = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (filled < size) {
        const take = Math.min(size - filled, chunk.length);
        kept.set(chunk.subarray(0, take), filled);
        filled += take;
      }
      await writer.write(chunk);
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
  return { sink: recording, prefix: () => kept.subarray(0, filled) };
}

/** `header` then the rest of `reader`, as one stream again. */
function rejoin(header: Uint8Array, reader: ExactReader): ReadableStream<Uint8Array> {
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(header);
        return;
      }
      const piece = await reader.read(READ_SIZE);
      if (piece.length === 0) controller.close();
      else controller.enqueue(piece);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

export class CryptoService {
  private unlocked: Unlocked | null = null;

  private requireUnlocked(): Unlocked {
    if (this.unlocked === null) throw new WorkerError("locked", "the keystore is locked: unlock it first");
    return this.unlocked;
  }

  private async keep(bundle: Uint8Array, keys: PrivateKeys): Promise<void> {
    this.lock();
    const { privateKey } = await importSigningSeed(keys.signingSeed);
    this.unlocked = { bundle, signingKey: privateKey, keys };
  }

  lock(): { locked: true } {
    if (this.unlocked !== null) wipe(this.unlocked.keys);
    this.unlocked = null;
    return { locked: true };
  }

  async handle<Op extends Operation>(op: Op, args: Operations[Op]["args"]): Promise<Operations[Op]["result"]> {
    // Only the operations of the API: a name such as "constructor" is refused.
    if (!OPERATIONS.has(op)) throw new WorkerError("unknown_operation", `unknown operation ${String(op)}`);
    const run = this[op] as (a: Operations[Op]["args"]) => Promise<Operations[Op]["result"]> | Operations[Op]["result"];
    return run.call(this, args);
  }

  async unlockWithPassword({ keystore, password }: Operations["unlockWithPassword"]["args"]): Promise<Operations["unlockWithPassword"]["result"]> {
    const decoded = decodeKeystore(keystore);
    const { keys, authSecret } = await unlockWithPassword(decoded, password);
    await this.keep(decoded.bundle, keys);
    return { bundle: decoded.bundle.slice(), authSecret };
  }

  async unlockWithRecoveryWords({ keystore, words }: Operations["unlockWithRecoveryWords"]["args"]): Promise<Operations["unlockWithRecoveryWords"]["result"]> {
    const decoded = decodeKeystore(keystore);
    const recoveryKey = recoveryKeyFromWords(words);
    try {
      await this.keep(decoded.bundle, await unlockWithRecoveryKey(decoded, recoveryKey));
    } finally {
      recoveryKey.fill(0);
    }
    return { bundle: decoded.bundle.slice() };
  }

  publicBundle(): Operations["publicBundle"]["result"] {
    return { bundle: this.requireUnlocked().bundle.slice() };
  }

  async sign({ purpose, digest }: Operations["sign"]["args"]): Promise<Operations["sign"]["result"]> {
    return { signature: await sign(this.requireUnlocked().signingKey, purpose, digest) };
  }

  async seal({ source, sink, recipients, suite, chunkLog2 }: Operations["seal"]["args"]): Promise<Operations["seal"]["result"]> {
    // Every recipient is checked before a byte is read or written.
    const publicKeys = recipients.map(decodeBundle);
    const documentKey = generateDocumentKey();
    try {
      const recording = recordingPrefix(sink, HEADER_SIZE);
      const contentDigest = await sealStream(documentKey, source, recording.sink, chunkLog2 === undefined ? {} : { chunkLog2 });
      const header = recording.prefix().slice();
      const wrappedKeys: Uint8Array[] = [];
      for (const recipient of publicKeys) wrappedKeys.push(await wrapDocumentKey(documentKey, recipient, header, suite));
      return { header, contentDigest, wrappedKeys };
    } finally {
      documentKey.fill(0);
    }
  }

  async open({ source, sink, wrappedKey }: Operations["open"]["args"]): Promise<Operations["open"]["result"]> {
    const { keys } = this.requireUnlocked();
    const reader = new ExactReader(source);
    const header = await reader.read(HEADER_SIZE);
    if (header.length < HEADER_SIZE) {
      await reader.cancel("truncated");
      await sink.abort("truncated").catch(() => undefined);
      throw new ProtocolError("truncated", "the data is too short to hold an envelope header");
    }
    let documentKey: Uint8Array;
    try {
      documentKey = await unwrapDocumentKey(wrappedKey, keys, header);
    } catch (error) {
      await reader.cancel(error);
      await sink.abort(error).catch(() => undefined);
      throw error;
    }
    try {
      return { contentDigest: await openStream(documentKey, rejoin(header, reader), sink) };
    } finally {
      documentKey.fill(0);
    }
  }
}

const OPERATIONS: ReadonlySet<string> = new Set<Operation>([
  "unlockWithPassword",
  "unlockWithRecoveryWords",
  "lock",
  "publicBundle",
  "sign",
  "seal",
  "open",
]);
