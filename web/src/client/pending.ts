/**
 * Pending shares in the worker, as client/exchange/pending.py (PROTOCOL 11.6): a
 * document waiting for a patient the practice invited who has no account yet, and
 * its completion by this worker once they have joined. What the server says of the
 * patient (their account, their address, that they joined) is believed only once the
 * statement signed here names them and the key directory proves that address to be
 * that account: a key is never wrapped for keys the server names.
 */

import { toBase64Url } from "../protocol/bytes.js";
import { decodeBundle } from "../protocol/keys.js";
import { encodeShareStatement, verifyEncoded } from "../protocol/manifest.js";
import { sha256 } from "../protocol/primitives.js";
import { checkRecipient, wrapDocumentKey } from "../protocol/wrap.js";
import type { VerifiedEntry } from "./directory.js";
import { type Documents, servedManifests } from "./documents.js";
import { ApiError, ClientRefusal } from "./http.js";
import { type Session, exchangeRefused } from "./session.js";
import { Wire } from "./wire.js";

export type PendingState = "waiting" | "joined" | "expired" | "completed" | "cancelled";

export interface PatientInvitationView {
  id: string;
  practiceId: string;
  email: string;
  expiresAt: string;
}

export interface PendingShareView {
  id: string;
  documentId: string;
  version: number;
  patientId: string;
  patientEmail: string;
  state: PendingState;
  expiresAt: string;
}

/** One pending share this worker looked at: completed, or why not. */
export interface PendingOutcome {
  pending: PendingShareView;
  completed: boolean;
  refused: string | null;
}

interface ServedPending extends PendingShareView {
  signerKeyIndex: bigint;
  signature: Uint8Array;
}

const STATES: readonly PendingState[] = ["waiting", "joined", "expired", "completed", "cancelled"];

export class PendingShares {
  constructor(
    private readonly session: Session,
    private readonly documents: Documents,
  ) {}

  /** The practice's patients invited who have not joined yet. */
  async patientInvitations(practiceId: string): Promise<PatientInvitationView[]> {
    const wire = new Wire("malformed_answer", "the patient invitations");
    const path = `/practices/${encodeURIComponent(practiceId)}/patient-invitations`;
    return wire.list(await this.session.json("GET", path, wire)).map((item) => {
      const i = wire.object(item);
      return { id: wire.uuid(i, "id"), practiceId: wire.uuid(i, "practice_id"), email: wire.string(i, "email"), expiresAt: wire.string(i, "expires_at") };
    });
  }

  /**
   * The latest version you read waits for the invited patient of the document's file,
   * with your statement naming them (their account as the file names it, the
   * invitation's address), signed here.
   */
  async share(documentId: string, practiceId: string, invitationId: string): Promise<PendingShareView> {
    const view = await this.documents.view(documentId);
    const readable = view.versions.filter((v) => v.wrappedKey !== null);
    const version = readable[readable.length - 1];
    if (version === undefined) throw exchangeRefused("you cannot read this document, so you cannot share it");
    await this.documents.verifiedSigner((await servedManifests(view)).get(version.number)!, version);
    const invitation = (await this.patientInvitations(practiceId)).find((i) => i.id === invitationId.toLowerCase());
    if (invitation === undefined) throw exchangeRefused("no open patient invitation of this practice has this id");
    const me = (await this.session.account()).id;
    const signer = await this.session.myEntry();
    const statement = encodeShareStatement({ documentId: view.id, version: version.number, granterId: me, signerKeyIndex: signer.index, recipient: { accountId: view.patientId, email: invitation.email } });
    const wire = new Wire("exchange_refused", "a pending share");
    const answer = await this.session.json("POST", `/documents/${view.id}/pending-shares`, wire, {
      json: {
        invitation_id: invitation.id,
        version: version.number,
        statement: { recipient_email: invitation.email, signer_key_index: Number(signer.index), signature: toBase64Url(await this.session.keys.sign("document", await sha256(statement))) },
      },
    });
    return shown(readPending(answer, wire));
  }

  async list(): Promise<PendingShareView[]> {
    return (await this.served()).map(shown);
  }

  async cancel(id: string): Promise<PendingShareView> {
    const wire = new Wire("exchange_refused", "a cancelled pending share");
    return shown(readPending(await this.session.json("DELETE", `/pending-shares/${encodeURIComponent(id)}`, wire), wire));
  }

  /** Completes each pending share whose patient joined; one refused leaves the others to go on. */
  async completeJoined(): Promise<PendingOutcome[]> {
    const outcomes: PendingOutcome[] = [];
    for (const pending of await this.served()) {
      if (pending.state !== "joined") continue;
      try {
        outcomes.push({ pending: await this.complete(pending), completed: true, refused: null });
      } catch (error) {
        // What the checks refused is said with the document; a server or network that
        // failed to answer is asked again at the next look.
        if (!refusedByChecks(error)) throw error;
        outcomes.push({ pending: shown(pending), completed: false, refused: error.message });
      }
    }
    return outcomes;
  }

  private async served(): Promise<ServedPending[]> {
    const wire = new Wire("malformed_answer", "the pending shares");
    return wire.list(await this.session.json("GET", "/pending-shares", wire)).map((item) => readPending(item, wire));
  }

  private async complete(pending: ServedPending): Promise<PendingShareView> {
    const patient = await this.provenPatient(pending);
    const view = await this.documents.view(pending.documentId);
    const version = view.versions.find((v) => v.number === pending.version && v.wrappedKey !== null);
    if (version === undefined) throw exchangeRefused(`you can no longer read version ${pending.version}`);
    await this.documents.verifiedSigner((await servedManifests(view)).get(version.number)!, version);
    const keys = decodeBundle(patient.entry.bundle);
    checkRecipient(keys, "HYBRID");
    const me = (await this.session.account()).id;
    const signer = await this.session.myEntry();
    const reader = { accountId: patient.entry.accountId, email: patient.entry.email };
    const wrapped = await this.session.keys.withUnwrapped(version.wrappedKey!, version.envelopeHeader, async (key) => {
      // The key opens the metadata the verified manifest signs: it is this version's.
      await this.documents.metadata(version, key);
      return wrapDocumentKey(key, keys, version.envelopeHeader, "HYBRID");
    });
    const statement = encodeShareStatement({ documentId: view.id, version: version.number, granterId: me, signerKeyIndex: signer.index, recipient: reader });
    const wire = new Wire("exchange_refused", "a completed pending share");
    const answer = await this.session.json("POST", `/pending-shares/${encodeURIComponent(pending.id)}/completion`, wire, {
      json: {
        wrapped_key: toBase64Url(wrapped),
        statement: { recipient_email: reader.email, signer_key_index: Number(signer.index), signature: toBase64Url(await this.session.keys.sign("document", await sha256(statement))) },
      },
    });
    return shown(readPending(answer, wire));
  }

  /**
   * The patient's proven entry, if what the server says of them holds: the statement
   * is this account's own, for this document, version, account and address; the
   * address is proven in the key directory, and to that account.
   */
  private async provenPatient(pending: ServedPending): Promise<VerifiedEntry> {
    const me = (await this.session.account()).id;
    const asked = encodeShareStatement({
      documentId: pending.documentId,
      version: pending.version,
      granterId: me,
      signerKeyIndex: pending.signerKeyIndex,
      recipient: { accountId: pending.patientId, email: pending.patientEmail },
    });
    try {
      await verifyEncoded(decodeBundle(this.session.keys.bundle()).signing, "document", asked, pending.signature);
    } catch {
      throw exchangeRefused(`the pending share for ${pending.patientEmail} is not the one you signed (another document, version, account or address): nothing was shared`);
    }
    let entry: VerifiedEntry;
    try {
      entry = await this.session.directory.lookup(pending.patientEmail);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        throw exchangeRefused(`the key directory publishes no keys for ${pending.patientEmail}, whom the server says joined: nothing was shared`);
      }
      throw error;
    }
    if (entry.entry.accountId !== pending.patientId || entry.entry.email !== pending.patientEmail) {
      throw exchangeRefused(`the key directory proves ${pending.patientEmail} to be another account than the one you signed for: nothing was shared`);
    }
    return entry;
  }
}

/** A refusal of the answers' checks (the SDK's ExchangeRefused, DirectoryRefused), or a server's refusal of the share (4xx). */
function refusedByChecks(error: unknown): error is Error {
  if (error instanceof ClientRefusal) return ["exchange_refused", "directory_refused", "log_refused", "malformed_answer"].includes(error.identifier);
  if (error instanceof ApiError) return error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429;
  // The protocol's own refusals (a proof, a signature that does not verify).
  return error instanceof Error && !(error instanceof TypeError);
}

function readPending(raw: unknown, wire: Wire): ServedPending {
  const p = wire.object(raw);
  const state = wire.string(p, "state") as PendingState;
  if (!STATES.includes(state)) throw exchangeRefused(`a pending share's state is not one of ${STATES.join(", ")}`);
  return {
    id: wire.uuid(p, "id"),
    documentId: wire.uuid(p, "document_id"),
    version: wire.integer(p, "version"),
    patientId: wire.uuid(p, "patient_id"),
    patientEmail: wire.string(p, "patient_email").toLowerCase(),
    state,
    expiresAt: wire.string(p, "expires_at"),
    signerKeyIndex: BigInt(wire.integer(p, "signer_key_index")),
    signature: wire.bytes(p, "signature", 64),
  };
}

/** What the page sees of a pending share: no signature. */
function shown(p: ServedPending | PendingShareView): PendingShareView {
  return { id: p.id, documentId: p.documentId, version: p.version, patientId: p.patientId, patientEmail: p.patientEmail, state: p.state, expiresAt: p.expiresAt };
}

/** `POST /patient-files` for an invited address: the file the server opens for them, remembered by name as the patients' list does. */
export async function openPatientFile(signedIn: { session: Session; documents: Documents }, practiceId: string, email: string): Promise<{ patientFileId: string; patientId: string; email: string; name: string }> {
  const wire = new Wire("malformed_answer", "a patient file");
  const f = wire.object(await signedIn.session.json("POST", "/patient-files", wire, { json: { practice_id: practiceId, patient_email: email } }));
  const patient = { patientFileId: wire.uuid(f, "id"), patientId: wire.uuid(f, "patient_id"), email: wire.string(f, "patient_email"), name: wire.string(f, "patient_name") };
  if (patient.email !== email.trim().toLowerCase()) throw exchangeRefused("the server opened the file of another address than the one asked for");
  signedIn.documents.rememberPatientFile(patient.patientFileId, patient.patientId, patient.email, patient.name);
  return patient;
}
