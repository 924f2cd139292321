/**
 * What the crypto worker does, apart from messaging (worker.ts wires it to
 * `onmessage`; Node's tests call it directly). It holds the unlocked private keys as
 * non-extractable CryptoKeys where WebCrypto allows: the Ed25519 signing key, the
 * X25519 key, and the X-Wing seed where WebCrypto has X-Wing (xwing.ts, "native"
 * backend). Where it does not, the noble backend computes from the seed itself, so
 * the worker keeps the seed's 32 bytes and a lock zero-fills them. The keystore's
 * bytes are zero-filled once imported. No operation returns a key.
 */

import { HEADER_SIZE, checkHeader, generateDocumentKey, openStream, sealStream } from "../protocol/envelope.js";
import { ProtocolError } from "../protocol/errors.js";
import { importSigningSeed } from "../protocol/ed25519.js";
import { type DecapsulationKeys, type PrivateKeys, decodeBundle, importDecapsulationKeys } from "../protocol/keys.js";
import { decodeKeystore, openFormerKeys, recoveryKeyFromWords, unlockWithPassword, unlockWithRecoveryKey } from "../protocol/keystore.js";
import { deriveIndexKeys, personalIndex, type IndexKeys, wipeIndexKeys } from "../protocol/search.js";
import { sign } from "../protocol/signature.js";
import { ExactReader } from "../protocol/streams.js";
import { checkRecipient, checkSuite, checkWrappedKey, unwrapDocumentKey, wrapDocumentKey } from "../protocol/wrap.js";
import { type CryptoOperation, type CryptoOperations, type HeldKey, type HeldKeys, type Operations, WorkerError } from "./messages.js";

interface Unlocked {
  bundle: Uint8Array;
  signingKey: CryptoKey;
  /** CryptoKeys, but for the X-Wing seed's bytes under the noble backend. */
  keys: DecapsulationKeys;
  /** The key sets held before rotations, newest first (keystore version 2, PROTOCOL 7.5). */
  former: DecapsulationKeys[];
  /** The personal search index (PROTOCOL 18.4), derived from the X25519 key at unlock:
   * that key is held as a non-extractable CryptoKey afterwards. */
  searchIndex: { id: string; keys: IndexKeys };
}

/** Zero-fills every key held as bytes; CryptoKeys go with the last reference to them. */
function wipe(keys: PrivateKeys | DecapsulationKeys): void {
  for (const key of Object.values(keys)) if (key instanceof Uint8Array) key.fill(0);
}

/** Whether `unwrap` opens (a key that does not open is zero-filled at once). */
async function opens(unwrap: () => Promise<Uint8Array>): Promise<boolean> {
  try {
    (await unwrap()).fill(0);
    return true;
  } catch (error) {
    if (error instanceof ProtocolError && error.identifier === "decryption_failed") return false;
    throw error;
  }
}

/** What a held key is, without the key: for the app-tests build's `describeKeys`. */
function describe(key: Uint8Array | CryptoKey): HeldKey {
  if (key instanceof Uint8Array) return { kind: "bytes", length: key.length };
  return { kind: "CryptoKey", algorithm: key.algorithm.name, extractable: key.extractable, usages: [...key.usages] };
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

/**
 * A sink that passes everything on to `sink` while `current()` holds, and otherwise
 * aborts `sink` and refuses the write or close with `refusal()`: an operation the
 * worker's lock overtook writes nothing more.
 */
function whileCurrent(sink: WritableStream<Uint8Array>, current: () => boolean, refusal: () => Error): WritableStream<Uint8Array> {
  const writer = sink.getWriter();
  const check = async () => {
    if (current()) return;
    const error = refusal();
    await writer.abort(error).catch(() => undefined);
    throw error;
  };
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      await check();
      await writer.write(chunk);
    },
    async close() {
      await check();
      await writer.close();
    },
    abort: (reason) => writer.abort(reason),
  });
}

function overtakenByLock(): WorkerError {
  return new WorkerError("locked", "the worker was locked while the operation ran");
}

/** Cancels `source` and aborts `sink` for a refusal, unless the operation already holds them. */
async function release(source: ReadableStream<Uint8Array>, sink: WritableStream<Uint8Array>, reason: unknown): Promise<void> {
  if (source instanceof ReadableStream && !source.locked) await source.cancel(reason).catch(() => undefined);
  if (sink instanceof WritableStream && !sink.locked) await sink.abort(reason).catch(() => undefined);
}

/** `header` then the rest of `reader`, as one stream again, in the source's own chunks. */
function rejoin(header: Uint8Array, reader: ExactReader): ReadableStream<Uint8Array> {
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(header);
        return;
      }
      const piece = await reader.readAvailable();
      if (piece.length === 0) controller.close();
      else controller.enqueue(piece);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

export class CryptoService {
  protected unlocked: Unlocked | null = null;
  /**
   * Moved by every lock. An operation reads it when it starts and gives up as *locked*
   * once it moved: an unlock finishing after a lock keeps nothing, and a seal or open
   * under way writes nothing more.
   */
  protected epoch = 0;
  /** The document keys of the seals and opens under way, zero-filled by a lock. */
  private readonly documentKeys = new Set<Uint8Array>();

  protected requireUnlocked(): Unlocked {
    if (this.unlocked === null) throw new WorkerError("locked", "the keystore is locked: unlock it first");
    return this.unlocked;
  }

  /** Refuses as *locked* when a lock came since `epoch`. */
  protected requireEpoch(epoch: number): void {
    if (this.epoch !== epoch) throw overtakenByLock();
  }

  /** `sink`, refusing every write as *locked* once a lock came since `epoch`. */
  protected untilLocked(sink: WritableStream<Uint8Array>, epoch: number): WritableStream<Uint8Array> {
    return whileCurrent(sink, () => this.epoch === epoch, overtakenByLock);
  }

  /**
   * Holds the keys of an unlock that started at `epoch`, in place of any held before.
   * Nothing awaits between the check and the swap, so of two unlocks at once each
   * set is either held or wiped, and a lock sent meanwhile wins.
   */
  protected async keep(bundle: Uint8Array, keys: PrivateKeys, epoch: number, former: PrivateKeys[] = []): Promise<void> {
    let signingKey: CryptoKey;
    let held: DecapsulationKeys | null = null;
    let searchIndex: { id: string; keys: IndexKeys };
    const heldFormer: DecapsulationKeys[] = [];
    try {
      signingKey = (await importSigningSeed(keys.signingSeed)).privateKey;
      const personal = await personalIndex(keys.x25519Private);
      searchIndex = { id: personal.id, keys: await deriveIndexKeys(personal.key) };
      personal.key.fill(0);
      held = await importDecapsulationKeys(keys);
      for (const set of former) heldFormer.push(await importDecapsulationKeys(set));
      this.requireEpoch(epoch);
    } catch (error) {
      if (held !== null) wipe(held);
      for (const set of heldFormer) wipe(set);
      throw error;
    } finally {
      wipe(keys);
      for (const set of former) wipe(set);
    }
    if (this.unlocked !== null) this.wipeHeld(this.unlocked);
    this.unlocked = { bundle, signingKey, keys: held, former: heldFormer, searchIndex };
  }

  private wipeHeld(unlocked: Unlocked): void {
    wipe(unlocked.keys);
    wipeIndexKeys(unlocked.searchIndex.keys);
    for (const set of unlocked.former) wipe(set);
  }

  /** A document key wrapped to the held keys or, written before a rotation, to one of
   * the former ones (PROTOCOL 10.6): one error if none opens it. */
  protected async unwrapHeld(wrapped: Uint8Array, header: Uint8Array): Promise<Uint8Array> {
    const { keys, former } = this.requireUnlocked();
    try {
      return await unwrapDocumentKey(wrapped, keys, header);
    } catch (error) {
      if (!(error instanceof ProtocolError) || error.identifier !== "decryption_failed" || former.length === 0) throw error;
      for (const set of former) {
        try {
          return await unwrapDocumentKey(wrapped, set, header);
        } catch (again) {
          if (!(again instanceof ProtocolError) || again.identifier !== "decryption_failed") throw again;
        }
      }
      throw error;
    }
  }

  /**
   * `wrapped` wrapped again to the held keys when only a former key set opens it, once
   * its key is proven to be the one `header` commits to (PROTOCOL 10.6, after a
   * suspected compromise); null when the held keys open it already; "unopened" when
   * no key set does. The document key never leaves the worker.
   */
  protected async rewrapHeld(wrapped: Uint8Array, header: Uint8Array): Promise<Uint8Array | null | "unopened"> {
    const { keys, former, bundle } = this.requireUnlocked();
    checkWrappedKey(wrapped);
    if (await opens(() => unwrapDocumentKey(wrapped, keys, header))) return null;
    for (const set of former) {
      let key: Uint8Array;
      try {
        key = await unwrapDocumentKey(wrapped, set, header);
      } catch (error) {
        if (error instanceof ProtocolError && error.identifier === "decryption_failed") continue;
        throw error;
      }
      try {
        await checkHeader(key, header);
        return await wrapDocumentKey(key, decodeBundle(bundle), header);
      } catch (error) {
        if (error instanceof ProtocolError && error.identifier === "header_authentication") continue;
        throw error;
      } finally {
        key.fill(0);
      }
    }
    return "unopened";
  }

  /**
   * What the worker holds, described without a byte of any key (a CryptoKey could be
   * posted to the page and used there, so none is returned). Not an operation: only
   * the app-tests build's worker.ts answers it, for the browser tests.
   */
  describeKeys(): HeldKeys {
    if (this.unlocked === null) return { unlocked: false, signing: null, x25519: null, xwing: null };
    const { signingKey, keys } = this.unlocked;
    return { unlocked: true, signing: describe(signingKey), x25519: describe(keys.x25519Private), xwing: describe(keys.xwingSeed) };
  }

  lock(): { locked: true } {
    this.epoch += 1;
    if (this.unlocked !== null) this.wipeHeld(this.unlocked);
    this.unlocked = null;
    for (const key of this.documentKeys) key.fill(0);
    this.documentKeys.clear();
    return { locked: true };
  }

  async handle<Op extends CryptoOperation>(op: Op, args: CryptoOperations[Op]["args"]): Promise<CryptoOperations[Op]["result"]> {
    // Only the operations of the API: a name such as "constructor" is refused.
    if (!OPERATIONS.has(op)) throw new WorkerError("unknown_operation", `unknown operation ${String(op)}`);
    const run = this[op] as (a: CryptoOperations[Op]["args"]) => Promise<CryptoOperations[Op]["result"]> | CryptoOperations[Op]["result"];
    return run.call(this, args);
  }

  async unlockWithPassword({ keystore, password }: Operations["unlockWithPassword"]["args"]): Promise<Operations["unlockWithPassword"]["result"]> {
    const epoch = this.epoch;
    const decoded = decodeKeystore(keystore);
    const { keys, authSecret } = await unlockWithPassword(decoded, password);
    try {
      const former = (await openFormerKeys(decoded, keys)).reverse().map((f) => f.keys);
      await this.keep(decoded.bundle, keys, epoch, former);
    } catch (error) {
      authSecret.fill(0);
      throw error;
    }
    return { bundle: decoded.bundle.slice(), authSecret };
  }

  async unlockWithRecoveryWords({ keystore, words }: Operations["unlockWithRecoveryWords"]["args"]): Promise<Operations["unlockWithRecoveryWords"]["result"]> {
    const epoch = this.epoch;
    const decoded = decodeKeystore(keystore);
    const recoveryKey = recoveryKeyFromWords(words);
    try {
      const keys = await unlockWithRecoveryKey(decoded, recoveryKey);
      const former = (await openFormerKeys(decoded, keys)).reverse().map((f) => f.keys);
      await this.keep(decoded.bundle, keys, epoch, former);
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

  /** A fresh document key that a lock zero-fills, until `forget`. */
  protected liveDocumentKey(key: Uint8Array): Uint8Array {
    this.documentKeys.add(key);
    return key;
  }

  protected forget(key: Uint8Array): void {
    key.fill(0);
    this.documentKeys.delete(key);
  }

  async seal({ source, sink, recipients, suite, chunkLog2 }: Operations["seal"]["args"]): Promise<Operations["seal"]["result"]> {
    const epoch = this.epoch;
    let documentKey: Uint8Array | null = null;
    try {
      // The suite and every recipient are checked before a byte is read or written.
      const suiteName = checkSuite(suite ?? "HYBRID");
      if (!Array.isArray(recipients)) throw new ProtocolError("malformed", "recipients is a list of public key bundles");
      const publicKeys = recipients.map(decodeBundle);
      for (const recipient of publicKeys) checkRecipient(recipient, suiteName);
      documentKey = this.liveDocumentKey(generateDocumentKey());
      const recording = recordingPrefix(this.untilLocked(sink, epoch), HEADER_SIZE);
      const contentDigest = await sealStream(documentKey, source, recording.sink, chunkLog2 === undefined ? {} : { chunkLog2 });
      const header = recording.prefix().slice();
      const wrappedKeys: Uint8Array[] = [];
      for (const recipient of publicKeys) wrappedKeys.push(await wrapDocumentKey(documentKey, recipient, header, suiteName));
      // A lock during the wrapping zero-filled the key these wrapped keys would carry.
      this.requireEpoch(epoch);
      return { header, contentDigest, wrappedKeys };
    } catch (error) {
      await release(source, sink, error);
      throw error;
    } finally {
      if (documentKey !== null) this.forget(documentKey);
    }
  }

  async open({ source, sink, wrappedKey }: Operations["open"]["args"]): Promise<Operations["open"]["result"]> {
    const epoch = this.epoch;
    let documentKey: Uint8Array | null = null;
    let reader: ExactReader | null = null;
    try {
      this.requireUnlocked();
      // A wrapped key of the wrong shape is refused before a byte is read.
      checkWrappedKey(wrappedKey);
      reader = new ExactReader(source);
      const header = await reader.read(HEADER_SIZE);
      if (header.length < HEADER_SIZE) throw new ProtocolError("truncated", "the data is too short to hold an envelope header");
      documentKey = this.liveDocumentKey(await this.unwrapHeld(wrappedKey, header));
      this.requireEpoch(epoch);
      return { contentDigest: await openStream(documentKey, rejoin(header, reader), this.untilLocked(sink, epoch)) };
    } catch (error) {
      // openStream has cancelled and aborted what it held; before it, this does.
      await reader?.cancel(error);
      await release(source, sink, error);
      throw error;
    } finally {
      if (documentKey !== null) this.forget(documentKey);
    }
  }
}

const OPERATIONS: ReadonlySet<string> = new Set<CryptoOperation>([
  "unlockWithPassword",
  "unlockWithRecoveryWords",
  "lock",
  "publicBundle",
  "sign",
  "seal",
  "open",
]);
