/**
 * The compliance dashboard in the worker (client/compliance.ts, PROTOCOL 13.5) against
 * a hostile server: a dashboard of another practice, lines that are not lines, too
 * many of them; a status the page does not know shown as unknown, never as "conforme";
 * a report that is not a PDF.
 */

import { test } from "node:test";
import assert from "node:assert/strict";

import { complianceDashboard, complianceReport } from "../src/client/compliance.js";
import { sessionAnswering } from "./fake_session.js";
import { refusal } from "./vectors.js";

const PRACTICE = "0b8f2a4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b";
const OTHER = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f";

function item(overrides: Record<string, unknown> = {}) {
  return { key: "backup", title: "Dernière sauvegarde", status: "late", status_label: "en retard", summary: "jamais", rule: "Une par jour.", details: ["Aucun emplacement"], facts: {}, ...overrides };
}

function dashboard(overrides: Record<string, unknown> = {}) {
  return { practice_id: PRACTICE, practice_name: "Cabinet", generated_at: "2026-11-28T07:00:00Z", status: "late", status_label: "en retard", items: [item()], ...overrides };
}

function serverAnswering(answer: () => unknown) {
  return sessionAnswering<Parameters<typeof complianceDashboard>[0]>(answer);
}

test("compliance: the dashboard is read field by field; an unknown status is unknown, not ok", async () => {
  const { session, sent } = serverAnswering(() => dashboard({ status: "fine", items: [item(), item({ key: "x", status: "totally_ok" })] }));
  const read = await complianceDashboard(session, PRACTICE.toUpperCase());
  assert.deepEqual(sent, [{ method: "GET", path: `/practices/${PRACTICE.toUpperCase()}/compliance`, options: {} }]);
  assert.equal(read.status, "unknown");
  assert.deepEqual(
    read.items.map((i) => [i.key, i.status, i.summary, i.details]),
    [
      ["backup", "late", "jamais", ["Aucun emplacement"]],
      ["x", "unknown", "jamais", ["Aucun emplacement"]],
    ],
  );
});

test("compliance: another practice's dashboard, malformed lines or too many are refused", async () => {
  for (const answer of [
    dashboard({ practice_id: OTHER }),
    dashboard({ generated_at: "yesterday" }),
    dashboard({ items: [item({ details: [42] })] }),
    dashboard({ items: [item({ rule: null })] }),
    dashboard({ items: Array.from({ length: 51 }, () => item()) }),
    dashboard({ items: [item({ details: Array.from({ length: 201 }, () => "x") })] }),
  ]) {
    assert.equal(await refusal(() => complianceDashboard(serverAnswering(() => answer).session, PRACTICE)), "malformed_answer");
  }
});

test("compliance: the report is taken only as a PDF", async () => {
  const answering = (body: string, type: string) =>
    ({
      call: async () => new Response(body, { headers: { "content-type": type } }),
    }) as unknown as Parameters<typeof complianceReport>[0];
  const report = await complianceReport(answering("%PDF-1.7\n...", "application/pdf"), PRACTICE);
  assert.equal(new TextDecoder().decode(report.subarray(0, 5)), "%PDF-");
  assert.equal(await refusal(() => complianceReport(answering("<html>", "application/pdf"), PRACTICE)), "malformed_answer");
  assert.equal(await refusal(() => complianceReport(answering("%PDF-1.7", "text/html"), PRACTICE)), "malformed_answer");
});
