/**
 * The patient's rights requests in the worker, as client/rights.py (GDPR art. 15-21,
 * CSP L1111-7): each request and withdrawal a signed request (session.ts), each
 * answer read field by field as the SDK's models parse it and refused unless it is
 * about the request and the patient it should be.
 */

import { type Session, exchangeRefused } from "./session.js";
import { type Json, Wire } from "./wire.js";

export const RIGHTS = ["access", "rectification", "erasure", "restriction", "objection", "portability", "medical_file"] as const;
export type Right = (typeof RIGHTS)[number];
export type RequestStatus = "pending" | "extended" | "done" | "refused" | "withdrawn";
const STATUSES: readonly string[] = ["pending", "extended", "done", "refused", "withdrawn"];

/** A request as the patient sees it (protocol/consent.py RightsRequestOut). */
export interface RightsRequestView {
  id: string;
  practiceId: string;
  patientName: string;
  patientEmail: string;
  right: Right;
  /** The article that gives the right and sets the deadline. */
  citation: string;
  status: RequestStatus;
  receivedAt: string;
  /** Not answered before (the medical file's 48 hours of reflection). */
  earliestAt: string | null;
  dueAt: string;
  overdue: boolean;
  extendedAt: string | null;
  /** The practice's reasons (an extension, a refusal and its legal ground, a note). */
  reason: string | null;
  handledAt: string | null;
  /** An erasure refused within the file's retention: the day it becomes possible. */
  erasureFrom: string | null;
  liftedAt: string | null;
  /** An erasure's answer, per category (null for the other rights). */
  erasure: ErasureItem[] | null;
}

export const ERASURE_CATEGORIES = [
  "documents",
  "conversations",
  "consents",
  "retention-facts",
  "rights-requests",
  "identity",
  "sign-in",
  "keys",
  "key-directory",
  "journal",
] as const;
export type ErasureCategory = (typeof ERASURE_CATEGORIES)[number];
export const KEPT_BASES = ["medical-file-retention", "journal", "key-directory", "account-in-use"] as const;
export type KeptBasis = (typeof KEPT_BASES)[number];

/** One line of an erasure's answer (protocol/consent.py ErasureItem). */
export interface ErasureItem {
  category: ErasureCategory;
  /** The practice whose file holds it; null for what belongs to the account. */
  practiceId: string | null;
  outcome: "erased" | "kept";
  count: number | null;
  /** Why it is kept (null when erased). */
  basis: KeptBasis | null;
  /** The last day it is kept; null when erased or when the end is not known yet. */
  keptUntil: string | null;
  /** The same in English words, as the server wrote them. */
  reason: string;
}

/** What deleting the account erases and keeps: a preview (deletedAt null) or what was done. */
export interface AccountDeletionView {
  deletedAt: string | null;
  items: ErasureItem[];
}

/** The words the server asks for before it deletes an account (client/rights.py). */
const DELETION_CONFIRMATION = "delete my account";

export class Rights {
  constructor(private readonly session: Session) {}

  /** POST /rights-requests: asks `practiceId` to act on your file there. */
  async ask(practiceId: string, right: Right): Promise<RightsRequestView> {
    const request = await this.post("/rights-requests", { practice_id: practiceId, right });
    if (request.practiceId !== practiceId.toLowerCase() || request.right !== right || request.status !== "pending") {
      throw exchangeRefused("the server recorded another request than the one you made");
    }
    return request;
  }

  /** Your requests, the most recent first. */
  async mine(): Promise<RightsRequestView[]> {
    const wire = new Wire("exchange_refused", "your requests");
    const me = (await this.session.account()).id;
    return wire.list(await this.session.json("GET", "/rights-requests", wire)).map((item) => readRequest(wire.object(item), wire, me));
  }

  /** Withdraws a pending request (no body: the signature covers the empty one, as the SDK sends it). */
  async withdraw(id: string): Promise<RightsRequestView> {
    const request = await this.post(`/rights-requests/${encodeURIComponent(id)}/withdraw`);
    if (request.id !== id.toLowerCase() || request.status !== "withdrawn") throw exchangeRefused("the server did not withdraw the request you withdrew");
    return request;
  }

  /** GET /accounts/me/deletion: what deleting your account would erase and keep, and until when. */
  async deletionPreview(): Promise<AccountDeletionView> {
    const wire = new Wire("exchange_refused", "the account deletion preview");
    const me = (await this.session.account()).id;
    const view = readDeletion(wire.object(await this.session.json("GET", "/accounts/me/deletion", wire)), wire, me);
    if (view.deletedAt !== null) throw wire.refuse("says the account is deleted already");
    return view;
  }

  /** POST /accounts/me/deletion (after a step-up): deletes your account; what was erased and what is kept. */
  async deleteAccount(): Promise<AccountDeletionView> {
    const wire = new Wire("exchange_refused", "the account deletion");
    const me = (await this.session.account()).id;
    const answer = await this.session.json("POST", "/accounts/me/deletion", wire, { json: { confirm: DELETION_CONFIRMATION } });
    const view = readDeletion(wire.object(answer), wire, me);
    if (view.deletedAt === null) throw wire.refuse("does not say the account was deleted");
    return view;
  }

  private async post(path: string, json?: Json): Promise<RightsRequestView> {
    const wire = new Wire("exchange_refused", "a rights request");
    const me = (await this.session.account()).id;
    const options = json === undefined ? {} : { json };
    return readRequest(wire.object(await this.session.json("POST", path, wire, options)), wire, me);
  }
}

/** Whose request it must be: the signed-in patient's, or one made to the practice the page asked about. */
type About = { patient: string } | { practice: string };

function readRequest(r: Json, wire: Wire, about: About | string): RightsRequestView {
  const expected: About = typeof about === "string" ? { patient: about } : about;
  if ("patient" in expected && wire.uuid(r, "patient_id") !== expected.patient) throw wire.refuse("is about another patient");
  if ("practice" in expected && wire.uuid(r, "practice_id") !== expected.practice) throw wire.refuse("is a request made to another practice");
  const right = wire.string(r, "right");
  const status = wire.string(r, "status");
  if (!(RIGHTS as readonly string[]).includes(right)) throw wire.refuse(`names an unknown right ${right}`);
  if (!STATUSES.includes(status)) throw wire.refuse(`names an unknown state ${status}`);
  const dates = ["received_at", "due_at"].map((name) => wire.string(r, name));
  const optional = (name: string) => wire.optionalString(r, name);
  for (const value of [...dates, optional("earliest_at"), optional("extended_at"), optional("handled_at"), optional("erasure_from"), optional("lifted_at")]) {
    if (value !== null && Number.isNaN(Date.parse(value))) throw wire.refuse("has a date that is not one");
  }
  if (Date.parse(dates[1]!) < Date.parse(dates[0]!)) throw wire.refuse("is due before it was received");
  return {
    id: wire.uuid(r, "id"),
    practiceId: wire.uuid(r, "practice_id"),
    patientName: wire.string(r, "patient_name"),
    patientEmail: wire.string(r, "patient_email"),
    right: right as Right,
    citation: wire.string(r, "citation"),
    status: status as RequestStatus,
    receivedAt: dates[0]!,
    earliestAt: optional("earliest_at"),
    dueAt: dates[1]!,
    overdue: wire.boolean(r, "overdue"),
    extendedAt: optional("extended_at"),
    reason: optional("reason"),
    handledAt: optional("handled_at"),
    erasureFrom: optional("erasure_from"),
    liftedAt: optional("lifted_at"),
    erasure: r["erasure"] === undefined || r["erasure"] === null ? null : readErasure(r["erasure"], wire),
  };
}

function readDeletion(r: Json, wire: Wire, me: string): AccountDeletionView {
  if (wire.uuid(r, "account_id") !== me) throw wire.refuse("is about another account");
  const deletedAt = wire.optionalString(r, "deleted_at");
  if (deletedAt !== null && Number.isNaN(Date.parse(deletedAt))) throw wire.refuse("has a date that is not one");
  return { deletedAt, items: readErasure(r["items"], wire) };
}

function readErasure(value: unknown, wire: Wire): ErasureItem[] {
  return wire.list(value).map((raw) => {
    const item = wire.object(raw);
    const category = wire.string(item, "category");
    const outcome = wire.string(item, "outcome");
    const basis = wire.optionalString(item, "basis");
    const keptUntil = wire.optionalString(item, "kept_until");
    if (!(ERASURE_CATEGORIES as readonly string[]).includes(category)) throw wire.refuse(`names an unknown category ${category}`);
    if (outcome !== "erased" && outcome !== "kept") throw wire.refuse(`names an unknown outcome ${outcome}`);
    if (basis !== null && !(KEPT_BASES as readonly string[]).includes(basis)) throw wire.refuse(`names an unknown legal ground ${basis}`);
    if ((outcome === "kept") !== (basis !== null)) throw wire.refuse("keeps something without a legal ground, or gives one for what it erased");
    if (keptUntil !== null && (outcome !== "kept" || !/^\d{4}-\d{2}-\d{2}$/.test(keptUntil))) throw wire.refuse("has a last day kept that is not one");
    const count = item["count"] === null || item["count"] === undefined ? null : wire.integer(item, "count");
    const practiceId = item["practice_id"] === null ? null : wire.uuid(item, "practice_id");
    return { category: category as ErasureCategory, practiceId, outcome, count, basis: basis as KeptBasis | null, keptUntil, reason: wire.string(item, "reason") };
  });
}

/** What a practice may answer a request with, as `uhs rights complete|extend|refuse`. */
export const ANSWERS = ["complete", "extend", "refuse"] as const;
export type Answer = (typeof ANSWERS)[number];

/** The state each answer leads to (an erasure done may still come back refused, with its legal ground). */
const ANSWERED: Record<Answer, readonly RequestStatus[]> = { complete: ["done", "refused"], extend: ["extended"], refuse: ["refused"] };

/** A practice's side of the rights requests (its admins and practitioners, as the server allows). */
export class PracticeRights {
  constructor(
    private readonly session: Session,
    private readonly practiceId: string,
  ) {}

  /** The practice's open requests, each checked to be one made to it, the nearest deadline first. */
  async open(): Promise<RightsRequestView[]> {
    const wire = new Wire("malformed_answer", "the practice's rights requests");
    const path = `/practices/${encodeURIComponent(this.practiceId)}/rights-requests`;
    const about = { practice: this.practiceId.toLowerCase() };
    const requests = wire.list(await this.session.json("GET", path, wire)).map((item) => readRequest(wire.object(item), wire, about));
    return requests.sort((a, b) => Date.parse(a.dueAt) - Date.parse(b.dueAt));
  }

  /** Answers request `id`: done (with an optional note), extended or refused (with the reasons told to the patient). */
  async answer(id: string, answer: Answer, text: string): Promise<RightsRequestView> {
    const wire = new Wire("malformed_answer", "the answered request");
    const words = text.trim();
    const json = answer === "complete" ? { note: words || null } : { reason: words };
    const path = `/rights-requests/${encodeURIComponent(id)}/${answer}`;
    const request = readRequest(wire.object(await this.session.json("POST", path, wire, { json })), wire, { practice: this.practiceId.toLowerCase() });
    if (request.id !== id.toLowerCase() || !ANSWERED[answer].includes(request.status)) throw wire.refuse("is not the answer given to the request");
    return request;
  }
}
