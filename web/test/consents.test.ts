/**
 * The patient's consents and rights requests in the worker (client/consents.ts,
 * client/rights.ts) against a hostile server: a rewritten history of directives, a
 * directive recorded other than decided or numbered before the versions shown, a
 * request about another patient or other than asked, a study of another practice or
 * about another study than decided, all refused; what is sent is
 * what the SDK sends (tests/web/test_journey_consents.py runs it against a server).
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { Consents, type DirectiveVersion, checkHistory } from "../src/client/consents.js";
import { PracticeRights, Rights } from "../src/client/rights.js";
import { type Sent, sessionAnswering } from "./fake_session.js";
import { refusal } from "./vectors.js";

const PRACTICE = "0b8f2a4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b";
const ME = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const PAUL = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
const STUDY = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d";
const OTHER_STUDY = "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e";

function served(
  version: number,
  purpose: string,
  decision: string,
  createdAt: string,
  supersededAt: string | null,
  recipientId: string | null = null,
  studyId: string | null = purpose === "research" ? STUDY : null,
) {
  return {
    id: `00000000-0000-4000-8000-${String(version).padStart(12, "0")}`,
    version,
    practice_id: PRACTICE,
    purpose,
    decision,
    recipient_id: recipientId,
    recipient_name: recipientId ? "Paul Durand" : null,
    recipient_email: recipientId ? "kine.durand@demo.test" : null,
    study_id: studyId,
    study_title: studyId ? "Lombalgie et kinésithérapie précoce" : null,
    created_at: createdAt,
    superseded_at: supersededAt,
  };
}

const HONEST = [
  served(1, "outside_team", "permit", "2026-11-27T07:00:00Z", "2026-11-27T08:00:00Z"),
  served(2, "outside_team", "deny", "2026-11-27T08:00:00Z", null),
  served(3, "care_team", "deny", "2026-11-27T09:00:00Z", null, PAUL),
];

/** A session whose server answers `answer(request)`; records what was sent. */
function sessionAnsweringAsPatient(answer: (sent: Sent) => unknown) {
  const account = async () => ({ id: ME, email: "camille.petit@demo.test", name: "Camille Petit", kind: "patient" });
  return sessionAnswering<ConstructorParameters<typeof Rights>[0]>(answer, { account });
}

function consentsOf(session: ConstructorParameters<typeof Rights>[0]): Consents {
  return new Consents(session, {} as never, {} as never);
}

test("consents: an honest history is shown, and asked for with every version", async () => {
  const { session, sent } = sessionAnsweringAsPatient(() => HONEST);
  const history = await consentsOf(session).history();
  assert.deepEqual(
    history.map((d) => [d.version, d.purpose, d.decision, d.supersededAt === null]),
    [
      [1, "outside_team", "permit", false],
      [2, "outside_team", "deny", true],
      [3, "care_team", "deny", true],
    ],
  );
  assert.deepEqual(sent, [{ method: "GET", path: "/consents", options: { params: { history: "true" } } }]);
});

test("consents: a history rewritten by the server is refused", async () => {
  const rewritten = [
    // Versions out of order, or one number twice.
    [HONEST[1], HONEST[0], HONEST[2]],
    [HONEST[0], { ...HONEST[1], version: 1 }, HONEST[2]],
    // Version 1 still in force beside version 2 (the withdrawal hidden).
    [{ ...HONEST[0], superseded_at: null }, HONEST[1], HONEST[2]],
    // Version 2 withheld: version 1 replaced by nothing shown.
    [HONEST[0], HONEST[2]],
    // Replaced at another time than its successor was given.
    [{ ...HONEST[0], superseded_at: "2026-11-27T07:30:00Z" }, HONEST[1], HONEST[2]],
    // A purpose or decision the protocol does not have.
    [{ ...HONEST[0], purpose: "marketing" }],
    [{ ...HONEST[0], decision: "maybe" }],
  ];
  for (const history of rewritten) {
    const { session } = sessionAnsweringAsPatient(() => history);
    assert.equal(await refusal(() => consentsOf(session).history()), "exchange_refused", JSON.stringify(history));
  }
});

test("consents: a decision is sent as the SDK sends it, and refused if recorded otherwise", async () => {
  const known: DirectiveVersion[] = checkHistoryOf(HONEST);
  const decision = { practiceId: PRACTICE, purpose: "research" as const, decision: "permit" as const, recipientEmail: null, studyId: STUDY };
  const recorded = (directive: object) => ({ directive, shares_ended: 0 });
  const honest = sessionAnsweringAsPatient(() => recorded(served(4, "research", "permit", "2026-11-27T10:00:00Z", null)));
  const result = await consentsOf(honest.session).decide(decision, known);
  assert.equal(result.directive.version, 4);
  assert.deepEqual(honest.sent, [{ method: "POST", path: "/consents", options: { json: { practice_id: PRACTICE, purpose: "research", decision: "permit", study_id: STUDY } } }]);

  const answers = [
    served(4, "research", "deny", "2026-11-27T10:00:00Z", null), // another decision
    served(4, "outside_team", "permit", "2026-11-27T10:00:00Z", null), // another purpose
    served(4, "research", "permit", "2026-11-27T10:00:00Z", null, PAUL), // about one professional
    served(4, "research", "permit", "2026-11-27T10:00:00Z", null, null, OTHER_STUDY), // about another study
    served(4, "research", "permit", "2026-11-27T10:00:00Z", null, null, null), // about no study
    served(2, "research", "permit", "2026-11-27T10:00:00Z", null), // numbered before the versions shown
  ];
  for (const answer of answers) {
    const { session } = sessionAnsweringAsPatient(() => recorded(answer));
    assert.equal(await refusal(() => consentsOf(session).decide(decision, known)), "exchange_refused", JSON.stringify(answer));
  }
  // Deciding what is in force: the server answers that version, recorded nothing new.
  const same = sessionAnsweringAsPatient(() => recorded(HONEST[1]!));
  const kept = await consentsOf(same.session).decide({ ...decision, purpose: "outside_team", decision: "deny", studyId: null }, known);
  assert.equal(kept.directive.version, 2);
  const negative = sessionAnsweringAsPatient(() => ({ ...recorded(served(4, "research", "permit", "2026-11-27T10:00:00Z", null)), shares_ended: -1 }));
  assert.equal(await refusal(() => consentsOf(negative.session).decide(decision, known)), "exchange_refused");
});

test("consents: giving consent ends nobody's access, worked out without asking the server", async () => {
  const { session, sent } = sessionAnsweringAsPatient(() => assert.fail("asked the server"));
  const effect = await consentsOf(session).effect({ practiceId: PRACTICE, purpose: "outside_team", decision: "permit", recipientEmail: null }, PRACTICE, []);
  assert.deepEqual(effect, { readers: [], scope: "exact" });
  assert.deepEqual(sent, []);
});

test("consents: the practice-wide research consent of before studies, superseded by nothing, is an honest history", async () => {
  const old = served(1, "research", "permit", "2026-01-27T07:00:00Z", "2026-11-27T06:00:00Z", null, null);
  const { session } = sessionAnsweringAsPatient(() => [old, ...HONEST.map((d) => ({ ...d, version: d.version + 1 }))]);
  assert.equal((await consentsOf(session).history()).length, 4);
  // A consent to a study replaced by nothing is not.
  const hidden = served(1, "research", "permit", "2026-01-27T07:00:00Z", "2026-11-27T06:00:00Z");
  const rewritten = sessionAnsweringAsPatient(() => [hidden]);
  assert.equal(await refusal(() => consentsOf(rewritten.session).history()), "exchange_refused");
});

function study(overrides: Record<string, unknown> = {}) {
  return {
    id: STUDY,
    practice_id: PRACTICE,
    title: "Lombalgie et kinésithérapie précoce",
    sponsor: "CHU de Tours",
    purpose: "Savoir si une rééducation commencée tôt évite les rechutes.",
    methodology: "MR-004",
    authorisation: null,
    starts_on: "2026-11-01",
    ends_on: "2027-10-31",
    declared_at: "2026-11-01T07:00:00Z",
    closed_at: null,
    state: "open",
    consenting: null,
    my_decision: null,
    ...overrides,
  };
}

test("studies: the practice's studies are read as the SDK reads them, a study of another practice refused", async () => {
  const { session, sent } = sessionAnsweringAsPatient(() => [study(), study({ id: OTHER_STUDY, methodology: "cnil-authorisation", authorisation: "DR-2026-042", my_decision: "permit" })]);
  const studies = await consentsOf(session).studies(PRACTICE);
  assert.deepEqual(
    studies.map((s) => [s.id, s.methodology, s.authorisation, s.myDecision]),
    [
      [STUDY, "MR-004", null, null],
      [OTHER_STUDY, "cnil-authorisation", "DR-2026-042", "permit"],
    ],
  );
  assert.deepEqual(sent, [{ method: "GET", path: `/practices/${PRACTICE}/studies`, options: {} }]);
  const bad: Record<string, unknown>[] = [
    { practice_id: PAUL },
    { methodology: "MR-007" },
    { methodology: "cnil-authorisation" },
    { authorisation: "DR-1" },
    { state: "forever" },
    { my_decision: "maybe" },
    { ends_on: "2026-10-01" },
  ];
  for (const overrides of bad) {
    const { session: lying } = sessionAnsweringAsPatient(() => [study(overrides)]);
    assert.equal(await refusal(() => consentsOf(lying).studies(PRACTICE)), "exchange_refused", JSON.stringify(overrides));
  }
});

function checkHistoryOf(raw: ReturnType<typeof served>[]): DirectiveVersion[] {
  const history = raw.map((d) => ({
    id: d.id,
    version: d.version,
    practiceId: d.practice_id,
    purpose: d.purpose as DirectiveVersion["purpose"],
    decision: d.decision as DirectiveVersion["decision"],
    recipientId: d.recipient_id,
    recipientName: d.recipient_name,
    recipientEmail: d.recipient_email,
    studyId: d.study_id,
    studyTitle: d.study_title,
    createdAt: d.created_at,
    supersededAt: d.superseded_at,
  }));
  checkHistory(history);
  return history;
}

function request(overrides: Record<string, unknown> = {}) {
  return {
    id: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
    patient_id: ME,
    patient_name: "Camille Petit",
    patient_email: "camille.petit@demo.test",
    practice_id: PRACTICE,
    patient_file_id: "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a",
    right: "erasure",
    citation: "GDPR art. 17",
    status: "pending",
    received_at: "2026-11-27T07:00:00Z",
    earliest_at: null,
    due_at: "2026-12-27T07:00:00Z",
    overdue: false,
    extended_at: null,
    reason: null,
    handled_at: null,
    erasure_from: null,
    lifted_at: null,
    ...overrides,
  };
}

test("rights: a request and a withdrawal are sent as the SDK sends them", async () => {
  const asked = sessionAnsweringAsPatient(() => request());
  assert.equal((await new Rights(asked.session).ask(PRACTICE, "erasure")).dueAt, "2026-12-27T07:00:00Z");
  assert.deepEqual(asked.sent, [{ method: "POST", path: "/rights-requests", options: { json: { practice_id: PRACTICE, right: "erasure" } } }]);
  const withdrawn = sessionAnsweringAsPatient(() => request({ status: "withdrawn" }));
  await new Rights(withdrawn.session).withdraw(request().id);
  // No body at all: the signature covers the empty one, as the SDK's.
  assert.deepEqual(withdrawn.sent, [{ method: "POST", path: `/rights-requests/${request().id}/withdraw`, options: {} }]);
});

test("rights: an answer about another patient, another request or in an unknown state is refused", async () => {
  const cases: [Record<string, unknown>, (rights: Rights) => Promise<unknown>][] = [
    [{ patient_id: PAUL }, (rights) => rights.mine()],
    [{ status: "forgotten" }, (rights) => rights.mine()],
    [{ due_at: "2026-11-01T07:00:00Z" }, (rights) => rights.mine()],
    [{ right: "access" }, (rights) => rights.ask(PRACTICE, "erasure")],
    [{ status: "done" }, (rights) => rights.ask(PRACTICE, "erasure")],
    [{ status: "pending" }, (rights) => rights.withdraw(request().id)],
    [{ id: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", status: "withdrawn" }, (rights) => rights.withdraw(request().id)],
  ];
  for (const [overrides, run] of cases) {
    const served = request(overrides);
    const { session } = sessionAnsweringAsPatient((sent) => (sent.method === "GET" ? [served] : served));
    assert.equal(await refusal(() => run(new Rights(session))), "exchange_refused", JSON.stringify(overrides));
  }
});

test("practice rights: the open requests come nearest deadline first, each answered as the SDK answers it", async () => {
  const later = request({ id: "6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c", due_at: "2027-01-27T07:00:00Z" });
  const late = request({ right: "rectification", due_at: "2026-11-20T07:00:00Z", received_at: "2026-10-20T07:00:00Z", overdue: true });
  const listed = sessionAnsweringAsPatient(() => [later, late]);
  const open = await new PracticeRights(listed.session, PRACTICE).open();
  assert.deepEqual(
    open.map((r) => [r.right, r.overdue, r.patientName]),
    [
      ["rectification", true, "Camille Petit"],
      ["erasure", false, "Camille Petit"],
    ],
  );
  assert.deepEqual(listed.sent, [{ method: "GET", path: `/practices/${PRACTICE}/rights-requests`, options: {} }]);
  const answered = sessionAnsweringAsPatient((sent) => request({ status: sent.path.endsWith("/refuse") ? "refused" : "done", reason: "x" }));
  const rights = new PracticeRights(answered.session, PRACTICE);
  await rights.answer(request().id, "refuse", "  Ce n'est pas possible ici.  ");
  await rights.answer(request().id, "complete", "");
  assert.deepEqual(answered.sent, [
    { method: "POST", path: `/rights-requests/${request().id}/refuse`, options: { json: { reason: "Ce n'est pas possible ici." } } },
    { method: "POST", path: `/rights-requests/${request().id}/complete`, options: { json: { note: null } } },
  ]);
});

test("practice rights: a request made to another practice, another request or left in its state is refused", async () => {
  const OTHER = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d";
  const cases: [Record<string, unknown>, (rights: PracticeRights) => Promise<unknown>][] = [
    [{ practice_id: OTHER }, (rights) => rights.open()],
    [{ practice_id: OTHER, status: "done" }, (rights) => rights.answer(request().id, "complete", "")],
    [{ status: "pending" }, (rights) => rights.answer(request().id, "refuse", "Ce n'est pas possible ici.")],
    [{ status: "done" }, (rights) => rights.answer(request().id, "extend", "Dossier archivé hors site.")],
    [{ id: OTHER, status: "done" }, (rights) => rights.answer(request().id, "complete", "")],
    [{ patient_name: 3 }, (rights) => rights.open()],
  ];
  for (const [overrides, run] of cases) {
    const served = request(overrides);
    const { session } = sessionAnsweringAsPatient((sent) => (sent.method === "GET" ? [served] : served));
    assert.equal(await refusal(() => run(new PracticeRights(session, PRACTICE))), "malformed_answer", JSON.stringify(overrides));
  }
});

function erasureItem(overrides: Record<string, unknown> = {}) {
  return { category: "documents", practice_id: PRACTICE, outcome: "kept", count: 1, basis: "medical-file-retention", kept_until: "2046-11-28", reason: "Kept.", ...overrides };
}

test("account deletion (R17): the preview and the deletion are sent as the SDK sends them, the lines read as served", async () => {
  const lines = [erasureItem(), erasureItem({ category: "identity", practice_id: null, outcome: "erased", count: null, basis: null, kept_until: null, reason: "Erased." })];
  const previewed = sessionAnsweringAsPatient(() => ({ account_id: ME, deleted_at: null, items: lines }));
  const preview = await new Rights(previewed.session).deletionPreview();
  assert.deepEqual(
    preview.items.map((i) => [i.category, i.practiceId, i.outcome, i.basis, i.keptUntil]),
    [
      ["documents", PRACTICE, "kept", "medical-file-retention", "2046-11-28"],
      ["identity", null, "erased", null, null],
    ],
  );
  assert.deepEqual(previewed.sent, [{ method: "GET", path: "/accounts/me/deletion", options: {} }]);
  const deleted = sessionAnsweringAsPatient(() => ({ account_id: ME, deleted_at: "2026-11-28T07:00:00Z", items: lines }));
  assert.equal((await new Rights(deleted.session).deleteAccount()).deletedAt, "2026-11-28T07:00:00Z");
  assert.deepEqual(deleted.sent, [{ method: "POST", path: "/accounts/me/deletion", options: { json: { confirm: "delete my account" } } }]);
});

test("account deletion (R17): another account's answer, a kept line without its legal ground or an erased one with a date is refused", async () => {
  const cases: [Record<string, unknown>, Record<string, unknown>, "preview" | "delete"][] = [
    [{ account_id: PAUL }, {}, "preview"],
    [{ deleted_at: "2026-11-28T07:00:00Z" }, {}, "preview"],
    [{ deleted_at: null }, {}, "delete"],
    [{}, { basis: null }, "preview"],
    [{}, { outcome: "erased" }, "preview"],
    [{}, { outcome: "erased", basis: null }, "preview"],
    [{}, { basis: "because" }, "preview"],
    [{}, { category: "everything" }, "preview"],
    [{}, { kept_until: "tomorrow" }, "preview"],
  ];
  for (const [answer, line, call] of cases) {
    const served = { account_id: ME, deleted_at: call === "delete" ? "2026-11-28T07:00:00Z" : null, items: [erasureItem(line)], ...answer };
    const { session } = sessionAnsweringAsPatient(() => served);
    const rights = new Rights(session);
    const run = () => (call === "preview" ? rights.deletionPreview() : rights.deleteAccount());
    assert.equal(await refusal(run), "exchange_refused", JSON.stringify([answer, line]));
  }
});
