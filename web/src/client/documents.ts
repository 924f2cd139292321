/**
 * Documents in the worker, as client/exchange/{receiving,sending,history}.py: listed
 * with their titles decrypted here; opened only once the version's signature
 * verifies with its author's proven key and the manifests chain, the bytes checked
 * against what was signed; sent encrypted here, the key wrapped only for readers the
 * key directory proved, the version signed here.
 */

import { constantTimeEqual, fromUtf8, toBase64Url, toHex, utf8 } from "../protocol/bytes.js";
import { HEADER_SIZE, contentDigest as envelopeDigest, open as openEnvelope, openStream, seal as sealEnvelope, sealStream } from "../protocol/envelope.js";
import { ProtocolError } from "../protocol/errors.js";
import { decodeBundle } from "../protocol/keys.js";
import { NO_PREVIOUS, type Reader, type VersionManifest, encodeManifest, encodeShareStatement, verifyEncoded } from "../protocol/manifest.js";
import { createStreamingSha256, sha256 } from "../protocol/primitives.js";
import { checkRecipient, wrapDocumentKey } from "../protocol/wrap.js";
import type { DocumentView } from "../worker/messages.js";
import type { VerifiedEntry } from "./directory.js";
import { ClientRefusal } from "./http.js";
import { type Session, exchangeRefused } from "./session.js";
import { type Json, Wire } from "./wire.js";

export const MAX_TITLE_CHARS = 500;
/** Documents listed per request (the server's largest page). */
export const DOCUMENTS_PAGE = 200;
/**
 * Pages of documents the inbox walks at most (10,000 documents): a server that keeps
 * answering full pages is refused rather than followed until the worker runs out of memory.
 */
export const MAX_INBOX_PAGES = 50;
/** A version's metadata envelope at most, as the server accepts one (protocol/records.py). */
export const MAX_METADATA_BYTES = 8 * 1024;
/** Wrapped keys per request, as the server accepts them. */
export const SHARES_PER_REQUEST = 100;
/** The metadata envelope's chunks (small: a title, a name and a type). */
const METADATA_CHUNK_LOG2 = 12;
/** Sealed bytes gathered before they join the upload's Blob (which a browser may keep on disk). */
const BLOB_PART = 8 << 20;


export interface Metadata {
  title: string;
  filename: string;
  media_type: string;
}

export interface ServedVersion {
  number: number;
  authorId: string;
  envelopeHeader: Uint8Array;
  metadataEnvelope: Uint8Array;
  signature: Uint8Array;
  signerKeyIndex: bigint;
  size: number;
  createdAt: string;
  wrappedKey: Uint8Array | null;
  contentDigest: Uint8Array;
  readers: Reader[] | null;
  /** Readers' signed statements of whom else they gave this version to. */
  statements: ServedStatement[];
  /** When this account first opened this version (its read receipt); null if never. */
  readAt: string | null;
  /** ISO 8601: this account's share is held back by its author until then (R28); its key is not served. */
  availableFrom: string | null;
}

export interface ServedStatement {
  signerId: string;
  signerKeyIndex: bigint;
  reader: Reader;
  /** The version the statement names: its own for a share, the latest then for a revocation. */
  version: number;
  signature: Uint8Array;
  /** A share statement's signed time before which its reader may not read (R28), in seconds. */
  availableFrom?: bigint;
}

export interface ServedRecipient {
  accountId: string;
  email: string;
  name: string;
  /** ISO 8601; null for access without an end. */
  expiresAt: string | null;
}

export interface ServedDocument {
  id: string;
  patientFileId: string;
  patientId: string;
  authorId: string;
  authorEmail: string;
  authorName: string;
  latestVersion: number;
  versions: ServedVersion[];
  recipients: ServedRecipient[];
  /** Every signed end of someone's access. */
  revocations: ServedStatement[];
  /** ISO 8601: since when its patient restricted it to themselves and its author (R28); null if not. */
  restrictedAt: string | null;
}

export function readDocument(raw: unknown, wire: Wire): ServedDocument {
  const body = wire.object(raw);
  const versions = wire.list(body["versions"]).map((item): ServedVersion => {
    const v = wire.object(item);
    const readers = v["readers"] === null || v["readers"] === undefined ? null : wire.list(v["readers"]).map((r) => reader(wire.object(r), wire));
    const number = wire.integer(v, "number");
    return {
      number,
      authorId: wire.uuid(v, "author_id"),
      envelopeHeader: wire.bytes(v, "envelope_header", HEADER_SIZE),
      metadataEnvelope: wire.bytes(v, "metadata_envelope"),
      signature: wire.bytes(v, "signature"),
      signerKeyIndex: BigInt(wire.integer(v, "signer_key_index")),
      size: wire.integer(v, "size"),
      createdAt: wire.string(v, "created_at"),
      wrappedKey: wire.optionalBytes(v, "wrapped_key"),
      contentDigest: wire.bytes(v, "content_digest", 32),
      readers,
      statements: wire.list(v["statements"] ?? []).map((s) => statement(wire.object(s), wire, "granter_id", "recipient", number)),
      readAt: wire.optionalString(v, "read_at") ?? null,
      availableFrom: wire.optionalString(v, "available_from") ?? null,
    };
  });
  const recipients = wire.list(body["recipients"]).map((item): ServedRecipient => {
    const r = wire.object(item);
    return { accountId: wire.uuid(r, "account_id"), email: wire.string(r, "email"), name: wire.string(r, "display_name"), expiresAt: wire.optionalString(r, "expires_at") };
  });
  return {
    id: wire.uuid(body, "id"),
    patientFileId: wire.uuid(body, "patient_file_id"),
    patientId: wire.uuid(body, "patient_id"),
    authorId: wire.uuid(body, "author_id"),
    authorEmail: wire.string(body, "author_email"),
    authorName: wire.string(body, "author_name"),
    latestVersion: wire.integer(body, "latest_version"),
    versions,
    recipients,
    revocations: wire.list(body["revocations"] ?? []).map((s) => statement(wire.object(s), wire, "revoker_id", "reader")),
    restrictedAt: wire.optionalString(body, "restricted_at") ?? null,
  };
}

/** A share statement (its version's) or a revocation statement (naming its version). */
function statement(body: Json, wire: Wire, signer: string, named: string, version?: number): ServedStatement {
  const availableFrom = wire.optionalString(body, "available_from");
  return {
    ...(availableFrom ? { availableFrom: BigInt(Math.floor(Date.parse(availableFrom) / 1000)) } : {}),
    signerId: wire.uuid(body, signer),
    signerKeyIndex: BigInt(wire.integer(body, "signer_key_index")),
    reader: reader(wire.object(body[named]), wire),
    version: version ?? wire.integer(body, "version"),
    signature: wire.bytes(body, "signature", 64),
  };
}

function reader(body: Json, wire: Wire): Reader {
  return { accountId: wire.uuid(body, "account_id"), email: wire.string(body, "email") };
}

/** A version's title (its file's name when none is given, cut to MAX_TITLE_CHARS), name and type. */
export function metadataOf(file: { title: string; filename: string; mediaType: string }): Metadata {
  return {
    title: Array.from(file.title || file.filename)
      .slice(0, MAX_TITLE_CHARS)
      .join(""),
    filename: file.filename,
    media_type: file.mediaType || "application/octet-stream",
  };
}

export function encodeMetadata(metadata: Metadata): Uint8Array {
  return utf8(JSON.stringify({ title: metadata.title, filename: metadata.filename, media_type: metadata.media_type }));
}

export function decodeMetadata(data: Uint8Array): Metadata {
  try {
    if (data.length > MAX_METADATA_BYTES) throw new Error("size");
    const raw = JSON.parse(fromUtf8(data)) as Record<string, unknown>;
    for (const name of ["title", "filename", "media_type"]) if (typeof raw[name] !== "string") throw new Error(name);
    // A sender's title is cut to MAX_TITLE_CHARS (metadataOf, sending.py): a longer one was not.
    if (Array.from(raw["title"] as string).length > MAX_TITLE_CHARS) throw new Error("title");
    return { title: raw["title"] as string, filename: raw["filename"] as string, media_type: raw["media_type"] as string };
  } catch {
    throw exchangeRefused("the document's metadata is malformed");
  }
}

/**
 * The manifest of every version of a document, from what the server serves: each
 * version 2 manifest chained to the digest of the one before (history.py
 * _served_manifests). Whether each was signed is for `verifiedSigner` to say.
 */
export async function servedManifests(view: ServedDocument): Promise<Map<number, VersionManifest>> {
  const versions = [...view.versions].sort((a, b) => a.number - b.number);
  if (versions.length !== view.latestVersion || versions.some((v, i) => v.number !== i + 1)) {
    throw exchangeRefused("the server does not serve every version of this document, so its history cannot be checked");
  }
  const manifests = new Map<number, VersionManifest>();
  let previous: Uint8Array | null = null;
  let signedReaders = false;
  for (const version of versions) {
    if (version.readers === null && signedReaders) {
      throw exchangeRefused(`version ${version.number} is served with a version 1 manifest after one that signed its readers: that is not how it was signed`);
    }
    signedReaders ||= version.readers !== null;
    const manifest: VersionManifest = {
      documentId: view.id,
      version: version.number,
      patientFileId: view.patientFileId,
      authorId: version.authorId,
      signerKeyIndex: version.signerKeyIndex,
      contentDigest: version.contentDigest,
      metadataDigest: await envelopeDigest(version.metadataEnvelope),
      previous: version.readers === null ? null : (previous ?? NO_PREVIOUS),
      readers: version.readers,
    };
    let encoded: Uint8Array;
    try {
      encoded = encodeManifest(manifest);
    } catch (error) {
      throw exchangeRefused(`a version of this document is malformed: ${(error as Error).message}`);
    }
    manifests.set(version.number, manifest);
    previous = await sha256(encoded);
  }
  return manifests;
}

/** A sink whose close waits for `finish`: the bytes count only once all of them are checked. */
function closedOnceChecked(sink: WritableStream<Uint8Array>) {
  const writer = sink.getWriter();
  const held = new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk),
    abort: (reason) => writer.abort(reason),
  });
  return {
    sink: held,
    finish: () => writer.close(),
    refuse: (reason: unknown) => writer.abort(reason).catch(() => undefined),
  };
}

/** `source` as it is, its first HEADER_SIZE bytes kept aside: the envelope's header as read. */
function headerKept(source: ReadableStream<Uint8Array>): { stream: ReadableStream<Uint8Array>; header: () => Uint8Array } {
  const header = new Uint8Array(HEADER_SIZE);
  let seen = 0;
  const keeping = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (seen < HEADER_SIZE) {
        const take = Math.min(HEADER_SIZE - seen, chunk.length);
        header.set(chunk.subarray(0, take), seen);
        seen += take;
      }
      controller.enqueue(chunk);
    },
  });
  return { stream: source.pipeThrough(keeping), header: () => header.subarray(0, seen) };
}

/** A display name the server gave, with the address it gave it for. */
export interface Named {
  email: string;
  name: string;
}

/** What was checked of a document: its signed author, and its readers (null: a version 1 manifest signs none). */
interface Verified {
  author: Named;
  readers: readonly Reader[] | null;
}

export class Documents {
  /**
   * The readers this worker vouches for in a document's latest version, from its
   * signed manifests and statements (PatientFiles.vouchedReaders, which sets it).
   */
  vouchedReaders: ((view: ServedDocument) => Promise<Map<string, Reader>>) | null = null;

  /**
   * Display names the server gave (members, patients, readers), for showing only: each
   * kept with the account AND the address it was given for, and shown only for that
   * pair, so that a list pairing one account with another's address and name cannot
   * put that name over the first account's keys.
   */
  private readonly names = new Map<string, Named>();
  /** The patient of each patient file, as the practices' lists of patients name them. */
  private readonly patientOfFile = new Map<string, Named & { accountId: string }>();

  /** The signing key of each proven directory entry used, by index (a bundle's decoding checks all three keys). */
  private readonly signingKeys = new Map<bigint, { bundle: Uint8Array; signing: Uint8Array }>();
  /**
   * The manifests whose signature verified (signer, digest, signature): the inbox and
   * the readers it vouches for check each version, each once.
   */
  private readonly verifiedManifests = new Set<string>();

  constructor(private readonly session: Session) {}

  /** The Ed25519 key of a proven directory entry. */
  signingKeyOf(signer: VerifiedEntry): Uint8Array {
    const known = this.signingKeys.get(signer.index);
    if (known !== undefined && constantTimeEqual(known.bundle, signer.entry.bundle)) return known.signing;
    const signing = decodeBundle(signer.entry.bundle).signing;
    this.signingKeys.set(signer.index, { bundle: signer.entry.bundle, signing });
    return signing;
  }

  remember(accountId: string, email: string, name: string): void {
    this.names.set(accountId, { email: email.toLowerCase(), name });
  }

  rememberPatientFile(patientFileId: string, accountId: string, email: string, name: string): void {
    this.patientOfFile.set(patientFileId, { accountId, email: email.toLowerCase(), name });
    this.remember(accountId, email, name);
  }

  /** The name given for this account at this address, if one was. */
  nameOf(accountId: string, email: string): string | undefined {
    const named = this.names.get(accountId);
    return named !== undefined && named.email === email.toLowerCase() ? named.name : undefined;
  }

  /** `GET /documents/{id}`, refused unless it is the document asked for. */
  async view(id: string): Promise<ServedDocument> {
    const wire = new Wire("exchange_refused", "a document");
    const view = readDocument(await this.session.json("GET", `/documents/${encodeURIComponent(id)}`, wire), wire);
    if (view.id !== id.toLowerCase()) throw exchangeRefused("the server answered with another document than the one asked for");
    return view;
  }

  /** Every document you can read, newest first, titles decrypted here. */
  async inbox(): Promise<DocumentView[]> {
    return this.listed("your documents", {});
  }

  /**
   * Every document about you (you are its patient) that you can read, newest first,
   * each listed as the inbox lists it: author and readers only as verified.
   */
  async aboutMe(): Promise<DocumentView[]> {
    const me = (await this.session.account()).id;
    return this.listed("your documents", {}, () => undefined, (view) => view.patientId === me);
  }

  /** Every document about you that you can read, as the server serves them (each checked only once fetched). */
  async servedAboutMe(): Promise<ServedDocument[]> {
    const me = (await this.session.account()).id;
    return (await this.served("your documents", {})).filter((view) => view.patientId === me);
  }

  /**
   * The documents of one patient file you can read (the server's listing filtered by
   * file), newest first; one of another file in the answer refuses it all, before
   * any of them is decrypted.
   */
  async ofPatientFile(patientFileId: string): Promise<DocumentView[]> {
    const file = patientFileId.toLowerCase();
    return this.listed("the patient file's documents", { patient_file_id: file }, (view) => {
      if (view.patientFileId !== file) throw exchangeRefused(`the server lists document ${view.id} of another patient file with those of ${file}`);
    });
  }

  /** One document you can read (`GET /documents/{id}`), its title decrypted here. */
  async document(id: string): Promise<DocumentView> {
    return this.summary(await this.view(id));
  }

  /**
   * (The document's patient) Restricts it to yourself and its author, or lifts that
   * (R28, PROTOCOL 11.8), signed as every change is; since when it is restricted.
   */
  async restrict(id: string, restricted: boolean): Promise<string | null> {
    const documentId = id.toLowerCase();
    const wire = new Wire("exchange_refused", "a restriction");
    const answer = wire.object(await this.session.json(restricted ? "POST" : "DELETE", `/documents/${encodeURIComponent(documentId)}/restriction`, wire));
    const since = wire.optionalString(answer, "restricted_at") ?? null;
    if (wire.uuid(answer, "document_id") !== documentId || (since !== null) !== restricted) throw exchangeRefused("the server answered about another restriction than asked");
    return since;
  }

  /** Whether a practice's list of patients named the patient of this file. */
  knowsPatientFile(patientFileId: string): boolean {
    return this.patientOfFile.has(patientFileId);
  }

  /** The pages of `GET /documents` with `filter`, a bounded number of them, those `keep` keeps, each checked by `check`. */
  private async listed(
    what: string,
    filter: Record<string, string>,
    check: (view: ServedDocument) => void = () => undefined,
    keep: (view: ServedDocument) => boolean = () => true,
  ): Promise<DocumentView[]> {
    const views = (await this.served(what, filter)).filter(keep);
    views.forEach(check);
    const documents: DocumentView[] = [];
    for (const view of views) documents.push(await this.summary(view));
    return documents;
  }

  /** The pages of `GET /documents` with `filter`, read, a bounded number of them. */
  private async served(what: string, filter: Record<string, string>): Promise<ServedDocument[]> {
    const wire = new Wire("exchange_refused", what);
    const listed: unknown[] = [];
    for (let pages = 0; ; pages += 1) {
      if (pages === MAX_INBOX_PAGES) throw exchangeRefused(`the server lists more than ${MAX_INBOX_PAGES * DOCUMENTS_PAGE} documents: ${what} are not shown`);
      const page = wire.list(await this.session.json("GET", "/documents", wire, { params: { ...filter, limit: DOCUMENTS_PAGE, offset: pages * DOCUMENTS_PAGE } }));
      listed.push(...page);
      if (page.length < DOCUMENTS_PAGE) break;
    }
    return listed.map((raw) => readDocument(raw, wire));
  }

  /**
   * The document as listed, from its latest version you can read: its author the
   * signer of that version's manifest (its signature checked with a key the directory
   * proves), its readers those this worker vouches for from the signed history
   * (`vouchedReaders`), or the manifest's own. A document whose history does not
   * verify is listed as not verified, with neither author nor readers: the server's
   * names for them are never shown as if they were checked.
   */
  async summary(view: ServedDocument): Promise<DocumentView> {
    const readable = view.versions.filter((v) => v.wrappedKey !== null);
    // Held back by its author (R28): listed with its date, its metadata under the key not served yet.
    const held = readable.length === 0 ? view.versions.filter((v) => v.availableFrom !== null) : [];
    const latest = readable[readable.length - 1] ?? held[held.length - 1];
    if (latest === undefined) throw exchangeRefused(`the server lists document ${view.id} with no version you can read`);
    const metadata =
      latest.wrappedKey === null ? { title: "", filename: "", media_type: "" } : await this.session.keys.withUnwrapped(latest.wrappedKey, latest.envelopeHeader, (key) => this.metadata(latest, key));
    let verified: Verified | null = null;
    try {
      const manifest = (await servedManifests(view)).get(latest.number)!;
      const signer = await this.verifiedSigner(manifest, latest);
      const vouched = latest.number === view.latestVersion && this.vouchedReaders !== null ? [...(await this.vouchedReaders(view)).values()] : null;
      verified = { author: this.signedAuthor(view, signer), readers: vouched ?? manifest.readers };
    } catch (error) {
      // The server unreachable or refusing is not a document that failed its checks.
      if (!(error instanceof ClientRefusal || error instanceof ProtocolError) || error.identifier === "server_unreachable") throw error;
    }
    return this.viewOf(view, latest, metadata, verified);
  }

  /**
   * What the page is told of a document. Its author and readers are only ever the
   * `verified` ones (the signed manifest's, or what you sent yourself); without them
   * the document is listed as not verified, with neither.
   */
  private async viewOf(view: ServedDocument, version: ServedVersion, metadata: Metadata, verified: Verified | null): Promise<DocumentView> {
    for (const r of view.recipients) this.remember(r.accountId, r.email, r.name);
    const me = await this.session.account();
    this.remember(me.id, me.email, me.name);
    const author = verified?.author ?? { email: "", name: "" };
    const readers = verified === null ? [] : verified.readers;
    return {
      id: view.id,
      version: version.number,
      title: metadata.title,
      filename: metadata.filename,
      mediaType: metadata.media_type,
      size: version.size,
      authorEmail: author.email,
      authorName: author.name,
      patientFileId: view.patientFileId,
      patientName: this.patientName(view, me),
      createdAt: version.createdAt,
      // A version 1 manifest signs no readers: then only the server's list says them.
      recipients: readers === null ? view.recipients.map((r) => r.email) : readers.map((r) => r.email),
      verified: verified !== null,
      readAt: version.readAt,
      availableFrom: version.wrappedKey === null ? version.availableFrom : null,
      restrictedAt: view.restrictedAt,
    };
  }

  /**
   * Tells the server this version was opened, once whole and verified (the inbox then
   * lists it as read). The document is delivered whatever the receipt's fate: one that
   * fails is sent at the next opening, the version listed as new until then.
   */
  private async sendReadReceipt(documentId: string, number: number): Promise<boolean> {
    try {
      await this.session.call("POST", `/documents/${documentId}/versions/${number}/read`);
      return true;
    } catch (error) {
      if (!(error instanceof ClientRefusal)) throw error;
      return false;
    }
  }

  /** The signer, proven to be the version's author: named as the server named them
   * only if it named that address. */
  private signedAuthor(view: ServedDocument, signer: VerifiedEntry): Named {
    const email = signer.entry.email;
    const served = view.authorEmail.toLowerCase() === email.toLowerCase() ? view.authorName : undefined;
    return { email, name: this.nameOf(signer.entry.accountId, email) ?? served ?? email };
  }

  /** The patient of the document's patient file (which the manifest signs), as the
   * practices' lists name them; yourself, for a patient's own documents. */
  private patientName(view: ServedDocument, me: { id: string; email: string; name: string }): string {
    const patient = this.patientOfFile.get(view.patientFileId);
    if (patient !== undefined) return patient.name;
    return view.patientId === me.id ? me.name : "";
  }

  async metadata(version: ServedVersion, key: Uint8Array): Promise<Metadata> {
    if (version.metadataEnvelope.length > MAX_METADATA_BYTES) throw exchangeRefused("the document's title and type are larger than any sender makes them");
    let plaintext: Uint8Array;
    try {
      plaintext = (await openEnvelope(key, version.metadataEnvelope)).plaintext;
    } catch (error) {
      if (error instanceof ProtocolError) {
        throw new ProtocolError(error.identifier, `the document's title and type failed their integrity check: ${error.message}`);
      }
      throw error;
    }
    return decodeMetadata(plaintext);
  }

  /**
   * The proven directory entry whose key signed a version's manifest, refused unless
   * it belongs to the version's author and the signature verifies.
   */
  async verifiedSigner(manifest: VersionManifest, version: ServedVersion): Promise<VerifiedEntry> {
    const signer = await this.session.directory.entry(manifest.signerKeyIndex);
    if (signer.entry.accountId !== manifest.authorId) throw exchangeRefused("the signing key named by this version is not its author's");
    const encoded = encodeManifest(manifest);
    const checked = `${signer.index} ${toHex(await sha256(encoded))} ${toHex(version.signature)}`;
    if (this.verifiedManifests.has(checked)) return signer;
    try {
      await verifyEncoded(this.signingKeyOf(signer), "document", encoded, version.signature);
      this.verifiedManifests.add(checked);
    } catch (error) {
      const identifier = error instanceof ProtocolError ? error.identifier : "invalid_signature";
      throw new ProtocolError(identifier, `version ${manifest.version} is not what its author signed: the signature does not verify`);
    }
    return signer;
  }

  /**
   * Downloads, decrypts and checks the latest version you can read into `sink`. The
   * signature and the directory proof of its signer are checked before a byte is
   * read; the envelope's header must be the one served with the signed manifest, its
   * digest the signed one. On any refusal `sink` is aborted, and it is closed only
   * once everything is checked.
   */
  async open(id: string, sink: WritableStream<Uint8Array>): Promise<{ document: DocumentView; signer: string; signerFormerKeyVersion: number | null }> {
    let view: ServedDocument;
    let chosen: ServedVersion | null;
    try {
      view = await this.view(id);
      chosen = view.versions.filter((v) => v.wrappedKey !== null).reduce<ServedVersion | null>((a, v) => (a === null || v.number > a.number ? v : a), null);
      if (chosen === null) throw exchangeRefused("you cannot read any version of this document");
    } catch (error) {
      await sink.abort(error).catch(() => undefined);
      throw error;
    }
    const { metadata, signer, manifest } = await this.fetchVersion(view, chosen, sink);
    if (chosen.readAt === null && (await this.sendReadReceipt(view.id, chosen.number))) chosen.readAt = new Date().toISOString();
    return {
      document: await this.viewOf(view, chosen, metadata, { author: this.signedAuthor(view, signer), readers: manifest.readers }),
      signer: signer.entry.email,
      // Signed with keys the author has replaced since (PROTOCOL 10.6): said on screen.
      signerFormerKeyVersion: signer.current === false ? signer.entry.keyVersion : null,
    };
  }

  /**
   * Downloads, decrypts and checks one version you can read of `view` into `sink`,
   * as `open` does: its manifests chained, its signature verified with its author's
   * proven key before a byte is read, its envelope the signed one. `sink` is closed
   * only once everything is checked, aborted on any refusal.
   */
  async fetchVersion(view: ServedDocument, chosen: ServedVersion, sink: WritableStream<Uint8Array>): Promise<{ metadata: Metadata; signer: VerifiedEntry; manifest: VersionManifest; author: Named }> {
    let held: ReturnType<typeof closedOnceChecked> | null = null;
    try {
      if (chosen.wrappedKey === null) throw exchangeRefused(`you cannot read version ${chosen.number} of this document`);
      const manifest = (await servedManifests(view)).get(chosen.number)!;
      const signer = await this.verifiedSigner(manifest, chosen);
      held = closedOnceChecked(this.session.keys.guard(sink));
      const checked = held;
      const metadata = await this.session.keys.withUnwrapped(chosen.wrappedKey, chosen.envelopeHeader, async (key) => {
        const metadata = await this.metadata(chosen, key);
        const response = await this.session.call("GET", `/documents/${view.id}/versions/${chosen.number}/content`);
        if (response.body === null) throw exchangeRefused("the server sent no envelope");
        const envelope = headerKept(response.body);
        const digest = await openStream(key, envelope.stream, checked.sink);
        // Both header MACs commit to the key, which a reader holds too: the header and
        // digest the author signed for are what tell this envelope is theirs.
        if (!constantTimeEqual(envelope.header(), chosen.envelopeHeader) || !constantTimeEqual(digest, manifest.contentDigest)) {
          throw exchangeRefused(`the downloaded envelope is not the one ${signer.entry.email} signed`);
        }
        return metadata;
      });
      await checked.finish();
      return { metadata, signer, manifest, author: this.signedAuthor(view, signer) };
    } catch (error) {
      if (held !== null) await held.refuse(error);
      else await sink.abort(error).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Encrypts `source`, signs it and shares it with `to` (addresses) and yourself, as
   * sending.py send(): the key is wrapped only for entries the key directory proved,
   * and only if they are the `readers` the person reviewed.
   */
  async send(args: {
    patientFileId: string;
    to: string[];
    /** The readers the review showed (previewRecipients): the key is wrapped for these only. */
    readers: readonly ShownReader[];
    title: string;
    filename: string;
    mediaType: string;
    source: ReadableStream<Uint8Array>;
    /** The patient's copy, not readable before this instant (R28, PROTOCOL 11.7). */
    heldBack?: HeldBack;
  }): Promise<DocumentView> {
    const { source } = args;
    try {
      const documentId = crypto.randomUUID();
      const recipients = await this.session.recipients(args.to);
      await requireShownReaders(recipients, args.readers);
      const delays = heldBackDelays(args.heldBack, recipients);
      const metadata = metadataOf(args);
      const answer = await this.postVersion({
        documentId,
        patientFileId: args.patientFileId.toLowerCase(),
        number: 1,
        previous: NO_PREVIOUS,
        recipients,
        expiry: new Map(),
        delays,
        metadata,
        source,
        path: "/documents",
        fields: { id: documentId, patient_file_id: args.patientFileId.toLowerCase() },
      });
      if (answer.id !== documentId) throw exchangeRefused("the server answered with another document than the one sent");
      const version = answer.versions.find((v) => v.number === 1);
      if (version === undefined) throw exchangeRefused("the server answered without the version sent");
      // Signed here, for the readers proven before: yours to vouch for.
      const readers = recipients.map((r) => ({ accountId: r.entry.accountId, email: r.entry.email }));
      const me = await this.session.account();
      return this.viewOf(answer, version, metadata, { author: { email: me.email, name: me.name }, readers });
    } catch (error) {
      if (!source.locked) await source.cancel(error).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Encrypts `source` under a fresh key, uploads it, signs the version's manifest
   * (chained to `previous`) for `recipients` (the author first, each proven in the key
   * directory) and posts it to `path` with `fields`, as sending.py _prepare_version and
   * _submit; each share ends at its reader's `expiry` (none where it names no end), and
   * is held back until its reader's `delays` time (seconds), signed in its share statement.
   */
  async postVersion(version: {
    documentId: string;
    patientFileId: string;
    number: number;
    previous: Uint8Array;
    recipients: VerifiedEntry[];
    expiry: ReadonlyMap<string, string | null>;
    delays?: ReadonlyMap<string, bigint>;
    metadata: Metadata;
    source: ReadableStream<Uint8Array>;
    path: string;
    fields: Record<string, unknown>;
  }): Promise<ServedDocument> {
    const { documentId, number, recipients, metadata } = version;
    const publicKeys = recipients.map((r) => decodeBundle(r.entry.bundle));
    for (const keys of publicKeys) checkRecipient(keys, "HYBRID");
    const account = await this.session.account();
    return this.session.keys.withFresh(async (key) => {
      const metadataEnvelope = await sealEnvelope(key, encodeMetadata(metadata), { chunkLog2: METADATA_CHUNK_LOG2 });
      const { envelope, header, contentDigest, envelopeSha256 } = await sealedBlob(key, version.source, this.session.keys.guard.bind(this.session.keys));
      const uploaded = await this.upload(envelope, envelopeSha256);
      if (!constantTimeEqual(uploaded, contentDigest)) throw exchangeRefused("the server stored other bytes than were sent");
      const signer = await this.session.myEntry();
      const readers = recipients.map((r) => ({ accountId: r.entry.accountId, email: r.entry.email }));
      const manifest: VersionManifest = {
        documentId,
        version: number,
        patientFileId: version.patientFileId,
        authorId: account.id,
        signerKeyIndex: signer.index,
        contentDigest,
        metadataDigest: await envelopeDigest(metadataEnvelope),
        previous: version.previous,
        readers,
      };
      const signature = await this.session.keys.sign("document", await sha256(encodeManifest(manifest)));
      const shares = [];
      for (const [i, recipient] of recipients.entries()) {
        const wrapped = await wrapDocumentKey(key, publicKeys[i]!, header, "HYBRID");
        const share: Record<string, unknown> = { recipient_id: recipient.entry.accountId, wrapped_key: toBase64Url(wrapped), expires_at: version.expiry.get(recipient.entry.accountId) ?? null };
        const availableFrom = version.delays?.get(recipient.entry.accountId);
        if (availableFrom !== undefined) {
          // Held back: the time is the author's word, signed for this reader (format 2).
          const reader = readers[i]!;
          const statement = encodeShareStatement({ documentId, version: number, granterId: account.id, signerKeyIndex: signer.index, recipient: reader, availableFrom });
          share.available_from = new Date(Number(availableFrom) * 1000).toISOString();
          share.statement = { recipient_email: reader.email, signer_key_index: Number(signer.index), signature: toBase64Url(await this.session.keys.sign("document", await sha256(statement))) };
        }
        shares.push(share);
      }
      const wire = new Wire("exchange_refused", "the document sent");
      const created = await this.session.json("POST", version.path, wire, {
        json: {
          ...version.fields,
          readers: readers.map((r) => ({ account_id: r.accountId, email: r.email })),
          blob_id: uploaded.blobId,
          envelope_header: toBase64Url(header),
          metadata_envelope: toBase64Url(metadataEnvelope),
          signature: toBase64Url(signature),
          signer_key_index: Number(signer.index),
          shares: shares.slice(0, SHARES_PER_REQUEST),
        },
      });
      // The server takes 100 wrapped keys per request: the others follow the version.
      for (let start = SHARES_PER_REQUEST; start < shares.length; start += SHARES_PER_REQUEST) {
        await this.session.call("POST", `/documents/${documentId}/shares`, {
          json: { version: number, shares: shares.slice(start, start + SHARES_PER_REQUEST) },
        });
      }
      return readDocument(created, wire);
    });
  }

  /**
   * Uploads an envelope, signed over its SHA-256 (`envelopeSha256`, sent as its Content-Digest);
   * the id the server gave it and the content digest it computed.
   */
  private async upload(envelope: Blob, envelopeSha256: Uint8Array): Promise<Uint8Array & { blobId: string }> {
    const wire = new Wire("exchange_refused", "an upload");
    const body = wire.object(
      await this.session.json("POST", "/blobs", wire, {
        body: envelope,
        bodySha256: envelopeSha256,
        headers: { "Content-Type": "application/octet-stream" },
      }),
    );
    return Object.assign(wire.bytes(body, "sha256", 32), { blobId: wire.uuid(body, "id") });
  }
}

/** A patient's copy held back (R28): whose, and the instant (ISO 8601) it becomes readable. */
export interface HeldBack {
  accountId: string;
  availableFrom: string;
}

/** The longest an author may hold a patient's copy back (PROTOCOL 11.7); the server judges it too. */
const MAX_HOLD_BACK_MS = 30 * 24 * 3600 * 1000;

/**
 * The share delays `heldBack` asks for, in whole seconds: only for a reader among the
 * proven `recipients`, after now and at most 30 days on.
 */
function heldBackDelays(heldBack: HeldBack | undefined, recipients: readonly VerifiedEntry[]): Map<string, bigint> {
  const delays = new Map<string, bigint>();
  if (heldBack === undefined) return delays;
  const accountId = heldBack.accountId.toLowerCase();
  if (!recipients.some((r) => r.entry.accountId === accountId)) throw exchangeRefused("a date for the patient's copy needs the patient as a reader");
  const at = Date.parse(heldBack.availableFrom);
  const now = Date.now();
  if (!Number.isFinite(at) || at <= now || at > now + MAX_HOLD_BACK_MS) {
    throw exchangeRefused("the patient's copy can be held back until a time after now and at most 30 days on");
  }
  delays.set(accountId, BigInt(Math.floor(at / 1000)));
  return delays;
}

/**
 * `source` sealed under `key` into a Blob (a browser keeps a large one on disk), for
 * an upload with a length: a streamed request body needs HTTP/2, which a server on
 * loopback or behind an HTTP/1.1 proxy does not speak.
 */
async function sealedBlob(
  key: Uint8Array,
  source: ReadableStream<Uint8Array>,
  guard: (sink: WritableStream<Uint8Array>) => WritableStream<Uint8Array>,
): Promise<{ envelope: Blob; header: Uint8Array; contentDigest: Uint8Array; envelopeSha256: Uint8Array }> {
  let envelope = new Blob([]);
  // The SHA-256 an upload is signed over (its Content-Digest), taken as it is sealed.
  const hash = await createStreamingSha256();
  let pending: Uint8Array[] = [];
  let pendingSize = 0;
  const header = new Uint8Array(HEADER_SIZE);
  let seen = 0;
  const flush = () => {
    envelope = new Blob([envelope, ...(pending as BlobPart[])]);
    pending = [];
    pendingSize = 0;
  };
  const gathering = new WritableStream<Uint8Array>({
    write(chunk) {
      if (seen < HEADER_SIZE) {
        const take = Math.min(HEADER_SIZE - seen, chunk.length);
        header.set(chunk.subarray(0, take), seen);
        seen += take;
      }
      pending.push(chunk.slice());
      hash.update(chunk);
      pendingSize += chunk.length;
      if (pendingSize >= BLOB_PART) flush();
    },
    close: flush,
  });
  const contentDigest = await sealStream(key, source, guard(gathering));
  return { envelope, header, contentDigest, envelopeSha256: hash.digest() };
}

/** The hex fingerprint of a bundle, as the server's `key_fingerprint` names keys. */
export async function fingerprintOf(bundle: Uint8Array): Promise<string> {
  return toHex(await sha256(bundle));
}

/** A reader as the review screen showed it: whose account, under which keys. */
export interface ShownReader {
  accountId: string;
  fingerprint: string;
}

/**
 * Refuses, before anything is encrypted, unless `recipients` are exactly the readers
 * the person was shown, the same accounts under the same keys (as the SDK's
 * before_encrypting): the directory may have answered otherwise since the review.
 */
export async function requireShownReaders(recipients: readonly VerifiedEntry[], shown: readonly ShownReader[]): Promise<void> {
  const keyOf = (accountId: string, fingerprint: string) => `${accountId.toLowerCase()} ${fingerprint.toLowerCase()}`;
  const wrapping = new Set(await Promise.all(recipients.map(async (r) => keyOf(r.entry.accountId, await fingerprintOf(r.entry.bundle)))));
  const reviewed = new Set((Array.isArray(shown) ? shown : []).map((r) => keyOf(String(r.accountId), String(r.fingerprint))));
  if (wrapping.size !== reviewed.size || [...reviewed].some((k) => !wrapping.has(k))) {
    throw exchangeRefused("the readers or their keys changed since you checked them: nothing was encrypted, check again");
  }
}
