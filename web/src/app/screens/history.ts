/**
 * The person's own history (#/history): who read or changed what about them, and
 * when, as `uhs journal history` shows it. The worker proves every entry in the
 * server's journal and the history complete (client/journal_history.ts); a history
 * the server cannot prove, or one with entries left out, is refused whole rather than
 * shown in part. A practice's admins see their practice's activity instead.
 */

import type { HistoryEntryView, HistoryView, PracticeView } from "../api.js";
import { type AppContext, type Screen, errorBox, refusalBox } from "../app.js";
import { formatDate, h, replace } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { WorkerRefusal } from "../../worker/client.js";

/** What journal actions mean to the person reading them (cli/journal.py's _ACTION_WORDS). */
const ACTIONS: Record<string, MessageKey> = {
  "records.open_patient_file": "history.action.openPatientFile",
  "records.create_document": "history.action.createDocument",
  "records.add_version": "history.action.addVersion",
  "records.document": "history.action.document",
  "records.content": "history.action.content",
  "records.patient_files": "history.action.patientFiles",
  "records.inbox": "history.action.inbox",
  "records.share": "history.action.share",
  "records.revoke": "history.action.revoke",
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
    content.append(h("p", {}, t("history.intro")), await historyPart(context, null));
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
  for (const practice of practices) content.append(h("h2", {}, practice.name), await historyPart(context, practice.id));
  return { title, content };
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
  const table = h(
    "table",
    { class: "documents history" },
    h("caption", {}, t("history.caption")),
    h("thead", {}, h("tr", {}, ...(["history.when", "history.who", "history.what", "history.outcome"] as const).map((key) => h("th", { scope: "col" }, t(key))))),
    h("tbody", {}, ...history.entries.map(row)),
  );
  replace(part, summary, table);
  return part;
}

function row(entry: HistoryEntryView): HTMLTableRowElement {
  const who = entry.actorName || (SERVER_ACTIONS.has(entry.action) ? t("app.name") : entry.actorId === null ? t("history.nobody") : entry.actorId);
  const what = ACTIONS[entry.action];
  return h(
    "tr",
    { "data-index": entry.index },
    h("td", { "data-label": t("history.when") }, h("time", { datetime: entry.at }, formatDate(entry.at, locale()))),
    h("td", { "data-label": t("history.who") }, who),
    h("td", { "data-label": t("history.what") }, what ? t(what) : entry.action),
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
