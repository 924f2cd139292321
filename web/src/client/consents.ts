/**
 * The patient's consent directives in the worker, as client/consent.py (CSP L1110-4,
 * GDPR art. 7): each decision a signed request (session.ts, UHS-Signature), as the
 * SDK's ExchangeClient.call signs it; the history read field by field as the SDK's
 * models parse it, then held to the rules every honest history keeps (one version
 * number each, in order; one directive in force per practice, purpose and
 * recipient; each replaced one ended when the next began), so that a server
 * rewriting the history is refused rather than shown. The effect of a decision is
 * computed here before it is sent, from the readers of the patient's documents this
 * worker vouches for from their signed history. Research is decided study by study
 * (GDPR art. 9(2)(a)): the practice's studies are read here, each checked to be the
 * practice's, and a research decision names its study.
 */

import type { Documents } from "./documents.js";
import type { PatientFiles } from "./patient_files.js";
import { type Session, exchangeRefused } from "./session.js";
import type { Http } from "./http.js";
import { type Json, Wire, jsonOf } from "./wire.js";

export const PURPOSES = ["care_team", "outside_team", "research"] as const;
export type ConsentPurpose = (typeof PURPOSES)[number];
export type ConsentDecision = "permit" | "deny";

/** Without a directive (server/consent/service.py DEFAULTS): the care team may share, nobody else, nothing to research. */
export const DEFAULT_DECISIONS: Record<ConsentPurpose, ConsentDecision> = { care_team: "permit", outside_team: "deny", research: "deny" };

export const METHODOLOGIES = ["MR-001", "MR-002", "MR-003", "MR-004", "MR-005", "MR-006", "cnil-authorisation"] as const;
export const STUDY_STATES = ["upcoming", "open", "ended", "closed"] as const;

/** A research study of a practice (protocol/consent.py StudyOut). */
export interface Study {
  id: string;
  practiceId: string;
  title: string;
  sponsor: string;
  purpose: string;
  methodology: (typeof METHODOLOGIES)[number];
  authorisation: string | null;
  startsOn: string;
  endsOn: string;
  state: (typeof STUDY_STATES)[number];
  /** Patients who consent now (members who read the practice's records only). */
  consenting: number | null;
  /** Your decision in force (patients); null when you gave none. */
  myDecision: ConsentDecision | null;
}

/** One version of a directive (protocol/consent.py DirectiveOut). */
export interface DirectiveVersion {
  id: string;
  version: number;
  practiceId: string;
  purpose: ConsentPurpose;
  decision: ConsentDecision;
  recipientId: string | null;
  recipientName: string | null;
  recipientEmail: string | null;
  /** The study a research directive is about; null for other purposes. */
  studyId: string | null;
  studyTitle: string | null;
  createdAt: string;
  /** Null while in force. */
  supersededAt: string | null;
}

/** A practice that holds a file about the patient (GET /patient-files/mine). */
export interface MyFile {
  patientFileId: string;
  practiceId: string;
  practiceName: string;
}

/** A reader of the patient's documents, vouched for by their signed history, and how many of them they read. */
export interface ReaderReach {
  accountId: string;
  email: string;
  name: string;
  documents: number;
}

/**
 * What a decision would end: `readers` lose access to that many documents; `scope`
 * says whether that depends on the practice's list of its members, which only the
 * practice knows ("members": those of them in the care team; "others": those not).
 */
export interface ConsentEffect {
  readers: ReaderReach[];
  scope: "exact" | "members" | "others";
}

export interface Decision {
  practiceId: string;
  purpose: ConsentPurpose;
  decision: ConsentDecision;
  recipientEmail: string | null;
  /** Research only: the study decided about. */
  studyId?: string | null;
}

export class Consents {
  constructor(
    private readonly session: Session,
    private readonly documents: Documents,
    private readonly patientFiles: PatientFiles,
  ) {}

  /** The practices that hold a file about you. */
  async files(): Promise<MyFile[]> {
    const wire = new Wire("malformed_answer", "your files");
    return wire.list(await this.session.json("GET", "/patient-files/mine", wire)).map((item) => {
      const f = wire.object(item);
      return { patientFileId: wire.uuid(f, "id"), practiceId: wire.uuid(f, "practice_id"), practiceName: wire.string(f, "practice_name") };
    });
  }

  /** Every version of your directives (GET /consents?history=true), in the order given, checked. */
  async history(): Promise<DirectiveVersion[]> {
    const wire = new Wire("exchange_refused", "your consents");
    const served = wire.list(await this.session.json("GET", "/consents", wire, { params: { history: "true" } })).map((item) => readDirective(wire.object(item), wire));
    checkHistory(served);
    return served;
  }

  /**
   * Records a decision (POST /consents, signed); refused unless the server answers
   * with the directive asked for, newer than every version `known` holds.
   */
  async decide(decision: Decision, known: readonly DirectiveVersion[]): Promise<{ directive: DirectiveVersion; sharesEnded: number }> {
    const wire = new Wire("exchange_refused", "your consent");
    const body: Json = { practice_id: decision.practiceId, purpose: decision.purpose, decision: decision.decision };
    if (decision.recipientEmail !== null) body["recipient_email"] = decision.recipientEmail;
    const studyId = decision.studyId?.toLowerCase() ?? null;
    if (studyId !== null) body["study_id"] = studyId;
    const answer = wire.object(await this.session.json("POST", "/consents", wire, { json: body }));
    const directive = readDirective(wire.object(answer["directive"]), wire);
    const asked =
      directive.practiceId === decision.practiceId.toLowerCase() &&
      directive.purpose === decision.purpose &&
      directive.decision === decision.decision &&
      (decision.recipientEmail === null ? directive.recipientId === null : directive.recipientEmail?.toLowerCase() === decision.recipientEmail.trim().toLowerCase()) &&
      directive.studyId === studyId &&
      directive.supersededAt === null;
    if (!asked) throw exchangeRefused("the server recorded another directive than the one you decided");
    // Deciding what is already in force records nothing new: the server answers that version.
    const unchanged = known.find(
      (d) =>
        d.id === directive.id &&
        d.version === directive.version &&
        d.supersededAt === null &&
        d.practiceId === directive.practiceId &&
        d.purpose === directive.purpose &&
        d.decision === directive.decision &&
        d.recipientId === directive.recipientId &&
        d.studyId === directive.studyId,
    );
    if (unchanged === undefined && known.some((d) => d.version >= directive.version)) {
      throw exchangeRefused(`the server numbers your new directive ${directive.version}, not after the versions it showed you`);
    }
    const sharesEnded = wire.integer(answer, "shares_ended");
    if (sharesEnded < 0) throw wire.refuse("counts fewer than no ended shares");
    return { directive, sharesEnded };
  }

  /** The practice's studies (GET /practices/{id}/studies): for a patient, those open to them and those they take part in; for a member, all, counted for those who read its records. */
  async studies(practiceId: string): Promise<Study[]> {
    const wire = new Wire("exchange_refused", "the practice's studies");
    const practice = practiceId.toLowerCase();
    const served = wire.list(await this.session.json("GET", `/practices/${encodeURIComponent(practice)}/studies`, wire)).map((item) => readStudy(wire.object(item), wire));
    if (served.some((s) => s.practiceId !== practice)) throw wire.refuse("lists a study of another practice");
    return served;
  }

  /**
   * Who would lose access to the documents of `patientFileId` if `decision` were
   * recorded over `inForce`: computed from the readers each document's signed history
   * vouches for, less its author (who keeps their copy) and you.
   */
  async effect(decision: Decision, patientFileId: string, inForce: readonly DirectiveVersion[]): Promise<ConsentEffect> {
    if (decision.decision === "permit" || decision.purpose === "research") return { readers: [], scope: "exact" };
    const reach = await this.readers(patientFileId);
    if (decision.recipientEmail !== null) {
      const email = decision.recipientEmail.trim().toLowerCase();
      return { readers: reach.filter((r) => r.email === email), scope: "exact" };
    }
    // A directive about one professional prevails over the general one (service.py rulings).
    const keeps = new Set(
      inForce
        .filter((d) => d.practiceId === decision.practiceId.toLowerCase() && d.purpose === decision.purpose && d.recipientId !== null && d.decision === "permit")
        .map((d) => d.recipientId),
    );
    return { readers: reach.filter((r) => !keeps.has(r.accountId)), scope: decision.purpose === "care_team" ? "members" : "others" };
  }

  /** The vouched-for readers of the file's documents you can read, with how many each reads. */
  private async readers(patientFileId: string): Promise<ReaderReach[]> {
    const me = (await this.session.account()).id;
    const file = patientFileId.toLowerCase();
    const reach = new Map<string, ReaderReach>();
    for (const listed of await this.documents.inbox()) {
      if (listed.patientFileId !== file) continue;
      const view = await this.documents.view(listed.id);
      const { vouched } = await this.patientFiles.vouchedReaders(view);
      for (const recipient of view.recipients) {
        const reader = vouched.get(recipient.accountId);
        if (reader === undefined || reader.accountId === me || reader.accountId === view.authorId) continue;
        const known = reach.get(reader.accountId) ?? { accountId: reader.accountId, email: reader.email, name: recipient.name || reader.email, documents: 0 };
        known.documents += 1;
        reach.set(reader.accountId, known);
      }
    }
    return [...reach.values()].sort((a, b) => b.documents - a.documents || (a.name < b.name ? -1 : 1));
  }
}

function readDirective(d: Json, wire: Wire): DirectiveVersion {
  const purpose = wire.string(d, "purpose");
  const decision = wire.string(d, "decision");
  if (!(PURPOSES as readonly string[]).includes(purpose)) throw wire.refuse(`names an unknown purpose ${purpose}`);
  if (decision !== "permit" && decision !== "deny") throw wire.refuse(`names an unknown decision ${decision}`);
  const version = wire.integer(d, "version");
  if (version < 1) throw wire.refuse("numbers a version below 1");
  const recipientId = d["recipient_id"] === null || d["recipient_id"] === undefined ? null : wire.uuid(d, "recipient_id");
  const createdAt = wire.string(d, "created_at");
  const supersededAt = wire.optionalString(d, "superseded_at");
  if (Number.isNaN(Date.parse(createdAt)) || (supersededAt !== null && Number.isNaN(Date.parse(supersededAt)))) throw wire.refuse("has a date that is not one");
  return {
    id: wire.uuid(d, "id"),
    version,
    practiceId: wire.uuid(d, "practice_id"),
    purpose: purpose as ConsentPurpose,
    decision,
    recipientId,
    recipientName: wire.optionalString(d, "recipient_name"),
    recipientEmail: wire.optionalString(d, "recipient_email"),
    studyId: d["study_id"] === null || d["study_id"] === undefined ? null : wire.uuid(d, "study_id"),
    studyTitle: wire.optionalString(d, "study_title"),
    createdAt,
    supersededAt,
  };
}

function readStudy(d: Json, wire: Wire): Study {
  const methodology = wire.string(d, "methodology");
  const state = wire.string(d, "state");
  if (!(METHODOLOGIES as readonly string[]).includes(methodology)) throw wire.refuse(`names an unknown methodology ${methodology}`);
  if (!(STUDY_STATES as readonly string[]).includes(state)) throw wire.refuse(`names an unknown state ${state}`);
  const myDecision = wire.optionalString(d, "my_decision");
  if (myDecision !== null && myDecision !== "permit" && myDecision !== "deny") throw wire.refuse(`names an unknown decision ${myDecision}`);
  const consenting = d["consenting"] === null || d["consenting"] === undefined ? null : wire.integer(d, "consenting");
  const authorisation = wire.optionalString(d, "authorisation");
  if ((methodology === "cnil-authorisation") !== (authorisation !== null)) throw wire.refuse("gives a CNIL authorisation number without its methodology, or the reverse");
  const startsOn = wire.string(d, "starts_on");
  const endsOn = wire.string(d, "ends_on");
  if (Number.isNaN(Date.parse(startsOn)) || Number.isNaN(Date.parse(endsOn)) || endsOn < startsOn) throw wire.refuse("has study dates that are not a period");
  return {
    id: wire.uuid(d, "id"),
    practiceId: wire.uuid(d, "practice_id"),
    title: wire.string(d, "title"),
    sponsor: wire.string(d, "sponsor"),
    purpose: wire.string(d, "purpose"),
    methodology: methodology as Study["methodology"],
    authorisation,
    startsOn,
    endsOn,
    state: state as Study["state"],
    consenting,
    myDecision,
  };
}

/**
 * The rules of an honest history (service.py record): versions numbered once each,
 * given in order; for each practice, purpose, recipient and study, every version but the
 * last replaced exactly when the next was given, and the last in force.
 */
export function checkHistory(history: readonly DirectiveVersion[]): void {
  const chains = new Map<string, DirectiveVersion[]>();
  let previous = 0;
  for (const d of history) {
    if (d.version <= previous) throw exchangeRefused(`the server's history of your consents gives version ${d.version} after version ${previous}: it is not the history you made`);
    previous = d.version;
    const key = `${d.practiceId}/${d.purpose}/${d.recipientId ?? ""}/${d.studyId ?? ""}`;
    chains.set(key, [...(chains.get(key) ?? []), d]);
  }
  for (const chain of chains.values()) {
    for (const [i, d] of chain.entries()) {
      const next = chain[i + 1];
      // The practice-wide research consents of before studies were superseded, by nothing (PROTOCOL 19).
      const last = d.supersededAt === null || (d.purpose === "research" && d.studyId === null);
      const ended = next === undefined ? last : d.supersededAt !== null && Date.parse(d.supersededAt) === Date.parse(next.createdAt);
      if (!ended) {
        throw exchangeRefused(`the server's history of your consents does not say when version ${d.version} was replaced as the versions after it do: it is not the history you made`);
      }
    }
  }
}

/** A version of a practice's information notice (protocol/consent.py NoticeOut; PROTOCOL 21.1). */
export interface Notice {
  practiceId: string;
  practiceName: string;
  /** 0: the notice the software ships; the practice's own from 1. */
  version: number;
  textFr: string;
  textEn: string | null;
  publishedAt: string | null;
  /** From an invitation's notice only: whether the invitation is a patient's (its acceptance names the version). */
  forPatient: boolean;
}

/** That a patient was given a notice (protocol/consent.py InformationOut; PROTOCOL 21.2). */
export interface Information {
  practiceId: string;
  noticeVersion: number;
  /** The day, YYYY-MM-DD (Europe/Paris). */
  informedOn: string;
  how: "invitation" | "in_person";
  recordedByName: string;
  recordedAt: string;
  notice: Notice;
}

/** The longest notice text the server keeps (protocol/consent.py MAX_NOTICE_CHARS). */
const MAX_NOTICE_CHARS = 8000;

function readNotice(n: Json, wire: Wire): Notice {
  const version = wire.integer(n, "version");
  if (version < 0) throw wire.refuse("numbers a notice below 0");
  const textFr = wire.string(n, "text_fr");
  const textEn = wire.optionalString(n, "text_en");
  if (textFr.length > MAX_NOTICE_CHARS || (textEn !== null && textEn.length > MAX_NOTICE_CHARS)) throw wire.refuse("gives a notice longer than any the server keeps");
  return {
    practiceId: wire.uuid(n, "practice_id"),
    practiceName: wire.string(n, "practice_name"),
    version,
    textFr,
    textEn,
    publishedAt: wire.optionalString(n, "published_at"),
    forPatient: n["for_patient"] === true,
  };
}

function readInformation(d: Json, wire: Wire): Information {
  const how = wire.string(d, "how");
  if (how !== "invitation" && how !== "in_person") throw wire.refuse(`names an unknown way of informing ${how}`);
  const informedOn = wire.string(d, "informed_on");
  if (!/^\d{4}-\d{2}-\d{2}$/.test(informedOn)) throw wire.refuse("has a day that is not one");
  const information: Information = {
    practiceId: wire.uuid(d, "practice_id"),
    noticeVersion: wire.integer(d, "notice_version"),
    informedOn,
    how,
    recordedByName: wire.string(d, "recorded_by_name"),
    recordedAt: wire.string(d, "recorded_at"),
    notice: readNotice(wire.object(d["notice"]), wire),
  };
  if (information.notice.version !== information.noticeVersion || information.notice.practiceId !== information.practiceId) {
    throw wire.refuse("gives the text of another notice than the one recorded");
  }
  return information;
}

/** The notices you were given, in every practice (GET /consents/information; patients). */
export async function myInformation(session: Session): Promise<Information[]> {
  const wire = new Wire("exchange_refused", "the notices you were given");
  return wire.list(await session.json("GET", "/consents/information", wire)).map((item) => readInformation(wire.object(item), wire));
}

/** When and how a file's patient was informed (GET /patient-files/{id}/information; practitioners). */
export async function fileInformation(session: Session, patientFileId: string): Promise<Information[]> {
  const wire = new Wire("malformed_answer", "the patient's information");
  const path = `/patient-files/${encodeURIComponent(patientFileId.toLowerCase())}/information`;
  return wire.list(await session.json("GET", path, wire)).map((item) => readInformation(wire.object(item), wire));
}

/** Records that you informed the file's patient in person on `informedOn` (YYYY-MM-DD), with the practice's current notice (signed). */
export async function recordInformation(session: Session, patientFileId: string, informedOn: string): Promise<Information> {
  const wire = new Wire("malformed_answer", "the information recorded");
  const path = `/patient-files/${encodeURIComponent(patientFileId.toLowerCase())}/information`;
  const recorded = readInformation(wire.object(await session.json("POST", path, wire, { json: { informed_on: informedOn } })), wire);
  if (recorded.how !== "in_person" || recorded.informedOn !== informedOn) throw wire.refuse("is not the information you recorded");
  return recorded;
}

/**
 * The notice of the practice whose invitation `code` is: shown before accepting it or
 * registering with it (POST /invitations/notice, which needs no sign-in: the
 * code is the invitation's secret).
 */
export async function invitationNotice(http: Http, code: string): Promise<Notice> {
  const wire = new Wire("malformed_answer", "the practice's notice");
  const answer = await http.request("POST", "/invitations/notice", { json: { code: code.trim() } });
  return readNotice(wire.object(await jsonOf(answer, wire)), wire);
}
