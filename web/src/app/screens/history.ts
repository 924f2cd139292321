/**
 * The person's own history (#/history): who read or changed what about them, and
 * when, as `uhs journal history` shows it. The worker proves every entry in the
 * server's journal and the history complete (client/journal_history.ts); a history
 * the server cannot prove, or one with entries left out, is refused whole rather than
 * shown in part. A practice's admins see their practice's activity instead.
 */

import type { BreachNotice, HistoryEntryView, HistoryView, PracticeView } from "../api.js";
import { type AppContext, type Screen, errorBox, refusalBox } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { WorkerRefusal } from "../../worker/client.js";
import { busy } from "./signin.js";

/** What journal actions mean to the person reading them (cli/journal.py's _ACTION_WORDS). */
const ACTIONS: Record<string, MessageKey> = {
  "records.open_patient_file": "history.action.openPatientFile",
  "records.create_document": "history.action.createDocument",
  "records.add_version": "history.action.addVersion",
  "records.document": "history.action.document",
  "records.content": "history.action.content",
  "records.patient_files": "history.action.patientFiles",
  "records.patient_file": "history.action.patientFile",
  "records.inbox": "history.action.inbox",
  "records.share": "history.action.share",
  "records.revoke": "history.action.revoke",
  "records.restrict_document": "history.action.restrictDocument",
  "records.lift_restriction": "history.action.liftRestriction",
  "records.rewrap": "history.action.rewrap",
  "incidents.notice_sent": "history.action.noticeSent",
  "incidents.my_notices": "history.action.myNotices",
  "keys.lookup": "history.action.keyLookup",
  "keys.lookup_many": "history.action.keyLookup",
  "messaging.create_thread": "history.action.createThread",
  "messaging.post_message": "history.action.postMessage",
  "messaging.messages": "history.action.messages",
  "messaging.thread": "history.action.thread",
  "consent.record_directive": "history.action.consent",
  "consent.patient_directives": "history.action.directives",
  "retention.file_retention": "history.action.retention",
  "retention.purge": "history.action.purge",
  "audit.history": "history.action.history",
  "audit.export_history": "history.action.exportHistory",
  "accounts.members": "history.action.members",
  "messaging.mark_read": "history.action.markRead",
  "messaging.rewrap": "history.action.rewrapMessages",
  "consent.ask": "history.action.ask",
  "consent.my_requests": "history.action.myRequests",
  "consent.withdraw": "history.action.withdraw",
  "consent.lift": "history.action.lift",
  "consent.extend": "history.action.extend",
  "consent.complete": "history.action.complete",
  "consent.refuse": "history.action.refuse",
  "consent.practice_requests": "history.action.practiceRequests",
  "retention.record_facts": "history.action.recordFacts",
  "retention.open_claim": "history.action.openClaim",
  "retention.close_claim": "history.action.closeClaim",
  "retention.set_policy": "history.action.setPolicy",
  "accounts.invite": "history.action.invite",
  "accounts.verify_identity": "history.action.verifyIdentity",
  "audit.export_practice_activity": "history.action.exportActivity",
};
/** The same actions said with the document's title, where this account can read it. */
const TITLED: Record<string, MessageKey> = {
  "records.create_document": "history.titled.createDocument",
  "records.add_version": "history.titled.addVersion",
  "records.document": "history.titled.document",
  "records.content": "history.titled.content",
  "records.share": "history.titled.share",
  "records.revoke": "history.titled.revoke",
  "records.restrict_document": "history.titled.restrictDocument",
  "records.lift_restriction": "history.titled.liftRestriction",
};
/** Actions of the server itself, not of a person. */
const SERVER_ACTIONS = new Set(["retention.purge"]);
const OUTCOMES: Record<HistoryEntryView["outcome"], MessageKey> = {
  done: "history.outcome.done",
  denied: "history.outcome.denied",
  refused: "history.outcome.refused",
  failed: "history.outcome.failed",
};

export async function historyScreen(context: AppContext): Promise<Screen> {
  const title = t("history.title");
  const content = h("section", {}, h("h1", {}, title));
  if (context.account.kind === "patient") {
    content.append(await noticesPart(context), h("p", {}, t("history.intro")), await historyPart(context, null));
    return { title, content };
  }
  let practices: PracticeView[];
  try {
    practices = (await context.api.practices()).filter((p) => p.role === "admin");
  } catch (error) {
    content.append(historyRefusal(error));
    return { title, content };
  }
  if (practices.length === 0) {
    content.append(h("p", { class: "empty" }, t("history.nothingForYou")));
    return { title, content };
  }
  content.append(h("p", {}, t("history.practiceIntro")));
  for (const practice of practices) {
    const heading = h("h2", { id: uniqueId("practice") }, practice.name);
    content.append(heading, exportPart(context, practice, heading.id), await historyPart(context, practice.id));
  }
  return { title, content };
}

/**
 * "Exporter (FHIR AuditEvent)": the worker fetches the practice's export and checks
 * it is a Bundle of AuditEvents; the page saves it from a Blob URL, as a document is saved.
 */
function exportPart(context: AppContext, practice: PracticeView, headingId: string): HTMLElement {
  // Named by its words alone; the practice it exports is the heading above, read as its description.
  const button = h("button", { type: "button", class: "secondary", "aria-describedby": headingId }, t("history.export"));
  const outcome = h("div", {});
  button.onclick = async () => {
    replace(outcome);
    const done = busy(button, t("history.exporting"));
    try {
      const bundle = await context.api.exportActivity(practice.id);
      const url = URL.createObjectURL(new Blob([bundle], { type: "application/fhir+json" }));
      const day = new Date().toISOString().slice(0, 10);
      const link = h("a", { href: url, download: `activite-${day}.fhir.json` }, t("history.exportSave"));
      replace(outcome, h("p", { class: "alert success" }, t("history.exported"), " ", link));
      link.click();
    } catch (error) {
      replace(outcome, refusalBox(error));
    } finally {
      done();
    }
  };
  return h("div", { class: "export" }, h("p", { class: "hint" }, t("history.exportMeaning")), button, outcome);
}

/**
 * The breach notices the patient's practices sent (GDPR art. 34), above the history:
 * the practice's own words, as text; nothing when there is none.
 */
async function noticesPart(context: AppContext): Promise<HTMLElement> {
  const part = h("div", {});
  let notices: BreachNotice[];
  try {
    notices = await context.api.breachNotices();
  } catch (error) {
    return h("div", {}, refusalBox(error));
  }
  if (notices.length === 0) return part;
  const heading = h("h2", { id: uniqueId("notices") }, t("history.notices"));
  const list = h("div", { role: "list", "aria-labelledby": heading.id });
  for (const notice of notices) {
    const paragraphs = notice.text.split(/\n\s*\n/).map((text) => h("p", {}, text.trim()));
    list.append(
      h("article", { class: "alert warning", role: "listitem" }, h("p", {}, h("strong", {}, t("history.noticeSent", { date: formatDate(notice.sentAt, locale()) }))), ...paragraphs),
    );
  }
  part.append(heading, h("p", {}, t("history.noticesIntro")), list);
  return part;
}

/** One history, proven by the worker, or the reason it was refused. */
async function historyPart(context: AppContext, practiceId: string | null): Promise<HTMLElement> {
  const part = h("div", {});
  let history: HistoryView;
  try {
    history = await context.api.history(practiceId);
  } catch (error) {
    replace(part, historyRefusal(error));
    return part;
  }
  const older = history.unchained > 0 ? ` ${t("history.older", { count: history.unchained })}` : "";
  const summary = h("p", { class: "alert success" }, t("history.complete", { count: history.chained, size: history.treeSize }) + older);
  if (history.entries.length === 0) {
    replace(part, summary, h("p", { class: "empty" }, t("history.empty")));
    return part;
  }
  // Titles of the documents this account can open (decrypted by the worker), of those
  // whose signed manifest names the id they are listed under: a title the server filed
  // under another document's id would say the entry was about another document.
  // The practices it belongs to, for the filter. Without them the history still shows.
  const [titles, practices] = await Promise.all([
    context.api.inbox().then(
      (documents) => new Map(documents.filter((d) => d.verified).map((d) => [d.id.toLowerCase(), d.title])),
      () => new Map<string, string>(),
    ),
    practiceId === null ? context.api.practices().catch(() => []) : Promise.resolve([]),
  ]);
  const body = h("tbody", {});
  const shown = h("p", { class: "hint", role: "status" });
  const table = h(
    "table",
    { class: "documents history" },
    h("caption", {}, t("history.caption")),
    h("thead", {}, h("tr", {}, ...(["history.when", "history.who", "history.what", "history.outcome"] as const).map((key) => h("th", { scope: "col" }, t(key))))),
    body,
  );
  const filters = historyFilters(history.entries, practices, (chosen) => {
    replace(body, ...chosen.map((entry) => row(entry, titles)));
    shown.textContent = t("history.shown", { shown: chosen.length, total: history.entries.length });
  });
  replace(part, summary, filters, shown, table);
  return part;
}

/** The filters of a history: by practice, by person, by period; `show` gets the entries kept. */
function historyFilters(entries: HistoryEntryView[], practices: PracticeView[], show: (chosen: HistoryEntryView[]) => void): HTMLElement {
  const all = h("option", { value: "" }, t("history.filter.all"));
  const practice = h("select", { name: "practice" }, all, ...practices.map((p) => h("option", { value: p.id.toLowerCase() }, p.name)));
  // Entries of nobody signed in are a choice of their own, not "everyone" ("").
  const actorOf = (entry: HistoryEntryView) => entry.actorId ?? "nobody";
  const people = [...new Map(entries.map((e) => [actorOf(e), whoOf(e)])).entries()].sort((a, b) => a[1].localeCompare(b[1], locale()));
  const who = h("select", { name: "who" }, h("option", { value: "" }, t("history.filter.everyone")), ...people.map(([id, name]) => h("option", { value: id }, name)));
  const from = h("input", { type: "date", name: "from" });
  const to = h("input", { type: "date", name: "to" });
  const apply = () => {
    const start = from.value ? Date.parse(`${from.value}T00:00:00`) : -Infinity;
    const end = to.value ? Date.parse(`${to.value}T00:00:00`) + 24 * 3600 * 1000 : Infinity;
    show(
      entries.filter((entry) => {
        const at = Date.parse(entry.at);
        return (
          (practice.value === "" || entry.practiceIds.includes(practice.value)) &&
          (who.value === "" || actorOf(entry) === who.value) &&
          at >= start &&
          at < end
        );
      }),
    );
  };
  for (const control of [practice, who, from, to]) control.addEventListener("change", apply);
  apply();
  return h(
    "fieldset",
    { class: "history-filters" },
    h("legend", {}, t("history.filter.legend")),
    practices.length > 0 ? field(t("history.filter.practice"), practice) : null,
    field(t("history.filter.who"), who),
    field(t("history.filter.from"), from),
    field(t("history.filter.to"), to),
  );
}

function whoOf(entry: HistoryEntryView): string {
  return entry.actorName || (SERVER_ACTIONS.has(entry.action) ? t("app.name") : entry.actorId === null ? t("history.nobody") : entry.actorId);
}

function row(entry: HistoryEntryView, titles: Map<string, string>): HTMLTableRowElement {
  const title = entry.documentIds.map((id) => titles.get(id)).find((known) => known !== undefined);
  const titled = TITLED[entry.action];
  const what = title !== undefined && titled ? t(titled, { title }) : ACTIONS[entry.action] ? t(ACTIONS[entry.action]!) : entry.action;
  return h(
    "tr",
    { "data-index": entry.index },
    h("td", { "data-label": t("history.when") }, h("time", { datetime: entry.at }, formatDate(entry.at, locale()))),
    h("td", { "data-label": t("history.who") }, whoOf(entry)),
    h("td", { "data-label": t("history.what") }, what),
    h("td", { "data-label": t("history.outcome") }, t(OUTCOMES[entry.outcome])),
  );
}

/** Refusals of the journal's proofs (beside the server's own refusals, or the network). */
const UNPROVEN = new Set(["log_refused", "invalid_proof", "invalid_signature", "malformed"]);

/** The refusal in French first (what it means), then its code for support. */
function historyRefusal(error: unknown): HTMLElement {
  const identifier = error instanceof WorkerRefusal ? error.identifier : "";
  const lead: MessageKey | null = identifier === "history_incomplete" ? "history.incomplete" : UNPROVEN.has(identifier) ? "history.unproven" : null;
  if (lead === null) return refusalBox(error);
  const box = errorBox(t(lead), "history.advice");
  box.append(h("p", { class: "hint" }, t("error.code", { code: identifier })));
  return box;
}
