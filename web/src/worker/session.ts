/**
 * The crypto worker's signed-in client: the operations of messages.ts's
 * ClientOperations on top of the key operations of service.ts. The password (between
 * signIn and finishSignIn), the tokens and the unlocked keys stay here; the page gets
 * views of what it may show, never a key or a token.
 */

import { checkWrappedKey } from "../protocol/wrap.js";
import { generateDocumentKey } from "../protocol/envelope.js";
import { pairSafetyNumber } from "../protocol/directory.js";
import type { Purpose } from "../protocol/signature.js";
import {
  type LoginState,
  type SecondFactor,
  type Tokens,
  authorize,
  deriveAuthSecret,
  fetchKeystore,
  noSignIn,
  proveSecondFactor,
  revoke,
  startLogin,
  unblockAuthenticator,
} from "../client/auth.js";
import { confirmTotp, enrolTotp, register, verifyEmail } from "../client/registration.js";
import { recoveryWords } from "../protocol/keystore.js";
import { Documents, type ServedDocument, fingerprintOf } from "../client/documents.js";
import { MAX_INDEXED_TEXT_BYTES, MAX_QUERY_CHARS, PDF_MEDIA_TYPE, SearchIndex, boundedText, copyingSink, copyingSource, indexedBytes, textOf } from "../client/search.js";
import { ApiError, ClientRefusal, type Fetch, Http } from "../client/http.js";
import { PatientFiles } from "../client/patient_files.js";
import { Messaging } from "../client/messages.js";
import { Consents, fileInformation, invitationNotice, myInformation, recordInformation } from "../client/consents.js";
import { PracticeRights, Rights } from "../client/rights.js";
import { type PinStore, pinStoreFor } from "../client/pins.js";
import { type HeldKeys, Session } from "../client/session.js";
import { Wire } from "../client/wire.js";
import { TrustChecks, listSessions, revokeSession } from "../client/trust.js";
import {
  createPractice,
  exportActivity,
  invite,
  joinPractice,
  listMembers,
  listPractices,
  retentionPolicy,
  setRetentionPolicy,
  vouchForIdentity,
} from "../client/practices.js";
import { JOURNAL_LOG } from "../client/journal_check.js";
import { JournalHistory } from "../client/journal_history.js";
import { revocationStoreFor } from "../client/revocations.js";
import { accountValue } from "../client/account_store.js";
import {
  type ProfessionalRequest,
  finishProfessionalLink,
  finishProfessionalSignIn,
  professionalIdentities,
  professionalLink,
  professionalSignIn,
  unlinkProfessionalIdentity,
  whoIsSignedIn,
} from "../client/federation.js";
import { type PasskeyOptions, addPasskey, checkCredential, challengeOf, listPasskeys, registrationOptions, removePasskey, signInOptions } from "../client/passkeys.js";
import { type AccountView, type ClientOperation, type ClientOperations, type DocumentView, type Operation, type Operations, type SecondFactorArgs, type SignInFactor, WorkerError } from "./messages.js";
import { ProtocolError } from "../protocol/errors.js";
import { constantTimeEqual } from "../protocol/bytes.js";
import { myBreachNotices } from "../client/breach_notices.js";
import { rewrapToCurrentKeys } from "../client/rewrap.js";
import { changeAccountPassword, renewRecoveryCodes, rotateAccountKeys, stepUp, stepUpOptions } from "../client/account_security.js";
import { type ProvenRecovery, finishPasswordRecovery, provePasswordRecovery, startPasswordRecovery } from "../client/password_recovery.js";
import { CryptoService } from "./service.js";
import { PendingShares, openPatientFile } from "../client/pending.js";
import { exportBundle } from "../client/portability.js";
import { anomalySettings, dismissAlert, listAlerts, openIncidentFromAlert, setAnomalySettings } from "../client/alerts.js";
import { complianceDashboard, complianceReport } from "../client/compliance.js";

/** The device name the server shows in the account's sessions. */
const DEVICE_NAME = "web";

interface PendingSignIn {
  email: string;
  /** Kept until the keystore is unlocked with it, then dropped. */
  password: string;
  authSecret: Uint8Array;
  /** Null when the server asks for the second factor with the password. */
  login: LoginState | null;
  /** The passkey options given for this sign-in (passkeySignInOptions), whose challenge the answer must sign. */
  passkeyOptions: PasskeyOptions | null;
  /** Forgets this sign-in when its time is up (PENDING_SIGN_IN_MS). */
  expiry: ReturnType<typeof setTimeout>;
}

/** How long a password waits in the worker for its second factor before it is forgotten. */
const PENDING_SIGN_IN_MS = 5 * 60 * 1000;

/** A registration under way: its address confirmed and its authenticator app enrolled with these. */
interface PendingRegistration {
  email: string;
  /** Kept until the keystore is unlocked with it at the end of the enrolment, then dropped. */
  password: string;
  authSecret: Uint8Array;
  /** The first sign-in, which enrols the authenticator app. */
  login: LoginState | null;
}

/** The wrong passwords typed in a session so far, and those being checked. */
interface PasswordTries {
  failures: number;
  trying: number;
}

interface SignedIn {
  session: Session;
  /**
   * Counted for the idle lock's unlock and the password change alike, which both open
   * the keystore here, out of the server's sight: a right password starts again from 0.
   */
  passwordTries: PasswordTries;
  /** The passkey options given to add one (beginPasskeyEnrolment), whose challenge the answer must sign. */
  passkeyOptions?: PasskeyOptions;
  /** The passkey options of the step-up under way (stepUpPasskeyOptions), whose challenge the answer must sign. */
  stepUp?: { passkeyOptions?: PasskeyOptions };
  /** The e-CPS link under way (beginProfessionalLink). */
  professionalLink?: ProfessionalRequest;
  documents: Documents;
  /** The personal search index, kept at send and at opening (PROTOCOL 18.4). */
  search: SearchIndex;
  /** PDFs opened and not indexed yet: their text comes from the page (indexOpenedPdf). */
  pdfsOpened: Map<string, DocumentView>;
  trust: TrustChecks;
  patientFiles: PatientFiles;
  messaging: Messaging;
  history: JournalHistory;
}

export interface WorkerOptions {
  fetch?: Fetch;
  pins?: PinStore;
  /** The journal's pin (trust.ts's checks). */
  journalPins?: PinStore;
  /**
   * Whether the page may call the key operations of CryptoOperations (sign, seal,
   * open, unlock...) itself: only the app-tests build does (worker.ts). The shipped
   * worker answers the client operations alone, so a script in the page cannot have
   * a digest of its choosing signed or a document key wrapped for a key of its own.
   */
  exposeKeyOperations?: boolean;
  /** How long a sign-in waits for its second factor (PENDING_SIGN_IN_MS unless a test says). */
  pendingSignInMs?: number;
}

export class WorkerService extends CryptoService {
  private readonly http: Http;
  private readonly pins: PinStore;
  private readonly journalPins: PinStore;
  private pending: PendingSignIn | null = null;
  private registration: PendingRegistration | null = null;
  private signedIn: SignedIn | null = null;
  /** The session's idle lock: the key bundle an unlock must give back. */
  private idleLock: { bundle: Uint8Array } | null = null;
  /** An e-CPS sign-in under way: its request, then its tokens until the password unlocks the keys. */
  private professional: { request: ProfessionalRequest; tokens: Tokens | null } | null = null;
  private readonly exposeKeyOperations: boolean;
  private readonly pendingSignInMs: number;
  /** A forgotten password's recovery under way: its address, then the keystore handed over once proven. */
  private recovery: { email: string; proven: ProvenRecovery | null; passkeyOptions?: PasskeyOptions } | null = null;

  /** `origin`: the server's, the page's own (the worker's `location.origin`). */
  constructor(origin: string, options: WorkerOptions = {}) {
    super();
    this.http = new Http(origin, options.fetch);
    this.pins = options.pins ?? pinStoreFor(origin);
    this.journalPins = options.journalPins ?? pinStoreFor(origin, JOURNAL_LOG);
    this.exposeKeyOperations = options.exposeKeyOperations ?? false;
    this.pendingSignInMs = options.pendingSignInMs ?? PENDING_SIGN_IN_MS;
  }

  override async handle<Op extends Operation>(op: Op, args: Operations[Op]["args"]): Promise<Operations[Op]["result"]> {
    if (!CLIENT_OPERATIONS.has(op)) {
      if (!this.exposeKeyOperations) throw new ClientRefusal("not_for_the_page", `the web application's worker answers no ${String(op)} from the page`);
      if (op === "sign") refuseKeystoreProof(args as Operations["sign"]["args"]);
      return super.handle(op as never, args as never) as Promise<Operations[Op]["result"]>;
    }
    const run = this[op as ClientOperation] as (a: unknown) => Promise<Operations[Op]["result"]>;
    return run.call(this, args);
  }

  /** The keys as the client's session uses them: never handed out. */
  private readonly heldKeys: HeldKeys = {
    bundle: () => this.requireUnlocked().bundle,
    sign: async (purpose: Purpose, digest: Uint8Array) => (await this.sign({ purpose, digest })).signature,
    withUnwrapped: async (wrapped, header, use) => {
      const epoch = this.epoch;
      this.requireUnlocked();
      checkWrappedKey(wrapped);
      const key = this.liveDocumentKey(await this.unwrapHeld(wrapped, header));
      try {
        this.requireEpoch(epoch);
        return await use(key);
      } finally {
        this.forget(key);
      }
    },
    rewrapToCurrent: (wrapped, header) => this.rewrapHeld(wrapped, header),
    withFresh: async (use) => {
      this.requireUnlocked();
      const key = this.liveDocumentKey(generateDocumentKey());
      try {
        return await use(key);
      } finally {
        this.forget(key);
      }
    },
    guard: (sink) => this.untilLocked(sink, this.epoch),
    searchIndex: async () => this.requireUnlocked().searchIndex,
  };

  /** A change of second factors signed with the account's key: over a digest the worker's client built, never the page. */
  private readonly signFactorChange = async (digest: Uint8Array): Promise<Uint8Array> => (await this.sign({ purpose: "factor-change", digest })).signature;

  private requireSignedIn(): SignedIn {
    if (this.signedIn === null) throw new ClientRefusal("signed_out", "you are signed out: sign in first");
    if (this.idleLock !== null) throw new WorkerError("locked", "the keys were locked while the application was idle: unlock them first");
    return this.signedIn;
  }

  async signIn({ email, password }: ClientOperations["signIn"]["args"]): Promise<ClientOperations["signIn"]["result"]> {
    // Whoever was signed in here is signed out, even if the server is not told.
    await this.signOut({}).catch(() => undefined);
    const authSecret = await deriveAuthSecret(this.http, email, password);
    const login = await startLogin(this.http, email, authSecret);
    if (login !== null && login.enrolmentRequired) {
      // Its registration stopped before the authenticator app: the enrolment goes on
      // from here (beginTotpEnrolment) without the password being typed again.
      this.registration = { email, password, authSecret, login: null };
      throw new ClientRefusal("enrolment_required", "this account has no second factor yet: add an authenticator app");
    }
    const expiry = setTimeout(() => {
      if (this.pending?.expiry === expiry) this.forgetPending();
    }, this.pendingSignInMs);
    // Node's tests and scripts do not wait for it to end.
    (expiry as { unref?: () => void }).unref?.();
    this.pending = { email, password, authSecret, login, passkeyOptions: null, expiry };
    const offered = login === null ? ["totp", "recovery_code", "webauthn"] : login.complete ? [] : login.methods;
    return { factors: offered.filter((m): m is SignInFactor => m === "totp" || m === "recovery_code" || m === "webauthn") };
  }

  async finishSignIn({ totp, recoveryCode }: ClientOperations["finishSignIn"]["args"]): Promise<ClientOperations["finishSignIn"]["result"]> {
    const pending = this.pending;
    if (pending === null) throw noSignIn();
    const proof: SecondFactor | null = totp ? { totp_code: totp } : recoveryCode ? { recovery_code: recoveryCode } : null;
    return this.finishPendingSignIn(pending, proof);
  }

  /** The sign-in under way finished with `proof` (none when the password came with it). */
  private async finishPendingSignIn(pending: PendingSignIn, proof: SecondFactor | null): Promise<{ account: AccountView }> {
    let login = pending.login;
    if (login === null) {
      if (proof === null) throw new ClientRefusal("no_sign_in", "the server asks for the second factor with the password");
      login = await startLogin(this.http, pending.email, pending.authSecret, proof);
      if (login === null) throw noSignIn();
    } else if (!login.complete) {
      if (proof === null) throw new ClientRefusal("no_sign_in", "give the code of your authenticator app or a recovery code");
      await proveSecondFactor(this.http, login, proof);
    }
    // The ticket is spent by the authorization, whatever follows.
    this.forgetPending();
    return { account: await this.completeSignIn(login, pending.password) };
  }

  /** Forgets the sign-in under way: its password, its secret, its ticket. */
  private forgetPending(): void {
    if (this.pending === null) return;
    clearTimeout(this.pending.expiry);
    this.pending.authSecret.fill(0);
    this.pending = null;
  }

  async cancelSignIn(_: ClientOperations["cancelSignIn"]["args"]): Promise<ClientOperations["cancelSignIn"]["result"]> {
    this.forgetPending();
    this.recovery = null;
    this.forgetRegistration();
    await this.forgetProfessional();
    return { cancelled: true };
  }

  /** Tokens for a completed sign-in, the keystore unlocked, the account checked in the directory. */
  private async completeSignIn(login: LoginState, password: string): Promise<AccountView> {
    const tokens = await authorize(this.http, login, DEVICE_NAME);
    return this.openSession(tokens, () => this.unlockKeystore(tokens, password));
  }

  private async unlockKeystore(tokens: Tokens, password: string): Promise<void> {
    const keystore = await fetchKeystore(this.http, tokens.accessToken);
    const unlocked = await this.unlockWithPassword({ keystore, password });
    unlocked.authSecret.fill(0);
  }

  /** The session of `tokens` once `unlock` opened the keys; the tokens are revoked if anything fails. */
  private async openSession(tokens: Tokens, unlock: () => Promise<void>): Promise<AccountView> {
    try {
      await unlock();
      const session = new Session(this.http, tokens, this.heldKeys, this.pins);
      // The account's id as the directory gives it, and its entry holding these keys.
      await session.myEntry();
      const documents = new Documents(session);
      // What this account's earlier visits here remember: its revocations, its histories' chains.
      const accountId = (await session.account()).id;
      this.signedIn = {
        session,
        passwordTries: { failures: 0, trying: 0 },
        documents,
        search: new SearchIndex(session, () => session.keys.searchIndex()),
        pdfsOpened: new Map(),
        trust: new TrustChecks(session, this.journalPins),
        patientFiles: new PatientFiles(session, documents, revocationStoreFor(this.http.origin, accountId)),
        messaging: new Messaging(session, documents),
        history: new JournalHistory(session, this.journalPins, accountValue(this.http.origin, accountId, "history chains")),
      };
      return await this.accountView(session);
    } catch (error) {
      await this.end(tokens);
      throw error;
    }
  }

  private async accountView(session: Session): Promise<AccountView> {
    const { id, email, name, kind } = await session.account();
    return { id, email, name, kind };
  }

  /** Locks the keys and forgets the session; the refresh token is revoked where there is one. */
  private async end(tokens: Tokens | null): Promise<void> {
    this.signedIn = null;
    this.idleLock = null;
    this.lock();
    if (tokens !== null) await revoke(this.http, tokens);
  }

  async signOut(_: ClientOperations["signOut"]["args"]): Promise<ClientOperations["signOut"]["result"]> {
    this.forgetPending();
    this.recovery = null;
    this.forgetRegistration();
    await this.forgetProfessional();
    const signedIn = this.signedIn;
    await this.end(signedIn === null ? null : signedIn.session.refreshToken);
    return { signedOut: true };
  }

  async account(_: ClientOperations["account"]["args"]): Promise<ClientOperations["account"]["result"]> {
    if (this.signedIn === null || this.unlocked === null) return { account: null };
    return { account: await this.accountView(this.signedIn.session) };
  }

  async practices(_: ClientOperations["practices"]["args"]): Promise<ClientOperations["practices"]["result"]> {
    return { practices: await listPractices(this.requireSignedIn().session) };
  }

  async patients({ practiceId }: ClientOperations["patients"]["args"]): Promise<ClientOperations["patients"]["result"]> {
    const { session, documents } = this.requireSignedIn();
    const wire = new Wire("malformed_answer", "the practice's patients");
    const patients = wire.list(await session.json("GET", "/patient-files", wire, { params: { practice_id: practiceId } })).map((item) => {
      const f = wire.object(item);
      const patient = { patientFileId: wire.uuid(f, "id"), patientId: wire.uuid(f, "patient_id"), email: wire.string(f, "patient_email"), name: wire.string(f, "patient_name") };
      documents.rememberPatientFile(patient.patientFileId, patient.patientId, patient.email, patient.name);
      return patient;
    });
    return { patients };
  }

  async members({ practiceId }: ClientOperations["members"]["args"]): Promise<ClientOperations["members"]["result"]> {
    const { session, documents } = this.requireSignedIn();
    const members = await listMembers(session, practiceId);
    for (const member of members) documents.remember(member.accountId, member.email, member.name);
    return { members };
  }

  async inbox(_: ClientOperations["inbox"]["args"]): Promise<ClientOperations["inbox"]["result"]> {
    const { documents } = this.requireSignedIn();
    await this.namePatients();
    return { documents: await documents.inbox() };
  }

  /**
   * A document names its patient by account id only: the practices' patient lists
   * give the names to show (a patient's own documents are about themselves).
   */
  private async namePatients(): Promise<void> {
    const { practices } = await this.practices({});
    await Promise.all(practices.filter((p) => p.role !== "patient").map((p) => this.patients({ practiceId: p.id })));
  }

  async myDocuments(_: ClientOperations["myDocuments"]["args"]): Promise<ClientOperations["myDocuments"]["result"]> {
    const { documents } = this.requireSignedIn();
    const [mine, files] = await Promise.all([documents.aboutMe(), this.consents().files()]);
    return { documents: mine.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)), files };
  }

  async exportRecord({ sink }: ClientOperations["exportRecord"]["args"]): Promise<ClientOperations["exportRecord"]["result"]> {
    let signedIn: SignedIn;
    try {
      signedIn = this.requireSignedIn();
    } catch (error) {
      await sink.abort(error).catch(() => undefined);
      throw error;
    }
    return exportBundle(signedIn.session, signedIn.documents, signedIn.messaging, sink);
  }

  async document({ id }: ClientOperations["document"]["args"]): Promise<ClientOperations["document"]["result"]> {
    const { documents } = this.requireSignedIn();
    const view = await documents.view(id);
    // The patient's name comes from their practice's list: asked for only if not known yet.
    if (!documents.knowsPatientFile(view.patientFileId)) await this.namePatients();
    return { document: await documents.summary(view) };
  }

  async openDocument({ id, sink }: ClientOperations["openDocument"]["args"]): Promise<ClientOperations["openDocument"]["result"]> {
    let signedIn: SignedIn;
    try {
      signedIn = this.requireSignedIn();
    } catch (error) {
      await sink.abort(error).catch(() => undefined);
      throw error;
    }
    // Its media type is known once opened: as many bytes as any indexed type needs.
    const copying = copyingSink(sink, MAX_INDEXED_TEXT_BYTES + 1);
    const opened = await signedIn.documents.open(id, copying.sink);
    if (opened.document.mediaType === PDF_MEDIA_TYPE) {
      // Its text is read by pdf.js in the page's own worker, never here beside the keys.
      signedIn.pdfsOpened.delete(opened.document.id);
      signedIn.pdfsOpened.set(opened.document.id, opened.document);
      for (const older of signedIn.pdfsOpened.keys()) {
        if (signedIn.pdfsOpened.size <= MOST_PDFS_WAITING) break;
        signedIn.pdfsOpened.delete(older);
      }
      return { ...opened, indexFailure: null, indexDeferred: true };
    }
    const indexFailure = await this.indexQuietly(signedIn, opened.document, textOf(copying.copied(), opened.document.mediaType));
    return { ...opened, indexFailure, indexDeferred: false };
  }

  /**
   * Indexes a PDF this browser opened (openDocument answered `indexDeferred`), with the
   * text the page read of it: the same facts as any other document. A PDF not opened
   * here since it was unlocked is refused quietly, as any failure to index.
   */
  async indexOpenedPdf({ id, text }: ClientOperations["indexOpenedPdf"]["args"]): Promise<ClientOperations["indexOpenedPdf"]["result"]> {
    const signedIn = this.requireSignedIn();
    const document = signedIn.pdfsOpened.get(id);
    if (document === undefined) return { indexFailure: "this PDF was not opened here: nothing to index" };
    signedIn.pdfsOpened.delete(id);
    return { indexFailure: await this.indexQuietly(signedIn, document, boundedText(text)) };
  }

  /**
   * Adds a document this browser sent or opened to the personal search index, from
   * what it read of it here (client/search.py index_quietly): a failure is told, never
   * fatal, for the document was sent or opened. The reason, or null once indexed.
   */
  private async indexQuietly(signedIn: SignedIn, document: DocumentView, text: string): Promise<string | null> {
    try {
      await signedIn.search.add(document.id, {
        title: document.title,
        filename: document.filename,
        mediaType: document.mediaType,
        patient: document.patientName,
        author: document.authorName,
        day: new Date(document.createdAt).toISOString().slice(0, 10),
        text,
      });
      return null;
    } catch (error) {
      // A refusal's message names what failed, never a keyword or the text.
      return error instanceof Error ? error.message : "the search index could not be updated";
    }
  }

  /**
   * The documents matching every word of `query` that this account can still open,
   * the most keywords matched first, then the newest; those it can no longer open
   * (revoked, erased, purged: 403, 404, 410) are removed from the index and not shown.
   */
  async searchDocuments({ query }: ClientOperations["searchDocuments"]["args"]): Promise<ClientOperations["searchDocuments"]["result"]> {
    if (query.length > MAX_QUERY_CHARS) throw new ClientRefusal("query_too_long", `a search is at most ${MAX_QUERY_CHARS} characters`);
    const signedIn = this.requireSignedIn();
    const { documents, search } = signedIn;
    const matches = await search.search(query);
    const found: { document: DocumentView; matched: number }[] = [];
    let namesAsked = false;
    for (const [id, matched] of matches) {
      let view: ServedDocument;
      try {
        view = await documents.view(id);
      } catch (error) {
        if (!(error instanceof ApiError) || ![403, 404, 410].includes(error.status)) throw error;
        await search.remove(id);
        continue;
      }
      if (!namesAsked && !documents.knowsPatientFile(view.patientFileId)) {
        await this.namePatients();
        namesAsked = true;
      }
      found.push({ document: await documents.summary(view), matched });
    }
    found.sort((a, b) => b.matched - a.matched || Date.parse(b.document.createdAt) - Date.parse(a.document.createdAt));
    return { documents: found.map((f) => f.document) };
  }

  async previewRecipients({ emails }: ClientOperations["previewRecipients"]["args"]): Promise<ClientOperations["previewRecipients"]["result"]> {
    const { session, documents } = this.requireSignedIn();
    const recipients = [];
    for (const { entry } of await session.recipients(emails)) {
      recipients.push({
        email: entry.email,
        accountId: entry.accountId,
        name: documents.nameOf(entry.accountId, entry.email) ?? entry.email,
        fingerprint: await fingerprintOf(entry.bundle),
      });
    }
    return { recipients };
  }

  async sendDocument(args: ClientOperations["sendDocument"]["args"]): Promise<ClientOperations["sendDocument"]["result"]> {
    let signedIn: SignedIn;
    try {
      signedIn = this.requireSignedIn();
    } catch (error) {
      await args.source.cancel(error).catch(() => undefined);
      throw error;
    }
    const { text: pdfText, ...sending } = args;
    const copying = copyingSource(args.source, indexedBytes(args.mediaType));
    const document = await signedIn.documents.send({ ...sending, source: copying.source });
    // The document is sent: nothing after this may fail the send (a lock meanwhile included).
    const text = args.mediaType === PDF_MEDIA_TYPE ? boundedText(pdfText ?? "") : textOf(copying.copied(), args.mediaType);
    const indexFailure = await this.indexQuietly(signedIn, document, text);
    return { document, indexFailure };
  }

  async pairSafetyNumber({ email }: ClientOperations["pairSafetyNumber"]["args"]): Promise<ClientOperations["pairSafetyNumber"]["result"]> {
    const { session } = this.requireSignedIn();
    const mine = (await session.myEntry()).entry;
    const theirs = (await session.directory.lookup(email)).entry;
    return { number: await pairSafetyNumber(mine, theirs), fingerprint: await fingerprintOf(theirs.bundle) };
  }

  async checkTrust(_: ClientOperations["checkTrust"]["args"]): Promise<ClientOperations["checkTrust"]["result"]> {
    return this.requireSignedIn().trust.run();
  }

  async sessions(_: ClientOperations["sessions"]["args"]): Promise<ClientOperations["sessions"]["result"]> {
    return { sessions: await listSessions(this.requireSignedIn().session) };
  }

  async revokeSession({ id }: ClientOperations["revokeSession"]["args"]): Promise<ClientOperations["revokeSession"]["result"]> {
    const signedIn = this.requireSignedIn();
    const current = await revokeSession(signedIn.session, id);
    // This device's tokens no longer work: the keys are locked as at a sign-out.
    if (current && this.signedIn === signedIn) await this.end(null);
    return { signedOut: current };
  }

  async patientFile({ patientFileId }: ClientOperations["patientFile"]["args"]): Promise<ClientOperations["patientFile"]["result"]> {
    const { documents, patientFiles } = this.requireSignedIn();
    const file = patientFileId.toLowerCase();
    const [listed, consents, retention] = await Promise.all([documents.ofPatientFile(file), patientFiles.consents(file), patientFiles.retention(file)]);
    const ofFile = listed.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
    return { documents: ofFile, consents, retention };
  }

  async documentHistory({ id }: ClientOperations["documentHistory"]["args"]): Promise<ClientOperations["documentHistory"]["result"]> {
    return { history: await this.requireSignedIn().patientFiles.history(id) };
  }

  async nextVersion({ id }: ClientOperations["nextVersion"]["args"]): Promise<ClientOperations["nextVersion"]["result"]> {
    return { next: await this.requireSignedIn().patientFiles.nextVersion(id) };
  }

  async newVersion(args: ClientOperations["newVersion"]["args"]): Promise<ClientOperations["newVersion"]["result"]> {
    let patientFiles: PatientFiles;
    try {
      patientFiles = this.requireSignedIn().patientFiles;
    } catch (error) {
      await args.source.cancel(error).catch(() => undefined);
      throw error;
    }
    return { version: await patientFiles.newVersion(args) };
  }

  async shareDocument({ id, emails, expiresAt }: ClientOperations["shareDocument"]["args"]): Promise<ClientOperations["shareDocument"]["result"]> {
    await this.requireSignedIn().patientFiles.share(id, emails, expiresAt);
    return { shared: true };
  }

  async revokeReader({ id, email }: ClientOperations["revokeReader"]["args"]): Promise<ClientOperations["revokeReader"]["result"]> {
    return { versions: await this.requireSignedIn().patientFiles.revoke(id, email) };
  }

  async restrictDocument({ id, restricted }: ClientOperations["restrictDocument"]["args"]): Promise<ClientOperations["restrictDocument"]["result"]> {
    return { restrictedAt: await this.requireSignedIn().documents.restrict(id, restricted) };
  }

  private requireRegistration(): PendingRegistration {
    if (this.registration === null) throw new ClientRefusal("no_registration", "no registration is under way here: register, or sign in");
    return this.registration;
  }

  private forgetRegistration(): void {
    this.registration?.authSecret.fill(0);
    this.registration = null;
  }

  async register(args: ClientOperations["register"]["args"]): Promise<ClientOperations["register"]["result"]> {
    await this.signOut({}).catch(() => undefined);
    const { recoveryKey, authSecret } = await register(this.http, args);
    try {
      this.registration = { email: args.email, password: args.password, authSecret, login: null };
      return { recoveryWords: recoveryWords(recoveryKey).split(" ") };
    } finally {
      recoveryKey.fill(0);
    }
  }

  async confirmEmail({ code }: ClientOperations["confirmEmail"]["args"]): Promise<ClientOperations["confirmEmail"]["result"]> {
    await verifyEmail(this.http, code.trim(), this.requireRegistration().authSecret);
    return { confirmed: true };
  }

  async beginTotpEnrolment(_: ClientOperations["beginTotpEnrolment"]["args"]): Promise<ClientOperations["beginTotpEnrolment"]["result"]> {
    const registration = this.requireRegistration();
    const login = await startLogin(this.http, registration.email, registration.authSecret);
    if (login === null) throw noSignIn();
    if (!login.enrolmentRequired) throw new ClientRefusal("already_enrolled", "this account already has a second factor: sign in with it");
    const enrolment = await enrolTotp(this.http, login);
    registration.login = login;
    return enrolment;
  }

  async finishTotpEnrolment({ code }: ClientOperations["finishTotpEnrolment"]["args"]): Promise<ClientOperations["finishTotpEnrolment"]["result"]> {
    const registration = this.requireRegistration();
    const login = registration.login;
    if (login === null) throw new ClientRefusal("no_registration", "no authenticator app is being added: add it first");
    const recoveryCodes = await confirmTotp(this.http, login, code.replace(/\s+/g, ""));
    // The ticket is spent by the authorization, whatever follows.
    this.forgetRegistration();
    return { account: await this.completeSignIn(login, registration.password), recoveryCodes };
  }

  async threads(_: ClientOperations["threads"]["args"]): Promise<ClientOperations["threads"]["result"]> {
    return { threads: await this.requireSignedIn().messaging.threads() };
  }

  async startThread({ emails }: ClientOperations["startThread"]["args"]): Promise<ClientOperations["startThread"]["result"]> {
    return { thread: await this.requireSignedIn().messaging.start(emails) };
  }

  async readThread({ id, after }: ClientOperations["readThread"]["args"]): Promise<ClientOperations["readThread"]["result"]> {
    return this.requireSignedIn().messaging.read(id, after);
  }

  async sendMessage({ id, text, attachment }: ClientOperations["sendMessage"]["args"]): Promise<ClientOperations["sendMessage"]["result"]> {
    let messaging: Messaging;
    try {
      messaging = this.requireSignedIn().messaging;
    } catch (error) {
      await attachment?.source.cancel(error).catch(() => undefined);
      throw error;
    }
    return { message: await messaging.send(id, text, attachment) };
  }

  async createPractice({ name }: ClientOperations["createPractice"]["args"]): Promise<ClientOperations["createPractice"]["result"]> {
    return { practice: await createPractice(this.requireSignedIn().session, name) };
  }

  async invitePractice({ practiceId, email, role }: ClientOperations["invitePractice"]["args"]): Promise<ClientOperations["invitePractice"]["result"]> {
    return { invitation: await invite(this.requireSignedIn().session, practiceId, email, role) };
  }

  async vouchForIdentity({ practiceId, accountId }: ClientOperations["vouchForIdentity"]["args"]): Promise<ClientOperations["vouchForIdentity"]["result"]> {
    return { member: await vouchForIdentity(this.requireSignedIn().session, practiceId, accountId) };
  }

  async retentionPolicy({ practiceId }: ClientOperations["retentionPolicy"]["args"]): Promise<ClientOperations["retentionPolicy"]["result"]> {
    return { policy: await retentionPolicy(this.requireSignedIn().session, practiceId) };
  }

  async setRetentionPolicy({ practiceId, policy }: ClientOperations["setRetentionPolicy"]["args"]): Promise<ClientOperations["setRetentionPolicy"]["result"]> {
    return { policy: await setRetentionPolicy(this.requireSignedIn().session, practiceId, policy) };
  }

  async practiceRightsRequests({ practiceId }: ClientOperations["practiceRightsRequests"]["args"]): Promise<ClientOperations["practiceRightsRequests"]["result"]> {
    return { requests: await new PracticeRights(this.requireSignedIn().session, practiceId).open() };
  }

  async answerRightsRequest({ practiceId, id, answer, text }: ClientOperations["answerRightsRequest"]["args"]): Promise<ClientOperations["answerRightsRequest"]["result"]> {
    return { request: await new PracticeRights(this.requireSignedIn().session, practiceId).answer(id, answer, text) };
  }

  async alerts({ practiceId, status, before }: ClientOperations["alerts"]["args"]): Promise<ClientOperations["alerts"]["result"]> {
    return { alerts: await listAlerts(this.requireSignedIn().session, practiceId, status, before) };
  }

  async dismissAlert({ practiceId, alertId, reason }: ClientOperations["dismissAlert"]["args"]): Promise<ClientOperations["dismissAlert"]["result"]> {
    return { alert: await dismissAlert(this.requireSignedIn().session, practiceId, alertId, reason) };
  }

  async openAlertIncident({ practiceId, alertId }: ClientOperations["openAlertIncident"]["args"]): Promise<ClientOperations["openAlertIncident"]["result"]> {
    return openIncidentFromAlert(this.requireSignedIn().session, practiceId, alertId);
  }

  async anomalySettings({ practiceId }: ClientOperations["anomalySettings"]["args"]): Promise<ClientOperations["anomalySettings"]["result"]> {
    return anomalySettings(this.requireSignedIn().session, practiceId);
  }

  async setAnomalySettings({ practiceId, thresholds }: ClientOperations["setAnomalySettings"]["args"]): Promise<ClientOperations["setAnomalySettings"]["result"]> {
    return { thresholds: await setAnomalySettings(this.requireSignedIn().session, practiceId, thresholds) };
  }

  async recordRetentionFacts({ patientFileId, facts }: ClientOperations["recordRetentionFacts"]["args"]): Promise<ClientOperations["recordRetentionFacts"]["result"]> {
    return { retention: await this.requireSignedIn().patientFiles.recordRetentionFacts(patientFileId, facts) };
  }

  async compliance({ practiceId }: ClientOperations["compliance"]["args"]): Promise<ClientOperations["compliance"]["result"]> {
    return { dashboard: await complianceDashboard(this.requireSignedIn().session, practiceId) };
  }

  async complianceReport({ practiceId }: ClientOperations["complianceReport"]["args"]): Promise<ClientOperations["complianceReport"]["result"]> {
    return { report: await complianceReport(this.requireSignedIn().session, practiceId) };
  }

  async exportActivity({ practiceId }: ClientOperations["exportActivity"]["args"]): Promise<ClientOperations["exportActivity"]["result"]> {
    return { bundle: await exportActivity(this.requireSignedIn().session, practiceId) };
  }

  async invitationNotice({ code }: ClientOperations["invitationNotice"]["args"]): Promise<ClientOperations["invitationNotice"]["result"]> {
    return { notice: await invitationNotice(this.http, code) };
  }

  async joinPractice({ code, noticeVersion }: ClientOperations["joinPractice"]["args"]): Promise<ClientOperations["joinPractice"]["result"]> {
    return { practice: await joinPractice(this.requireSignedIn().session, code, noticeVersion) };
  }

  async fileInformation({ patientFileId }: ClientOperations["fileInformation"]["args"]): Promise<ClientOperations["fileInformation"]["result"]> {
    return { information: await fileInformation(this.requireSignedIn().session, patientFileId) };
  }

  async recordInformation({ patientFileId, informedOn }: ClientOperations["recordInformation"]["args"]): Promise<ClientOperations["recordInformation"]["result"]> {
    return { information: await recordInformation(this.requireSignedIn().session, patientFileId, informedOn) };
  }

  private consents(): Consents {
    const { session, documents, patientFiles } = this.requireSignedIn();
    return new Consents(session, documents, patientFiles);
  }

  async myConsents(_: ClientOperations["myConsents"]["args"]): Promise<ClientOperations["myConsents"]["result"]> {
    const consents = this.consents();
    const [files, history, information] = await Promise.all([consents.files(), consents.history(), myInformation(this.requireSignedIn().session)]);
    return { files, history, studies: await this.studiesOf(consents, files), information };
  }

  private async studiesOf(consents: Consents, files: readonly { practiceId: string }[]) {
    return (await Promise.all(files.map((f) => consents.studies(f.practiceId)))).flat();
  }

  async consentEffect({ decision }: ClientOperations["consentEffect"]["args"]): Promise<ClientOperations["consentEffect"]["result"]> {
    const consents = this.consents();
    const [files, history] = await Promise.all([consents.files(), consents.history()]);
    const file = files.find((f) => f.practiceId === decision.practiceId.toLowerCase());
    if (file === undefined) throw new ClientRefusal("exchange_refused", "no practice holds a file about you under this id");
    return { effect: await consents.effect(decision, file.patientFileId, history.filter((d) => d.supersededAt === null)) };
  }

  async decideConsent({ decision }: ClientOperations["decideConsent"]["args"]): Promise<ClientOperations["decideConsent"]["result"]> {
    const consents = this.consents();
    const recorded = await consents.decide(decision, await consents.history());
    const [history, files] = await Promise.all([consents.history(), consents.files()]);
    return { ...recorded, history, studies: await this.studiesOf(consents, files) };
  }

  async practiceStudies({ practiceId }: ClientOperations["practiceStudies"]["args"]): Promise<ClientOperations["practiceStudies"]["result"]> {
    return { studies: await this.consents().studies(practiceId) };
  }

  async rightsRequests(_: ClientOperations["rightsRequests"]["args"]): Promise<ClientOperations["rightsRequests"]["result"]> {
    const [files, requests] = await Promise.all([this.consents().files(), new Rights(this.requireSignedIn().session).mine()]);
    return { files, requests };
  }

  async breachNotices(_: ClientOperations["breachNotices"]["args"]): Promise<ClientOperations["breachNotices"]["result"]> {
    return { notices: await myBreachNotices(this.requireSignedIn().session) };
  }

  async askRight({ practiceId, right }: ClientOperations["askRight"]["args"]): Promise<ClientOperations["askRight"]["result"]> {
    return { request: await new Rights(this.requireSignedIn().session).ask(practiceId, right) };
  }

  async withdrawRight({ id }: ClientOperations["withdrawRight"]["args"]): Promise<ClientOperations["withdrawRight"]["result"]> {
    return { request: await new Rights(this.requireSignedIn().session).withdraw(id) };
  }

  async accountDeletionPreview(_: ClientOperations["accountDeletionPreview"]["args"]): Promise<ClientOperations["accountDeletionPreview"]["result"]> {
    return { deletion: await new Rights(this.requireSignedIn().session).deletionPreview() };
  }

  async deleteAccount(_: ClientOperations["deleteAccount"]["args"]): Promise<ClientOperations["deleteAccount"]["result"]> {
    const deletion = await new Rights(this.requireSignedIn().session).deleteAccount();
    // The server ended every session with the account: nothing is left to revoke.
    await this.end(null);
    return { deletion };
  }

  async history({ practiceId }: ClientOperations["history"]["args"]): Promise<ClientOperations["history"]["result"]> {
    return { history: await this.requireSignedIn().history.check(practiceId ?? null) };
  }

  async passkeys(_: ClientOperations["passkeys"]["args"]): Promise<ClientOperations["passkeys"]["result"]> {
    return { passkeys: await listPasskeys(this.requireSignedIn().session) };
  }

  async beginPasskeyEnrolment(_: ClientOperations["beginPasskeyEnrolment"]["args"]): Promise<ClientOperations["beginPasskeyEnrolment"]["result"]> {
    const signedIn = this.requireSignedIn();
    const options = await registrationOptions(signedIn.session);
    signedIn.passkeyOptions = options;
    return { options };
  }

  async finishPasskeyEnrolment({ credential, name }: ClientOperations["finishPasskeyEnrolment"]["args"]): Promise<ClientOperations["finishPasskeyEnrolment"]["result"]> {
    const signedIn = this.requireSignedIn();
    const options = signedIn.passkeyOptions;
    if (options === undefined) throw new ClientRefusal("passkey_refused", "no passkey is being added here: start again");
    // One answer per challenge, whatever the server says of it.
    delete signedIn.passkeyOptions;
    await addPasskey(signedIn.session, options, credential, name.trim() || DEFAULT_PASSKEY_NAME, this.signFactorChange);
    return { passkeys: await listPasskeys(signedIn.session) };
  }

  async passkeySignInOptions(_: ClientOperations["passkeySignInOptions"]["args"]): Promise<ClientOperations["passkeySignInOptions"]["result"]> {
    const pending = this.pending;
    if (pending === null) throw noSignIn();
    const options = await signInOptions(this.http, pending.email, pending.login);
    pending.passkeyOptions = options;
    return { options };
  }

  async finishPasskeySignIn({ credential }: ClientOperations["finishPasskeySignIn"]["args"]): Promise<ClientOperations["finishPasskeySignIn"]["result"]> {
    const pending = this.pending;
    if (pending === null) throw noSignIn();
    const options = pending.passkeyOptions;
    if (options === null) throw new ClientRefusal("passkey_refused", "no passkey was asked for this sign-in: start again");
    pending.passkeyOptions = null;
    checkCredential(credential, "webauthn.get", challengeOf(options), this.http.origin);
    return this.finishPendingSignIn(pending, { webauthn: credential });
  }

  /** Forgets the e-CPS sign-in under way; its tokens, if any, are revoked. */
  private async forgetProfessional(): Promise<void> {
    const tokens = this.professional?.tokens ?? null;
    this.professional = null;
    if (tokens !== null) await revoke(this.http, tokens).catch(() => undefined);
  }

  async beginProfessionalSignIn(_: ClientOperations["beginProfessionalSignIn"]["args"]): Promise<ClientOperations["beginProfessionalSignIn"]["result"]> {
    await this.signOut({}).catch(() => undefined);
    const { url, request } = await professionalSignIn(this.http, DEVICE_NAME);
    this.professional = { request, tokens: null };
    return { url };
  }

  async finishProfessionalSignIn({ landed }: ClientOperations["finishProfessionalSignIn"]["args"]): Promise<ClientOperations["finishProfessionalSignIn"]["result"]> {
    const professional = this.professional;
    if (professional === null || professional.tokens !== null) throw new ClientRefusal("no_sign_in", "no e-CPS sign-in is under way here: start again");
    // One answer per request, whatever it says.
    this.professional = null;
    const tokens = await finishProfessionalSignIn(this.http, professional.request, landed);
    this.professional = { request: professional.request, tokens };
    try {
      return await whoIsSignedIn(this.http, tokens);
    } catch (error) {
      await this.forgetProfessional();
      throw error;
    }
  }

  async unlockProfessionalSignIn({ password }: ClientOperations["unlockProfessionalSignIn"]["args"]): Promise<ClientOperations["unlockProfessionalSignIn"]["result"]> {
    const tokens = this.professional?.tokens ?? null;
    if (tokens === null) throw new ClientRefusal("no_sign_in", "no e-CPS sign-in is waiting for its password: start again");
    // A wrong password is refused here and may be typed again; the session is then this one.
    await this.unlockKeystore(tokens, password);
    this.professional = null;
    return { account: await this.openSession(tokens, async () => undefined) };
  }

  async professionalIdentities(_: ClientOperations["professionalIdentities"]["args"]): Promise<ClientOperations["professionalIdentities"]["result"]> {
    return { identities: await professionalIdentities(this.requireSignedIn().session) };
  }

  async beginProfessionalLink(_: ClientOperations["beginProfessionalLink"]["args"]): Promise<ClientOperations["beginProfessionalLink"]["result"]> {
    const signedIn = this.requireSignedIn();
    const { url, request } = await professionalLink(signedIn.session);
    signedIn.professionalLink = request;
    return { url };
  }

  async finishProfessionalLink({ landed }: ClientOperations["finishProfessionalLink"]["args"]): Promise<ClientOperations["finishProfessionalLink"]["result"]> {
    const signedIn = this.requireSignedIn();
    const request = signedIn.professionalLink;
    if (request === undefined) throw new ClientRefusal("no_sign_in", "no e-CPS is being linked here: start again");
    delete signedIn.professionalLink;
    await finishProfessionalLink(signedIn.session, request, landed, this.signFactorChange);
    return { identities: await professionalIdentities(signedIn.session) };
  }

  async lockKeys(_: ClientOperations["lockKeys"]["args"]): Promise<ClientOperations["lockKeys"]["result"]> {
    const signedIn = this.requireSignedIn();
    const { bundle } = this.requireUnlocked();
    this.idleLock = { bundle };
    // Also what a new sign-in, a registration or an e-CPS sign-in had under way.
    this.forgetPending();
    this.forgetRegistration();
    await this.forgetProfessional();
    delete signedIn.professionalLink;
    return this.lock();
  }

  async unlockKeys({ password }: ClientOperations["unlockKeys"]["args"]): Promise<ClientOperations["unlockKeys"]["result"]> {
    const signedIn = this.signedIn;
    const held = this.idleLock;
    if (signedIn === null || held === null) throw new ClientRefusal("signed_out", "no locked session to unlock here: sign in");
    await this.checkingPassword(signedIn, async () => {
      const keystore = await fetchKeystore(this.http, await signedIn.session.accessToken());
      (await this.unlockWithPassword({ keystore, password })).authSecret.fill(0);
    });
    // Ended while the password was checked: the keys just opened are not kept.
    if (this.signedIn !== signedIn) {
      this.lock();
      throw new ClientRefusal("signed_out", "the session ended while the password was checked: sign in");
    }
    // The same keys as before the lock, whatever keystore the server served now.
    if (!constantTimeEqual(this.requireUnlocked().bundle, held.bundle)) {
      this.lock();
      throw new ClientRefusal("exchange_refused", "the server served a keystore of other keys than this session's: do not go on, and tell your security contact");
    }
    this.idleLock = null;
    return { account: await this.accountView(signedIn.session) };
  }

  /**
   * Runs `check`, which opens the keystore with a password typed in the page, counting
   * a wrong one: the fifth signs the device out, since guesses at an unattended screen
   * or from a script in the page never reach the server. Passwords still being
   * checked count too: sent all at once, a sixth is never tried.
   */
  private async checkingPassword<T>(signedIn: SignedIn, check: () => Promise<T>): Promise<T> {
    const tries = signedIn.passwordTries;
    if (tries.failures + tries.trying >= IDLE_UNLOCK_ATTEMPTS) {
      throw new ClientRefusal("signed_out", `${IDLE_UNLOCK_ATTEMPTS} passwords already tried: sign in again`);
    }
    tries.trying += 1;
    try {
      const result = await check();
      tries.failures = 0;
      return result;
    } catch (error) {
      if (!(error instanceof ProtocolError && error.identifier === "wrong_password")) throw error;
      tries.failures += 1;
      if (tries.failures < IDLE_UNLOCK_ATTEMPTS) throw error;
      // A sign-in asks for the second factor again.
      if (this.signedIn === signedIn) await this.end(signedIn.session.refreshToken);
      throw new ClientRefusal("signed_out", `${IDLE_UNLOCK_ATTEMPTS} wrong passwords: this device was signed out`);
    } finally {
      tries.trying -= 1;
    }
  }

  async unblock({ token }: ClientOperations["unblock"]["args"]): Promise<ClientOperations["unblock"]["result"]> {
    return { unblocked: await unblockAuthenticator(this.http, token) };
  }

  async startPasswordRecovery({ email }: ClientOperations["startPasswordRecovery"]["args"]): Promise<ClientOperations["startPasswordRecovery"]["result"]> {
    await this.signOut({}).catch(() => undefined);
    await startPasswordRecovery(this.http, email.trim());
    this.recovery = { email: email.trim(), proven: null };
    return { mailed: true };
  }

  async recoveryPasskeyOptions(_: ClientOperations["recoveryPasskeyOptions"]["args"]): Promise<ClientOperations["recoveryPasskeyOptions"]["result"]> {
    const recovery = this.requireRecovery();
    const options = await signInOptions(this.http, recovery.email, null);
    recovery.passkeyOptions = options;
    return { options };
  }

  private requireRecovery(): NonNullable<WorkerService["recovery"]> {
    if (this.recovery === null) throw new ClientRefusal("no_recovery", "no password recovery is under way here: start again");
    return this.recovery;
  }

  /**
   * The second factor a person gave; a passkey's answer only for the challenge asked
   * of `asked` (a recovery's or a step-up's), which is used up whatever comes of it.
   */
  private secondFactor(asked: { passkeyOptions?: PasskeyOptions }, args: SecondFactorArgs): SecondFactor {
    if (args.credential !== undefined) {
      const options = asked.passkeyOptions;
      // One answer per challenge, whatever the server says of it.
      delete asked.passkeyOptions;
      if (options === undefined) throw new ClientRefusal("passkey_refused", "no passkey was asked here: start again");
      checkCredential(args.credential, "webauthn.get", challengeOf(options), this.http.origin);
      return { webauthn: args.credential };
    }
    if (args.totp) return { totp_code: args.totp.replace(/\s+/g, "") };
    if (args.recoveryCode) return { recovery_code: args.recoveryCode.trim() };
    throw new ClientRefusal("recovery_factor_refused", "give the code of your authenticator app, a recovery code or a passkey");
  }

  async provePasswordRecovery(args: ClientOperations["provePasswordRecovery"]["args"]): Promise<ClientOperations["provePasswordRecovery"]["result"]> {
    const recovery = this.requireRecovery();
    const proof = this.secondFactor(recovery, args);
    recovery.proven = await provePasswordRecovery(this.http, recovery.email, args.code.trim(), proof);
    return { proven: true };
  }

  async finishPasswordRecovery({ words, password }: ClientOperations["finishPasswordRecovery"]["args"]): Promise<ClientOperations["finishPasswordRecovery"]["result"]> {
    const proven = this.recovery?.proven ?? null;
    if (proven === null) throw new ClientRefusal("no_recovery", "no proven password recovery is under way here: start again");
    // Wrong words or a weak password are refused before anything is sent: they may be typed again.
    await finishPasswordRecovery(this.http, proven, words, password, [proven.email]);
    this.recovery = null;
    return { email: proven.email };
  }

  async removePasskey({ id }: ClientOperations["removePasskey"]["args"]): Promise<ClientOperations["removePasskey"]["result"]> {
    const signedIn = this.requireSignedIn();
    await removePasskey(signedIn.session, id, this.signFactorChange);
    return { passkeys: await listPasskeys(signedIn.session) };
  }

  async stepUpPasskeyOptions(_: ClientOperations["stepUpPasskeyOptions"]["args"]): Promise<ClientOperations["stepUpPasskeyOptions"]["result"]> {
    const signedIn = this.requireSignedIn();
    const options = await stepUpOptions(signedIn.session);
    signedIn.stepUp = { passkeyOptions: options };
    return { options };
  }

  async stepUp(args: ClientOperations["stepUp"]["args"]): Promise<ClientOperations["stepUp"]["result"]> {
    const signedIn = this.requireSignedIn();
    const asked = signedIn.stepUp ?? {};
    delete signedIn.stepUp;
    await stepUp(signedIn.session, this.secondFactor(asked, args));
    return { proven: true };
  }

  async changePassword({ current, password }: ClientOperations["changePassword"]["args"]): Promise<ClientOperations["changePassword"]["result"]> {
    const signedIn = this.requireSignedIn();
    const { session } = signedIn;
    const account = await session.account();
    // A wrong current password is found here, never by the server: it counts as the unlock's.
    await this.checkingPassword(signedIn, () => changeAccountPassword(session, this.requireUnlocked().bundle, current, password, [account.email, account.name]));
    return { changed: true };
  }

  async rotateKeys({ password }: ClientOperations["rotateKeys"]["args"]): Promise<ClientOperations["rotateKeys"]["result"]> {
    const signedIn = this.requireSignedIn();
    const epoch = this.epoch;
    // A wrong password is found here, never by the server: it counts as the unlock's.
    const rotated = await this.checkingPassword(signedIn, () => rotateAccountKeys(signedIn.session, this.requireUnlocked().bundle, password));
    try {
      await this.keep(rotated.bundle, rotated.keys, epoch, rotated.former);
      // This account's own entry changed: proven again, in a head that holds it.
      signedIn.session.directory.forget();
      await signedIn.session.directory.refresh();
      return { recoveryWords: recoveryWords(rotated.recoveryKey).split(" "), keyVersion: rotated.keyVersion };
    } finally {
      rotated.recoveryKey.fill(0);
    }
  }

  async rewrapKeys(_: ClientOperations["rewrapKeys"]["args"]): Promise<ClientOperations["rewrapKeys"]["result"]> {
    return rewrapToCurrentKeys(this.requireSignedIn().session);
  }

  async renewRecoveryCodes(_: ClientOperations["renewRecoveryCodes"]["args"]): Promise<ClientOperations["renewRecoveryCodes"]["result"]> {
    return { recoveryCodes: await renewRecoveryCodes(this.requireSignedIn().session, this.signFactorChange) };
  }

  async unlinkProfessionalIdentity({ id }: ClientOperations["unlinkProfessionalIdentity"]["args"]): Promise<ClientOperations["unlinkProfessionalIdentity"]["result"]> {
    const signedIn = this.requireSignedIn();
    await unlinkProfessionalIdentity(signedIn.session, id, this.signFactorChange);
    return { identities: await professionalIdentities(signedIn.session) };
  }

  async patientInvitations({ practiceId }: ClientOperations["patientInvitations"]["args"]): Promise<ClientOperations["patientInvitations"]["result"]> {
    return { invitations: await this.waitingShares().patientInvitations(practiceId) };
  }

  async openInvitedPatientFile({ practiceId, email }: ClientOperations["openInvitedPatientFile"]["args"]): Promise<ClientOperations["openInvitedPatientFile"]["result"]> {
    return { patient: await openPatientFile(this.requireSignedIn(), practiceId, email) };
  }

  async sharePending({ documentId, practiceId, invitationId }: ClientOperations["sharePending"]["args"]): Promise<ClientOperations["sharePending"]["result"]> {
    return { pending: await this.waitingShares().share(documentId, practiceId, invitationId) };
  }

  async pendingShares(_: ClientOperations["pendingShares"]["args"]): Promise<ClientOperations["pendingShares"]["result"]> {
    return { pending: await this.waitingShares().list() };
  }

  async completePendingShares(_: ClientOperations["completePendingShares"]["args"]): Promise<ClientOperations["completePendingShares"]["result"]> {
    return { outcomes: await this.waitingShares().completeJoined() };
  }

  private waitingShares(): PendingShares {
    const { session, documents } = this.requireSignedIn();
    return new PendingShares(session, documents);
  }
}

/** Wrong passwords a session takes (at the idle lock or in a password change) before it is signed out. */
export const IDLE_UNLOCK_ATTEMPTS = 5;

/** The name a passkey gets when the person gives none. */
const DEFAULT_PASSKEY_NAME = "Clé d'accès";

/**
 * PROTOCOL 16.2 and 16.4 ask for a keystore-signed change of password or second
 * factors precisely so that whoever holds a session (a copied token, a script in the
 * page) cannot make one: such a signature is made only by an operation of this worker
 * that builds its digest itself, never over a digest the page hands over.
 */
const KEYSTORE_PROOFS: ReadonlySet<unknown> = new Set<Purpose>(["factor-change", "keystore-change"]);

function refuseKeystoreProof(args: Operations["sign"]["args"] | null | undefined): void {
  if (KEYSTORE_PROOFS.has(args?.purpose)) {
    throw new ClientRefusal("not_for_the_page", `the web application signs no ${String(args?.purpose)} digest the page chose`);
  }
}

/** PDFs opened whose text the page has not given yet, at most (the oldest forgotten). */
const MOST_PDFS_WAITING = 20;

const CLIENT_OPERATIONS: ReadonlySet<string> = new Set<ClientOperation>([
  "signIn",
  "finishSignIn",
  "cancelSignIn",
  "signOut",
  "account",
  "practices",
  "patients",
  "members",
  "inbox",
  "openDocument",
  "indexOpenedPdf",
  "searchDocuments",
  "previewRecipients",
  "sendDocument",
  "pairSafetyNumber",
  "checkTrust",
  "sessions",
  "revokeSession",
  "patientFile",
  "documentHistory",
  "nextVersion",
  "newVersion",
  "shareDocument",
  "revokeReader",
  "restrictDocument",
  "register",
  "confirmEmail",
  "beginTotpEnrolment",
  "finishTotpEnrolment",
  "threads",
  "startThread",
  "readThread",
  "sendMessage",
  "createPractice",
  "invitePractice",
  "invitationNotice",
  "joinPractice",
  "fileInformation",
  "recordInformation",
  "vouchForIdentity",
  "retentionPolicy",
  "setRetentionPolicy",
  "practiceRightsRequests",
  "answerRightsRequest",
  "alerts",
  "dismissAlert",
  "openAlertIncident",
  "anomalySettings",
  "setAnomalySettings",
  "compliance",
  "complianceReport",
  "recordRetentionFacts",
  "exportActivity",
  "myConsents",
  "consentEffect",
  "decideConsent",
  "practiceStudies",
  "rightsRequests",
  "breachNotices",
  "askRight",
  "withdrawRight",
  "accountDeletionPreview",
  "deleteAccount",
  "document",
  "myDocuments",
  "exportRecord",
  "history",
  "passkeys",
  "beginPasskeyEnrolment",
  "finishPasskeyEnrolment",
  "passkeySignInOptions",
  "finishPasskeySignIn",
  "beginProfessionalSignIn",
  "finishProfessionalSignIn",
  "unlockProfessionalSignIn",
  "professionalIdentities",
  "beginProfessionalLink",
  "finishProfessionalLink",
  "lockKeys",
  "unlockKeys",
  "unblock",
  "startPasswordRecovery",
  "provePasswordRecovery",
  "finishPasswordRecovery",
  "recoveryPasskeyOptions",
  "removePasskey",
  "stepUpPasskeyOptions",
  "stepUp",
  "changePassword",
  "rotateKeys",
  "rewrapKeys",
  "renewRecoveryCodes",
  "unlinkProfessionalIdentity",
  "patientInvitations",
  "openInvitedPatientFile",
  "sharePending",
  "pendingShares",
  "completePendingShares",
]);
