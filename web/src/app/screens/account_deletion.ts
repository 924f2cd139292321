/**
 * "Supprimer mon compte" (patients), on "Mes droits": before anything is confirmed,
 * what deleting the account would erase at once and what the law keeps, why and
 * until when (the server's preview, GDPR art. 17); then, after a second factor proven
 * again, the answer, in the same words and past tense. An erasure request's answer
 * uses the same lines (erasureLines).
 */

import type { AccountDeletionView, RightsRequestView } from "../api.js";
import { type AppContext, refusalBox } from "../app.js";
import { h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { busy } from "./signin.js";
import { withStepUp } from "./step_up.js";

type ErasureItem = NonNullable<RightsRequestView["erasure"]>[number];

function day(iso: string): string {
  const date = new Date(`${iso}T12:00:00`);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleDateString(locale(), { dateStyle: "long" });
}

/** Until when a kept line is kept, in words. */
function keptWhen(item: ErasureItem): string {
  // The journal is never rewritten: its date is how long the law asks for it, not a purge.
  if (item.keptUntil !== null && item.basis === "journal") return t("deletion.untilJournalDate", { date: day(item.keptUntil) });
  if (item.keptUntil !== null) return t("deletion.until", { date: day(item.keptUntil) });
  switch (item.basis) {
    case "medical-file-retention":
      return t("deletion.untilUnknown");
    case "journal":
      return t("deletion.untilJournal");
    case "key-directory":
      return t("deletion.untilForever");
    default:
      return t("deletion.untilAccount");
  }
}

/** One line per category: what it is (and where), and for what is kept, until when and why. */
export function erasureLines(items: readonly ErasureItem[], practices: ReadonlyMap<string, string>): HTMLElement {
  return h(
    "ul",
    { class: "erasure-lines" },
    ...items.map((item) => {
      let what = t(`deletion.category.${item.category}` as MessageKey);
      if (item.count !== null && item.count > 0) what = t("deletion.count", { what, count: item.count });
      if (item.practiceId !== null) what = t("deletion.where", { what, practice: practices.get(item.practiceId) ?? t("deletion.aPractice") });
      const outcome = h("strong", {}, t(item.outcome === "kept" ? "deletion.kept" : "deletion.erased"));
      if (item.outcome === "erased") return h("li", { class: "erased" }, outcome, " — ", what);
      return h(
        "li",
        { class: "kept" },
        outcome,
        " — ",
        what,
        h("p", { class: "hint" }, keptWhen(item), " ", t(`deletion.basis.${item.basis ?? "account-in-use"}` as MessageKey)),
      );
    }),
  );
}

/** The section that explains, previews and confirms the deletion of the account. */
export function deletionSection(context: AppContext, screen: HTMLElement, practices: ReadonlyMap<string, string>): HTMLElement {
  const place = h("div", {}, h("p", { class: "hint" }, "…"));
  const section = h(
    "section",
    { class: "part account-deletion", "aria-labelledby": "delete-account" },
    h("h2", { id: "delete-account" }, t("deletion.title")),
    h("p", {}, t("deletion.intro")),
    place,
  );
  void (async () => {
    try {
      const preview = await context.api.accountDeletionPreview();
      replace(place, ...previewParts(context, screen, practices, preview));
    } catch (error) {
      replace(place, refusalBox(error));
    }
  })();
  return section;
}

function previewParts(context: AppContext, screen: HTMLElement, practices: ReadonlyMap<string, string>, preview: AccountDeletionView): HTMLElement[] {
  const erased = preview.items.filter((item) => item.outcome === "erased");
  const kept = preview.items.filter((item) => item.outcome === "kept");
  const understood = h("input", { type: "checkbox", id: uniqueId("understood"), required: true });
  const submit = h("button", { type: "submit", class: "danger" }, t("deletion.confirm"));
  const problems = h("div", {});
  const stepUp = h("div", {});
  const form = h(
    "form",
    { class: "delete-account" },
    h("p", { class: "choice" }, understood, " ", h("label", { for: understood.id }, t("deletion.understand"))),
    h("p", { class: "hint" }, t("deletion.stepUp")),
    problems,
    stepUp,
    submit,
  );
  form.onsubmit = async (event) => {
    event.preventDefault();
    replace(problems);
    const done = busy(submit, t("deletion.deleting"));
    try {
      const deletion = await withStepUp(context.api, stepUp, () => context.api.deleteAccount());
      if (deletion === null) {
        done();
        return;
      }
      showDeleted(context, screen, practices, deletion);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
  return [
    h("h3", {}, t("deletion.willErase")),
    erasureLines(erased, practices),
    h("h3", {}, t("deletion.willKeep")),
    erasureLines(kept, practices),
    h("p", { class: "alert warning" }, t("deletion.address")),
    form,
  ];
}

/** The answer, in place of the whole screen: the session ended with the account. */
function showDeleted(context: AppContext, screen: HTMLElement, practices: ReadonlyMap<string, string>, deletion: AccountDeletionView): void {
  context.trust.stop();
  const heading = h("h1", { tabindex: "-1" }, t("deletion.doneTitle"));
  const finish = h("button", { type: "button", onclick: () => context.signOut() }, t("deletion.finish"));
  const erased = deletion.items.filter((item) => item.outcome === "erased");
  const kept = deletion.items.filter((item) => item.outcome === "kept");
  replace(
    screen,
    heading,
    h("p", { class: "alert success", role: "status" }, t("deletion.doneIntro")),
    h("h2", {}, t("deletion.wasErased")),
    erasureLines(erased, practices),
    h("h2", {}, t("deletion.isKept")),
    erasureLines(kept, practices),
    finish,
  );
  context.announce(t("deletion.doneTitle"));
  heading.focus();
}
