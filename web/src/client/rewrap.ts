/**
 * After a rotation for a suspected compromise (PROTOCOL 10.6), as the SDK's
 * `rewrap_to_current_keys`: every wrapped key the server holds for this account that
 * only a former key set opens (documents' versions, messages) is wrapped again in the
 * worker to the current keys, and the server overwrites its copy. Safe to run again:
 * what the current keys open is skipped.
 */

import { toBase64Url } from "../protocol/bytes.js";
import { HEADER_SIZE } from "../protocol/envelope.js";
import { DOCUMENTS_PAGE, readDocument } from "./documents.js";
import { MESSAGES_PAGE, readMessage, readThread } from "./messages.js";
import type { Session } from "./session.js";
import { Wire } from "./wire.js";

/** Keys sent in one request (protocol/records.py MAX_REWRAPS: the body limit). */
const REWRAPS_PAGE = 100;

export interface Rewrapped {
  versions: number;
  messages: number;
  /** Keys no key set of this account opens: left as they are. */
  unopened: number;
}

export async function rewrapToCurrentKeys(session: Session): Promise<Rewrapped> {
  const done: Rewrapped = { versions: 0, messages: 0, unopened: 0 };
  const send = async (path: string, keys: object[]): Promise<number> => {
    const wire = new Wire("exchange_refused", "your keys wrapped again");
    return wire.integer(wire.object(await session.json("POST", path, wire, { json: { keys } })), "versions");
  };
  const rewrapped = async (wrapped: Uint8Array, header: Uint8Array): Promise<Uint8Array | null> => {
    const outcome = await session.keys.rewrapToCurrent(wrapped, header);
    if (outcome === "unopened") done.unopened += 1;
    return outcome === "unopened" ? null : outcome;
  };

  let batch: object[] = [];
  const documents = new Wire("exchange_refused", "your documents");
  for (let offset = 0; ; offset += DOCUMENTS_PAGE) {
    const page = documents.list(await session.json("GET", "/documents", documents, { params: { limit: DOCUMENTS_PAGE, offset } }));
    for (const view of page.map((raw) => readDocument(raw, documents))) {
      for (const version of view.versions) {
        if (version.wrappedKey === null) continue;
        const key = await rewrapped(version.wrappedKey, version.envelopeHeader);
        if (key !== null) batch.push({ document_id: view.id, version: version.number, wrapped_key: toBase64Url(key) });
        if (batch.length === REWRAPS_PAGE) {
          done.versions += await send("/documents/rewraps", batch);
          batch = [];
        }
      }
    }
    if (page.length < DOCUMENTS_PAGE) break;
  }
  if (batch.length > 0) done.versions += await send("/documents/rewraps", batch);

  const threads = new Wire("exchange_refused", "your threads");
  for (const thread of threads.list(await session.json("GET", "/threads", threads)).map((raw) => readThread(raw, threads))) {
    const path = `/threads/${encodeURIComponent(thread.id)}`;
    const messages = new Wire("exchange_refused", "the thread's messages");
    for (let after = 0; ; ) {
      const page = messages.list(await session.json("GET", `${path}/messages`, messages, { params: { after, limit: MESSAGES_PAGE } })).map((raw) => readMessage(raw, messages));
      const keys: object[] = [];
      for (const message of page) {
        const key = await rewrapped(message.wrappedKey, message.bodyEnvelope.subarray(0, HEADER_SIZE));
        if (key !== null) keys.push({ message_id: message.id, wrapped_key: toBase64Url(key) });
      }
      for (let start = 0; start < keys.length; start += REWRAPS_PAGE) done.messages += await send(`${path}/rewraps`, keys.slice(start, start + REWRAPS_PAGE));
      const last = page.length > 0 ? page[page.length - 1]!.seq : after;
      if (page.length < MESSAGES_PAGE || last <= after) break;
      after = last;
    }
  }
  return done;
}
