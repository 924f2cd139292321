/**
 * What the screens ask of the crypto worker, which alone talks to the server: it
 * holds the tokens and the keys, checks every answer against the key directory and
 * the signatures, and hands the page only what it may show.
 */

import type { CryptoWorker } from "../worker/client.js";
import type { Operations } from "../worker/messages.js";
import { pdfText } from "./pdf_viewer.js";

export type AccountView = Operations["finishSignIn"]["result"]["account"];
export type DocumentView = Operations["inbox"]["result"]["documents"][number];
export type PatientView = Operations["patients"]["result"]["patients"][number];
export type MemberView = Operations["members"]["result"]["members"][number];
export type PracticeView = Operations["practices"]["result"]["practices"][number];
export type RecipientView = Operations["previewRecipients"]["result"]["recipients"][number];
export type SessionView = Operations["sessions"]["result"]["sessions"][number];
export type DocumentHistoryView = Operations["documentHistory"]["result"]["history"];
export type NextVersionView = Operations["nextVersion"]["result"]["next"];
export type PatientFileView = Operations["patientFile"]["result"];
export type ThreadView = Operations["threads"]["result"]["threads"][number];
export type MessageView = Operations["readThread"]["result"]["messages"][number];
export type InvitationView = Operations["invitePractice"]["result"]["invitation"];
export type RetentionPolicyView = Operations["retentionPolicy"]["result"]["policy"];
export type ConsentsView = Operations["myConsents"]["result"];
export type DirectiveVersionView = ConsentsView["history"][number];
export type ConsentDecisionView = Operations["consentEffect"]["args"]["decision"];
export type ConsentEffectView = Operations["consentEffect"]["result"]["effect"];
export type StudyView = ConsentsView["studies"][number];
export type InformationView = ConsentsView["information"][number];
export type NoticeView = Operations["invitationNotice"]["result"]["notice"];
export type RightsView = Operations["rightsRequests"]["result"];
export type BreachNotice = Operations["breachNotices"]["result"]["notices"][number];
export type RightsRequestView = RightsView["requests"][number];
export type AccountDeletionView = Operations["deleteAccount"]["result"]["deletion"];
export type HistoryView = Operations["history"]["result"]["history"];
export type HistoryEntryView = HistoryView["entries"][number];
export type PatientInvitationView = Operations["patientInvitations"]["result"]["invitations"][number];
export type PendingShareView = Operations["pendingShares"]["result"]["pending"][number];
export type MyDocumentsView = Operations["myDocuments"]["result"];
export type ExportOutcomeView = Operations["exportRecord"]["result"];
export type AlertView = Operations["alerts"]["result"]["alerts"][number];
export type AlertListingView = Operations["alerts"]["args"]["status"];
export type AlertIncidentView = Operations["openAlertIncident"]["result"]["incident"];
export type AnomalySettingsView = Operations["anomalySettings"]["result"];
export type ThresholdsView = AnomalySettingsView["thresholds"];
export type ComplianceView = Operations["compliance"]["result"]["dashboard"];
export type ComplianceItemView = ComplianceView["items"][number];

/** An opened document: its bytes, checked, and who signed them. */
export interface OpenedDocument {
  document: DocumentView;
  signer: string;
  /** Set when the signer has replaced the keys that signed (PROTOCOL 10.6). */
  signerFormerKeyVersion: number | null;
  /** Why it could not be added to the search index; null once added. */
  indexFailure: string | null;
  /** A PDF: added to the search index once its text is given (`indexOpenedPdf`). */
  indexDeferred: boolean;
  content: Blob;
}

export class Api {
  constructor(private readonly worker: CryptoWorker) {}

  signIn(email: string, password: string) {
    return this.worker.call("signIn", { email, password });
  }

  async finishSignIn(code: string, kind: "totp" | "recoveryCode"): Promise<AccountView> {
    const args = kind === "totp" ? { totp: code } : { recoveryCode: code };
    return (await this.worker.call("finishSignIn", args)).account;
  }

  /** Forgets the sign-in under way, the password the worker keeps for it. */
  cancelSignIn() {
    return this.worker.call("cancelSignIn", {});
  }

  signOut() {
    return this.worker.call("signOut", {});
  }

  async account(): Promise<AccountView | null> {
    return (await this.worker.call("account", {})).account;
  }

  async practices(): Promise<PracticeView[]> {
    return (await this.worker.call("practices", {})).practices;
  }

  async patients(practiceId: string): Promise<PatientView[]> {
    return (await this.worker.call("patients", { practiceId })).patients;
  }

  async members(practiceId: string): Promise<MemberView[]> {
    return (await this.worker.call("members", { practiceId })).members;
  }

  async inbox(): Promise<DocumentView[]> {
    return (await this.worker.call("inbox", {})).documents;
  }

  /** One document as the inbox lists it, without listing the others. */
  async document(id: string): Promise<DocumentView> {
    return (await this.worker.call("document", { id })).document;
  }

  /** (Patients) Every document about you, newest first, and the practices holding a file about you. */
  myDocuments(): Promise<MyDocumentsView> {
    return this.worker.call("myDocuments", {});
  }

  /**
   * Your FHIR R4 export, built in the worker, gathered here into a Blob (which the
   * browser may keep on disk) as it comes; `progress` is told the bytes so far. A
   * refusal leaves nothing: the bundle is given only once the worker wrote all of it.
   */
  async exportRecord(progress: (bytes: number) => void): Promise<{ outcome: ExportOutcomeView; content: Blob }> {
    let done = 0;
    const pipe = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        done += chunk.byteLength;
        progress(done);
        controller.enqueue(chunk);
      },
    });
    const collected = new Response(pipe.readable).blob();
    let outcome: ExportOutcomeView;
    try {
      outcome = await this.worker.call("exportRecord", { sink: pipe.writable });
    } catch (error) {
      collected.catch(() => undefined);
      throw error;
    }
    return { outcome, content: new Blob([await collected], { type: "application/fhir+json" }) };
  }

  /**
   * Downloads, checks and decrypts a document in the worker. The bytes come back
   * only once the worker has checked the whole of them: a refusal leaves nothing.
   */
  async openDocument(id: string): Promise<OpenedDocument> {
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const collected = new Response(pipe.readable).blob();
    let answer: Operations["openDocument"]["result"];
    try {
      answer = await this.worker.call("openDocument", { id, sink: pipe.writable });
    } catch (error) {
      collected.catch(() => undefined);
      throw error;
    }
    const content = await collected;
    return { ...answer, content: new Blob([content], { type: safeMediaType(answer.document.mediaType) }) };
  }

  /** Adds an opened PDF to the search index with the text pdf.js read of it here. */
  async indexOpenedPdf(id: string, text: string): Promise<string | null> {
    return (await this.worker.call("indexOpenedPdf", { id, text })).indexFailure;
  }

  async previewRecipients(emails: string[]): Promise<RecipientView[]> {
    return (await this.worker.call("previewRecipients", { emails })).recipients;
  }

  /** Sends `file`, telling `progress` how many bytes the worker has taken so far. */
  async sendDocument(
    file: Blob & { name: string },
    options: { patientFileId: string; to: string[]; readers: RecipientView[]; title: string; heldBack?: { accountId: string; availableFrom: string } },
    progress: (done: number, total: number) => void,
  ): Promise<{ document: DocumentView; indexFailure: string | null }> {
    let done = 0;
    const counting = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        done += chunk.byteLength;
        progress(done, file.size);
        controller.enqueue(chunk);
      },
    });
    const mediaType = file.type || "application/octet-stream";
    // A PDF's text, for the search index, read by pdf.js in its own worker first.
    const text = baseType(mediaType) === PDF ? await pdfText(new Uint8Array(await file.arrayBuffer())) : undefined;
    const source = file.stream().pipeThrough(counting);
    const answer = await this.worker.call("sendDocument", {
      patientFileId: options.patientFileId,
      to: options.to,
      readers: options.readers.map((r) => ({ accountId: r.accountId, fingerprint: r.fingerprint })),
      title: options.title,
      filename: file.name,
      mediaType,
      size: file.size,
      source,
      ...(text === undefined ? {} : { text }),
      ...(options.heldBack === undefined ? {} : { heldBack: options.heldBack }),
    });
    return answer;
  }

  /** The documents matching `query`, searched in the worker over the encrypted index. */
  async searchDocuments(query: string): Promise<DocumentView[]> {
    return (await this.worker.call("searchDocuments", { query })).documents;
  }

  pairSafetyNumber(email: string) {
    return this.worker.call("pairSafetyNumber", { email });
  }

  checkTrust() {
    return this.worker.call("checkTrust", {});
  }

  async sessions(): Promise<SessionView[]> {
    return (await this.worker.call("sessions", {})).sessions;
  }

  async revokeSession(id: string): Promise<boolean> {
    return (await this.worker.call("revokeSession", { id })).signedOut;
  }

  patientFile(patientFileId: string) {
    return this.worker.call("patientFile", { patientFileId });
  }

  async documentHistory(id: string): Promise<DocumentHistoryView> {
    return (await this.worker.call("documentHistory", { id })).history;
  }

  async nextVersion(id: string): Promise<NextVersionView> {
    return (await this.worker.call("nextVersion", { id })).next;
  }

  /** A new version of `next`'s document from `file`, refused if the document or its readers changed since. */
  async newVersion(next: NextVersionView, file: Blob & { name: string }, title: string): Promise<number> {
    const answer = await this.worker.call("newVersion", {
      id: next.id,
      confirmed: { latestVersion: next.latestVersion, readers: next.readers.map((r) => ({ accountId: r.accountId, fingerprint: r.fingerprint })) },
      title,
      filename: file.name,
      mediaType: file.type || "application/octet-stream",
      size: file.size,
      source: file.stream(),
    });
    return answer.version;
  }

  shareDocument(id: string, emails: string[], expiresAt: string | null) {
    return this.worker.call("shareDocument", { id, emails, expiresAt });
  }

  async revokeReader(id: string, email: string): Promise<number> {
    return (await this.worker.call("revokeReader", { id, email })).versions;
  }

  /** (The document's patient) Restricts it to them and its author, or lifts that; since when it is restricted. */
  async restrictDocument(id: string, restricted: boolean): Promise<string | null> {
    return (await this.worker.call("restrictDocument", { id, restricted })).restrictedAt;
  }

  async register(account: Operations["register"]["args"]): Promise<string[]> {
    return (await this.worker.call("register", account)).recoveryWords;
  }

  confirmEmail(code: string) {
    return this.worker.call("confirmEmail", { code });
  }

  beginTotpEnrolment() {
    return this.worker.call("beginTotpEnrolment", {});
  }

  finishTotpEnrolment(code: string) {
    return this.worker.call("finishTotpEnrolment", { code });
  }

  async threads(): Promise<ThreadView[]> {
    return (await this.worker.call("threads", {})).threads;
  }

  async startThread(emails: string[]): Promise<ThreadView> {
    return (await this.worker.call("startThread", { emails })).thread;
  }

  readThread(id: string, after: number) {
    return this.worker.call("readThread", { id, after });
  }

  /** A message to the thread; `file`, when given, is sent first as a document of `patientFileId`. */
  async sendMessage(id: string, text: string, file: { file: Blob & { name: string }; patientFileId: string } | null): Promise<MessageView> {
    const attachment =
      file === null
        ? null
        : {
            patientFileId: file.patientFileId,
            title: file.file.name,
            filename: file.file.name,
            mediaType: file.file.type || "application/octet-stream",
            size: file.file.size,
            source: file.file.stream(),
          };
    return (await this.worker.call("sendMessage", { id, text, attachment })).message;
  }

  async createPractice(name: string): Promise<PracticeView> {
    return (await this.worker.call("createPractice", { name })).practice;
  }

  async invitePractice(practiceId: string, email: string, role: Operations["invitePractice"]["args"]["role"]): Promise<InvitationView> {
    return (await this.worker.call("invitePractice", { practiceId, email, role })).invitation;
  }

  async invitationNotice(code: string): Promise<NoticeView> {
    return (await this.worker.call("invitationNotice", { code })).notice;
  }

  async joinPractice(code: string, noticeVersion: number | null = null): Promise<PracticeView> {
    return (await this.worker.call("joinPractice", { code, noticeVersion })).practice;
  }

  async fileInformation(patientFileId: string): Promise<InformationView[]> {
    return (await this.worker.call("fileInformation", { patientFileId })).information;
  }

  async recordInformation(patientFileId: string, informedOn: string): Promise<InformationView> {
    return (await this.worker.call("recordInformation", { patientFileId, informedOn })).information;
  }

  myConsents(): Promise<ConsentsView> {
    return this.worker.call("myConsents", {});
  }

  async consentEffect(decision: ConsentDecisionView): Promise<ConsentEffectView> {
    return (await this.worker.call("consentEffect", { decision })).effect;
  }

  decideConsent(decision: ConsentDecisionView) {
    return this.worker.call("decideConsent", { decision });
  }

  async practiceStudies(practiceId: string): Promise<StudyView[]> {
    return (await this.worker.call("practiceStudies", { practiceId })).studies;
  }

  rightsRequests(): Promise<RightsView> {
    return this.worker.call("rightsRequests", {});
  }

  /** (Patients) The breach notices your practices sent you. */
  async breachNotices(): Promise<BreachNotice[]> {
    return (await this.worker.call("breachNotices", {})).notices;
  }

  async askRight(practiceId: string, right: RightsRequestView["right"]): Promise<RightsRequestView> {
    return (await this.worker.call("askRight", { practiceId, right })).request;
  }

  async vouchForIdentity(practiceId: string, accountId: string): Promise<MemberView> {
    return (await this.worker.call("vouchForIdentity", { practiceId, accountId })).member;
  }

  async retentionPolicy(practiceId: string): Promise<RetentionPolicyView> {
    return (await this.worker.call("retentionPolicy", { practiceId })).policy;
  }

  async setRetentionPolicy(practiceId: string, policy: RetentionPolicyView): Promise<RetentionPolicyView> {
    return (await this.worker.call("setRetentionPolicy", { practiceId, policy })).policy;
  }

  async alerts(practiceId: string, status: AlertListingView, before?: string): Promise<AlertView[]> {
    return (await this.worker.call("alerts", before === undefined ? { practiceId, status } : { practiceId, status, before })).alerts;
  }

  async dismissAlert(practiceId: string, alertId: string, reason: string): Promise<AlertView> {
    return (await this.worker.call("dismissAlert", { practiceId, alertId, reason })).alert;
  }

  openAlertIncident(practiceId: string, alertId: string): Promise<{ alert: AlertView; incident: AlertIncidentView }> {
    return this.worker.call("openAlertIncident", { practiceId, alertId });
  }

  async compliance(practiceId: string): Promise<ComplianceView> {
    return (await this.worker.call("compliance", { practiceId })).dashboard;
  }

  async complianceReport(practiceId: string): Promise<Uint8Array<ArrayBuffer>> {
    return (await this.worker.call("complianceReport", { practiceId })).report;
  }

  anomalySettings(practiceId: string): Promise<AnomalySettingsView> {
    return this.worker.call("anomalySettings", { practiceId });
  }

  async setAnomalySettings(practiceId: string, thresholds: ThresholdsView): Promise<ThresholdsView> {
    return (await this.worker.call("setAnomalySettings", { practiceId, thresholds })).thresholds;
  }

  async practiceRightsRequests(practiceId: string): Promise<RightsRequestView[]> {
    return (await this.worker.call("practiceRightsRequests", { practiceId })).requests;
  }

  async answerRightsRequest(practiceId: string, id: string, answer: Operations["answerRightsRequest"]["args"]["answer"], text: string): Promise<RightsRequestView> {
    return (await this.worker.call("answerRightsRequest", { practiceId, id, answer, text })).request;
  }

  async recordRetentionFacts(patientFileId: string, facts: Operations["recordRetentionFacts"]["args"]["facts"]): Promise<PatientFileView["retention"]> {
    return (await this.worker.call("recordRetentionFacts", { patientFileId, facts })).retention;
  }

  async exportActivity(practiceId: string): Promise<string> {
    return (await this.worker.call("exportActivity", { practiceId })).bundle;
  }

  async withdrawRight(id: string): Promise<RightsRequestView> {
    return (await this.worker.call("withdrawRight", { id })).request;
  }

  async accountDeletionPreview(): Promise<AccountDeletionView> {
    return (await this.worker.call("accountDeletionPreview", {})).deletion;
  }

  async deleteAccount(): Promise<AccountDeletionView> {
    return (await this.worker.call("deleteAccount", {})).deletion;
  }

  /** Your access history, or a practice's activity (its admins), proven complete. */
  async history(practiceId: string | null = null): Promise<HistoryView> {
    return (await this.worker.call("history", practiceId === null ? {} : { practiceId })).history;
  }

  async passkeys() {
    return (await this.worker.call("passkeys", {})).passkeys;
  }

  async beginPasskeyEnrolment() {
    return (await this.worker.call("beginPasskeyEnrolment", {})).options;
  }

  async finishPasskeyEnrolment(credential: Record<string, unknown>, name: string) {
    return (await this.worker.call("finishPasskeyEnrolment", { credential, name })).passkeys;
  }

  async passkeySignInOptions() {
    return (await this.worker.call("passkeySignInOptions", {})).options;
  }

  async finishPasskeySignIn(credential: Record<string, unknown>): Promise<AccountView> {
    return (await this.worker.call("finishPasskeySignIn", { credential })).account;
  }

  async beginProfessionalSignIn(): Promise<string> {
    return (await this.worker.call("beginProfessionalSignIn", {})).url;
  }

  finishProfessionalSignIn(landed: string) {
    return this.worker.call("finishProfessionalSignIn", { landed });
  }

  async unlockProfessionalSignIn(password: string): Promise<AccountView> {
    return (await this.worker.call("unlockProfessionalSignIn", { password })).account;
  }

  async professionalIdentities() {
    return (await this.worker.call("professionalIdentities", {})).identities;
  }

  async beginProfessionalLink(): Promise<string> {
    return (await this.worker.call("beginProfessionalLink", {})).url;
  }

  async finishProfessionalLink(landed: string) {
    return (await this.worker.call("finishProfessionalLink", { landed })).identities;
  }

  lockKeys() {
    return this.worker.call("lockKeys", {});
  }

  async unlockKeys(password: string): Promise<AccountView> {
    return (await this.worker.call("unlockKeys", { password })).account;
  }

  async unblock(token: string): Promise<"password" | "factors"> {
    return (await this.worker.call("unblock", { token })).unblocked;
  }

  async startPasswordRecovery(email: string): Promise<void> {
    await this.worker.call("startPasswordRecovery", { email });
  }

  async recoveryPasskeyOptions() {
    return (await this.worker.call("recoveryPasskeyOptions", {})).options;
  }

  async provePasswordRecovery(code: string, factor: { totp: string } | { recoveryCode: string } | { credential: Record<string, unknown> }): Promise<void> {
    await this.worker.call("provePasswordRecovery", { code, ...factor });
  }

  /** The address to sign in with; the words and the password are the worker's alone after this. */
  async finishPasswordRecovery(words: string, password: string): Promise<string> {
    return (await this.worker.call("finishPasswordRecovery", { words, password })).email;
  }

  async removePasskey(id: string) {
    return (await this.worker.call("removePasskey", { id })).passkeys;
  }

  async stepUpPasskeyOptions() {
    return (await this.worker.call("stepUpPasskeyOptions", {})).options;
  }

  async stepUp(factor: { totp: string } | { recoveryCode: string } | { credential: Record<string, unknown> }): Promise<void> {
    await this.worker.call("stepUp", factor);
  }

  /** The current and the new password go to the worker, which re-seals the keys. */
  async rotateKeys(password: string): Promise<{ recoveryWords: string[]; keyVersion: number }> {
    return this.worker.call("rotateKeys", { password });
  }

  /** After a rotation for a suspected compromise: the server's copies of this account's keys wrapped again to the new keys. */
  async rewrapKeys(): Promise<{ versions: number; messages: number; unopened: number }> {
    return this.worker.call("rewrapKeys", {});
  }

  async changePassword(current: string, password: string): Promise<void> {
    await this.worker.call("changePassword", { current, password });
  }

  async renewRecoveryCodes(): Promise<string[]> {
    return (await this.worker.call("renewRecoveryCodes", {})).recoveryCodes;
  }

  async unlinkProfessionalIdentity(id: string) {
    return (await this.worker.call("unlinkProfessionalIdentity", { id })).identities;
  }

  async patientInvitations(practiceId: string) {
    return (await this.worker.call("patientInvitations", { practiceId })).invitations;
  }

  async openInvitedPatientFile(practiceId: string, email: string) {
    return (await this.worker.call("openInvitedPatientFile", { practiceId, email })).patient;
  }

  async sharePending(documentId: string, practiceId: string, invitationId: string) {
    return (await this.worker.call("sharePending", { documentId, practiceId, invitationId })).pending;
  }

  async pendingShares() {
    return (await this.worker.call("pendingShares", {})).pending;
  }

  async completePendingShares() {
    return (await this.worker.call("completePendingShares", {})).outcomes;
  }
}

/**
 * The media types the page shows itself: a raster image or plain text, and a PDF drawn
 * by pdf_viewer.ts into canvases. Only the first two keep their type on the decrypted
 * bytes: anything else, a PDF included, is typed as bytes to save, so that no document
 * can be opened by the browser as a page of this origin, or handed to a viewer of its
 * own, whatever its sender claimed.
 */
const TYPED_CONTENT = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"]);
const PDF = "application/pdf";

/** The type without its parameters, as the browser compares types. */
function baseType(mediaType: string): string {
  return mediaType.split(";")[0]!.trim().toLowerCase();
}

export function safeMediaType(mediaType: string): string {
  const base = baseType(mediaType);
  return TYPED_CONTENT.has(base) ? base : "application/octet-stream";
}

export function isShownInline(mediaType: string): "image" | "text" | "pdf" | null {
  const base = baseType(mediaType);
  if (base === PDF) return "pdf";
  const safe = safeMediaType(base);
  if (safe.startsWith("image/")) return "image";
  if (safe === "text/plain") return "text";
  return null;
}
