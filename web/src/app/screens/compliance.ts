/**
 * "Conformité": the practice's compliance dashboard for its admin, as `uhs compliance
 * dashboard` shows it: the overall status, then each line with its status said in
 * words and by a sign (never by colour alone), what the server found, its details and
 * the rule that gave the status; and a button that saves the server's dated PDF
 * report, to show an inspector.
 *
 * The lines' words are the server's, in French (the report's language): said so to a
 * screen reader when the page is in another language. The dashboard is the server's
 * account of the practice, not a proof: the screen says so.
 */

import type { ComplianceItemView, ComplianceView } from "../api.js";
import { type AppContext, refusalBox, type Screen } from "../app.js";
import { formatDate, h, replace } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { PRACTICE_ROUTE } from "./practice.js";
import { busy } from "./signin.js";

export const COMPLIANCE_ROUTE = (practiceId: string) => `${PRACTICE_ROUTE(practiceId)}/compliance`;
export const COMPLIANCE_ROUTE_PATTERN = /^#\/practice\/([^/]+)\/compliance$/;

const LABELS: Record<ComplianceView["status"], MessageKey> = {
  ok: "compliance.status.ok",
  watch: "compliance.status.watch",
  late: "compliance.status.late",
  unknown: "compliance.status.unknown",
};
/** A sign beside the words: read by eye, hidden from screen readers, which read the words. */
const SIGNS: Record<ComplianceView["status"], string> = { ok: "✓", watch: "!", late: "✗", unknown: "?" };

function statusBadge(status: ComplianceView["status"]): HTMLElement {
  return h("span", { class: `status ${status}` }, h("span", { class: "sign", "aria-hidden": "true" }, SIGNS[status]), " ", t(LABELS[status]));
}

/** The server's French words, marked as French for a screen reader. */
function french(tag: "p" | "li" | "span", text: string, attributes: Record<string, string> = {}): HTMLElement {
  return h(tag, { ...attributes, lang: "fr" }, text);
}

function itemPart(item: ComplianceItemView, index: number): HTMLElement {
  const id = `compliance-item-${index}`;
  const details = item.details.length ? h("ul", { class: "details" }, ...item.details.map((d) => french("li", d))) : h("span", {});
  return h(
    "li",
    { class: `compliance-item ${item.status}`, "aria-labelledby": id },
    h("h2", { id }, statusBadge(item.status), " ", h("span", { lang: "fr" }, item.title)),
    french("p", item.summary, { class: "summary" }),
    details,
    h("p", { class: "rule" }, h("strong", {}, `${t("compliance.rule")} `), french("span", item.rule)),
  );
}

function reportButton(context: AppContext, practiceId: string): HTMLElement {
  const button = h("button", { type: "button" }, t("compliance.download"));
  const outcome = h("div", {});
  button.onclick = async () => {
    replace(outcome);
    const done = busy(button, t("compliance.downloading"));
    try {
      const report = await context.api.complianceReport(practiceId);
      const url = URL.createObjectURL(new Blob([report], { type: "application/pdf" }));
      const day = new Date().toISOString().slice(0, 10);
      const link = h("a", { href: url, download: `conformite-${day}.pdf` }, t("compliance.save"));
      replace(outcome, h("p", { class: "alert success" }, t("compliance.downloaded"), " ", link));
      link.click();
    } catch (error) {
      replace(outcome, refusalBox(error));
    } finally {
      done();
    }
  };
  return h("div", { class: "export" }, h("p", { class: "hint" }, t("compliance.downloadMeaning")), button, outcome);
}

export async function complianceScreen(context: AppContext, practiceId: string): Promise<Screen> {
  const title = t("compliance.title");
  const content = h("section", { class: "compliance" }, h("h1", {}, title));
  const back = h("p", { class: "links" }, h("a", { href: PRACTICE_ROUTE(practiceId) }, t("compliance.backToPractice")));
  let dashboard: ComplianceView;
  try {
    const practice = (await context.api.practices()).find((p) => p.id === practiceId.toLowerCase());
    if (practice?.role !== "admin") {
      content.append(h("p", { class: "empty" }, t("compliance.notAdmin")), back);
      return { title, content };
    }
    dashboard = await context.api.compliance(practiceId);
  } catch (error) {
    content.append(refusalBox(error), back);
    return { title, content };
  }
  content.append(
    h("p", {}, t("compliance.intro", { practice: dashboard.practiceName, when: formatDate(dashboard.generatedAt, locale()) })),
    h("p", { class: "overall" }, h("strong", {}, `${t("compliance.overall")} `), statusBadge(dashboard.status)),
    h("p", { class: "hint" }, t("compliance.meaning")),
    reportButton(context, practiceId),
    h("ol", { class: "compliance-items" }, ...dashboard.items.map(itemPart)),
    h("p", { class: "hint" }, t("compliance.notProof")),
    back,
  );
  return { title, content };
}

/** On the practice's page: where the dashboard is. */
export function complianceLink(practiceId: string): HTMLElement {
  return h(
    "section",
    { class: "part", "aria-labelledby": "compliance-summary" },
    h("h2", { id: "compliance-summary" }, t("compliance.title")),
    h("p", {}, t("compliance.linkMeaning")),
    h("p", { class: "links" }, h("a", { href: COMPLIANCE_ROUTE(practiceId) }, t("compliance.see"))),
  );
}
