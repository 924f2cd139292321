/**
 * "Demandes des patients": a practice's open rights requests for its admin, the
 * nearest legal deadline first, late ones said in words ("En retard"), each
 * answered as `uhs rights complete|extend|refuse` allows: done (a note), two more
 * months once (the reasons), or refused (the reasons), told to the patient.
 */

import type { PracticeView, RightsRequestView } from "../api.js";
import { type AppContext, inputRefusalBox, refusalBox } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { deadlineFacts } from "./rights.js";
import { busy } from "./signin.js";

type Answer = "complete" | "extend" | "refuse";
const ANSWER_LABELS: Record<Answer, MessageKey> = { complete: "requests.complete", extend: "requests.extend", refuse: "requests.refuse" };
const DAY_MS = 24 * 60 * 60 * 1000;

export function practiceRequests(context: AppContext, practice: PracticeView): HTMLElement {
  const list = h("div", {}, h("p", {}, t("requests.loading")));
  const said = h("div", {});
  const part = h(
    "section",
    { class: "part", "aria-labelledby": "requests-heading" },
    h("h2", { id: "requests-heading" }, t("requests.title")),
    h("p", { class: "hint" }, t("requests.meaning")),
    said,
    list,
  );
  const load = async (message?: string) => {
    try {
      const requests = await context.api.practiceRightsRequests(practice.id);
      replace(list, requests.length === 0 ? h("p", { class: "empty" }, t("requests.none")) : h("ul", { class: "rights-requests" }, ...requests.map((r) => requestItem(context, practice, r, load))));
    } catch (error) {
      replace(list, refusalBox(error));
    }
    // Said once the list is the new one: nothing typed in the old one is lost to the redraw.
    if (message) {
      replace(said, h("div", { class: "alert success" }, h("p", {}, message)));
      context.announce(message);
    }
  };
  void load();
  return part;
}

function requestItem(context: AppContext, practice: PracticeView, request: RightsRequestView, reload: (said?: string) => Promise<void>): HTMLElement {
  const right = t(`rights.right.${request.right}` as MessageKey);
  const patient = request.patientName || request.patientEmail;
  const title = t("requests.itemTitle", { right, patient });
  const daysLeft = Math.ceil((Date.parse(request.dueAt) - Date.now()) / DAY_MS);
  const left = request.overdue ? t("requests.lateBy", { days: String(Math.max(1, -daysLeft)) }) : t("requests.daysLeft", { days: String(Math.max(0, daysLeft)) });
  const state = h(
    "p",
    { class: `state ${request.status}` },
    h("strong", {}, left),
    request.overdue ? h("span", { class: "badge late" }, t("requests.late")) : null,
  );
  const facts = h(
    "dl",
    { class: "details" },
    h("dt", {}, t("requests.patient")),
    h("dd", {}, `${patient} (${request.patientEmail})`),
    ...deadlineFacts(request),
    request.extendedAt ? h("dt", {}, t("requests.extended")) : null,
    request.extendedAt ? h("dd", {}, formatDate(request.extendedAt, locale())) : null,
  );
  // Extended once at most, before the deadline, and never the medical file's (as the server decides it).
  const extendable = request.right !== "medical_file" && !request.extendedAt && !request.overdue;
  const answers: Answer[] = extendable ? ["complete", "extend", "refuse"] : ["complete", "refuse"];
  const choice = h("select", { name: "answer" }, ...answers.map((a) => h("option", { value: a }, t(ANSWER_LABELS[a]))));
  const words = h("textarea", { name: "answer-words", rows: "3", maxlength: "1000" });
  const hint = h("p", { class: "hint", id: uniqueId("answer-hint") });
  const explain = () => replace(hint, t(choice.value === "complete" ? "requests.noteHint" : "requests.reasonHint"));
  choice.addEventListener("change", explain);
  explain();
  words.setAttribute("aria-describedby", hint.id);
  const submit = h("button", { type: "submit" }, t("requests.send"));
  submit.setAttribute("aria-label", t("requests.sendFor", { title }));
  const problems = h("div", {});
  const form = h("form", { class: "answer" }, field(t("requests.answer"), choice), field(t("requests.words"), words), hint, problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    const done = busy(submit, t("requests.sending"));
    try {
      const answered = await context.api.answerRightsRequest(practice.id, request.id, choice.value as Answer, words.value);
      await reload(t("requests.answered", { title, status: t(`rights.status.${answered.status}` as MessageKey) }));
    } catch (error) {
      done();
      replace(problems, choice.value === "complete" ? refusalBox(error) : inputRefusalBox(error, "requests.reasonHint"));
    }
  });
  return h("li", { class: request.overdue ? "late" : undefined }, h("h3", {}, title), state, facts, form);
}
