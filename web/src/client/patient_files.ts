/**
 * A patient file in the worker, as client/exchange/{history,sending,sharing}.py and
 * client/consent.py: its documents, each one's versions and readers; a new version
 * encrypted only for the readers this worker vouches for from the signed history
 * (PROTOCOL 11.4), never for a reader revoked there or on this device; a version's
 * key passed on only once its signature verifies, with a signed share statement; an
 * access ended with a signed revocation statement; the patient's consent directives
 * and the file's retention end, shown as the server states them.
 */

import { toBase64Url } from "../protocol/bytes.js";
import { decodeBundle } from "../protocol/keys.js";
import {
  type Reader,
  type VersionManifest,
  encodeManifest,
  encodeRevocationStatement,
  encodeShareStatement,
  verifyEncoded,
} from "../protocol/manifest.js";
import { sha256 } from "../protocol/primitives.js";
import { checkRecipient, wrapDocumentKey } from "../protocol/wrap.js";
import type { VerifiedEntry } from "./directory.js";
import {
  Documents,
  SHARES_PER_REQUEST,
  type ServedDocument,
  type ServedStatement,
  type ServedVersion,
  type ShownReader,
  fingerprintOf,
  metadataOf,
  requireShownReaders,
  servedManifests,
} from "./documents.js";
import { ApiError } from "./http.js";
import { RevocationStore, type RevokedHere } from "./revocations.js";
import { type Session, exchangeRefused } from "./session.js";
import { Wire } from "./wire.js";


/** A reader left out of the next version: ended at `version` by `by` (an address, or "you"). */
export interface Revoked {
  reader: Reader;
  version: number;
  by: string;
}

export interface VouchedReaders {
  vouched: Map<string, Reader>;
  /** False when the latest version's manifest (version 1 format) signed no readers. */
  signed: boolean;
  revoked: Map<string, Revoked>;
}

export interface VersionView {
  number: number;
  authorName: string;
  createdAt: string;
  size: number;
  /** Decrypted here; "" for a version you cannot read. */
  title: string;
  filename: string;
}

export interface ReaderView {
  accountId: string;
  email: string;
  name: string;
  /** ISO 8601; null for access without an end. */
  expiresAt: string | null;
}

export interface DocumentHistory {
  id: string;
  title: string;
  patientFileId: string;
  latestVersion: number;
  /** Newest first. */
  versions: VersionView[];
  readers: ReaderView[];
  /** Whose access ended, from the signed history and this device. */
  revoked: { email: string; version: number; by: string }[];
}

export interface NextVersion {
  id: string;
  title: string;
  /** The version the new one replaces. */
  latestVersion: number;
  /** Who will be able to read the new version (yourself first), each proven in the key directory. */
  readers: { accountId: string; email: string; name: string; fingerprint: string }[];
}

export interface Directive {
  purpose: string;
  decision: string;
  recipient: string;
  /** The study a research directive is about ("" for other purposes). */
  study: string;
  createdAt: string;
}

export interface Retention {
  keepUntil: string | null;
  destroyableFrom: string | null;
  basis: string;
  explanation: string;
  archived: boolean;
  /** The facts the end rests on (ISO days): the last care, the birth, the death. */
  lastCareOn: string;
  bornOn: string | null;
  diedOn: string | null;
}

/** The facts a practitioner or admin records (PUT /patient-files/{id}/retention); a null death erases one recorded by mistake. */
export interface RetentionFacts {
  lastCareOn?: string;
  bornOn?: string;
  diedOn?: string | null;
}

export class PatientFiles {
  constructor(
    private readonly session: Session,
    private readonly documents: Documents,
    /** Readers this account revoked from this browser, on any visit (revocations.ts). */
    private readonly revokedHere: RevocationStore = new RevocationStore(),
  ) {
    // The inbox lists the readers vouched for here, as a new version would take them.
    documents.vouchedReaders = async (view) => (await this.vouchedReaders(view)).vouched;
  }

  /** The directives in force for a patient file (GET /patient-files/{id}/consents): read only. */
  async consents(patientFileId: string): Promise<Directive[]> {
    const wire = new Wire("malformed_answer", "the patient's consent");
    const path = `/patient-files/${encodeURIComponent(patientFileId)}/consents`;
    return wire.list(await this.session.json("GET", path, wire)).map((item) => {
      const d = wire.object(item);
      return {
        purpose: wire.string(d, "purpose"),
        decision: wire.string(d, "decision"),
        recipient: wire.optionalString(d, "recipient_name") || wire.optionalString(d, "recipient_email") || "",
        study: wire.optionalString(d, "study_title") ?? "",
        createdAt: wire.string(d, "created_at"),
      };
    });
  }

  /** Until when the file is kept, and why (GET /patient-files/{id}/retention). */
  async retention(patientFileId: string): Promise<Retention> {
    const wire = new Wire("malformed_answer", "the file's retention");
    const path = `/patient-files/${encodeURIComponent(patientFileId)}/retention`;
    return readRetention(wire, await this.session.json("GET", path, wire), patientFileId);
  }

  /** Records retention facts; the server refuses implausible dates (future, a birth after the first care, a death before the last). */
  async recordRetentionFacts(patientFileId: string, facts: RetentionFacts): Promise<Retention> {
    const wire = new Wire("malformed_answer", "the file's retention");
    const path = `/patient-files/${encodeURIComponent(patientFileId)}/retention`;
    const json: Record<string, string | null> = {};
    if (facts.lastCareOn !== undefined) json["last_care_on"] = facts.lastCareOn;
    if (facts.bornOn !== undefined) json["born_on"] = facts.bornOn;
    if (facts.diedOn !== undefined) json["died_on"] = facts.diedOn;
    const retention = readRetention(wire, await this.session.json("PUT", path, wire, { json }), patientFileId);
    const kept = (asked: string | null | undefined, answered: string | null) => asked === undefined || asked === answered;
    if (!kept(facts.bornOn, retention.bornOn) || !kept(facts.diedOn, retention.diedOn)) throw wire.refuse("does not hold the dates recorded");
    if (facts.lastCareOn !== undefined && retention.lastCareOn < facts.lastCareOn) throw wire.refuse("does not hold the last care recorded");
    return retention;
  }

  /** A document's versions (newest first), its readers and whose access ended, from its checked history. */
  async history(id: string): Promise<DocumentHistory> {
    const view = await this.documents.view(id);
    const { revoked } = await this.vouchedReaders(view);
    const summary = await this.documents.summary(view);
    const manifests = await servedManifests(view);
    const versions: VersionView[] = [];
    for (const version of [...view.versions].sort((a, b) => b.number - a.number)) {
      // Named after the key that signed the version, as the directory proves it.
      const author = (await this.documents.verifiedSigner(manifests.get(version.number)!, version)).entry;
      const metadata =
        version.wrappedKey === null
          ? null
          : await this.session.keys.withUnwrapped(version.wrappedKey, version.envelopeHeader, (key) => this.documents.metadata(version, key));
      versions.push({
        number: version.number,
        authorName: this.documents.nameOf(author.accountId, author.email) ?? author.email,
        createdAt: version.createdAt,
        size: version.size,
        title: metadata?.title ?? "",
        filename: metadata?.filename ?? "",
      });
    }
    return {
      id: view.id,
      title: summary.title || summary.filename,
      patientFileId: view.patientFileId,
      latestVersion: view.latestVersion,
      versions,
      readers: view.recipients.map((r) => ({ accountId: r.accountId, email: r.email, name: r.name, expiresAt: r.expiresAt })),
      revoked: [...revoked.values()].map((r) => ({ email: r.reader.email, version: r.version, by: r.by })),
    };
  }

  /**
   * The document a new version continues and who will read it, as new_version()
   * shows `before_changing` and `before_encrypting`: nothing is encrypted yet.
   */
  async nextVersion(id: string): Promise<NextVersion> {
    const view = await this.documents.view(id);
    const readers = await this.readersOfNextVersion(view);
    const latest = view.versions[view.versions.length - 1]!;
    // The title shown is the latest version's, whose signature verifies.
    await this.documents.verifiedSigner((await servedManifests(view)).get(latest.number)!, latest);
    const summary = await this.documents.summary(view);
    return {
      id: view.id,
      title: summary.title || summary.filename,
      latestVersion: view.latestVersion,
      readers: await Promise.all(
        readers.map(async (r) => ({
          accountId: r.entry.accountId,
          email: r.entry.email,
          name: this.documents.nameOf(r.entry.accountId, r.entry.email) ?? r.entry.email,
          fingerprint: await fingerprintOf(r.entry.bundle),
        })),
      ),
    };
  }

  /**
   * Replaces a document by a new version under a new key (sending.py new_version),
   * refused unless the document and its readers are still those `confirmed` showed.
   */
  async newVersion(args: {
    id: string;
    confirmed: { latestVersion: number; readers: readonly ShownReader[] };
    title: string;
    filename: string;
    mediaType: string;
    source: ReadableStream<Uint8Array>;
  }): Promise<number> {
    const { source } = args;
    try {
      const view = await this.documents.view(args.id);
      const recipients = await this.readersOfNextVersion(view);
      if (view.latestVersion !== args.confirmed.latestVersion) {
        throw exchangeRefused("the document changed since you checked it: nothing was encrypted, check again");
      }
      await requireShownReaders(recipients, args.confirmed.readers);
      const number = view.latestVersion + 1;
      const manifests = await servedManifests(view);
      const previous = await sha256(encodeManifest(manifests.get(number - 1)!));
      // Each reader keeps the end of access they have now.
      const expiry = new Map(view.recipients.map((r) => [r.accountId, r.expiresAt]));
      await this.documents.postVersion({
        documentId: view.id,
        patientFileId: view.patientFileId,
        number,
        previous,
        recipients,
        expiry,
        metadata: metadataOf(args),
        source,
        path: `/documents/${view.id}/versions`,
        fields: { number },
      });
      return number;
    } catch (error) {
      if (!source.locked) await source.cancel(error).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Gives `emails` every version you can read (sharing.py share): each key is passed
   * on only once its version's signature verifies and it opens that version's signed
   * metadata, with your signed statement that you gave it.
   */
  async share(id: string, emails: string[], expiresAt: string | null): Promise<void> {
    const view = await this.documents.view(id);
    const manifests = await servedManifests(view);
    const readable = view.versions.filter((v) => v.wrappedKey !== null);
    if (readable.length === 0) throw exchangeRefused("you cannot read any version of this document, so you cannot share it");
    for (const version of readable) await this.documents.verifiedSigner(manifests.get(version.number)!, version);
    const recipients: VerifiedEntry[] = await this.session.directory.lookupMany(emails);
    const publicKeys = recipients.map((r) => decodeBundle(r.entry.bundle));
    for (const keys of publicKeys) checkRecipient(keys, "HYBRID");
    const me = (await this.session.account()).id;
    const signer = await this.session.myEntry();
    for (let start = 0; start < recipients.length; start += SHARES_PER_REQUEST) {
      const batch = recipients.slice(start, start + SHARES_PER_REQUEST);
      for (const version of readable) {
        const shares = await this.session.keys.withUnwrapped(version.wrappedKey!, version.envelopeHeader, async (key) => {
          // The key opens the metadata the verified manifest signs: it is this version's.
          await this.documents.metadata(version, key);
          const made = [];
          for (const [i, recipient] of batch.entries()) {
            const reader = { accountId: recipient.entry.accountId, email: recipient.entry.email };
            const statement = encodeShareStatement({ documentId: view.id, version: version.number, granterId: me, signerKeyIndex: signer.index, recipient: reader });
            made.push({
              recipient_id: reader.accountId,
              wrapped_key: toBase64Url(await wrapDocumentKey(key, publicKeys[start + i]!, version.envelopeHeader, "HYBRID")),
              expires_at: expiresAt,
              statement: {
                recipient_email: reader.email,
                signer_key_index: Number(signer.index),
                signature: toBase64Url(await this.session.keys.sign("document", await sha256(statement))),
              },
            });
          }
          return made;
        });
        await this.session.call("POST", `/documents/${view.id}/shares`, { json: { version: version.number, shares } });
      }
    }
  }

  /**
   * Ends `email`'s access to every version (sharing.py revoke), with your signed
   * statement at the latest version; remembered in this browser (revocations.ts), so
   * that this account keeps them out of later versions, on this visit and later ones,
   * even if the server withholds the statement. Returns how
   * many versions' keys the server erased.
   */
  async revoke(id: string, email: string): Promise<number> {
    const found = await this.session.directory.lookup(email);
    const reader = { accountId: found.entry.accountId, email: found.entry.email };
    const signer = await this.session.myEntry();
    const me = (await this.session.account()).id;
    const documentId = id.toLowerCase();
    let version = await this.latestVersion(documentId);
    const wire = new Wire("exchange_refused", "a revocation");
    for (let attempt = 0; ; attempt++) {
      const statement = encodeRevocationStatement({ documentId, version, revokerId: me, signerKeyIndex: signer.index, reader });
      const signature = await this.session.keys.sign("document", await sha256(statement));
      try {
        const answer = wire.object(
          await this.session.json("POST", `/documents/${documentId}/revocations`, wire, {
            json: { account_id: reader.accountId, version, signer_key_index: Number(signer.index), signature: toBase64Url(signature) },
          }),
        );
        await this.revokedHere.add({ documentId, version, reader, revokerId: me });
        return wire.integer(answer, "versions");
      } catch (error) {
        // A version written meanwhile: the server names the latest, signed for then, once.
        const latest = error instanceof ApiError ? error.problem["latest_version"] : undefined;
        if (attempt > 0 || !(error instanceof ApiError) || error.status !== 409 || typeof latest !== "number") throw error;
        if (latest <= version) throw exchangeRefused(`the server says version ${latest} is the latest, but served version ${version}: nothing was revoked`);
        version = latest;
      }
    }
  }

  private async latestVersion(id: string): Promise<number> {
    try {
      return (await this.documents.view(id)).latestVersion;
    } catch (error) {
      // A practice's admin who is no reader: the server answers with the latest one.
      if (error instanceof ApiError && error.status === 404) return 1;
      throw error;
    }
  }

  /**
   * Whom the next version is encrypted to (history.py readers_of_next_version): the
   * readers vouched for in the latest version, kept only while the server still lists
   * them, each resolved in the key directory; anyone else listed is refused. While its
   * patient restricts the document, only they are kept.
   */
  async readersOfNextVersion(view: ServedDocument): Promise<VerifiedEntry[]> {
    const latest = view.latestVersion;
    if (!view.versions.some((v) => v.number === latest && v.wrappedKey !== null)) {
      throw exchangeRefused("you cannot read the latest version, so you cannot replace it");
    }
    const mine = await this.session.myEntry();
    const listed = view.recipients
      .filter((r) => r.accountId !== mine.entry.accountId)
      // Restricted by its patient (11.8): the next version is theirs and yours alone
      // (a server that lies about it only leaves readers out).
      .filter((r) => view.restrictedAt === null || r.accountId === view.patientId)
      .sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
    const { vouched, signed, revoked } = await this.vouchedReaders(view);
    if (!signed && listed.length > 0) {
      throw exchangeRefused(
        `version ${latest} was signed before readers were signed, so the server's list of its readers cannot be checked: share the document anew`,
      );
    }
    const found = new Map<string, VerifiedEntry>([[mine.entry.accountId, mine]]);
    for (const { accountId, email } of listed) {
      const ended = revoked.get(accountId);
      if (ended !== undefined) {
        throw exchangeRefused(
          `the server lists ${email} again as a reader of version ${latest}, whom ${ended.by} revoked at version ${ended.version}, and no reader signed them in since: nothing was encrypted`,
        );
      }
      const reader = vouched.get(accountId);
      if (reader === undefined) {
        throw exchangeRefused(`the server lists ${email} as a reader of version ${latest}, but neither its author nor any of its readers signed for them: nothing was encrypted`);
      }
      if (reader.email !== email) {
        throw exchangeRefused(`the server names a reader of version ${latest} ${email}, but the signed readers call that account ${reader.email}: nothing was encrypted`);
      }
      const entry = await this.session.directory.lookup(reader.email);
      if (entry.entry.accountId !== reader.accountId) {
        throw exchangeRefused(`version ${latest} names ${reader.email} for an account that the key directory does not give this address to: nothing was encrypted`);
      }
      found.set(accountId, entry);
    }
    return [...found.values()];
  }

  /**
   * The readers of the latest version this worker vouches for (history.py
   * vouched_readers): each manifest verifies with its author's proven key and chains
   * to the one before; version 1 is the document's author's, each later one a
   * vouched-for reader's; a version's readers are those its author signed, then those
   * share statements by one of them name, less the revoked (by the server's signed
   * statements or on this device) whom no later statement signed in again.
   */
  async vouchedReaders(view: ServedDocument): Promise<VouchedReaders> {
    const me = (await this.session.account()).id;
    const versions = new Map(view.versions.map((v) => [v.number, v]));
    const revocations = new Map<number, (ServedStatement | RevokedHere)[]>();
    const add = (version: number, statement: ServedStatement | RevokedHere) => revocations.set(version, [...(revocations.get(version) ?? []), statement]);
    for (const served of view.revocations) add(served.version, served);
    for (const mine of await this.revokedHere.load()) {
      if (mine.documentId !== view.id || mine.revokerId !== me) continue;
      if (mine.version > view.latestVersion) {
        throw exchangeRefused(
          `you revoked ${mine.reader.email} at version ${mine.version} of this document, but the server serves it only up to version ${view.latestVersion}: it withholds later versions, and nothing was encrypted`,
        );
      }
      add(mine.version, mine);
    }
    let vouched = new Map<string, Reader>();
    const revoked = new Map<string, Revoked>();
    let last: VersionManifest | null = null;
    for (const [number, manifest] of [...(await servedManifests(view)).entries()].sort((a, b) => a[0] - b[0])) {
      last = manifest;
      const version = versions.get(number)!;
      const signer = await this.documents.verifiedSigner(manifest, version);
      const signerId = signer.entry.accountId;
      if (number === 1 && signerId !== view.authorId) throw exchangeRefused("version 1 is not signed by the document's author");
      const ended = revoked.get(signerId);
      if (number > 1 && ended !== undefined) {
        throw exchangeRefused(
          `version ${number} is signed by ${signer.entry.email}, whom ${ended.by} revoked at version ${ended.version}: it is not part of this document's history, and nothing was encrypted`,
        );
      }
      if (number > 1 && !vouched.has(signerId)) {
        throw exchangeRefused(
          `version ${number} is signed by ${signer.entry.email}, whom no one vouched for as a reader of version ${number - 1}: it is not part of this document's history, and nothing was encrypted`,
        );
      }
      const signedFor: Reader[] = manifest.readers ?? [{ accountId: signerId, email: signer.entry.email }];
      // A manifest does not bring back a revoked reader.
      vouched = new Map(signedFor.filter((r) => !revoked.has(r.accountId)).map((r) => [r.accountId, r]));
      for (const accountId of await this.addStatements(view, version, vouched)) revoked.delete(accountId);
      for (const gone of await this.checkRevocations(view, number, revocations.get(number) ?? [], vouched)) revoked.set(gone.reader.accountId, gone);
      for (const accountId of revoked.keys()) vouched.delete(accountId);
    }
    return { vouched, signed: last !== null && last.readers !== null, revoked };
  }

  /** Adds to `vouched`, repeatedly, the readers named by share statements of someone vouched for; returns them. */
  private async addStatements(view: ServedDocument, version: ServedVersion, vouched: Map<string, Reader>): Promise<Set<string>> {
    const named = new Set<string>();
    let pending = [...version.statements];
    for (;;) {
      const added = pending.filter((s) => vouched.has(s.signerId));
      if (added.length === 0) return named;
      pending = pending.filter((s) => !vouched.has(s.signerId));
      for (const served of added) {
        const statement = encodeShareStatement({
          documentId: view.id,
          version: version.number,
          granterId: served.signerId,
          signerKeyIndex: served.signerKeyIndex,
          recipient: served.reader,
          ...(served.availableFrom === undefined ? {} : { availableFrom: served.availableFrom }),
        });
        await this.statementSigner(statement, served, `a statement that ${served.reader.email} may read version ${version.number} is not signed by the reader it names`);
        if (!vouched.has(served.reader.accountId)) vouched.set(served.reader.accountId, served.reader);
        named.add(served.reader.accountId);
      }
    }
  }

  /** The revocations at `number` that count: this worker's, and those signed by the author or a vouched-for reader. */
  private async checkRevocations(
    view: ServedDocument,
    number: number,
    statements: (ServedStatement | RevokedHere)[],
    vouched: Map<string, Reader>,
  ): Promise<Revoked[]> {
    const ended: Revoked[] = [];
    for (const raw of statements) {
      if ("revokerId" in raw) {
        ended.push({ reader: raw.reader, version: number, by: "you" });
        continue;
      }
      if (!vouched.has(raw.signerId) && raw.signerId !== view.authorId) continue;
      // Only the author ends the author's access (11.4).
      if (raw.reader.accountId === view.authorId && raw.signerId !== raw.reader.accountId) continue;
      const statement = encodeRevocationStatement({ documentId: view.id, version: number, revokerId: raw.signerId, signerKeyIndex: raw.signerKeyIndex, reader: raw.reader });
      const revoker = await this.statementSigner(
        statement,
        raw,
        `a statement that ${raw.reader.email}'s access ended at version ${number} is not signed by the revoker it names: nothing was encrypted`,
      );
      ended.push({ reader: raw.reader, version: number, by: revoker.entry.email });
    }
    return ended;
  }

  /** The proven entry a served statement names, refused with `refusal` unless it is its signer's and verifies. */
  private async statementSigner(encoded: Uint8Array, served: ServedStatement, refusal: string): Promise<VerifiedEntry> {
    const signer = await this.session.directory.entry(served.signerKeyIndex);
    try {
      if (signer.entry.accountId !== served.signerId) throw new Error("the statement's key is not its signer's");
      await verifyEncoded(this.documents.signingKeyOf(signer), "document", encoded, served.signature);
    } catch {
      throw exchangeRefused(refusal);
    }
    return signer;
  }
}


const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

function readRetention(wire: Wire, answer: unknown, patientFileId: string): Retention {
  const r = wire.object(answer);
  if (wire.uuid(r, "patient_file_id") !== patientFileId.toLowerCase()) throw wire.refuse("is about another file");
  const day = (name: string) => {
    const value = wire.optionalString(r, name);
    if (value !== null && !ISO_DAY.test(value)) throw wire.refuse(`has no day ${name}`);
    return value;
  };
  const lastCareOn = day("last_care_on");
  if (lastCareOn === null) throw wire.refuse("has no day last_care_on");
  return {
    keepUntil: day("keep_until"),
    destroyableFrom: day("destroyable_from"),
    basis: wire.string(r, "basis"),
    explanation: wire.string(r, "explanation"),
    archived: wire.boolean(r, "archived"),
    lastCareOn,
    bornOn: day("born_on"),
    diedOn: day("died_on"),
  };
}
