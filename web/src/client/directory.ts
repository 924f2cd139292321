/**
 * Checking the server's key directory before trusting any key it hands out, as
 * client/directory.py and client/logs.py do.
 *
 * The worker remembers the directory's signing key and the last tree head it
 * verified (pins.ts). Every new head must be signed by that key and proven, by an
 * RFC 9162 consistency proof, to extend the pinned one; every key used must be
 * proven, by an inclusion proof, to be in the verified tree and to belong to the
 * address asked for, and, by the map the tree ends with, to be that address's newest
 * keys; an account that replaced its keys only with the chain of rotations its keys
 * signed (10.6). A server that swaps a key, shows an address's older keys, forks the
 * log or rolls it back is refused, with the reason.
 */

import { constantTimeEqual } from "../protocol/bytes.js";
import { type Checkpoint, openCheckpoint, parseVerifierKey } from "../protocol/checkpoint.js";
import { type DirectoryEntry, decodeCommitment, decodeEntry, decodeMapValue, mapKey, verifyMapProof } from "../protocol/directory.js";
import { ProtocolError } from "../protocol/errors.js";
import { verifyChain } from "../protocol/key_rotation.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../protocol/merkle.js";
import { ApiError, ClientRefusal } from "./http.js";
import type { LogPin, PinStore } from "./pins.js";
import { type Json, Wire, jsonOf } from "./wire.js";

export const KEY_DIRECTORY_LOG = "keys";

export interface VerifiedEntry {
  index: bigint;
  entry: DirectoryEntry;
  /** False for an older entry of a rotated account (proven by its chain): it only
   * checks signatures, nothing is encrypted to it (10.6). */
  current?: boolean;
}

/** An unsigned GET of the key directory (its answers are proven, not trusted). */
export type DirectoryGet = (path: string, params: Record<string, string | number>) => Promise<Response>;
/** An unsigned POST of JSON to the key directory (the batched lookup, PROTOCOL 10.5). */
export type DirectoryPost = (path: string, json: unknown) => Promise<Response>;

/** Addresses one batched lookup asks for (protocol/keys.py MAX_LOOKUPS). */
export const MAX_LOOKUPS = 1000;

/** Addresses the directory holds no keys for, or none this account may see. */
export class NoKeysPublished extends ApiError {
  constructor(readonly addresses: string[]) {
    super(404, `no keys are published for ${addresses.join(", ")}`, {});
  }
}

function refused(message: string): ClientRefusal {
  return new ClientRefusal("directory_refused", message);
}

/** `error` again with `message` when it is a refusal of a protocol check (its identifier kept). */
function because(error: unknown, message: string, refuse = refused): Error {
  if (error instanceof ProtocolError) return new ProtocolError(error.identifier, `${message} (${error.message})`);
  if (error instanceof ClientRefusal) return error;
  return refuse(message);
}

export class KeyDirectory {
  private current: Checkpoint | null = null;
  /** Entries proven against the current head, by address and by index. */
  private proven = new Map<string, VerifiedEntry>();

  constructor(
    private readonly get: DirectoryGet,
    private readonly pins: PinStore,
    private readonly post: DirectoryPost,
  ) {}

  /** The verified head of this session (fetched and checked once). */
  async head(): Promise<Checkpoint> {
    return this.current ?? this.refresh();
  }

  /** Drops the entries proven so far (this account's own keys changed). */
  forget(): void {
    this.proven.clear();
  }

  async refresh(): Promise<Checkpoint> {
    const pin = await this.pins.load();
    const answer = await this.get("/keys/head", pin !== null && pin.size > 0n ? { since: pin.size.toString() } : {});
    const wire = new Wire("directory_refused", "the key directory's head");
    const body = wire.object(await jsonOf(answer, wire));
    const { head, next } = await acceptHead(wire.string(body, "log_key"), wire.string(body, "checkpoint"), wire.bytesList(body, "consistency"), pin);
    if (this.current === null || this.current.size !== head.size) this.proven.clear();
    this.current = head;
    if (pin === null || pin.size !== next.size || !constantTimeEqual(pin.root, next.root)) await this.pins.save(next);
    return head;
  }

  /** The keys of an address, proven to be in the verified directory. */
  async lookup(email: string): Promise<VerifiedEntry> {
    const address = email.trim().toLowerCase();
    const known = this.proven.get(`address ${address}`);
    if (known !== undefined) return known;
    const what = `the keys of ${address}`;
    const fetch = (head: Checkpoint) => this.get("/keys/entries", { email: address, tree_size: head.size.toString() });
    let head = await this.head();
    let answer: Response;
    try {
      answer = await fetch(head);
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 409)) throw error;
      // The address may have joined after this session's head, or the head may end
      // before the map (409): look once more in the newest (verified) directory.
      head = await this.refresh();
      answer = await fetch(head);
    }
    const verified = await this.verifyAddress(await this.served(answer, what), head, address);
    this.proven.set(`address ${address}`, verified);
    return verified;
  }

  /**
   * The keys of several addresses, in the order given, each proven as `lookup` proves
   * one, all against one verified head, in one request per MAX_LOOKUPS addresses not
   * proven before (client/directory.py lookup_many). One that is not proven refuses
   * them all; addresses without keys are refused together, by name.
   */
  async lookupMany(emails: readonly string[]): Promise<VerifiedEntry[]> {
    const addresses = emails.map((e) => e.trim().toLowerCase());
    if (addresses.length === 0) return [];
    const found = new Map<string, VerifiedEntry>();
    for (const a of addresses) {
      const known = this.proven.get(`address ${a}`);
      if (known !== undefined) found.set(a, known);
    }
    const wanted = [...new Set(addresses)].filter((a) => !found.has(a));
    let head = await this.head();
    for (let start = 0; start < wanted.length; start += MAX_LOOKUPS) {
      const part = wanted.slice(start, start + MAX_LOOKUPS);
      let answers: (Json | null)[];
      try {
        answers = await this.fetchMany(part, head);
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 409) throw error;
        head = await this.refresh(); // this head ends before the map: take the newest
        answers = await this.fetchMany(part, head);
      }
      let missing = part.filter((_, i) => answers[i] === null);
      if (missing.length > 0 && (await this.refresh()).size !== head.size) {
        // Some may have joined after this session's head: ask the newest once.
        head = await this.head();
        answers = await this.fetchMany(part, head);
        missing = part.filter((_, i) => answers[i] === null);
      }
      if (missing.length > 0) throw new NoKeysPublished(missing);
      // Verified only once all are served: one failure refuses them all, by name.
      const verified: VerifiedEntry[] = [];
      for (const [i, address] of part.entries()) verified.push(await this.verifyAddress(answers[i]!, head, address));
      for (const [i, address] of part.entries()) {
        found.set(address, verified[i]!);
        this.proven.set(`address ${address}`, verified[i]!);
      }
    }
    return addresses.map((a) => found.get(a)!);
  }

  private async fetchMany(addresses: string[], head: Checkpoint): Promise<(Json | null)[]> {
    const answer = await this.post("/keys/lookups", { emails: addresses, tree_size: Number(head.size) });
    const wire = new Wire("directory_refused", "the keys asked for");
    const body = wire.object(await jsonOf(answer, wire));
    const size = BigInt(wire.integer(body, "tree_size"));
    const entries = body["entries"];
    if (!Array.isArray(entries) || size !== head.size || entries.length !== addresses.length) {
      const count = Array.isArray(entries) ? entries.length : 0;
      throw refused(
        `the key directory answered ${count} entries in a tree of ${size} when asked for ${addresses.length} ` +
          `in the tree of ${head.size} this device verified: refusing them all`,
      );
    }
    return entries.map((e: unknown) => (e === null ? null : wire.object(e)));
  }

  /** The served entry of `address`, proven in `head` and for that address. */
  private async verifyAddress(body: Json, head: Checkpoint, address: string): Promise<VerifiedEntry> {
    const verified = await this.verify(body, head, `the keys of ${address}`);
    if (verified.current === false) throw refused(`the key directory answered former keys of ${address}, not its newest: refusing them`);
    if (verified.entry.email !== address) {
      throw refused(`the key directory answered for ${verified.entry.email} when asked for ${address}`);
    }
    return verified;
  }

  private async served(answer: Response, what: string): Promise<Json> {
    const wire = new Wire("directory_refused", what);
    return wire.object(await jsonOf(answer, wire));
  }

  /** The directory entry at a position (a document names its signer's entry). */
  async entry(index: bigint): Promise<VerifiedEntry> {
    const known = this.proven.get(`index ${index}`);
    if (known !== undefined) return known;
    const what = `directory entry ${index}`;
    let head = await this.head();
    if (index >= head.size) head = await this.refresh();
    const fetch = (head: Checkpoint) => this.get(`/keys/entries/${index}`, { tree_size: head.size.toString() });
    let answer: Response;
    try {
      answer = await fetch(head);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409) throw error;
      head = await this.refresh(); // this head ends before the map: take the newest
      answer = await fetch(head);
    }
    const verified = await this.verify(await this.served(answer, what), head, what);
    if (verified.index !== index) throw refused(`the key directory answered with another entry than ${index}`);
    this.proven.set(`index ${index}`, verified);
    return verified;
  }

  private async verify(body: Json, head: Checkpoint, what: string): Promise<VerifiedEntry> {
    const wire = new Wire("directory_refused", what);
    const index = BigInt(wire.integer(body, "index"));
    const data = wire.bytes(body, "entry");
    let entry: DirectoryEntry;
    let value: { index: bigint; leafHash: Uint8Array; count: number };
    try {
      if (BigInt(wire.integer(body, "tree_size")) !== head.size) throw new ProtocolError("invalid_proof", "a proof for another tree");
      await verifyInclusion(await leafHash(data), index, head.size, wire.bytesList(body, "inclusion"), head.root);
      entry = decodeEntry(data);
      value = await mapValue(body["map"], head, entry.accountId, wire);
    } catch (error) {
      throw because(error, `the key directory cannot prove ${what}: refusing to use that key`);
    }
    if (entry.email !== entry.email.trim().toLowerCase()) throw refused(`the key directory gives ${what} under an unusual address`);
    // Keys replaced: only with the chain of rotations their owner signed (10.6).
    if (value.count !== 1) return this.verifyChain(body, head, index, data, entry, value, wire);
    if (value.index !== index || !constantTimeEqual(value.leafHash, await leafHash(data))) {
      throw refused(`the key directory's map does not name ${what} (entry ${index}) as the keys of ${entry.email}'s account: refusing them`);
    }
    if (entry.keyVersion !== 1) {
      throw refused(
        `the key directory gives keys of version ${entry.keyVersion} for ${entry.email} without the rotations that replaced the former ones: refusing them`,
      );
    }
    return { index, entry };
  }

  /** `entry` of an account that rotated its keys: every entry of the account, versions 1
   * to the map's count, proven in `head` and linked by statements each signed by the
   * keys it replaced (10.6, rules 1, 2 and 5). */
  private async verifyChain(
    body: Json,
    head: Checkpoint,
    index: bigint,
    data: Uint8Array,
    entry: DirectoryEntry,
    value: { index: bigint; leafHash: Uint8Array; count: number },
    wire: Wire,
  ): Promise<VerifiedEntry> {
    try {
      const raw = body["chain"];
      const chain = (Array.isArray(raw) ? raw : []).map((link: unknown) => {
        const item = wire.object(link);
        return { index: BigInt(wire.integer(item, "index")), entry: wire.bytes(item, "entry"), inclusion: wire.bytesList(item, "inclusion"), rotation: wire.optionalBytes(item, "rotation") };
      });
      if (chain.length !== value.count) throw new ProtocolError("invalid_proof", "a chain of rotations with missing entries");
      for (const link of chain) await verifyInclusion(await leafHash(link.entry), link.index, head.size, link.inclusion, head.root);
      const entries = await verifyChain(
        chain.map((link) => link.entry),
        chain.map((link) => link.rotation),
      );
      const last = chain[chain.length - 1]!;
      if (last.index !== value.index || !constantTimeEqual(await leafHash(last.entry), value.leafHash)) {
        throw new ProtocolError("invalid_proof", "the map names another newest entry");
      }
      if (entries[0]!.accountId !== entry.accountId || !chain.some((link) => link.index === index && constantTimeEqual(link.entry, data))) {
        throw new ProtocolError("invalid_proof", "the entry asked for is not in its account's chain");
      }
    } catch (error) {
      throw because(
        error,
        `the key directory holds ${value.count} sets of keys for the account of ${entry.email} without the chain of rotations its owner signed: ` +
          `some may have been published without their owner. Nothing is sent to them; compare safety numbers with ${entry.email}`,
      );
    }
    return { index, entry, current: index === value.index };
  }
}

/** The account's value in the map the head ends with, its proof checked. */
async function mapValue(raw: unknown, head: Checkpoint, accountId: string, wire: Wire) {
  if (raw === null || raw === undefined) throw new ProtocolError("invalid_proof", "no map proof");
  const map = wire.object(raw) as Json;
  const encoded = wire.bytes(map, "commitment");
  const commitment = decodeCommitment(encoded);
  const last = head.size - 1n;
  if (commitment.entries !== last) throw new ProtocolError("invalid_proof", "the map is not the one the tree ends with");
  await verifyInclusion(await leafHash(encoded), last, head.size, wire.bytesList(map, "commitment_inclusion"), head.root);
  const value = wire.bytes(map, "value");
  const proof = { depth: wire.integer(map, "depth"), present: wire.bytes(map, "present"), siblings: wire.bytesList(map, "siblings") };
  await verifyMapProof(commitment.root, await mapKey(accountId), value, proof);
  return decodeMapValue(value);
}

/** Which of the server's logs a head is checked as, and how its refusals are named. */
export interface LogName {
  log: string;
  what: string;
  refuse: (message: string) => ClientRefusal;
}

const KEY_DIRECTORY: LogName = { log: KEY_DIRECTORY_LOG, what: "the key directory", refuse: refused };

/**
 * Checks a served head against the pin (client/logs.py accept_head): the same key
 * and origin as before, an origin naming this log, the log's signature, and a
 * consistency proof from the pinned checkpoint. Returns the head and the pin to keep.
 */
export async function acceptHead(
  vkey: string,
  note: string,
  consistency: Uint8Array[],
  pin: LogPin | null,
  { log, what, refuse }: LogName = KEY_DIRECTORY,
): Promise<{ head: Checkpoint; next: LogPin }> {
  let origin: string;
  let key: Uint8Array;
  try {
    ({ name: origin, key } = await parseVerifierKey(vkey));
  } catch (error) {
    throw because(error, `${what}'s key is not a valid verifier key`, refuse);
  }
  if (pin !== null && !constantTimeEqual(pin.logKey, key)) {
    throw refuse(`${what} is signed by another key than before: this is not the one this device trusted`);
  }
  if (pin !== null && pin.origin !== origin) {
    throw refuse(`${what} now calls itself ${origin}, not ${pin.origin} as before: this is not the log this device trusted`);
  }
  // One key signs all of a server's logs: the origin tells them apart.
  if (!origin.endsWith(`/${log}`)) throw refuse(`${what}'s checkpoints are those of another log (${origin})`);
  let head: Checkpoint;
  try {
    head = await openCheckpoint(note, origin, key);
  } catch (error) {
    throw because(error, `${what}'s checkpoint is not validly signed`, refuse);
  }
  if (pin !== null && pin.size > 0n) {
    try {
      await verifyConsistency(pin.size, head.size, pin.root, head.root, consistency);
    } catch (error) {
      throw because(
        error,
        `${what} (now ${head.size} entries) does not extend the one this device saw (${pin.size} entries): ` +
          "the server may be showing different logs to different people",
        refuse,
      );
    }
  }
  return { head, next: { origin, logKey: key, size: head.size, root: head.root } };
}
