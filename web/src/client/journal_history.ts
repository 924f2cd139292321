/**
 * A patient's access history (or a practice's activity, for its admins), proven
 * complete from the worker as client/journal.py's JournalClient.check_history does
 * (`uhs journal history`).
 *
 * Reading the history is itself journaled: the answer's receipt (UHS-Journal-Entry,
 * UHS-Journal-Proof) must describe this very request (it carries a fresh nonce, so an
 * earlier check's receipt cannot be replayed), be proven in a signed checkpoint, and
 * that checkpoint must extend the journal head this worker pinned (journal_check.ts's
 * pin). The entry's link in the subject's chain is where the walk starts: every
 * served entry must be proven in the same checkpoint and take its place in the chain,
 * back to the first; an entry the chain counts but the server left out is named as a
 * gap, and the whole history refused; a chain shorter than, or rewritten since, the
 * last check of this account here (remembered across visits) is refused too. What is shown of each entry (when, what, by
 * whom, its outcome) is read from the proven entry, not from the server's description
 * of it; only the actor's name is the server's, and only for the actor the entry names.
 */

import { constantTimeEqual, fromBase64Url, toBase64Url } from "../protocol/bytes.js";
import { type Checkpoint, openCheckpoint, parseVerifierKey } from "../protocol/checkpoint.js";
import { ProtocolError } from "../protocol/errors.js";
import { type ChainLink, ENTRY_VERSION_UNCHAINED, type JournalEntry, ObjectKind, Outcome, decodeEntry, requestDigest } from "../protocol/journal.js";
import { leafHash, verifyInclusion } from "../protocol/merkle.js";
import { sha256 } from "../protocol/primitives.js";
import { type AccountValue, MemoryValue } from "./account_store.js";
import { acceptHead } from "./directory.js";
import { ClientRefusal } from "./http.js";
import { JOURNAL_LOG, journalTampered } from "./journal_check.js";
import type { LogPin, PinStore } from "./pins.js";
import type { Session } from "./session.js";
import { Wire, jsonOf } from "./wire.js";

/** History entries per request (the server's maximum). */
export const HISTORY_PAGE = 500;
/** The random value that makes a history's anchoring request unique (128 bits). */
const ANCHOR_NONCE_BYTES = 16;
/** The actor of an entry nobody signed in made (the server's own, or a refused request). */
const NOBODY = "00000000-0000-0000-0000-000000000000";
const OUTCOMES: Record<number, HistoryEntry["outcome"]> = {
  [Outcome.DONE]: "done",
  [Outcome.DENIED]: "denied",
  [Outcome.REFUSED]: "refused",
  [Outcome.FAILED]: "failed",
};

/** One proven entry of a history, as the screens show it. */
export interface HistoryEntry {
  /** The entry's position in the journal, as a decimal string. */
  index: string;
  /** ISO 8601, from the entry's own timestamp. */
  at: string;
  /** The journal action (records.content, consent.ask...). */
  action: string;
  outcome: "done" | "denied" | "refused" | "failed";
  /** The account the entry names as its actor; null for nobody signed in. */
  actorId: string | null;
  /** That account's name as the server gives it ("" if it gave none). */
  actorName: string;
  actorKind: string;
  /** The practices and documents the proven entry names (for the screens' filters and titles). */
  practiceIds: string[];
  documentIds: string[];
}

/** A history proven complete back to the start of its chain (check_history's HistoryCheck). */
export interface HistoryView {
  /** Newest first. */
  entries: HistoryEntry[];
  /** Entries on the chain, each proven in the checkpoint of `treeSize` entries. */
  chained: number;
  /** Entries written before chains existed: each proven, their completeness not provable. */
  unchained: number;
  treeSize: string;
}

/** A range of the chain the server did not serve (check_history's Gap). */
export interface Gap {
  first: bigint;
  last: bigint;
  fromIndex: bigint;
  toIndex: bigint;
}

/** Where a subject's chain stood when this account last proved it complete here (ChainPin). */
export interface ChainPin {
  sequence: bigint;
  index: bigint;
}

export function historyIncomplete(gaps: readonly Gap[]): ClientRefusal {
  const described = gaps.map((g) => {
    const count = g.last - g.first + 1n;
    const entries = count === 1n ? `entry ${g.first}` : `entries ${g.first} to ${g.last}`;
    const where = g.fromIndex === g.toIndex ? `journal entry ${g.toIndex}` : `between journal entries ${g.fromIndex} and ${g.toIndex}`;
    return `${entries} of the chain (${count} missing, ${where})`;
  });
  return new ClientRefusal("history_incomplete", `the history the server served is incomplete: it lacks ${described.join("; ")}`);
}

export class JournalHistory {
  constructor(
    private readonly session: Session,
    private readonly pins: PinStore,
    /**
     * By subject: where its chain stood at the last check that proved it complete,
     * kept across visits (account_store.ts) as the SDK keeps its `-history.json`.
     */
    private readonly chains: AccountValue<Record<string, ChainPin>> = new MemoryValue(),
  ) {}

  /**
   * Your access history (a patient) or your practice's activity (an admin, with
   * `practiceId`), proven complete: refused as *history_incomplete* naming each range
   * of entries the server left out, as *log_refused* for anything else that does not
   * hold (a chain rewound or rewritten since this worker's last check included).
   */
  async check(practiceId: string | null = null): Promise<HistoryView> {
    const me = (await this.session.account()).id;
    const path = practiceId ? `/practices/${encodeURIComponent(practiceId)}/journal` : "/journal/history";
    const subject = (practiceId ?? me).toLowerCase();
    const whose = practiceId ? "the practice" : "you";
    const nonce = toBase64Url(crypto.getRandomValues(new Uint8Array(ANCHOR_NONCE_BYTES)));
    const { index: anchorIndex, entry: anchor, head } = await this.receipt(path, { limit: 1, nonce }, me);
    const link = linkOf(anchor, subject);
    if (link === null) throw journalTampered(`reading the history was not journaled as about ${whose}`);
    const known = (await this.chains.load())?.[subject];
    if (known !== undefined && link.sequence <= known.sequence) {
      throw journalTampered(`the chain of ${whose} is shorter than when this device last checked it: it was rewound`);
    }
    const items = await this.items(path, anchorIndex, head, whose);
    const proven: { index: bigint; entry: JournalEntry }[] = [];
    for (const item of items) proven.push({ index: item.index, entry: await provenEntry(item, head) });
    // Version 1 is read only before the cut-over: an entry of version 1 after one of
    // version 2 was written by a server that keeps entries out of the chains.
    const cutOver = proven.filter((p) => p.entry.version !== ENTRY_VERSION_UNCHAINED).reduce((low, p) => (p.index < low ? p.index : low), anchorIndex);
    // Walk the chain back from the anchor: the next entry wanted is number `wanted`
    // of the chain, at journal index `at`.
    let wanted = link.sequence - 1n;
    let at = link.previous;
    const gaps: Gap[] = [];
    let chained = 0;
    let unchained = 0;
    // Newest first, each once: the chain places its own entries, the journal's order
    // alone the ones written before chains existed.
    let below = anchorIndex;
    for (const { index, entry } of proven) {
      if (index >= below) throw journalTampered(`journal entry ${index} is served out of the journal's order, or twice`);
      below = index;
      const found = linkOf(entry, subject);
      if (found === null) {
        if (entry.version !== ENTRY_VERSION_UNCHAINED) throw journalTampered(`journal entry ${index} is listed but not about ${whose}`);
        if (index > cutOver) {
          throw journalTampered(`journal entry ${index} is of version 1, written after entry ${cutOver} of version 2: it was kept out of the chain of ${whose}`);
        }
        unchained += 1;
        continue;
      }
      if (wanted < 0n || index > at || found.sequence > wanted) {
        throw journalTampered(`journal entry ${index} claims a place in the chain of ${whose} that another entry holds: the chain was forked`);
      }
      if ((index === at) !== (found.sequence === wanted)) throw journalTampered(`journal entry ${index} is not where the chain of ${whose} places it`);
      if (index < at) gaps.push({ first: found.sequence + 1n, last: wanted, fromIndex: index + 1n, toIndex: at });
      if (known !== undefined && found.sequence === known.sequence && index !== known.index) {
        throw journalTampered(
          `entry ${known.sequence} of the chain of ${whose} was at journal index ${known.index} when this device last checked it, ` +
            `and is now at ${index}: the chain was rewritten`,
        );
      }
      chained += 1;
      wanted = found.sequence - 1n;
      at = found.previous;
    }
    if (wanted >= 0n) gaps.push({ first: 0n, last: wanted, fromIndex: 0n, toIndex: at });
    if (gaps.length > 0) throw historyIncomplete(gaps);
    await this.chains.update((current) => ({ ...current, [subject]: { sequence: link.sequence, index: anchorIndex } }));
    const entries = items.map((item, i) => entryView(item, proven[i]!.entry));
    return { entries, chained, unchained, treeSize: head.size.toString() };
  }

  /** Every page of the history before the anchor, as of the anchor's checkpoint. */
  private async items(path: string, anchorIndex: bigint, head: Checkpoint, whose: string): Promise<ServedItem[]> {
    const items: ServedItem[] = [];
    let before = anchorIndex; // what was read after the anchor is not in its chain
    for (;;) {
      const wire = new Wire("log_refused", `the history of ${whose}`);
      const params = { limit: HISTORY_PAGE, before: before.toString(), tree_size: head.size.toString() };
      const page = wire.list(await this.session.json("GET", path, wire, { params })).map((raw) => servedItem(wire, raw));
      items.push(...page);
      if (page.length < HISTORY_PAGE) return items;
      before = page.at(-1)!.index;
    }
  }

  /**
   * The journal entry that recorded this request (its receipt), proven in a signed
   * checkpoint that extends the pinned journal, which is then pinned.
   */
  private async receipt(path: string, params: Record<string, string | number>, actor: string): Promise<{ index: bigint; entry: JournalEntry; head: Checkpoint }> {
    const response = await this.session.call("GET", path, { params });
    const sent = new URL(this.session.http.url(path, params));
    // Answered for the very URL asked (a redirect would be another request's receipt).
    if (response.url && response.url !== sent.href) throw journalTampered("the journal receipt of the history is not for this request: it answers another one");
    let index: bigint;
    let size: bigint;
    let proof: Uint8Array[];
    let data: Uint8Array;
    let entry: JournalEntry;
    try {
      data = fromBase64Url(response.headers.get("uhs-journal-entry") ?? "");
      const parts = (response.headers.get("uhs-journal-proof") ?? "").split(";");
      if (parts.length !== 3 || !/^\d+$/.test(parts[0]!) || !/^\d+$/.test(parts[1]!)) throw new Error("no proof");
      index = BigInt(parts[0]!);
      size = BigInt(parts[1]!);
      proof = parts[2]!.split(",").filter((p) => p !== "").map(fromBase64Url);
      entry = decodeEntry(data);
    } catch {
      throw journalTampered("the response carries no valid journal receipt");
    }
    const expected = this.session.signedDigestOf(response) ?? (await requestDigest("GET", sent.pathname + sent.search, await sha256(new Uint8Array(0))));
    if (entry.actor.toLowerCase() !== actor.toLowerCase() || !constantTimeEqual(entry.requestDigest, expected)) {
      throw journalTampered("the journal entry does not describe this request");
    }
    const pin = await this.pins.load();
    const key = pin !== null ? { origin: pin.origin, logKey: pin.logKey } : await this.servedKey();
    const wire = new Wire("log_refused", "the journal's checkpoints");
    const heads = wire.list(await this.session.json("GET", "/journal/heads", wire, { params: { from_size: size.toString(), limit: 1 } }));
    let head: Checkpoint | null = null;
    if (heads.length > 0) {
      try {
        head = await openCheckpoint(wire.string(wire.object(heads[0]), "checkpoint"), key.origin, key.logKey);
      } catch (error) {
        if (error instanceof ClientRefusal) throw error;
        throw journalTampered(`a checkpoint of the journal is not validly signed (${(error as Error).message})`);
      }
    }
    if (head === null || head.size !== size) throw journalTampered(`the journal has no signed checkpoint of size ${size}`);
    try {
      await verifyInclusion(await leafHash(data), index, size, proof, head.root);
    } catch {
      throw journalTampered(`journal entry ${index} is not proven in the journal`);
    }
    await this.extendPin(head, key, pin);
    return { index, entry, head };
  }

  /** The journal's key when nothing is pinned yet: as served, naming the journal. */
  private async servedKey(): Promise<{ origin: string; logKey: Uint8Array }> {
    const wire = new Wire("log_refused", "the journal's head");
    const body = wire.object(await jsonOf(await this.session.call("GET", "/journal/head"), wire));
    let parsed: { name: string; key: Uint8Array };
    try {
      parsed = await parseVerifierKey(wire.string(body, "log_key"));
    } catch {
      throw journalTampered("the journal's key is not a valid verifier key");
    }
    if (!parsed.name.endsWith(`/${JOURNAL_LOG}`)) throw journalTampered(`the journal's checkpoints are those of another log (${parsed.name})`);
    return { origin: parsed.name, logKey: parsed.key };
  }

  /**
   * Accepts a receipt's checkpoint only if it extends the journal this worker pinned
   * (an anchor from a forked or older journal proves nothing), then pins it.
   */
  private async extendPin(head: Checkpoint, key: { origin: string; logKey: Uint8Array }, pin: LogPin | null): Promise<void> {
    if (pin !== null && head.size < pin.size) {
      throw journalTampered(
        `the journal's head of ${head.size} entries is older than the one of ${pin.size} entries this device already saw: the answer was replayed`,
      );
    }
    if (pin !== null && head.size === pin.size) {
      if (!constantTimeEqual(pin.root, head.root)) {
        throw journalTampered(`the journal's head of ${head.size} entries is not the one this device saw before: the server shows different journals`);
      }
      return;
    }
    let next: LogPin = { origin: key.origin, logKey: key.logKey, size: head.size, root: head.root };
    if (pin !== null && pin.size > 0n) {
      const wire = new Wire("log_refused", "the journal's head");
      const params = { since: pin.size.toString(), size: head.size.toString() };
      const body = wire.object(await this.session.json("GET", "/journal/head", wire, { params }));
      const accepted = await acceptHead(wire.string(body, "log_key"), wire.string(body, "checkpoint"), wire.bytesList(body, "consistency"), pin, {
        log: JOURNAL_LOG,
        what: "the journal",
        refuse: journalTampered,
      });
      if (accepted.head.size !== head.size || !constantTimeEqual(accepted.head.root, head.root)) {
        throw journalTampered(`the journal's head of ${head.size} entries is not the one it proves consistent with what this device saw`);
      }
      next = accepted.next;
    }
    await this.pins.save(next);
  }
}

interface ServedItem {
  index: bigint;
  data: Uint8Array;
  inclusion: Uint8Array[];
  actorId: string | null;
  actorName: string;
  actorKind: string;
}

function servedItem(wire: Wire, raw: unknown): ServedItem {
  const item = wire.object(raw);
  return {
    index: BigInt(wire.integer(item, "index")),
    data: wire.bytes(item, "entry"),
    inclusion: item["inclusion"] === null || item["inclusion"] === undefined ? [] : wire.bytesList(item, "inclusion"),
    actorId: item["actor_id"] === null || item["actor_id"] === undefined ? null : wire.uuid(item, "actor_id"),
    actorName: wire.optionalString(item, "actor_name") ?? "",
    actorKind: wire.optionalString(item, "actor_kind") ?? "",
  };
}

/** A served item's entry, once proven in the signed checkpoint. */
async function provenEntry(item: ServedItem, head: Checkpoint): Promise<JournalEntry> {
  try {
    await verifyInclusion(await leafHash(item.data), item.index, head.size, item.inclusion, head.root);
  } catch {
    throw journalTampered(`journal entry ${item.index} of the history is not proven in the journal`);
  }
  try {
    return decodeEntry(item.data);
  } catch (error) {
    const reason = error instanceof ProtocolError ? error.message : "unreadable";
    throw journalTampered(`journal entry ${item.index} is not a valid entry: ${reason}`);
  }
}

function linkOf(entry: JournalEntry, subject: string): ChainLink | null {
  return entry.chain.find((link) => link.subject.toLowerCase() === subject) ?? null;
}

/** What the screens show of an entry: the proven entry's own fields, the served name only for the actor it names. */
function entryView(item: ServedItem, entry: JournalEntry): HistoryEntry {
  const actor = entry.actor.toLowerCase() === NOBODY ? null : entry.actor.toLowerCase();
  if (item.actorId !== actor) throw journalTampered(`the server names another actor for journal entry ${item.index} than the entry itself does`);
  return {
    index: item.index.toString(),
    at: new Date(Number(entry.timestampMs)).toISOString(),
    action: entry.action,
    outcome: OUTCOMES[entry.outcome]!,
    actorId: actor,
    actorName: actor === null ? "" : item.actorName,
    actorKind: actor === null ? "" : item.actorKind,
    practiceIds: namedOf(entry, ObjectKind.PRACTICE),
    documentIds: namedOf(entry, ObjectKind.DOCUMENT),
  };
}

/** The ids of `kind` the entry names, among its objects or its chains, each once. */
function namedOf(entry: JournalEntry, kind: number): string[] {
  const ids = [...entry.objects.filter(([k]) => k === kind).map(([, id]) => id), ...entry.chain.filter((link) => link.kind === kind).map((link) => link.subject)];
  return [...new Set(ids.map((id) => id.toLowerCase()))];
}
