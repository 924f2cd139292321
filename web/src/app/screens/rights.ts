/**
 * "Mes droits" (patients): ask a practice for access, rectification, erasure,
 * restriction, objection, portability or the medical file, each with what it gives
 * and its legal deadline; then each request's state and the day it is due. An
 * erasure refused within the file's retention shows the legal exception the practice
 * cited and the day erasure becomes possible; a pending request can be withdrawn.
 */

import type { RightsRequestView, RightsView } from "../api.js";
import { type AppContext, refusalBox, type Screen } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { deletionSection, erasureLines } from "./account_deletion.js";
import { busy } from "./signin.js";

export const RIGHTS_ROUTE = "#/rights";

type Right = RightsRequestView["right"];
const RIGHTS: readonly Right[] = ["access", "rectification", "erasure", "restriction", "objection", "portability", "medical_file"];
const OPEN = new Set(["pending", "extended"]);

export async function rightsScreen(context: AppContext): Promise<Screen> {
  const title = t("rights.title");
  const content = h("section", { class: "rights-screen" });
  const body = h("div", {});
  let practices = new Map<string, string>();
  try {
    const view = await context.api.rightsRequests();
    practices = new Map(view.files.map((f) => [f.practiceId, f.practiceName]));
    render(context, body, view, null);
  } catch (error) {
    replace(body, refusalBox(error));
  }
  replace(content, h("h1", {}, title), h("p", {}, t("rights.intro")), body, deletionSection(context, content, practices));
  return { title, content };
}

function render(context: AppContext, body: HTMLElement, view: RightsView, said: string | null): void {
  const outcome = said ? h("p", { class: "alert success", role: "status", tabindex: "-1" }, said) : null;
  if (view.files.length === 0) {
    replace(body, outcome, h("p", { class: "empty" }, t("rights.noFile")));
    return;
  }
  const reload = async (message: string) => {
    context.announce(message);
    render(context, body, await context.api.rightsRequests(), message);
  };
  replace(body, outcome, askForm(context, view, reload), requestList(context, view, reload));
  outcome?.focus();
}

function askForm(context: AppContext, view: RightsView, reload: (said: string) => Promise<void>): HTMLElement {
  const practice = h("select", { name: "practice" }, ...view.files.map((f) => h("option", { value: f.practiceId }, f.practiceName)));
  const choices = RIGHTS.map((right, i) => {
    const radio = h("input", { type: "radio", name: "right", value: right, id: uniqueId("right"), required: true, checked: i === 0 });
    const hintId = `${radio.id}-hint`;
    radio.setAttribute("aria-describedby", hintId);
    return h(
      "li",
      {},
      radio,
      h("div", {}, h("label", { for: radio.id }, t(`rights.right.${right}` as MessageKey)), h("p", { class: "hint", id: hintId }, t(`rights.meaning.${right}` as MessageKey))),
    );
  });
  const submit = h("button", { type: "submit" }, t("rights.ask"));
  const problems = h("div", {});
  const form = h(
    "form",
    { class: "ask-right" },
    view.files.length > 1 ? field(t("rights.practice"), practice) : h("p", {}, t("rights.onePractice", { name: view.files[0]!.practiceName })),
    h("fieldset", {}, h("legend", {}, t("rights.which")), h("ul", { class: "choices rights" }, ...choices)),
    problems,
    submit,
  );
  form.onsubmit = async (event) => {
    event.preventDefault();
    replace(problems);
    const right = (form.querySelector<HTMLInputElement>("input[name=right]:checked")?.value ?? "access") as Right;
    const done = busy(submit, t("rights.asking"));
    try {
      const request = await context.api.askRight(practice.value, right);
      await reload(t("rights.asked", { right: t(`rights.right.${right}` as MessageKey), date: day(request.dueAt) }));
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
  return h("section", { class: "part", "aria-labelledby": "ask-right" }, h("h2", { id: "ask-right" }, t("rights.new")), form);
}

function day(iso: string): string {
  const date = new Date(iso.length === 10 ? `${iso}T12:00:00` : iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleDateString(locale(), { dateStyle: "long" });
}

/** When a request was received, the day it is due with the rule that sets it, and the
 * day before which it may not be answered, as terms of a description list: the same
 * for the patient and for the practice that answers. */
export function deadlineFacts(request: RightsRequestView): (HTMLElement | null)[] {
  return [
    h("dt", {}, t("rights.received")),
    h("dd", {}, formatDate(request.receivedAt, locale())),
    h("dt", {}, t("rights.due")),
    h("dd", {}, t("rights.dueBy", { date: day(request.dueAt), citation: request.citation })),
    request.earliestAt ? h("dt", {}, t("rights.earliest")) : null,
    request.earliestAt ? h("dd", {}, formatDate(request.earliestAt, locale())) : null,
  ];
}

function requestList(context: AppContext, view: RightsView, reload: (said: string) => Promise<void>): HTMLElement {
  const names = new Map(view.files.map((f) => [f.practiceId, f.practiceName]));
  const items = view.requests.map((request) => {
    const title = `${t(`rights.right.${request.right}` as MessageKey)} — ${names.get(request.practiceId) ?? request.practiceId}`;
    const state = h("p", { class: `state ${request.status}` }, h("strong", {}, t(`rights.status.${request.status}` as MessageKey)), request.overdue ? h("span", { class: "badge late" }, t("rights.overdue")) : null);
    const facts = h(
      "dl",
      { class: "details" },
      ...deadlineFacts(request),
      request.handledAt ? h("dt", {}, t("rights.handled")) : null,
      request.handledAt ? h("dd", {}, formatDate(request.handledAt, locale())) : null,
    );
    const refusedErasure =
      request.right === "erasure" && request.status === "refused"
        ? h(
            "div",
            { class: "alert warning" },
            h("p", {}, request.erasureFrom ? t("rights.erasureFrom", { date: day(request.erasureFrom) }) : t("rights.erasureLater")),
            h("p", {}, t("rights.erasureException")),
          )
        : null;
    const answer = request.erasure ? h("div", { class: "reason" }, h("p", { class: "hint" }, t("deletion.answer")), erasureLines(request.erasure, names)) : null;
    const reason = request.reason ? h("div", { class: "reason" }, h("p", { class: "hint" }, t("rights.reason")), h("blockquote", {}, request.reason)) : null;
    let withdraw: HTMLElement | null = null;
    if (OPEN.has(request.status)) {
      const button = h("button", { type: "button", class: "secondary" }, t("rights.withdraw"));
      const problems = h("div", {});
      button.onclick = async () => {
        replace(problems);
        const done = busy(button, t("rights.withdrawing"));
        try {
          await context.api.withdrawRight(request.id);
          await reload(t("rights.withdrawn", { right: t(`rights.right.${request.right}` as MessageKey) }));
        } catch (error) {
          done();
          replace(problems, refusalBox(error));
        }
      };
      button.setAttribute("aria-label", t("rights.withdrawLabel", { title }));
      withdraw = h("div", {}, problems, button);
    }
    return h("li", { class: request.overdue ? "late" : undefined }, h("h3", {}, title), state, facts, refusedErasure, answer, reason, withdraw);
  });
  return h(
    "section",
    { class: "part", "aria-labelledby": "my-requests" },
    h("h2", { id: "my-requests" }, t("rights.mine")),
    items.length === 0 ? h("p", { class: "empty" }, t("rights.none")) : h("ul", { class: "rights-requests" }, ...items),
  );
}
