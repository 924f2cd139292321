/**
 * The journal's check on its own (tests/web/test_journey_trust.py runs it in the
 * application against a server): an honest journal verified and pinned, and each way
 * a server can lie about it refused with the reason.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { JournalCheck } from "../src/client/journal_check.js";
import { MemoryPinStore } from "../src/client/pins.js";
import type { Session } from "../src/client/session.js";
import { toBase64Url, utf8 } from "../src/protocol/bytes.js";
import { signCheckpoint, verifierKey } from "../src/protocol/checkpoint.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { leafHash, rootOf } from "../src/protocol/merkle.js";

/** One past the first signed checkpoint (1,024 entries), so that both roots are checked. */
const SIZE = 1030;

interface Lies {
  origin?: string;
  /** Leaf hashes served in place of the true ones. */
  leaves?: (leaves: Uint8Array[]) => Uint8Array[];
  /** Which signed checkpoints are served. */
  checkpoints?: (sizes: number[]) => number[];
}

/** A server's journal of SIZE entries, answering as `lies` says at the time of each request. */
async function journal(lies: Lies = {}) {
  const origin = lies.origin ?? "sante.example.fr/journal";
  const key = await importSigningSeed(new Uint8Array(32).fill(3));
  const leaves = await Promise.all(Array.from({ length: SIZE }, (_, i) => leafHash(utf8(`entry ${i}`))));
  const note = async (size: number) =>
    signCheckpoint({ origin, size: BigInt(size), root: await rootOf(leaves.slice(0, size)) }, key.privateKey, key.publicKey);
  const served = {
    get leaves() {
      return (lies.leaves ?? ((l) => l))(leaves);
    },
    get checkpoints() {
      return (lies.checkpoints ?? ((s) => s))([1024]);
    },
  };
  const answers: Record<string, (params: Record<string, string>) => Promise<unknown>> = {
    "/journal/head": async () => ({ log_key: await verifierKey(origin, key.publicKey), checkpoint: await note(SIZE), consistency: [] }),
    "/journal/heads": async () => Promise.all(served.checkpoints.map(async (size) => ({ checkpoint: await note(size) }))),
    "/journal/leaves": async ({ start, end }) => {
      const hashes = new Uint8Array(served.leaves.slice(Number(start), Number(end)).flatMap((leaf) => [...leaf]));
      return { start: Number(start), hashes: toBase64Url(hashes) };
    },
  };
  const session = {
    json: async (_method: string, path: string, _wire: unknown, options: { params?: Record<string, string> } = {}) => answers[path]!(options.params ?? {}),
  };
  return session as unknown as Session;
}

async function refusal(check: JournalCheck): Promise<string> {
  try {
    await check.verify();
  } catch (error) {
    return `${(error as { identifier: string }).identifier}: ${(error as Error).message}`;
  }
  assert.fail("accepted");
}

test("journal: an honest journal is verified and its head pinned; the next check accepts it again", async () => {
  const pins = new MemoryPinStore();
  const check = new JournalCheck(await journal(), pins);
  assert.equal(await check.verify(), BigInt(SIZE));
  assert.equal((await pins.load())?.size, BigInt(SIZE));
  assert.equal(await check.verify(), BigInt(SIZE));
});

test("journal: an entry changed before a signed checkpoint names the range the checkpoint covers", async () => {
  const changed = (leaves: Uint8Array[]) => leaves.map((leaf, i) => (i === 5 ? new Uint8Array(32).fill(7) : leaf));
  const said = await refusal(new JournalCheck(await journal({ leaves: changed }), new MemoryPinStore()));
  assert.match(said, /^log_refused: journal entries 0 to 1023 do not match the head the server signed for 1024 entries/);
});

test("journal: an entry changed after the last checkpoint does not make the signed head's root", async () => {
  const changed = (leaves: Uint8Array[]) => leaves.map((leaf, i) => (i === SIZE - 1 ? new Uint8Array(32).fill(7) : leaf));
  const said = await refusal(new JournalCheck(await journal({ leaves: changed }), new MemoryPinStore()));
  assert.match(said, /^log_refused: journal entries 1024 to 1029 do not match the head the server signed for 1030 entries/);
});

test("journal: entries dropped from what is served are refused", async () => {
  const said = await refusal(new JournalCheck(await journal({ leaves: (l) => l.slice(0, SIZE - 2) }), new MemoryPinStore()));
  assert.match(said, /^log_refused: .*entries were removed/);
});

test("journal: a missing signed checkpoint at 1,024 entries is refused", async () => {
  const said = await refusal(new JournalCheck(await journal({ checkpoints: () => [] }), new MemoryPinStore()));
  assert.match(said, /^log_refused: the journal has no signed checkpoint at 1024 entries/);
});

test("journal: the key directory's checkpoints offered as the journal's are refused", async () => {
  const said = await refusal(new JournalCheck(await journal({ origin: "sante.example.fr/keys" }), new MemoryPinStore()));
  assert.match(said, /^log_refused: the journal's checkpoints are those of another log/);
});

test("journal: an entry served differently from the last check is named, even under the same signed head", async () => {
  const lies: Lies = {};
  const check = new JournalCheck(await journal(lies), new MemoryPinStore());
  await check.verify();
  // The server now serves entry 3's hash in place of entry 2's.
  lies.leaves = (leaves) => leaves.map((leaf, i) => (i === 2 ? leaves[3]! : leaf));
  assert.match(await refusal(check), /^log_refused: journal entry 2 is not the one this device verified before/);
});
