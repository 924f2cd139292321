/**
 * A practice's compliance dashboard (PROTOCOL 13.5), as client/compliance.py: each
 * line's status, the rule that gave it, and the server's French words about it; and
 * the same as the server's dated PDF report. Nothing here is encrypted or a proof: the
 * dashboard is the server's account of the practice. The answer is still read field by
 * field and refused unless it is about the practice asked for, and a status the page
 * does not know is shown as unknown, never as "conforme".
 */

import type { Session } from "./session.js";
import { Wire } from "./wire.js";

export const STATUSES = ["ok", "watch", "late"] as const;
export type ComplianceStatus = (typeof STATUSES)[number] | "unknown";
/** The most lines, and details per line, read: a hostile server's lists are cut there. */
const MAX_ITEMS = 50;
const MAX_DETAILS = 200;
/** The largest PDF report taken: a few pages of text are some kilobytes. */
export const MAX_REPORT = 5_000_000;

export interface ComplianceItemView {
  key: string;
  title: string;
  status: ComplianceStatus;
  summary: string;
  rule: string;
  details: string[];
}

export interface ComplianceView {
  practiceId: string;
  practiceName: string;
  /** ISO 8601: when the server computed it. */
  generatedAt: string;
  status: ComplianceStatus;
  items: ComplianceItemView[];
}

function statusOf(value: string): ComplianceStatus {
  return (STATUSES as readonly string[]).includes(value) ? (value as ComplianceStatus) : "unknown";
}

/** The practice's dashboard; refused unless it is about `practiceId`. */
export async function complianceDashboard(session: Session, practiceId: string): Promise<ComplianceView> {
  const wire = new Wire("malformed_answer", "the compliance dashboard");
  const body = wire.object(await session.json("GET", `/practices/${encodeURIComponent(practiceId)}/compliance`, wire));
  if (wire.uuid(body, "practice_id") !== practiceId.toLowerCase()) throw wire.refuse("is about another practice");
  const generatedAt = wire.string(body, "generated_at");
  if (Number.isNaN(Date.parse(generatedAt))) throw wire.refuse("has no date generated_at");
  const items = wire.list(body["items"]);
  if (items.length > MAX_ITEMS) throw wire.refuse("has too many lines");
  return {
    practiceId: practiceId.toLowerCase(),
    practiceName: wire.string(body, "practice_name"),
    generatedAt,
    status: statusOf(wire.string(body, "status")),
    items: items.map((value) => {
      const item = wire.object(value);
      const details = wire.list(item["details"]);
      if (details.length > MAX_DETAILS) throw wire.refuse("has a line with too many details");
      return {
        key: wire.string(item, "key"),
        title: wire.string(item, "title"),
        status: statusOf(wire.string(item, "status")),
        summary: wire.string(item, "summary"),
        rule: wire.string(item, "rule"),
        details: details.map((detail) => {
          if (typeof detail !== "string") throw wire.refuse("has a detail that is not text");
          return detail;
        }),
      };
    }),
  };
}

/** The dashboard as the server's dated PDF report; refused unless it is a PDF of a plausible size. */
export async function complianceReport(session: Session, practiceId: string): Promise<Uint8Array<ArrayBuffer>> {
  const wire = new Wire("malformed_answer", "the compliance report");
  const response = await session.call("GET", `/practices/${encodeURIComponent(practiceId)}/compliance`, { params: { format: "pdf" } });
  const kind = (response.headers.get("content-type") ?? "").split(";")[0]!.trim();
  if (kind !== "application/pdf") throw wire.refuse("is not a PDF");
  const content = new Uint8Array(await response.arrayBuffer());
  if (content.length > MAX_REPORT) throw wire.refuse("is too large");
  const magic = new TextDecoder().decode(content.subarray(0, 5));
  if (magic !== "%PDF-") throw wire.refuse("is not a PDF");
  return content;
}
