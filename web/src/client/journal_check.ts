/**
 * Verifying the server's journal from the worker, as client/journal.py's
 * JournalClient.verify (`uhs journal verify`) does: the signed head must extend the
 * one this device pinned (a forked or rolled-back journal fails the consistency
 * proof), there must be a signed checkpoint at every multiple of 1,024 entries, and
 * the leaf hash of every entry, recomputed into the tree, must give the root signed at
 * each of those sizes and at the head. A changed, dropped, inserted or moved entry
 * makes the first signed size after it disagree, which names the range; an entry
 * that differs from the one this worker verified before is named exactly.
 */

import { constantTimeEqual } from "../protocol/bytes.js";
import { type Checkpoint, openCheckpoint } from "../protocol/checkpoint.js";
import { HASH_SIZE, RootBuilder } from "../protocol/merkle.js";
import { acceptHead } from "./directory.js";
import { ClientRefusal } from "./http.js";
import type { LogPin, PinStore } from "./pins.js";
import type { Session } from "./session.js";
import { Wire } from "./wire.js";

export const JOURNAL_LOG = "journal";
/** The journal signs a checkpoint at every multiple of this many entries (PROTOCOL 9). */
export const CHECKPOINT_INTERVAL = 1024n;
/** Leaf hashes per request (the server's maximum). */
export const LEAVES_PAGE = 10_000;

export function journalTampered(message: string): ClientRefusal {
  return new ClientRefusal("log_refused", message);
}

const JOURNAL = { log: JOURNAL_LOG, what: "the journal", refuse: journalTampered };

export class JournalCheck {
  /** The leaf hashes this worker verified last time, to name an entry changed since. */
  private verified: Uint8Array[] = [];

  constructor(
    private readonly session: Session,
    private readonly pins: PinStore,
  ) {}

  /** The journal verified up to its newest head, which is pinned; its size. */
  async verify(): Promise<bigint> {
    const pin = await this.pins.load();
    const wire = new Wire("log_refused", "the journal's head");
    const params: Record<string, string> = pin !== null && pin.size > 0n ? { since: pin.size.toString() } : {};
    const body = wire.object(await this.session.json("GET", "/journal/head", wire, { params }));
    const { head, next } = await acceptHead(wire.string(body, "log_key"), wire.string(body, "checkpoint"), wire.bytesList(body, "consistency"), pin, JOURNAL);
    const signed = await this.signedCheckpoints(next, head.size);
    for (let position = 1n; position <= head.size / CHECKPOINT_INTERVAL; position++) {
      if (signed[Number(position) - 1]?.size !== position * CHECKPOINT_INTERVAL) {
        throw journalTampered(`the journal has no signed checkpoint at ${position * CHECKPOINT_INTERVAL} entries (it signs one every ${CHECKPOINT_INTERVAL} entries)`);
      }
    }
    if (signed.at(-1)?.size !== head.size) signed.push(head);
    const leaves = await this.recompute(head, signed);
    this.verified = leaves;
    if (pin === null || pin.size !== next.size || !constantTimeEqual(pin.root, next.root)) await this.pins.save(next);
    return head.size;
  }

  /** The checkpoints at each multiple of 1,024 entries up to `size`, each signed by the pinned key. */
  private async signedCheckpoints(pin: LogPin, size: bigint): Promise<Checkpoint[]> {
    const heads: Checkpoint[] = [];
    let from = 1n;
    for (;;) {
      const wire = new Wire("log_refused", "the journal's checkpoints");
      const params = { from_size: from.toString(), limit: LEAVES_PAGE, checkpoints: "true" };
      const page = wire.list(await this.session.json("GET", "/journal/heads", wire, { params }));
      for (const item of page) {
        let head: Checkpoint;
        try {
          head = await openCheckpoint(wire.string(wire.object(item), "checkpoint"), pin.origin, pin.logKey);
        } catch (error) {
          if (error instanceof ClientRefusal) throw error;
          throw journalTampered(`a checkpoint of the journal is not validly signed (${(error as Error).message})`);
        }
        if (head.size > size) return heads;
        if (heads.length > 0 && head.size <= heads.at(-1)!.size) throw journalTampered("the journal's checkpoints are not in order");
        heads.push(head);
      }
      if (page.length < LEAVES_PAGE || heads.length === 0) return heads;
      from = heads.at(-1)!.size + 1n;
    }
  }

  /** Every leaf hash up to the head, checked against each signed root on the way. */
  private async recompute(head: Checkpoint, signed: Checkpoint[]): Promise<Uint8Array[]> {
    const builder = new RootBuilder();
    const leaves: Uint8Array[] = [];
    let checkedFrom = 0n;
    let next = 0;
    for (let start = 0n; start < head.size; start += BigInt(LEAVES_PAGE)) {
      const end = start + BigInt(LEAVES_PAGE) < head.size ? start + BigInt(LEAVES_PAGE) : head.size;
      const wire = new Wire("log_refused", "the journal's leaves");
      const params = { start: start.toString(), end: end.toString() };
      const packed = wire.bytes(wire.object(await this.session.json("GET", "/journal/leaves", wire, { params })), "hashes");
      if (packed.length % HASH_SIZE !== 0) throw journalTampered("the journal's leaf hashes are not 32 bytes each");
      const count = BigInt(packed.length / HASH_SIZE);
      if (count !== end - start) {
        throw journalTampered(`the journal serves ${start + count} entries where its signed head counts ${head.size}: entries were removed`);
      }
      for (let offset = 0; offset < packed.length; offset += HASH_SIZE) {
        const leaf = packed.slice(offset, offset + HASH_SIZE);
        const index = leaves.length;
        const before = this.verified[index];
        if (before !== undefined && !constantTimeEqual(before, leaf)) {
          throw journalTampered(`journal entry ${index} is not the one this device verified before: it was changed or moved`);
        }
        leaves.push(leaf);
        await builder.add(leaf);
        while (next < signed.length && signed[next]!.size === builder.size) {
          if (!constantTimeEqual(await builder.root(), signed[next]!.root)) {
            throw journalTampered(
              `journal entries ${checkedFrom} to ${builder.size - 1n} do not match the head the server signed for ${builder.size} entries: ` +
                "an entry there was changed, removed, added or moved",
            );
          }
          checkedFrom = builder.size;
          next += 1;
        }
      }
    }
    if (!constantTimeEqual(await builder.root(), head.root)) throw journalTampered("the journal's entries do not make the root it signed");
    return leaves;
  }
}
