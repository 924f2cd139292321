/**
 * A practice's anomaly alerts in the worker (client/alerts.ts, PROTOCOL 13.4) against a
 * hostile server: alerts of another practice or status, listed twice or out of order,
 * a decision answered for another alert or reason, an incident of another practice,
 * thresholds other than those asked; a rule, status or subject unknown to the page
 * shown as unknown, not as one it knows.
 */

import { test } from "node:test";
import assert from "node:assert/strict";

import { ALERTS_PAGE, anomalySettings, dismissAlert, listAlerts, openIncidentFromAlert, setAnomalySettings, type ThresholdsView } from "../src/client/alerts.js";
import { ApiError } from "../src/client/http.js";
import { sessionAnswering } from "./fake_session.js";
import { refusal } from "./vectors.js";

const PRACTICE = "0b8f2a4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b";
const OTHER = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f";
const ALERT = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
const NEXT = "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f";
const PAUL = "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a";
const INCIDENT = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";

function alert(overrides: Record<string, unknown> = {}) {
  return {
    id: ALERT,
    practice_id: PRACTICE,
    rule: "repeated_denials",
    subject_kind: "account",
    subject_id: PAUL,
    window_start: "2026-11-27T09:00:00Z",
    window_end: "2026-11-27T09:05:00Z",
    count: 11,
    threshold: 10,
    counted: "entries",
    detail: "11 denied requests by this account within 15 minutes",
    status: "open",
    reason: "",
    incident_id: null,
    created_at: "2026-11-27T09:06:00Z",
    decided_at: null,
    ...overrides,
  };
}

function serverAnswering(answer: (sent: { method: string; path: string }) => unknown) {
  return sessionAnswering<Parameters<typeof listAlerts>[0]>(answer);
}

test("alerts: listed a page after the cursor, read field by field, unknown values shown as unknown", async () => {
  const later = alert({ id: NEXT, rule: "moon_phase", subject_kind: "robot", counted: "bananas", created_at: "2026-11-27T10:00:00Z" });
  const { session, sent } = serverAnswering(() => [later, alert()]);
  const [first, second] = await listAlerts(session, PRACTICE, "open", ALERT.replace("2b3c", "1b3c"));
  assert.deepEqual(sent, [{ method: "GET", path: `/practices/${PRACTICE}/alerts`, options: { params: { status: "open", before: ALERT.replace("2b3c", "1b3c") } } }]);
  assert.deepEqual([first!.rule, first!.subjectKind, first!.counted], ["unknown", "unknown", "unknown"]);
  assert.deepEqual([second!.rule, second!.subjectKind, second!.count, second!.threshold, second!.counted], ["repeated_denials", "account", 11, 10, "entries"]);
  // The first page asks for no cursor.
  const { session: plain, sent: asked } = serverAnswering(() => []);
  assert.deepEqual(await listAlerts(plain, PRACTICE, "all"), []);
  assert.deepEqual(asked[0]!.options, { params: { status: "all" } });
});

test("alerts: another practice's, another status, twice, out of order, the cursor again or past a page is refused", async () => {
  const dismissed = { status: "dismissed", reason: "Vu avec Paul, rien de grave.", decided_at: "2026-11-27T09:30:00Z" };
  const cases: [unknown[], "open" | "all", string?][] = [
    [[alert({ practice_id: OTHER })], "open"],
    [[alert(dismissed)], "open"],
    [[alert(), alert()], "all"],
    [[alert(), alert({ id: NEXT, created_at: "2026-11-28T09:06:00Z" })], "all"],
    [[alert()], "all", ALERT],
    [[alert({ status: "incident", decided_at: "2026-11-27T09:30:00Z" })], "all"],
    [[alert({ incident_id: INCIDENT })], "all"],
    [[alert({ decided_at: "2026-11-27T09:30:00Z" })], "all"],
    [[alert({ count: -1 })], "all"],
    [[alert({ created_at: "yesterday" })], "all"],
    [Array.from({ length: ALERTS_PAGE + 1 }, () => alert()), "all"],
  ];
  for (const [answer, status, before] of cases) {
    const { session } = serverAnswering(() => answer);
    assert.equal(await refusal(() => listAlerts(session, PRACTICE, status, before)), "malformed_answer", JSON.stringify(answer[0]).slice(0, 120));
  }
});

test("alerts: a dismissal answered for another alert, not dismissed, or for another reason is refused", async () => {
  const reason = "  Paul a cliqué sur un ancien lien.  ";
  const done = { status: "dismissed", reason: reason.trim(), decided_at: "2026-11-27T09:30:00Z" };
  const { session, sent } = serverAnswering(() => alert(done));
  assert.equal((await dismissAlert(session, PRACTICE, ALERT, reason)).status, "dismissed");
  assert.deepEqual(sent, [{ method: "POST", path: `/alerts/${ALERT}/dismissal`, options: { json: { reason } } }]);
  for (const overrides of [{ id: NEXT }, { status: "open", decided_at: null }, { reason: "Autre chose." }, { practice_id: OTHER }]) {
    const { session } = serverAnswering(() => alert({ ...done, ...overrides }));
    assert.equal(await refusal(() => dismissAlert(session, PRACTICE, ALERT, reason)), "malformed_answer", JSON.stringify(overrides));
  }
});

test("alerts: an incident opened from an alert is that alert's, in the practice, with its clock", async () => {
  const made = alert({ status: "incident", incident_id: INCIDENT, decided_at: "2026-11-27T09:30:00Z" });
  const incident = (overrides: Record<string, unknown> = {}) => ({ id: INCIDENT, practice_id: PRACTICE, aware_at: "2026-11-27T09:30:00Z", deadline: "2026-11-30T09:30:00Z", people_counted: 4, ...overrides });
  const answering = (made: unknown, shown: unknown) => serverAnswering(({ method }) => (method === "POST" ? made : shown));
  const { session, sent } = answering(made, incident());
  const opened = await openIncidentFromAlert(session, PRACTICE, ALERT);
  assert.deepEqual(opened.incident, { id: INCIDENT, awareAt: "2026-11-27T09:30:00Z", deadline: "2026-11-30T09:30:00Z", peopleCounted: 4 });
  assert.deepEqual(
    sent.map((s) => [s.method, s.path]),
    [
      ["POST", `/alerts/${ALERT}/incident`],
      ["GET", `/incidents/${INCIDENT}`],
    ],
  );
  const cases: [unknown, unknown][] = [
    [alert({ ...made, id: NEXT }), incident()],
    [alert({ ...made, status: "dismissed", incident_id: null }), incident()],
    [made, incident({ practice_id: OTHER })],
    [made, incident({ id: NEXT })],
    [made, incident({ deadline: "soon" })],
  ];
  for (const [answer, shown] of cases) {
    const { session } = answering(answer, shown);
    assert.equal(await refusal(() => openIncidentFromAlert(session, PRACTICE, ALERT)), "malformed_answer", JSON.stringify(shown));
  }
});

/** The thresholds as the server writes them. */
const WIRE = {
  mass_window_minutes: 60,
  mass_floor_patients: 25,
  mass_floor_documents: 50,
  mass_factor: 2,
  mass_history_days: 14,
  open_hour: 7,
  close_hour: 20,
  open_days: [0, 1, 2, 3, 4, 5],
  off_hours_min_entries: 3,
  off_hours_window_minutes: 60,
  denials_per_account: 10,
  denials_per_patient: 10,
  denials_window_minutes: 15,
  throttle_min_refused: 1,
  networks_min: 2,
  networks_window_minutes: 10,
  new_network_documents: 20,
  new_network_window_minutes: 60,
  new_network_history_days: 30,
};
const THRESHOLDS: ThresholdsView = { ...WIRE, others: {} };

test("thresholds: read with their changes; set as asked, else refused; the server's reasons kept in its refusal", async () => {
  const { session } = serverAnswering(() => ({ ...WIRE, changes: [{ changed_at: "2026-11-27T09:00:00Z", changed_by: PAUL, before: WIRE, after: WIRE }] }));
  const read = await anomalySettings(session, PRACTICE);
  assert.deepEqual(read, { thresholds: THRESHOLDS, changes: [{ changedAt: "2026-11-27T09:00:00Z", changedBy: PAUL }] });

  const wanted = { ...THRESHOLDS, denials_per_account: 2, open_days: [4, 0, 1] };
  const { session: tuning, sent } = serverAnswering(() => ({ ...WIRE, denials_per_account: 2, open_days: [0, 1, 4] }));
  assert.deepEqual(await setAnomalySettings(tuning, PRACTICE, wanted), { ...wanted, open_days: [0, 1, 4] });
  assert.deepEqual(sent[0]!.options, { json: { ...WIRE, denials_per_account: 2, open_days: [4, 0, 1] } });
  for (const overrides of [{ denials_per_account: 10 }, { open_days: [0, 1, 2, 3, 4, 5, 6] }, { mass_factor: "2" }, { networks_min: undefined }, { moon_hours: 3 }]) {
    const { session } = serverAnswering(() => ({ ...WIRE, denials_per_account: 2, open_days: [0, 1, 4], ...overrides }));
    assert.equal(await refusal(() => setAnomalySettings(session, PRACTICE, wanted)), "malformed_answer", JSON.stringify(overrides));
  }

  const problem = { detail: "the request does not match the expected format", errors: [{ location: ["body", "networks_min"], message: "Input should be greater than or equal to 2" }] };
  const { session: refusing } = serverAnswering(() => {
    throw new ApiError(422, problem.detail, problem);
  });
  await assert.rejects(setAnomalySettings(refusing, PRACTICE, { ...THRESHOLDS, networks_min: 1 }), (error: unknown) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.identifier, "bad_request");
    assert.equal(error.detail, "the request does not match the expected format (networks_min: Input should be greater than or equal to 2)");
    return true;
  });
});

test("thresholds: one this page does not know is sent back as it came, never reset by saving the others", async () => {
  const newer = { ...WIRE, moon_hours: 3, moon_days: [1, 2] };
  const { session } = serverAnswering(() => ({ ...newer, changes: [] }));
  const { thresholds } = await anomalySettings(session, PRACTICE);
  assert.deepEqual(thresholds.others, { moon_hours: 3, moon_days: [1, 2] });
  const { session: tuning, sent } = serverAnswering(() => ({ ...newer, networks_min: 3 }));
  await setAnomalySettings(tuning, PRACTICE, { ...thresholds, networks_min: 3 });
  assert.deepEqual(sent[0]!.options, { json: { ...newer, networks_min: 3 } });
  for (const odd of [{ moon_hours: "3" }, { moon_hours: { at: 3 } }, { moon_days: [1, null] }]) {
    const { session } = serverAnswering(() => ({ ...WIRE, ...odd, changes: [] }));
    assert.equal(await refusal(() => anomalySettings(session, PRACTICE)), "malformed_answer", JSON.stringify(odd));
  }
});
