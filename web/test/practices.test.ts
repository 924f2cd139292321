/**
 * The practice operations (client/practices.ts) against a server that answers
 * something else than what was asked: the screen must not say a practice was made,
 * an invitation sent or a practice joined as the server would have it shown.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { createPractice, invite, joinPractice, listPractices } from "../src/client/practices.js";
import type { Session } from "../src/client/session.js";
import { refusal } from "./vectors.js";

const PRACTICE_ID = "0b6f3c1e-8a55-4c1e-9d1b-0c8f3a6e2b10";

/** A session whose server answers `answer` to any request, and records what was sent. */
function answering(answer: unknown) {
  const sent: { method: string; path: string; json: unknown }[] = [];
  const session = {
    json: async (method: string, path: string, _wire: unknown, options: { json?: unknown } = {}) => {
      sent.push({ method, path, json: options.json });
      return answer;
    },
  } as unknown as Session;
  return { session, sent };
}

const EXPIRES = "2026-12-11T08:00:00Z";

test("practices: the requests are the CLI's, and honest answers are taken", async () => {
  const created = answering({ id: PRACTICE_ID, name: "Maison de santé", role: "admin", created_at: EXPIRES });
  assert.deepEqual(await createPractice(created.session, "  Maison de santé "), { id: PRACTICE_ID, name: "Maison de santé", role: "admin" });
  assert.deepEqual(created.sent, [{ method: "POST", path: "/practices", json: { name: "Maison de santé" } }]);

  const invited = answering({ email: "sec@cabinet.test", role: "secretary", expires_at: EXPIRES });
  assert.deepEqual(await invite(invited.session, PRACTICE_ID, " Sec@Cabinet.test ", "secretary"), { email: "sec@cabinet.test", role: "secretary", expiresAt: EXPIRES });
  assert.deepEqual(invited.sent, [{ method: "POST", path: `/practices/${PRACTICE_ID}/invitations`, json: { email: "Sec@Cabinet.test", role: "secretary" } }]);

  const joined = answering({ id: PRACTICE_ID, name: "Maison de santé", role: "patient", created_at: EXPIRES });
  assert.equal((await joinPractice(joined.session, " the-code-from-the-mail ")).role, "patient");
  assert.deepEqual(joined.sent[0]?.json, { code: "the-code-from-the-mail" });
});

test("practices: a practice created under another name or without you as its admin is refused", async () => {
  for (const answer of [
    { id: PRACTICE_ID, name: "Another practice", role: "admin" },
    { id: PRACTICE_ID, name: "Maison de santé", role: "practitioner" },
    { id: "not-a-uuid", name: "Maison de santé", role: "admin" },
  ]) {
    assert.equal(await refusal(() => createPractice(answering(answer).session, "Maison de santé")), "malformed_answer", JSON.stringify(answer));
  }
});

test("practices: an invitation answered for another address or role, or without an end, is refused", async () => {
  for (const answer of [
    { email: "intruder@elsewhere.test", role: "secretary", expires_at: EXPIRES },
    { email: "sec@cabinet.test", role: "admin", expires_at: EXPIRES },
    { email: "sec@cabinet.test", role: "secretary", expires_at: "soon" },
    { email: "sec@cabinet.test", role: "secretary" },
  ]) {
    assert.equal(await refusal(() => invite(answering(answer).session, PRACTICE_ID, "sec@cabinet.test", "secretary")), "malformed_answer", JSON.stringify(answer));
  }
});

test("practices: a role the protocol does not know is refused in every answer", async () => {
  const unknown = { id: PRACTICE_ID, name: "Maison de santé", role: "owner" };
  assert.equal(await refusal(() => joinPractice(answering(unknown).session, "code")), "malformed_answer");
  assert.equal(await refusal(() => listPractices(answering([unknown]).session)), "malformed_answer");
});
