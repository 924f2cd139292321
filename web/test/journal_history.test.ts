/**
 * A patient's access history, checked by the worker against a server that plays the
 * journal (tests/web/test_journey_history.py runs it in the application against a
 * real one): an honest history proven complete and its checkpoint pinned, and each
 * way a server can lie about it refused with the reason.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { Http } from "../src/client/http.js";
import { MemoryValue } from "../src/client/account_store.js";
import { type ChainPin, JournalHistory } from "../src/client/journal_history.js";
import { MemoryPinStore } from "../src/client/pins.js";
import type { Session } from "../src/client/session.js";
import { toBase64Url } from "../src/protocol/bytes.js";
import { signCheckpoint, verifierKey } from "../src/protocol/checkpoint.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { type ChainLink, ENTRY_VERSION, ENTRY_VERSION_UNCHAINED, ObjectKind, Outcome, encodeEntry, requestDigest } from "../src/protocol/journal.js";
import { leafHash, rootOf } from "../src/protocol/merkle.js";
import { sha256 } from "../src/protocol/primitives.js";
import { consistencyProof, inclusionPath } from "./merkle_proofs.js";

const ORIGIN = "https://sante.example.fr";
const PATIENT = "5d1c7a8e-0b7e-4c55-9f0e-2f1b3c4d5e6f";
const DOCTOR = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const OTHER_PATIENT = "11111111-2222-4333-8444-555555555555";

interface Served {
  index: number;
  entry: Uint8Array;
  inclusion: Uint8Array[];
  actor_id: string | null;
  actor_name: string | null;
}

interface Lies {
  /** What the history pages serve in place of the true items. */
  items?: (items: Served[]) => Served[];
  /** The request the anchor's entry describes, in place of the one asked. */
  anchorTarget?: (asked: string) => string;
}

/**
 * The journal of a server, with PATIENT's chain woven between others' entries, after
 * `unchained` entries about PATIENT written before chains existed (version 1).
 */
async function server(lies: Lies = {}, unrelated = "other", unchained = 0) {
  const key = await importSigningSeed(new Uint8Array(32).fill(5));
  const origin = "sante.example.fr/journal";
  const entries: Uint8Array[] = [];
  const actors: (string | null)[] = [];
  let tail: { sequence: bigint; index: bigint } | null = null;
  const add = async (actor: string, action: string, about: boolean, target = "/x", version = ENTRY_VERSION) => {
    const chain: ChainLink[] = [];
    if (about && version === ENTRY_VERSION) {
      chain.push({ kind: ObjectKind.PATIENT, subject: PATIENT, sequence: tail === null ? 0n : tail.sequence + 1n, previous: tail === null ? 0n : tail.index });
      tail = { sequence: chain[0]!.sequence, index: BigInt(entries.length) };
    }
    actors.push(about ? actor : null);
    const digest = await requestDigest("GET", target, await sha256(new Uint8Array(0)));
    entries.push(
      encodeEntry({
        version,
        timestampMs: 1_780_000_000_000n + BigInt(entries.length) * 60_000n,
        actor,
        action,
        outcome: Outcome.DONE,
        status: 200,
        objects: about ? [[ObjectKind.PATIENT, PATIENT]] : [[ObjectKind.ACCOUNT, OTHER_PATIENT]],
        client: "test",
        requestDigest: digest,
        signature: null,
        chain,
      }),
    );
    return entries.length - 1;
  };
  for (let i = 0; i < unchained; i++) await add(DOCTOR, "records.content", true, "/x", ENTRY_VERSION_UNCHAINED);
  await add(DOCTOR, `records.${unrelated}`, false);
  await add(DOCTOR, "records.create_document", true);
  await add(DOCTOR, "records.inbox", false);
  await add(DOCTOR, "records.content", true);
  await add(OTHER_PATIENT, "audit.history", false);
  await add(DOCTOR, "records.share", true);
  const hashes = () => Promise.all(entries.map(leafHash));
  const note = async (size: number) => signCheckpoint({ origin, size: BigInt(size), root: await rootOf((await hashes()).slice(0, size)) }, key.privateKey, key.publicKey);
  const http = new Http(ORIGIN);
  const json = (body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { headers: { "content-type": "application/json", ...headers } });
  const answer = async (path: string, params: Record<string, string>): Promise<Response> => {
    if (path === "/journal/history" && params["nonce"] !== undefined) {
      const url = new URL(http.url(path, params));
      const asked = url.pathname + url.search;
      const index = await add(PATIENT, "audit.history", true, lies.anchorTarget?.(asked) ?? asked);
      const size = entries.length;
      const proof = (await inclusionPath(index, await hashes())).map(toBase64Url).join(",");
      return json([], { "uhs-journal-entry": toBase64Url(entries[index]!), "uhs-journal-proof": `${index};${size};${proof}` });
    }
    if (path === "/journal/history") {
      const size = Number(params["tree_size"]);
      const tree = (await hashes()).slice(0, size);
      const items: Served[] = [];
      for (let index = Number(params["before"]) - 1; index >= 0 && items.length < Number(params["limit"]); index--) {
        const actor = actors[index];
        if (actor === null || actor === undefined) continue;
        const name = actor === DOCTOR ? "Dr Paul Durand" : "Camille Petit";
        items.push({ index, entry: entries[index]!, inclusion: await inclusionPath(index, tree), actor_id: actor, actor_name: name });
      }
      return json((lies.items ?? ((i) => i))(items).map((i) => ({ ...i, entry: toBase64Url(i.entry), inclusion: i.inclusion.map(toBase64Url) })));
    }
    if (path === "/journal/heads") return json([{ checkpoint: await note(Number(params["from_size"])) }]);
    if (path === "/journal/head") {
      const size = params["size"] !== undefined ? Number(params["size"]) : entries.length;
      const since = Number(params["since"] ?? size);
      const consistency = (await consistencyProof(since, (await hashes()).slice(0, size))).map(toBase64Url);
      return json({ log_key: await verifierKey(origin, key.publicKey), checkpoint: await note(size), consistency });
    }
    throw new Error(`no ${path} here`);
  };
  const session = {
    http,
    account: async () => ({ id: PATIENT, email: "camille@example.fr", name: "Camille Petit", kind: "patient" }),
    call: async (_method: string, path: string, options: { params?: Record<string, string | number> } = {}) =>
      answer(path, Object.fromEntries(Object.entries(options.params ?? {}).map(([k, v]) => [k, String(v)]))),
    json: async (method: string, path: string, _wire: unknown, options: { params?: Record<string, string | number> } = {}) =>
      (await session.call(method, path, options)).json(),
    // This server journals the history's reads unsigned, under their plain digest.
    signedDigestOf: () => undefined,
  };
  /** Forgets everything after the first `size` entries, the chain's end with them. */
  const rewind = (size: number, chainEnd: { sequence: bigint; index: bigint }) => {
    entries.length = size;
    actors.length = size;
    tail = chainEnd;
  };
  return { session: session as unknown as Session, entries, rewind };
}

async function refusal(check: Promise<unknown>): Promise<string> {
  try {
    await check;
  } catch (error) {
    return `${(error as { identifier: string }).identifier}: ${(error as Error).message}`;
  }
  assert.fail("accepted");
}

test("history: an honest history is proven complete, read from the entries themselves, and its checkpoint pinned", async () => {
  const pins = new MemoryPinStore();
  const { session, entries } = await server();
  const history = new JournalHistory(session, pins);
  const first = await history.check();
  assert.equal(first.chained, 3);
  assert.equal(first.unchained, 0);
  assert.equal(first.treeSize, String(entries.length));
  assert.deepEqual(
    first.entries.map((e) => [e.index, e.action, e.actorName, e.outcome]),
    [
      ["5", "records.share", "Dr Paul Durand", "done"],
      ["3", "records.content", "Dr Paul Durand", "done"],
      ["1", "records.create_document", "Dr Paul Durand", "done"],
    ],
  );
  assert.equal(first.entries[0]!.at, new Date(1_780_000_000_000 + 5 * 60_000).toISOString());
  assert.equal((await pins.load())?.size, BigInt(entries.length));
  // The next check extends the pin (a consistency proof) and sees its own first read.
  const second = await history.check();
  assert.equal(second.chained, 4);
  assert.equal(second.entries[0]!.action, "audit.history");
  assert.equal((await pins.load())?.size, BigInt(entries.length));
});

test("history: an entry the chain counts but the server left out is refused, naming where it was", async () => {
  const { session } = await server({ items: (items) => items.filter((i) => i.index !== 3) });
  const said = await refusal(new JournalHistory(session, new MemoryPinStore()).check());
  assert.match(said, /^history_incomplete: the history the server served is incomplete: it lacks entry 1 of the chain \(1 missing, between journal entries 2 and 3\)/);
});

test("history: the oldest entries left out are a gap back to the start of the chain", async () => {
  const { session } = await server({ items: (items) => items.filter((i) => i.index !== 1) });
  assert.match(await refusal(new JournalHistory(session, new MemoryPinStore()).check()), /^history_incomplete: .*lacks entry 0 of the chain \(1 missing, between journal entries 0 and 1\)/);
});

test("history: an entry not proven in the journal's signed checkpoint is refused", async () => {
  const forged = (items: Served[]) => items.map((i) => (i.index === 3 ? { ...i, inclusion: i.inclusion.map(() => new Uint8Array(32).fill(9)) } : i));
  const { session } = await server({ items: forged });
  assert.match(await refusal(new JournalHistory(session, new MemoryPinStore()).check()), /^log_refused: journal entry 3 of the history is not proven in the journal/);
});

test("history: a name the server gives to another actor than the entry's is refused", async () => {
  const renamed = (items: Served[]) => items.map((i) => (i.index === 5 ? { ...i, actor_id: OTHER_PATIENT } : i));
  const { session } = await server({ items: renamed });
  assert.match(await refusal(new JournalHistory(session, new MemoryPinStore()).check()), /^log_refused: the server names another actor for journal entry 5/);
});

test("history: the receipt of an earlier reading (another nonce) is refused as not this request's", async () => {
  const { session } = await server({ anchorTarget: (asked) => asked.replace(/nonce=[^&]+/, "nonce=AAAAAAAAAAAAAAAAAAAAAA") });
  assert.match(await refusal(new JournalHistory(session, new MemoryPinStore()).check()), /^log_refused: the journal entry does not describe this request/);
});

test("history: a journal that does not extend the one pinned (another journal shown to this device) is refused", async () => {
  const pins = new MemoryPinStore();
  await new JournalHistory((await server()).session, pins).check();
  const { session: forked } = await server({}, "forked");
  // As large as the pinned one: another root for the same size.
  assert.match(await refusal(new JournalHistory(forked, pins).check()), /^log_refused: the journal's head of 7 entries is not the one this device saw before/);
  // Larger: no consistency proof from the pinned head.
  assert.match(await refusal(new JournalHistory(forked, pins).check()), /^invalid_proof: the journal \(now 8 entries\) does not extend the one this device saw \(7 entries\)/);
});

test("history: a chain served shorter than at this account's last check, on an earlier visit, was rewound", async () => {
  const { session, rewind } = await server();
  // No journal pin here, so that the chain's own pin is what catches it.
  const noPin = { load: async () => null, save: async () => undefined };
  const remembered = new MemoryValue<Record<string, ChainPin>>();
  await new JournalHistory(session, noPin, remembered).check();
  // The server forgets this reading (entry 6, number 3 of the chain) and journals the next one in its place.
  rewind(6, { sequence: 2n, index: 5n });
  const later = new JournalHistory(session, noPin, remembered);
  assert.match(await refusal(later.check()), /^log_refused: the chain of you is shorter than when this device last checked it: it was rewound/);
  // Without the memory of the first visit, the rewound chain looks complete.
  assert.equal((await new JournalHistory(session, noPin).check()).chained, 4);
});

test("history: an entry served twice, or entries out of the journal's order, are refused", async () => {
  // Entries 0 and 1 were written before chains existed: their place cannot be proven
  // by the chain, only by the journal's order, which the server must keep.
  const honest = await new JournalHistory((await server({}, "other", 2)).session, new MemoryPinStore()).check();
  assert.equal(honest.unchained, 2);
  assert.deepEqual(honest.entries.slice(-2).map((e) => e.index), ["1", "0"]);
  const twice = (items: Served[]) => [...items, items.at(-1)!];
  const swapped = (items: Served[]) => [...items.slice(0, -2), items.at(-1)!, items.at(-2)!];
  for (const lie of [twice, swapped]) {
    const { session } = await server({ items: lie }, "other", 2);
    assert.match(await refusal(new JournalHistory(session, new MemoryPinStore()).check()), /^log_refused: journal entry [01] is served out of the journal's order, or twice/);
  }
});
