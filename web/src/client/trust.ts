/**
 * What a signed-in client keeps checking on its own, as the SDK does before each
 * use and `uhs keys verify` and `uhs journal verify` do on demand: the key
 * directory's newest head extends the one this device pinned and still holds this
 * account's own keys (a server that published other keys for you, forked or rolled
 * back the directory is caught even when you send nothing), and the journal is
 * verified whole (journal_check.ts). And the devices signed in to the account.
 */

import type { SessionView, TrustCheckView } from "../worker/messages.js";
import { JournalCheck } from "./journal_check.js";
import type { PinStore } from "./pins.js";
import type { Session } from "./session.js";
import { Wire } from "./wire.js";

export class TrustChecks {
  private readonly journal: JournalCheck;

  constructor(
    private readonly session: Session,
    journalPins: PinStore,
  ) {
    this.journal = new JournalCheck(session, journalPins);
  }

  /** Both checks, in turn; the first refusal is the answer. */
  async run(): Promise<TrustCheckView> {
    const head = await this.session.directory.refresh();
    // Proven again against the new head when it moved (refresh forgets older proofs).
    await this.session.myEntry();
    const journalSize = await this.journal.verify();
    return { directorySize: head.size.toString(), journalSize: journalSize.toString(), checkedAt: new Date().toISOString() };
  }
}

/** The devices signed in to the account, this one marked `current`. */
export async function listSessions(session: Session): Promise<SessionView[]> {
  const wire = new Wire("malformed_answer", "your signed-in devices");
  return wire.list(await session.json("GET", "/auth/sessions", wire)).map((item) => {
    const s = wire.object(item);
    return {
      id: wire.uuid(s, "id"),
      deviceName: wire.string(s, "device_name"),
      clientId: wire.string(s, "client_id"),
      createdAt: wire.string(s, "created_at"),
      lastUsedAt: wire.string(s, "last_used_at"),
      current: wire.boolean(s, "current"),
    };
  });
}

/** Signs the device `id` out; true when it was this one. */
export async function revokeSession(session: Session, id: string): Promise<boolean> {
  const current = (await listSessions(session)).some((s) => s.id === id && s.current);
  await session.call("DELETE", `/auth/sessions/${encodeURIComponent(id)}`);
  return current;
}
