/**
 * The message API between the page and the crypto worker (worker.ts): each request
 * carries an id, an operation and its arguments; each answer carries the same id
 * and either the result or the refusal's identifier. Bytes cross as transferables,
 * so nothing is copied and the sender keeps no view of them; the source and sink of
 * a seal or an open cross as ports that carry their pieces the same way (pieces.ts).
 *
 * No answer ever carries a private key or a document key: the page gets public
 * bundles, auth secrets (which the server sees anyway), wrapped keys, digests and
 * signatures.
 */

import type { Purpose } from "../protocol/signature.js";
import type { SuiteName } from "../protocol/wrap.js";
import type { Directive, DocumentHistory, NextVersion, Retention, RetentionFacts } from "../client/patient_files.js";
import type { MessageView, ThreadView } from "../client/messages.js";
import type { InvitationView, MemberView, PracticeView, RetentionPolicyView, Role } from "../client/practices.js";
import type { ConsentEffect, Decision as ConsentDecisionArgs, DirectiveVersion, Information, MyFile, Notice, Study } from "../client/consents.js";
import type { AccountDeletionView, Answer, Right, RightsRequestView } from "../client/rights.js";
import type { BreachNotice } from "../client/breach_notices.js";
import type { HistoryView } from "../client/journal_history.js";
import type { ProfessionalIdentity } from "../client/federation.js";
import type { PasskeyCredential, PasskeyOptions, PasskeyView } from "../client/passkeys.js";
import type { PatientInvitationView, PendingOutcome, PendingShareView } from "../client/pending.js";
import type { ExportOutcome } from "../client/portability.js";
import type { AlertIncidentView, AlertListing, AlertView, SettingsChangeView, ThresholdsView } from "../client/alerts.js";
import type { ComplianceView } from "../client/compliance.js";

/** The operations on keys alone (service.ts). */
export interface CryptoOperations {
  /** Opens the keystore with the password; the keys stay in the worker. */
  unlockWithPassword: {
    args: { keystore: Uint8Array; password: string };
    result: { bundle: Uint8Array; authSecret: Uint8Array };
  };
  /** Opens the keystore with the 24 recovery words. */
  unlockWithRecoveryWords: { args: { keystore: Uint8Array; words: string }; result: { bundle: Uint8Array } };
  /** Forgets the unlocked keys. */
  lock: { args: Record<string, never>; result: { locked: true } };
  /** The unlocked account's public key bundle. */
  publicBundle: { args: Record<string, never>; result: { bundle: Uint8Array } };
  /** Signs a digest for a purpose of PROTOCOL 4 with the unlocked signing key. */
  sign: { args: { purpose: Purpose; digest: Uint8Array }; result: { signature: Uint8Array } };
  /**
   * Seals `source` into `sink` under a fresh document key and wraps that key for
   * each recipient bundle, in order; the document key never leaves the worker.
   */
  seal: {
    args: {
      source: ReadableStream<Uint8Array>;
      sink: WritableStream<Uint8Array>;
      recipients: Uint8Array[];
      suite?: SuiteName;
      chunkLog2?: number;
    };
    result: { header: Uint8Array; contentDigest: Uint8Array; wrappedKeys: Uint8Array[] };
  };
  /** Unwraps `wrappedKey` with the unlocked keys and opens `source` into `sink`. */
  open: {
    args: { source: ReadableStream<Uint8Array>; sink: WritableStream<Uint8Array>; wrappedKey: Uint8Array };
    result: { contentDigest: Uint8Array };
  };
}

export type CryptoOperation = keyof CryptoOperations;

/** What the screens show of the signed-in account. */
export interface AccountView {
  id: string;
  email: string;
  name: string;
  kind: string;
}

/** A document as the screens list it: its title, name and type decrypted in the worker. */
export interface DocumentView {
  id: string;
  version: number;
  title: string;
  filename: string;
  mediaType: string;
  size: number;
  authorEmail: string;
  authorName: string;
  patientFileId: string;
  /** As the server names the patient to this account (a reader, a listed patient, yourself); "" if it did not. */
  patientName: string;
  /** ISO 8601. */
  createdAt: string;
  /** The readers' addresses. */
  recipients: string[];
  /**
   * Whether the author and readers are the signed ones (the manifest's signature
   * checked with a key the directory proves, the readers vouched for from the signed
   * history); when false, both are left empty rather than taken from the server.
   */
  verified: boolean;
  /** When this account first opened this version (ISO 8601); null: new to it. */
  readAt: string | null;
  /** ISO 8601: its author holds this account's copy back until then (R28); title and name are empty, nothing opens before. */
  availableFrom: string | null;
  /** ISO 8601: since when its patient restricted it to themselves and its author (R28); null if not (only they are told). */
  restrictedAt: string | null;
}

export interface PatientView {
  patientFileId: string;
  patientId: string;
  email: string;
  name: string;
}

/**
 * The operations of the signed-in client (session.ts), which alone talks to the
 * server: the tokens and the password stay in the worker, every key used is proven
 * in the key directory, every document checked against its author's signature.
 * A refusal names the server's status ("unauthorized", "not_found"... with its
 * `detail`), the client's check ("exchange_refused", "directory_refused"...) or the
 * protocol's identifier ("invalid_signature", "invalid_proof", "chunk_authentication:n"...).
 */
/** A second factor as the person gave it: an app's code, a recovery code or a passkey's answer. */
export interface SecondFactorArgs {
  totp?: string;
  recoveryCode?: string;
  credential?: PasskeyCredential;
}

export interface ClientOperations {
  /** Prelogin, auth secret, proof of work, POST /auth/login: the second factors the account has. */
  signIn: { args: { email: string; password: string }; result: { factors: SignInFactor[] } };
  /** The second factor, tokens (kept here), the keystore unlocked, the account checked in the directory. */
  finishSignIn: { args: { totp?: string; recoveryCode?: string }; result: { account: AccountView } };
  /** Forgets a sign-in under way (its password above all): the sign-in screen's "Recommencer". */
  cancelSignIn: { args: Record<string, never>; result: { cancelled: true } };
  /** Revokes the refresh token and locks the keys. */
  signOut: { args: Record<string, never>; result: { signedOut: true } };
  account: { args: Record<string, never>; result: { account: AccountView | null } };
  practices: { args: Record<string, never>; result: { practices: { id: string; name: string; role: string }[] } };
  patients: { args: { practiceId: string }; result: { patients: PatientView[] } };
  members: { args: { practiceId: string }; result: { members: MemberView[] } };
  /** Newest first. */
  inbox: { args: Record<string, never>; result: { documents: DocumentView[] } };
  /** The sink is closed once everything is checked, aborted on a refusal. */
  openDocument: {
    args: { id: string; sink: WritableStream<Uint8Array> };
    /**
     * `signerFormerKeyVersion`: the key version, when the signer has replaced those keys since (PROTOCOL 10.6).
     * `indexFailure`: why the document could not be added to the search index (null once added): told, never fatal.
     * `indexDeferred`: a PDF, indexed once the page gives its text (indexOpenedPdf).
     */
    result: { document: DocumentView; signer: string; signerFormerKeyVersion: number | null; indexFailure: string | null; indexDeferred: boolean };
  };
  /**
   * A PDF openDocument answered `indexDeferred` for, indexed with the text the page's
   * pdf.js read of it (app/pdf_viewer.ts pdfText; "" when it could not).
   */
  indexOpenedPdf: { args: { id: string; text: string }; result: { indexFailure: string | null } };
  /**
   * The documents matching every word of `query` (words, names or their first three
   * letters, dates) in the personal search index, searched here (PROTOCOL 18): those
   * still yours to open, the most words matched first, then the newest.
   */
  searchDocuments: { args: { query: string }; result: { documents: DocumentView[] } };
  /** The people a document for `emails` would be encrypted for (yourself first), each proven in the key directory. */
  previewRecipients: {
    args: { emails: string[] };
    result: { recipients: { email: string; accountId: string; name: string; fingerprint: string }[] };
  };
  sendDocument: {
    args: {
      patientFileId: string;
      to: string[];
      /** The readers previewRecipients gave and the person reviewed: refused if they changed. */
      readers: { accountId: string; fingerprint: string }[];
      title: string;
      filename: string;
      mediaType: string;
      size: number;
      source: ReadableStream<Uint8Array>;
      /** A PDF's text as the page's pdf.js read it, indexed in place of its bytes. */
      text?: string;
      /** The patient's copy, held back until then (R28): the patient must be among `readers`. */
      heldBack?: { accountId: string; availableFrom: string };
    };
    /** `indexFailure`: as openDocument's. */
    result: { document: DocumentView; indexFailure: string | null };
  };
  /** The number you and `email` compare out of band, from both proven entries. */
  pairSafetyNumber: { args: { email: string }; result: { number: string; fingerprint: string } };
  /**
   * The background checks (client/trust.ts): the key directory's head consistent with
   * the pinned one and still holding your keys, the journal's head consistent with its
   * pin and every entry recomputed into its signed roots. A failure is refused
   * ("directory_refused", "log_refused", "exchange_refused", "invalid_proof"...).
   */
  checkTrust: { args: Record<string, never>; result: TrustCheckView };
  /** The devices signed in to this account (GET /auth/sessions). */
  sessions: { args: Record<string, never>; result: { sessions: SessionView[] } };
  /** Signs a device out; revoking this one signs this worker out too (`signedOut`). */
  revokeSession: { args: { id: string }; result: { signedOut: boolean } };
  /** A patient file: its documents you can read (newest first), the patient's consent directives and the file's retention end. */
  patientFile: { args: { patientFileId: string }; result: { documents: DocumentView[]; consents: Directive[]; retention: Retention } };
  /** A document's versions (newest first), readers with their end of access, and whose access ended, its history checked. */
  documentHistory: { args: { id: string }; result: { history: DocumentHistory } };
  /** What a new version would continue and who could read it (yourself first, proven): nothing is encrypted. */
  nextVersion: { args: { id: string }; result: { next: NextVersion } };
  /** The new version, refused unless the document and its readers are still those `confirmed` (from nextVersion). */
  newVersion: {
    args: {
      id: string;
      confirmed: { latestVersion: number; readers: { accountId: string; fingerprint: string }[] };
      title: string;
      filename: string;
      mediaType: string;
      size: number;
      source: ReadableStream<Uint8Array>;
      /** A PDF's text as the page's pdf.js read it, indexed in place of its bytes. */
      text?: string;
    };
    result: { version: number };
  };
  /** Every version you can read given to `emails`, until `expiresAt` (ISO 8601) or without end. */
  shareDocument: { args: { id: string; emails: string[]; expiresAt: string | null }; result: { shared: true } };
  /** `email`'s access to every version ended; how many versions' keys the server erased. */
  revokeReader: { args: { id: string; email: string }; result: { versions: number } };
  /** (The document's patient) Restricted to them and its author, or lifted; since when it is restricted. */
  restrictDocument: { args: { id: string; restricted: boolean }; result: { restrictedAt: string | null } };
  /**
   * Makes the keys and the keystore here and registers them; the 24 recovery words
   * are answered once, to be shown. The password is kept here until the address is
   * confirmed and the authenticator app enrolled, so that it is typed once.
   */
  register: {
    args: { email: string; password: string; name: string; kind: "practitioner" | "patient"; rpps?: string; invitation?: string; noticeVersion?: number };
    result: { recoveryWords: string[] };
  };
  /** Confirms the registered address with the mailed code. */
  confirmEmail: { args: { code: string }; result: { confirmed: true } };
  /** Signs the new account in and starts enrolling an authenticator app: its key, as text and as an otpauth URI. */
  beginTotpEnrolment: { args: Record<string, never>; result: { secret: string; otpauthUri: string } };
  /** Confirms the app with one of its codes and finishes the sign-in; the recovery codes are answered once. */
  finishTotpEnrolment: { args: { code: string }; result: { account: AccountView; recoveryCodes: string[] } };
  /** Your threads, most recent first, each with its signed membership checked (or why it does not verify). */
  threads: { args: Record<string, never>; result: { threads: ThreadView[] } };
  /** A thread with the people at `emails` and you, each proven in the key directory, its members signed here. */
  startThread: { args: { emails: string[] }; result: { thread: ThreadView } };
  /**
   * The thread and its messages after `after`, each shown only once its signature and
   * sender verify (refused with the reason otherwise); then a read receipt.
   */
  readThread: { args: { id: string; after: number }; result: { thread: ThreadView; messages: MessageView[] } };
  /** Encrypted and signed here for the thread's verified members; a file attached is sent first as a document of `patientFileId`. */
  sendMessage: {
    args: {
      id: string;
      text: string;
      attachment: { patientFileId: string; title: string; filename: string; mediaType: string; size: number; source: ReadableStream<Uint8Array> } | null;
    };
    result: { message: MessageView };
  };
  /** A new practice, the signed-in account its admin. */
  createPractice: { args: { name: string }; result: { practice: PracticeView } };
  /** (Admins) Invites `email` as `role`: the code goes to them by mail only, never to the page. */
  invitePractice: { args: { practiceId: string; email: string; role: Role }; result: { invitation: InvitationView } };
  /** (Admins) Vouches for a practitioner member's professional identity; the member answered, verified. */
  vouchForIdentity: { args: { practiceId: string; accountId: string }; result: { member: MemberView } };
  /** A practice's retention policy; (admins) a new one. */
  retentionPolicy: { args: { practiceId: string }; result: { policy: RetentionPolicyView } };
  setRetentionPolicy: { args: { practiceId: string; policy: RetentionPolicyView }; result: { policy: RetentionPolicyView } };
  /** (Practice side) The practice's open rights requests, each checked to be made to it, the nearest deadline first. */
  practiceRightsRequests: { args: { practiceId: string }; result: { requests: RightsRequestView[] } };
  /** (Practice side) Answers a request: done, extended or refused, with the words told to the patient. */
  answerRightsRequest: { args: { practiceId: string; id: string; answer: Answer; text: string }; result: { request: RightsRequestView } };
  /** (Admins) The practice's anomaly alerts of `status`, newest first, a page after the alert `before`. */
  alerts: { args: { practiceId: string; status: AlertListing; before?: string }; result: { alerts: AlertView[] } };
  /** (Admins) Closes an open alert as no breach, with the reason. */
  dismissAlert: { args: { practiceId: string; alertId: string; reason: string }; result: { alert: AlertView } };
  /** (Admins) Opens an incident of the breach register from an open alert; the alert and that incident. */
  openAlertIncident: { args: { practiceId: string; alertId: string }; result: { alert: AlertView; incident: AlertIncidentView } };
  /** (Admins) The thresholds of the practice's anomaly rules, and their last changes; a new set of them. */
  anomalySettings: { args: { practiceId: string }; result: { thresholds: ThresholdsView; changes: SettingsChangeView[] } };
  setAnomalySettings: { args: { practiceId: string; thresholds: ThresholdsView }; result: { thresholds: ThresholdsView } };
  /** (Admins) The practice's compliance dashboard; the same as the server's dated PDF report. */
  compliance: { args: { practiceId: string }; result: { dashboard: ComplianceView } };
  complianceReport: { args: { practiceId: string }; result: { report: Uint8Array<ArrayBuffer> } };
  /** Records retention facts of a patient file; its retention after them. */
  recordRetentionFacts: { args: { patientFileId: string; facts: RetentionFacts }; result: { retention: Retention } };
  /** (Admins) The practice's activity as a FHIR Bundle of AuditEvents (its JSON text, checked to be one). */
  exportActivity: { args: { practiceId: string }; result: { bundle: string } };
  /** The information notice of the practice whose invitation `code` is, shown before accepting it. */
  invitationNotice: { args: { code: string }; result: { notice: Notice } };
  /** Accepts an invitation with the signed-in account, naming the notice version shown (patients); the code is not answered back. */
  joinPractice: { args: { code: string; noticeVersion: number | null }; result: { practice: PracticeView } };
  /** (Practitioners) When and how a file's patient was informed; recording that you informed them in person (signed). */
  fileInformation: { args: { patientFileId: string }; result: { information: Information[] } };
  recordInformation: { args: { patientFileId: string; informedOn: string }; result: { information: Information } };
  /** (Patients) The practices holding a file about you, every version of your consent directives (the history checked), and the research studies of each practice open to you. */
  myConsents: { args: Record<string, never>; result: { files: MyFile[]; history: DirectiveVersion[]; studies: Study[]; information: Information[] } };
  /** Who would lose access to which of your documents if `decision` were recorded: nothing is sent. */
  consentEffect: { args: { decision: ConsentDecisionArgs }; result: { effect: ConsentEffect } };
  /** Records `decision`, signed; the directive recorded, how many accesses ended, and the history after it. */
  decideConsent: { args: { decision: ConsentDecisionArgs }; result: { directive: DirectiveVersion; sharesEnded: number; history: DirectiveVersion[]; studies: Study[] } };
  /** (Practice side) The practice's research studies, with how many patients take part now for those who read its records. */
  practiceStudies: { args: { practiceId: string }; result: { studies: Study[] } };
  /** (Patients) The practices holding a file about you and your rights requests, the most recent first. */
  rightsRequests: { args: Record<string, never>; result: { files: MyFile[]; requests: RightsRequestView[] } };
  /** Asks a practice to act on your file (signed). */
  askRight: { args: { practiceId: string; right: Right }; result: { request: RightsRequestView } };
  /** (Patients) The breach notices your practices sent you (art. 34), the newest first. */
  breachNotices: { args: Record<string, never>; result: { notices: BreachNotice[] } };
  /** Withdraws a pending request (signed). */
  withdrawRight: { args: { id: string }; result: { request: RightsRequestView } };
  /** (Patients) What deleting your account would erase and keep, and until when: nothing is changed. */
  accountDeletionPreview: { args: Record<string, never>; result: { deletion: AccountDeletionView } };
  /** (Patients) Deletes your account (a step-up first); the session ends with it. What was erased and what is kept. */
  deleteAccount: { args: Record<string, never>; result: { deletion: AccountDeletionView } };
  /**
   * (Patients) Every document about you that you can read, newest first, listed as the
   * inbox lists them (author and readers only as verified), and the practices holding
   * a file about you, to group them by.
   */
  myDocuments: { args: Record<string, never>; result: { documents: DocumentView[]; files: MyFile[] } };
  /**
   * (Patients) Your FHIR R4 export (PROTOCOL 15) written into `sink`: every version
   * you hold verified and decrypted here. The sink is closed once the whole bundle is
   * written, aborted if any version fails its checks or is too large.
   */
  exportRecord: { args: { sink: WritableStream<Uint8Array> }; result: ExportOutcome };
  /** One document you can read, as the inbox lists it (GET /documents/{id}): nothing else is listed. */
  document: { args: { id: string }; result: { document: DocumentView } };
  /**
   * Your access history (a patient), or a practice's activity (its admins, with
   * `practiceId`), every entry proven in the journal and the whole proven complete
   * (client/journal_history.ts); a gap is refused as "history_incomplete".
   */
  history: { args: { practiceId?: string }; result: { history: HistoryView } };
  /** The passkeys of the signed-in account. */
  passkeys: { args: Record<string, never>; result: { passkeys: PasskeyView[] } };
  /** Options for navigator.credentials.create() to add a passkey (a second factor proven in the last minutes needed). */
  beginPasskeyEnrolment: { args: Record<string, never>; result: { options: PasskeyOptions } };
  /**
   * Adds the authenticator's answer to beginPasskeyEnrolment's options, refused unless
   * it answers that very challenge from this origin; the addition is signed with the
   * account's key (PROTOCOL 16.4), here. Other devices are signed out by the server.
   */
  finishPasskeyEnrolment: { args: { credential: PasskeyCredential; name: string }; result: { passkeys: PasskeyView[] } };
  /** Options for navigator.credentials.get() to prove the second factor of the sign-in under way. */
  passkeySignInOptions: { args: Record<string, never>; result: { options: PasskeyOptions } };
  /** The sign-in under way finished with the authenticator's answer, as finishSignIn with a code. */
  finishPasskeySignIn: { args: { credential: PasskeyCredential }; result: { account: AccountView } };
  /** The address to open in a window of its own to sign in with an e-CPS (Pro Santé Connect); the request's state and verifier stay here. */
  beginProfessionalSignIn: { args: Record<string, never>; result: { url: string } };
  /**
   * The address the provider's window came back to: its code exchanged for tokens
   * (kept here), refused unless it answers this worker's request. Whom they are for,
   * to greet before the password unlocks the keys.
   */
  finishProfessionalSignIn: { args: { landed: string }; result: { email: string; name: string } };
  /** The keystore opened with the password (tried again after a wrong one), the account checked in the directory. */
  unlockProfessionalSignIn: { args: { password: string }; result: { account: AccountView } };
  /** The e-CPS linked to the signed-in account. */
  professionalIdentities: { args: Record<string, never>; result: { identities: ProfessionalIdentity[] } };
  /** The provider's address to open in a window of its own to link an e-CPS (a second factor proven in the last minutes needed). */
  beginProfessionalLink: { args: Record<string, never>; result: { url: string } };
  /** The address that window came back to: its link code redeemed with this worker's verifier, refused unless it answers this request. */
  finishProfessionalLink: { args: { landed: string }; result: { identities: ProfessionalIdentity[] } };
  /** The idle lock: the keys wiped, the session kept; every operation refused as *locked* until unlockKeys. */
  lockKeys: { args: Record<string, never>; result: { locked: true } };
  /** The keys of the locked session again, with the password; too many wrong ones end the session. */
  unlockKeys: { args: { password: string }; result: { account: AccountView } };
  /** The link mailed when 100 failures in a row blocked the password or the codes (R7): used once. */
  unblock: { args: { token: string }; result: { unblocked: "password" | "factors" } };
  /** A forgotten password (PROTOCOL 16.5): a one-time code mailed to the address (the server answers alike for any). */
  startPasswordRecovery: { args: { email: string }; result: { mailed: true } };
  /**
   * The mailed code and a second factor proven (an app's code, a recovery code, or a
   * passkey's answer to recoveryPasskeyOptions); the keystore handed over stays here.
   */
  provePasswordRecovery: { args: { code: string } & SecondFactorArgs; result: { proven: true } };
  /**
   * The keystore opened here with the 24 words, re-sealed under the new password and
   * signed; the server ends every session. The address to sign in with, again.
   */
  finishPasswordRecovery: { args: { words: string; password: string }; result: { email: string } };
  /** Options for navigator.credentials.get() to prove the recovery's second factor with a passkey. */
  recoveryPasskeyOptions: { args: Record<string, never>; result: { options: PasskeyOptions } };
  /** Removes a passkey of the signed-in account, the removal signed with its key (16.4). */
  removePasskey: { args: { id: string }; result: { passkeys: PasskeyView[] } };
  /** Options for navigator.credentials.get() to prove the step-up's second factor with a passkey. */
  stepUpPasskeyOptions: { args: Record<string, never>; result: { options: PasskeyOptions } };
  /**
   * A second factor proven again (an app's code, a recovery code, or a passkey's
   * answer to stepUpPasskeyOptions): the session may make sensitive changes for a few
   * minutes (PROTOCOL, sign-in values on the wire).
   */
  stepUp: { args: SecondFactorArgs; result: { proven: true } };
  /**
   * The keys re-sealed here under a new password (refused if weak), the change signed
   * with the key the current keystore holds (16.2); the server signs the other devices out.
   */
  changePassword: { args: { current: string; password: string }; result: { changed: true } };
  /**
   * New keys made here and published with a statement the current and the new keys
   * sign (10.6); the former keys are kept in the keystore, sealed under the new ones.
   * The new recovery words are shown once; the server signs the other devices out.
   */
  rotateKeys: { args: { password: string }; result: { recoveryWords: string[]; keyVersion: number } };
  /** After a rotation for a suspected compromise: the server's copies wrapped again (PROTOCOL 10.6). */
  rewrapKeys: { args: Record<string, never>; result: { versions: number; messages: number; unopened: number } };
  /** New recovery codes, shown once; the renewal signed with the account's key (16.4). */
  renewRecoveryCodes: { args: Record<string, never>; result: { recoveryCodes: string[] } };
  /** Unlinks an e-CPS from the signed-in account (a second factor proven in the last minutes needed). */
  unlinkProfessionalIdentity: { args: { id: string }; result: { identities: ProfessionalIdentity[] } };
  /** Pending shares (PROTOCOL 11.6): the practice's patients invited and not joined yet. */
  patientInvitations: { args: { practiceId: string }; result: { invitations: PatientInvitationView[] } };
  /** The file of a patient the practice invited who has no account yet (POST /patient-files). */
  openInvitedPatientFile: { args: { practiceId: string; email: string }; result: { patient: PatientView } };
  /** The document's latest version you read waits for the invited patient, your statement naming them signed here. */
  sharePending: { args: { documentId: string; practiceId: string; invitationId: string }; result: { pending: PendingShareView } };
  /** Your pending shares, newest first. */
  pendingShares: { args: Record<string, never>; result: { pending: PendingShareView[] } };
  /** Each one whose patient joined, shared from here once their keys are proven in the directory; or why not. */
  completePendingShares: { args: Record<string, never>; result: { outcomes: PendingOutcome[] } };
}

/** The second factors a sign-in may be finished with. */
export type SignInFactor = "totp" | "recovery_code" | "webauthn";

/** What the background checks verified: the sizes of both logs, as decimal strings. */
export interface TrustCheckView {
  directorySize: string;
  journalSize: string;
  /** ISO 8601. */
  checkedAt: string;
}

export interface SessionView {
  id: string;
  deviceName: string;
  clientId: string;
  /** ISO 8601. */
  createdAt: string;
  lastUsedAt: string;
  current: boolean;
}

export type ClientOperation = keyof ClientOperations;

export interface Operations extends CryptoOperations, ClientOperations {}

export type Operation = keyof Operations;

/** A private key the worker holds, described without its value. */
export type HeldKey =
  | { kind: "CryptoKey"; algorithm: string; extractable: boolean; usages: string[] }
  | { kind: "bytes"; length: number };

/**
 * The answer to `describeKeys`, a request only the app-tests build answers (worker.ts;
 * every other build refuses it as *unknown_operation*): what the worker holds after
 * an unlock, and that it holds nothing after a lock.
 */
export interface HeldKeys {
  unlocked: boolean;
  signing: HeldKey | null;
  x25519: HeldKey | null;
  xwing: HeldKey | null;
}

export const DESCRIBE_KEYS = "describeKeys";

export interface Request<Op extends Operation = Operation> {
  id: number;
  op: Op;
  args: Operations[Op]["args"];
}

/** Refusals of the worker itself, beside the protocol's (PROTOCOL 8.1). */
export class WorkerError extends Error {
  constructor(
    readonly identifier: "locked" | "unknown_operation",
    message: string,
  ) {
    super(message);
    this.name = "WorkerError";
  }
}

export type Response<Op extends Operation = Operation> =
  | { id: number; ok: true; result: Operations[Op]["result"] }
  /**
   * `identifier` is the protocol's error identifier, or "internal" for anything else;
   * `id` is null for a request that had no numeric id (refused as *malformed*).
   */
  | { id: number | null; ok: false; identifier: string; message: string };

/** What can be moved rather than copied: the buffers of byte arrays, streams and ports. */
export function transferablesOf(value: unknown): Transferable[] {
  const found = new Set<Transferable>();
  const visit = (v: unknown): void => {
    if (v instanceof Uint8Array) {
      if (v.buffer instanceof ArrayBuffer && v.byteLength === v.buffer.byteLength) found.add(v.buffer);
    } else if (v instanceof ReadableStream || v instanceof WritableStream || v instanceof MessagePort) {
      found.add(v as unknown as Transferable);
    } else if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (v !== null && typeof v === "object") {
      Object.values(v).forEach(visit);
    }
  };
  visit(value);
  return [...found];
}
