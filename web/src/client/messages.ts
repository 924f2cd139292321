/**
 * Threads of end-to-end encrypted messages in the worker, as
 * client/exchange/messaging.py (PROTOCOL 12): a thread's members are those its signed
 * membership chain proves, each link signed with its actor's key proven in the key
 * directory; a message is encrypted only to verified members the server still lists,
 * each resolved in the directory, and signed here; a message received is shown only
 * once its signature verifies with its sender's proven key and its sender is a
 * verified member. One that does not is answered as refused, with the reason, never
 * as text. Every signed member's address is the one the key directory gives their
 * account: a key signs truly whatever address its link names, so only the directory
 * tells a member signed in under someone else's address.
 */

import { constantTimeEqual, fromUtf8, toBase64Url, utf8 } from "../protocol/bytes.js";
import { HEADER_SIZE, contentDigest, open as openEnvelope, seal as sealEnvelope } from "../protocol/envelope.js";
import { ProtocolError } from "../protocol/errors.js";
import { decodeBundle } from "../protocol/keys.js";
import {
  NO_PREVIOUS,
  type Reader,
  type ThreadMembership,
  checkStartsThread,
  encodeMembership,
  encodeMessageManifest,
  threadIdOf,
  verifyEncoded,
} from "../protocol/manifest.js";
import { sha256 } from "../protocol/primitives.js";
import { checkRecipient, wrapDocumentKey } from "../protocol/wrap.js";
import type { VerifiedEntry } from "./directory.js";
import { type Documents, fingerprintOf } from "./documents.js";
import { ApiError, ClientRefusal } from "./http.js";
import { type Session, exchangeRefused } from "./session.js";
import { type Json, Wire } from "./wire.js";

/** A message's text at most, in characters (messaging.py MAX_TEXT_CHARS). */
export const MAX_TEXT_CHARS = 20_000;
/** A message's body envelope at most (protocol/messaging.py MAX_BODY_BYTES). */
export const MAX_BODY_BYTES = 64 * 1024;
/** People in one thread at most, its creator included. */
export const MAX_PARTICIPANTS = 20;
/** Messages asked for per request (the server's largest page). */
export const MESSAGES_PAGE = 500;
/** A message's envelope chunks (PROTOCOL 12: 4 KiB). */
const BODY_CHUNK_LOG2 = 12;
/** The random bytes a thread's id derives from, with its creator and members. */
const THREAD_NONCE_SIZE = 32;

/** A member of a thread, as its signed membership proves them. */
export interface MemberView {
  accountId: string;
  email: string;
  /** The name the server gives this member at this address; the address when it gives none. */
  name: string;
  kind: string;
  /** The last message this member has read, as the server says (read receipts). */
  readSeq: number;
  me: boolean;
}

export interface ThreadView {
  id: string;
  /** Its verified members; empty when `refused`. */
  members: MemberView[];
  unread: number;
  lastSeq: number;
  /** ISO 8601, or null before the first message. */
  lastMessageAt: string | null;
  /** Why the thread's membership does not verify (English, for support); null when it does. */
  refused: string | null;
  /** The refusal's code, which the page shows in its language; null when it verifies. */
  refusedCode: string | null;
}

export interface AttachmentView {
  documentId: string;
  title: string;
  filename: string;
}

/** A message as the screens show it: its text only when every check passed. */
export type MessageView =
  | {
      id: string;
      seq: number;
      createdAt: string;
      senderId: string;
      senderEmail: string;
      senderName: string;
      mine: boolean;
      text: string;
      attachments: AttachmentView[];
      refused: null;
      refusedCode: null;
    }
  | { id: string; seq: number; createdAt: string; senderId: string; senderEmail: string; senderName: string; mine: boolean; refused: string; refusedCode: string };

/** A document to attach: sent to the thread's other verified members first, through the documents' send path. */
export interface NewAttachment {
  patientFileId: string;
  title: string;
  filename: string;
  mediaType: string;
  source: ReadableStream<Uint8Array>;
}

interface ServedLink {
  seq: number;
  actorId: string;
  signerKeyIndex: bigint;
  nonce: Uint8Array | null;
  previous: Uint8Array;
  members: Reader[];
  signature: Uint8Array;
}

interface ServedParticipant {
  accountId: string;
  email: string;
  name: string;
  kind: string;
  readSeq: number;
}

interface ServedThread {
  id: string;
  lastSeq: number;
  lastMessageAt: string | null;
  unread: number;
  participants: ServedParticipant[];
  membership: ServedLink[];
}

interface ServedMessage {
  id: string;
  seq: number;
  senderId: string;
  bodyEnvelope: Uint8Array;
  signature: Uint8Array;
  signerKeyIndex: bigint;
  createdAt: string;
  wrappedKey: Uint8Array;
}

export function readThread(raw: unknown, wire: Wire): ServedThread {
  const body = wire.object(raw);
  const reader = (r: unknown): Reader => {
    const m = wire.object(r);
    return { accountId: wire.uuid(m, "account_id"), email: wire.string(m, "email") };
  };
  return {
    id: wire.uuid(body, "id"),
    lastSeq: wire.integer(body, "last_seq"),
    lastMessageAt: wire.optionalString(body, "last_message_at"),
    unread: wire.integer(body, "unread"),
    participants: wire.list(body["participants"]).map((item) => {
      const p = wire.object(item);
      return {
        accountId: wire.uuid(p, "account_id"),
        email: wire.string(p, "email"),
        name: wire.string(p, "display_name"),
        kind: wire.string(p, "kind"),
        readSeq: wire.integer(p, "read_seq"),
      };
    }),
    membership: wire.list(body["membership"]).map((item) => {
      const m = wire.object(item);
      return {
        seq: wire.integer(m, "seq"),
        actorId: wire.uuid(m, "actor_id"),
        signerKeyIndex: BigInt(wire.integer(m, "signer_key_index")),
        nonce: wire.optionalBytes(m, "nonce"),
        previous: wire.bytes(m, "previous", 32),
        members: wire.list(m["members"]).map(reader),
        signature: wire.bytes(m, "signature", 64),
      };
    }),
  };
}

export function readMessage(raw: unknown, wire: Wire): ServedMessage {
  const m: Json = wire.object(raw);
  return {
    id: wire.uuid(m, "id"),
    seq: wire.integer(m, "seq"),
    senderId: wire.uuid(m, "sender_id"),
    bodyEnvelope: wire.bytes(m, "body_envelope"),
    signature: wire.bytes(m, "signature", 64),
    signerKeyIndex: BigInt(wire.integer(m, "signer_key_index")),
    createdAt: wire.string(m, "created_at"),
    wrappedKey: wire.bytes(m, "wrapped_key"),
  };
}

/** `{"text", "attachments": [{"document_id", "title", "filename"}]}`, as messaging.py _message_body. */
export function encodeBody(text: string, attachments: readonly AttachmentView[]): Uint8Array {
  return utf8(
    JSON.stringify({
      text,
      attachments: attachments.map((a) => ({ document_id: a.documentId, title: a.title, filename: a.filename })),
    }),
  );
}

export function decodeBody(data: Uint8Array): { text: string; attachments: AttachmentView[] } {
  const raw = JSON.parse(fromUtf8(data)) as Record<string, unknown>;
  if (typeof raw["text"] !== "string" || !Array.isArray(raw["attachments"])) throw new Error("not a message body");
  const wire = new Wire("exchange_refused", "an attachment");
  const attachments = raw["attachments"].map((item) => {
    const a = wire.object(item);
    return { documentId: wire.uuid(a, "document_id"), title: wire.string(a, "title"), filename: wire.string(a, "filename") };
  });
  return { text: raw["text"], attachments };
}

export class Messaging {
  /**
   * The messages shown per thread, by id, at their place (seq): a message's signature
   * binds its id and thread, not its place, so a server could serve one again
   * elsewhere; a copy at another place is refused, never shown twice.
   */
  private readonly shown = new Map<string, Map<string, number>>();

  constructor(
    private readonly session: Session,
    private readonly documents: Documents,
  ) {}

  /** `GET /threads/{id}`, refused unless it is the thread asked for. */
  private async served(threadId: string): Promise<ServedThread> {
    const wire = new Wire("exchange_refused", "a thread");
    const thread = readThread(await this.session.json("GET", `/threads/${encodeURIComponent(threadId)}`, wire), wire);
    if (thread.id !== threadId.toLowerCase()) throw exchangeRefused("the server answered with another thread than the one asked");
    return thread;
  }

  /**
   * The thread's verified members (messaging.py members): each link of its chain
   * numbered, bound to the previous one, signed with its actor's proven key by a
   * member of the link before (the first by its creator, one of its members, deriving
   * the thread's id), the address it gives its actor the one the directory gives
   * that key's account; then each member's address resolved in the key directory and
   * refused unless it is their account's (as `recipients` when sending); anyone the
   * server lists beyond them, or under another address, refused. A thread without a
   * chain is refused: the web application writes and reads only threads whose
   * members are signed.
   */
  async members(thread: ServedThread): Promise<Map<string, Reader>> {
    let members: Map<string, Reader> | null = null;
    let previous: Uint8Array = NO_PREVIOUS;
    for (const [i, link] of thread.membership.entries()) {
      const seq = i + 1;
      try {
        const actor = await this.session.directory.entry(link.signerKeyIndex);
        const statement: ThreadMembership = {
          threadId: thread.id,
          seq,
          actorId: link.actorId,
          signerKeyIndex: actor.index,
          previous,
          members: link.members,
        };
        if (link.seq !== seq || !constantTimeEqual(link.previous, previous)) throw new Error("the chain is broken");
        if (actor.entry.accountId !== link.actorId) throw new Error("signed with another account's key");
        const named = link.members.find((m) => m.accountId === link.actorId);
        if (named !== undefined && named.email.toLowerCase() !== actor.entry.email) {
          throw new Error(`signed by ${actor.entry.email}, who names themselves ${named.email}`);
        }
        if (members !== null && !members.has(link.actorId)) throw new Error("changed by someone who was not a member");
        if (members === null) await checkStartsThread(statement, link.nonce ?? new Uint8Array(0));
        const encoded = encodeMembership(statement);
        await verifyEncoded(decodeBundle(actor.entry.bundle).signing, "message", encoded, link.signature);
        previous = await sha256(encoded);
      } catch (error) {
        if (error instanceof ClientRefusal) throw error;
        throw exchangeRefused(`the membership of this thread does not verify (change ${seq}): ${(error as Error).message}`);
      }
      members = new Map(link.members.map((m) => [m.accountId, m]));
    }
    if (members === null) {
      throw exchangeRefused("the server serves this thread without the signed list of its members, so who is in it cannot be checked");
    }
    for (const member of members.values()) await this.resolve(member);
    for (const p of thread.participants) {
      const signed = members.get(p.accountId);
      if (signed === undefined) throw exchangeRefused(`the server lists ${p.email} in this thread, but no member signed them in`);
      if (signed.email.toLowerCase() !== p.email.toLowerCase()) {
        throw exchangeRefused(`the server names a member of this thread ${p.email}, but its signed membership calls that account ${signed.email}`);
      }
    }
    return members;
  }

  /** The proven keys of a signed member, refused unless the directory gives their address to their account. */
  private async resolve(member: Reader): Promise<VerifiedEntry> {
    let entry: VerifiedEntry;
    try {
      entry = await this.session.directory.lookup(member.email);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
      throw exchangeRefused(`this thread's membership names ${member.email}, an address without keys in the key directory`);
    }
    if (entry.entry.accountId !== member.accountId) {
      throw exchangeRefused(`this thread's membership names ${member.email} for an account that the key directory does not give this address to`);
    }
    return entry;
  }

  /** The thread as the screens show it: its verified members, or why they do not verify. */
  private async view(thread: ServedThread): Promise<{ view: ThreadView; members: Map<string, Reader> | null }> {
    const me = await this.session.account();
    const base = { id: thread.id, unread: thread.unread, lastSeq: thread.lastSeq, lastMessageAt: thread.lastMessageAt };
    let members: Map<string, Reader>;
    try {
      members = await this.members(thread);
      if (!members.has(me.id)) throw exchangeRefused("you are not a signed member of this thread");
    } catch (error) {
      if (error instanceof ClientRefusal || error instanceof ProtocolError) return { view: { ...base, members: [], refused: error.message, refusedCode: error.identifier }, members: null };
      throw error;
    }
    const listed = new Map(thread.participants.map((p) => [p.accountId, p]));
    const shown = [...members.values()].map((m): MemberView => {
      const p = listed.get(m.accountId);
      if (p !== undefined) this.documents.remember(m.accountId, m.email, p.name);
      return {
        accountId: m.accountId,
        email: m.email,
        name: p?.name || m.email,
        kind: p?.kind ?? "",
        readSeq: p?.readSeq ?? 0,
        me: m.accountId === me.id,
      };
    });
    shown.sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
    return { view: { ...base, members: shown, refused: null, refusedCode: null }, members };
  }

  /** Your threads, most recent first, each with its membership checked. */
  async threads(): Promise<ThreadView[]> {
    const wire = new Wire("exchange_refused", "your threads");
    const served = wire.list(await this.session.json("GET", "/threads", wire)).map((raw) => readThread(raw, wire));
    const views: ThreadView[] = [];
    for (const thread of served) views.push((await this.view(thread)).view);
    return views;
  }

  /**
   * A thread with the people at `emails` and you, each proven in the key directory,
   * its member list signed here as the chain's first link, from which its id derives
   * (messaging.py start_thread).
   */
  async start(emails: readonly string[]): Promise<ThreadView> {
    const entries = await this.session.recipients(emails);
    if (entries.length < 2) throw exchangeRefused("a thread is with someone else: name at least one other person");
    if (entries.length > MAX_PARTICIPANTS) throw exchangeRefused(`a thread holds at most ${MAX_PARTICIPANTS} people`);
    const signer = await this.session.myEntry();
    const members = entries.map((e) => ({ accountId: e.entry.accountId, email: e.entry.email }));
    const nonce = crypto.getRandomValues(new Uint8Array(THREAD_NONCE_SIZE));
    const threadId = await threadIdOf(signer.entry.accountId, nonce, members);
    const link: ThreadMembership = { threadId, seq: 1, actorId: signer.entry.accountId, signerKeyIndex: signer.index, previous: NO_PREVIOUS, members };
    const signature = await this.session.keys.sign("message", await sha256(encodeMembership(link)));
    const wire = new Wire("exchange_refused", "a new thread");
    const created = readThread(
      await this.session.json("POST", "/threads", wire, {
        json: {
          participant_ids: members.filter((m) => m.accountId !== signer.entry.accountId).map((m) => m.accountId),
          membership: {
            nonce: toBase64Url(nonce),
            members: members.map((m) => ({ account_id: m.accountId, email: m.email })),
            signer_key_index: Number(signer.index),
            signature: toBase64Url(signature),
          },
        },
      }),
      wire,
    );
    if (created.id !== threadId) throw exchangeRefused("the server started the thread under another id");
    const { view } = await this.view(created);
    if (view.refused !== null) throw exchangeRefused(view.refused);
    return view;
  }

  /**
   * The thread and its messages after `after` (a page of at most MESSAGES_PAGE), each
   * checked (`open`); then a read receipt up to the last one that verified, unless it
   * is already read or `markRead` is false (the export reads without saying so).
   */
  async read(threadId: string, after: number, markRead = true): Promise<{ thread: ThreadView; messages: MessageView[] }> {
    const thread = await this.served(threadId);
    const { view, members } = await this.view(thread);
    if (members === null) throw exchangeRefused(view.refused ?? "this thread's membership does not verify");
    const wire = new Wire("exchange_refused", "the thread's messages");
    const path = `/threads/${encodeURIComponent(thread.id)}/messages`;
    const served = wire.list(await this.session.json("GET", path, wire, { params: { after, limit: MESSAGES_PAGE } })).map((raw) => readMessage(raw, wire));
    const messages: MessageView[] = [];
    const shown = this.shown.get(thread.id) ?? new Map<string, number>();
    this.shown.set(thread.id, shown);
    let seen = after;
    for (const message of served) {
      if (message.seq <= seen) throw exchangeRefused("the server serves the thread's messages out of order");
      seen = message.seq;
      const opened = await this.open(thread.id, message, members, view, shown.get(message.id));
      if (opened.refused === null) shown.set(opened.id, opened.seq);
      messages.push(opened);
    }
    const me = view.members.find((m) => m.me)!;
    const lastVerified = messages.filter((m) => m.refused === null).reduce((last, m) => Math.max(last, m.seq), 0);
    if (markRead && lastVerified > me.readSeq) {
      await this.session.call("POST", `/threads/${encodeURIComponent(thread.id)}/read`, { json: { seq: lastVerified } });
      me.readSeq = lastVerified;
      view.unread = Math.max(0, view.lastSeq - lastVerified);
    }
    return { thread: view, messages };
  }

  /**
   * A message checked as messaging.py _open: refused, with the reason, when any check
   * fails, or when it was shown at another place (`shownAt`).
   */
  private async open(threadId: string, raw: ServedMessage, members: Map<string, Reader>, thread: ThreadView, shownAt: number | undefined): Promise<MessageView> {
    const sender = members.get(raw.senderId);
    const shown = thread.members.find((m) => m.accountId === raw.senderId);
    const base = {
      id: raw.id,
      seq: raw.seq,
      createdAt: raw.createdAt,
      senderId: raw.senderId,
      senderEmail: sender?.email ?? "",
      senderName: shown?.name ?? sender?.email ?? "",
      mine: shown?.me ?? false,
    };
    try {
      if (sender === undefined) throw exchangeRefused("its sender is not a signed member of this thread");
      if (shownAt !== undefined && shownAt !== raw.seq) {
        throw exchangeRefused(`the server serves again, as message ${raw.seq}, the message already shown as ${shownAt}`);
      }
      if (raw.bodyEnvelope.length > MAX_BODY_BYTES || raw.bodyEnvelope.length < HEADER_SIZE) throw exchangeRefused("its body is not the size of any message");
      let signer: VerifiedEntry;
      try {
        signer = await this.session.directory.entry(raw.signerKeyIndex);
      } catch (error) {
        throw exchangeRefused(`the key it names is not proven in the key directory (${(error as Error).message})`);
      }
      if (signer.entry.accountId !== raw.senderId) throw exchangeRefused("it names a signing key that is not its sender's");
      if (signer.entry.email !== sender.email.toLowerCase()) {
        throw exchangeRefused(`it is signed with the keys of ${signer.entry.email}, not of ${sender.email} as its sender signed in`);
      }
      const manifest = encodeMessageManifest({
        messageId: raw.id,
        threadId,
        senderId: raw.senderId,
        signerKeyIndex: signer.index,
        bodyDigest: await contentDigest(raw.bodyEnvelope),
      });
      try {
        await verifyEncoded(decodeBundle(signer.entry.bundle).signing, "message", manifest, raw.signature);
      } catch {
        throw new ProtocolError("invalid_signature", `its signature does not verify: it is not what ${sender.email} sent`);
      }
      const plaintext = await this.session.keys
        .withUnwrapped(raw.wrappedKey, raw.bodyEnvelope.subarray(0, HEADER_SIZE), async (key) => (await openEnvelope(key, raw.bodyEnvelope)).plaintext)
        .catch((error: unknown) => {
          throw exchangeRefused(`it cannot be decrypted with your keys (${(error as Error).message})`);
        });
      let body: ReturnType<typeof decodeBody>;
      try {
        body = decodeBody(plaintext);
      } catch {
        throw exchangeRefused("it is malformed");
      }
      return { ...base, ...body, refused: null, refusedCode: null };
    } catch (error) {
      if (error instanceof ClientRefusal || error instanceof ProtocolError) return { ...base, refused: error.message, refusedCode: error.identifier };
      throw error;
    }
  }

  /**
   * Encrypts, signs and posts a message to the thread's verified members the server
   * still lists, each resolved in the key directory (messaging.py send); an
   * attachment is first sent as a document of its patient file to those same people.
   */
  async send(threadId: string, text: string, attachment: (NewAttachment & { size: number }) | null): Promise<MessageView> {
    try {
      return await this.write(threadId, text, attachment);
    } catch (error) {
      if (attachment !== null && !attachment.source.locked) await attachment.source.cancel(error).catch(() => undefined);
      throw error;
    }
  }

  private async write(threadId: string, text: string, attachment: NewAttachment | null): Promise<MessageView> {
    if (Array.from(text).length > MAX_TEXT_CHARS) throw exchangeRefused(`a message is at most ${MAX_TEXT_CHARS} characters`);
    if (text.trim() === "" && attachment === null) throw exchangeRefused("a message says something or carries a document");
    const thread = await this.served(threadId);
    const readers = await this.recipients(thread);
    const attachments: AttachmentView[] = [];
    if (attachment !== null) {
      const shown = await Promise.all(readers.map(async (r) => ({ accountId: r.entry.accountId, fingerprint: await fingerprintOf(r.entry.bundle) })));
      const document = await this.documents.send({ ...attachment, to: readers.slice(1).map((r) => r.entry.email), readers: shown });
      attachments.push({ documentId: document.id, title: document.title, filename: document.filename });
    }
    const publicKeys = readers.map((r) => decodeBundle(r.entry.bundle));
    for (const keys of publicKeys) checkRecipient(keys, "HYBRID");
    const signer = await this.session.myEntry();
    const messageId = crypto.randomUUID();
    const { sealed, keys } = await this.session.keys.withFresh(async (key) => {
      const sealed = await sealEnvelope(key, encodeBody(text, attachments), { chunkLog2: BODY_CHUNK_LOG2 });
      const header = sealed.subarray(0, HEADER_SIZE);
      const keys = [];
      for (const [i, reader] of readers.entries()) {
        keys.push({ recipient_id: reader.entry.accountId, wrapped_key: toBase64Url(await wrapDocumentKey(key, publicKeys[i]!, header, "HYBRID")) });
      }
      return { sealed, keys };
    });
    if (sealed.length > MAX_BODY_BYTES) throw exchangeRefused("this message is too long once encrypted");
    const manifest = encodeMessageManifest({ messageId, threadId: thread.id, senderId: signer.entry.accountId, signerKeyIndex: signer.index, bodyDigest: await contentDigest(sealed) });
    const signature = await this.session.keys.sign("message", await sha256(manifest));
    const wire = new Wire("exchange_refused", "the message sent");
    const posted = readMessage(
      await this.session.json("POST", `/threads/${encodeURIComponent(thread.id)}/messages`, wire, {
        json: { id: messageId, body_envelope: toBase64Url(sealed), signature: toBase64Url(signature), signer_key_index: Number(signer.index), keys },
      }),
      wire,
    );
    if (posted.id !== messageId) throw exchangeRefused("the server answered with another message than the one sent");
    const me = await this.session.account();
    return { id: messageId, seq: posted.seq, createdAt: posted.createdAt, senderId: me.id, senderEmail: me.email, senderName: me.name || me.email, mine: true, text, attachments, refused: null, refusedCode: null };
  }

  /**
   * Whom a message to the thread is encrypted to (messaging.py recipients): you
   * first, then its verified members the server still lists (it may leave someone
   * out, never add), each address resolved in the key directory and refused if its
   * entry belongs to another account.
   */
  private async recipients(thread: ServedThread): Promise<VerifiedEntry[]> {
    const members = await this.members(thread);
    const mine = await this.session.myEntry();
    if (!members.has(mine.entry.accountId)) throw exchangeRefused("you are not a signed member of this thread");
    const listed = new Set(thread.participants.map((p) => p.accountId));
    const others = [...members.values()]
      .filter((m) => listed.has(m.accountId) && m.accountId !== mine.entry.accountId)
      .sort((a, b) => (a.email < b.email ? -1 : 1));
    const entries = [mine];
    for (const member of others) entries.push(await this.resolve(member));
    return entries;
  }
}
