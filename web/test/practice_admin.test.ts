/**
 * A practice's admin in the worker (client/practices.ts, client/patient_files.ts)
 * against a hostile server: a vouching answered for another member or left
 * unverified, a retention policy of another practice or not the one asked, an
 * export that is not a Bundle of AuditEvents, retention facts not recorded.
 */

import { test } from "node:test";
import assert from "node:assert/strict";

import { exportActivity, retentionPolicy, setRetentionPolicy, vouchForIdentity } from "../src/client/practices.js";
import { PatientFiles } from "../src/client/patient_files.js";
import { type Sent, sessionAnswering } from "./fake_session.js";
import { refusal } from "./vectors.js";

const PRACTICE = "0b8f2a4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b";
const LEA = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
const FILE = "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a";

/** A session whose server answers `answer(request)` (JSON, or the text of a raw answer); records what was sent. */
function serverAnswering(answer: (sent: Sent) => unknown) {
  return sessionAnswering<Parameters<typeof vouchForIdentity>[0]>(answer);
}

function member(overrides: Record<string, unknown> = {}) {
  return { account_id: LEA, email: "lea.roux@cabinet.test", display_name: "Léa Roux", kind: "practitioner", role: "practitioner", rpps: null, rpps_proven: false, identity_verified: true, ...overrides };
}

test("admin: a vouching answered for another member, unverified or malformed is refused", async () => {
  const { session, sent } = serverAnswering(() => member());
  assert.equal((await vouchForIdentity(session, PRACTICE, LEA)).identityVerified, true);
  assert.deepEqual(sent, [{ method: "POST", path: `/practices/${PRACTICE}/members/${LEA}/identity-verification`, options: {} }]);
  for (const overrides of [{ identity_verified: false }, { account_id: FILE }, { role: "owner" }, { identity_verified: "yes" }]) {
    const { session } = serverAnswering(() => member(overrides));
    assert.equal(await refusal(() => vouchForIdentity(session, PRACTICE, LEA)), "malformed_answer", JSON.stringify(overrides));
  }
});

test("admin: a retention policy of another practice, not the one asked for, or impossible is refused", async () => {
  const policy = (overrides: Record<string, unknown> = {}) => ({ practice_id: PRACTICE, years: 30, archive_after_years: 5, ...overrides });
  const { session, sent } = serverAnswering(() => policy());
  assert.deepEqual(await setRetentionPolicy(session, PRACTICE, { years: 30, archiveAfterYears: 5 }), { years: 30, archiveAfterYears: 5 });
  assert.deepEqual(sent[0]!.options, { json: { years: 30, archive_after_years: 5 } });
  const cases: [Record<string, unknown>, (s: typeof session) => Promise<unknown>][] = [
    [{ practice_id: FILE }, (s) => retentionPolicy(s, PRACTICE)],
    [{ years: 20 }, (s) => setRetentionPolicy(s, PRACTICE, { years: 30, archiveAfterYears: 5 })],
    [{ archive_after_years: 40 }, (s) => retentionPolicy(s, PRACTICE)],
    [{ years: -1 }, (s) => retentionPolicy(s, PRACTICE)],
  ];
  for (const [overrides, run] of cases) {
    const { session } = serverAnswering(() => policy(overrides));
    assert.equal(await refusal(() => run(session)), "malformed_answer", JSON.stringify(overrides));
  }
});

test("admin: the activity export is a FHIR Bundle of AuditEvents, or refused", async () => {
  const bundle = { resourceType: "Bundle", type: "collection", entry: [{ resource: { resourceType: "AuditEvent" } }] };
  const { session, sent } = serverAnswering(() => JSON.stringify(bundle));
  assert.deepEqual(JSON.parse(await exportActivity(session, PRACTICE)), bundle);
  assert.deepEqual(sent, [{ method: "GET", path: `/practices/${PRACTICE}/journal/export`, options: { params: { format: "fhir" } } }]);
  const hostile = [
    "<html>not json</html>",
    JSON.stringify([bundle]),
    JSON.stringify({ ...bundle, resourceType: "Patient" }),
    JSON.stringify({ ...bundle, entry: [{ resource: { resourceType: "Patient", name: [{ family: "Petit" }] } }] }),
  ];
  for (const body of hostile) {
    const { session } = serverAnswering(() => body);
    assert.equal(await refusal(() => exportActivity(session, PRACTICE)), "malformed_answer", body);
  }
});

test("retention facts: sent as the SDK sends them, refused when the answer does not hold them", async () => {
  const retention = (overrides: Record<string, unknown> = {}) => ({
    patient_file_id: FILE,
    keep_until: "2046-11-27",
    basis: "last_care",
    explanation: "20 years after the last care",
    last_care_on: "2026-11-27",
    born_on: "1990-06-02",
    died_on: null,
    claim_open: false,
    suspended_days: 0,
    archived: false,
    destroyable_from: "2046-11-28",
    shredded_at: null,
    ...overrides,
  });
  const files = (answer: () => unknown) => {
    const { session, sent } = serverAnswering(answer);
    const documents = { vouchedReaders: null };
    return { files: new PatientFiles(session as never, documents as never), sent };
  };
  const honest = files(() => retention());
  assert.equal((await honest.files.recordRetentionFacts(FILE, { bornOn: "1990-06-02" })).keepUntil, "2046-11-27");
  assert.deepEqual(honest.sent, [{ method: "PUT", path: `/patient-files/${FILE}/retention`, options: { json: { born_on: "1990-06-02" } } }]);
  for (const overrides of [{ born_on: "1991-06-02" }, { patient_file_id: LEA }, { keep_until: "soon" }, { last_care_on: null }]) {
    const { files: hostile } = files(() => retention(overrides));
    assert.equal(await refusal(() => hostile.recordRetentionFacts(FILE, { bornOn: "1990-06-02" })), "malformed_answer", JSON.stringify(overrides));
  }
});
