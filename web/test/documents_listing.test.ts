/**
 * The worker lists only what a screen shows: one document by its id, one patient
 * file's documents by the server's filtered listing. The server is not trusted for
 * either: another document, or one of another file, is refused before anything is
 * decrypted.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { DOCUMENTS_PAGE, Documents, MAX_INBOX_PAGES } from "../src/client/documents.js";
import { ApiError, DOCUMENT_RESTRICTED } from "../src/client/http.js";
import { refusal } from "./vectors.js";

const FILE = "0b7c3f1e-4a2d-4c59-9f3e-2d6a1b8c9e01";
const OTHER_FILE = "5e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6";
const DOCUMENT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/** A document as the server serves it, with no version: enough to be read, nothing to decrypt. */
function served(id: string, patientFileId: string): Record<string, unknown> {
  return {
    id,
    patient_file_id: patientFileId,
    patient_id: "11111111-2222-4333-8444-555555555555",
    author_id: "66666666-7777-4888-9999-aaaaaaaaaaaa",
    author_email: "dr.martin@cabinet.test",
    author_name: "Dr Martin",
    latest_version: 1,
    versions: [],
    recipients: [],
  };
}

/** A session answering `answer(path, params)`, recording what was asked; it holds no key. */
function session(answer: (path: string, params: Record<string, unknown>) => unknown) {
  const asked: { path: string; params: Record<string, unknown> }[] = [];
  const fake = {
    json: async (_method: string, path: string, _wire: unknown, options: { params?: Record<string, unknown> } = {}) => {
      asked.push({ path, params: options.params ?? {} });
      return answer(path, options.params ?? {});
    },
    keys: {
      withUnwrapped: () => assert.fail("nothing is decrypted"),
    },
  } as unknown as ConstructorParameters<typeof Documents>[0];
  return { fake, asked };
}

test("documents: a patient file's documents are the server's listing for that file only", async () => {
  const { fake, asked } = session(() => []);
  assert.deepEqual(await new Documents(fake).ofPatientFile(FILE.toUpperCase()), []);
  assert.deepEqual(asked, [{ path: "/documents", params: { patient_file_id: FILE, limit: DOCUMENTS_PAGE, offset: 0 } }]);
});

test("documents: a document of another patient file in the file's listing refuses it all, nothing decrypted", async () => {
  const { fake } = session(() => [served(DOCUMENT, OTHER_FILE)]);
  assert.equal(await refusal(() => new Documents(fake).ofPatientFile(FILE)), "exchange_refused");
});

test("documents: a file's listing walks a bounded number of pages, whatever the server keeps listing", async () => {
  const { fake, asked } = session(() => Array.from({ length: DOCUMENTS_PAGE }, () => ({})));
  assert.equal(await refusal(() => new Documents(fake).ofPatientFile(FILE)), "exchange_refused");
  assert.equal(asked.length, MAX_INBOX_PAGES);
});

test("documents: one document is asked for by its id alone, and another one answered is refused", async () => {
  const other = "00000000-1111-4222-8333-444444444444";
  const { fake, asked } = session(() => served(other, FILE));
  assert.equal(await refusal(() => new Documents(fake).document(DOCUMENT)), "exchange_refused");
  assert.deepEqual(asked, [{ path: `/documents/${DOCUMENT}`, params: {} }]);
  // The right document with no version you can read: refused, not shown empty.
  const { fake: honest } = session(() => served(DOCUMENT, FILE));
  assert.equal(await refusal(() => new Documents(honest).document(DOCUMENT)), "exchange_refused");
});

test("documents: the patient's restriction (R28) is a POST, its lifting a DELETE, and an answer about another is refused", async () => {
  const methods: string[] = [];
  const answering = (answer: Record<string, unknown>) => {
    const { fake, asked } = session(() => answer);
    const recording = { ...fake, json: async (method: string, ...rest: unknown[]) => (methods.push(method), (fake.json as (...a: unknown[]) => unknown)(method, ...rest)) };
    return { documents: new Documents(recording as unknown as ConstructorParameters<typeof Documents>[0]), asked };
  };
  const since = "2026-11-28T10:00:00Z";
  const restricting = answering({ document_id: DOCUMENT, restricted_at: since });
  assert.equal(await restricting.documents.restrict(DOCUMENT.toUpperCase(), true), since);
  assert.deepEqual(restricting.asked, [{ path: `/documents/${DOCUMENT}/restriction`, params: {} }]);
  const lifting = answering({ document_id: DOCUMENT, restricted_at: null });
  assert.equal(await lifting.documents.restrict(DOCUMENT, false), null);
  assert.deepEqual(methods, ["POST", "DELETE"]);
  // Another document, or a restriction still there after lifting it: refused.
  const other = answering({ document_id: "00000000-1111-4222-8333-444444444444", restricted_at: since });
  assert.equal(await refusal(() => other.documents.restrict(DOCUMENT, true)), "exchange_refused");
  const kept = answering({ document_id: DOCUMENT, restricted_at: since });
  assert.equal(await refusal(() => kept.documents.restrict(DOCUMENT, false)), "exchange_refused");
});

test("documents: a document its patient restricted reads as such, not as any refusal", () => {
  assert.equal(new ApiError(403, "restricted", { type: DOCUMENT_RESTRICTED }).identifier, "document_restricted");
  assert.equal(new ApiError(404, "restricted", { type: DOCUMENT_RESTRICTED }).identifier, "not_found");
});
