/**
 * "Mes consentements" (patients): for each practice that holds a file about them, the
 * care-team objection and the outside-team consent, each a switch with its legal
 * meaning in one sentence; choices about one professional; the practice's research
 * studies, each described in plain words with one button to take part or to stop
 * (consent is given per study, GDPR art. 9(2)(a)); and the history of every version.
 * A sharing change is never sent at the first click: the worker first computes who
 * would lose access to which documents, shown with the buttons to confirm or cancel.
 * The worker signs each decision and checks the history. Above them, the information
 * notice each practice gave (how the file is shared within its care team, R11): when,
 * which version and how, with its text one click away.
 */

import type { ConsentDecisionView, ConsentEffectView, ConsentsView, DirectiveVersionView, NoticeView, StudyView } from "../api.js";
import { type AppContext, refusalBox, type Screen } from "../app.js";
import { field, formatDate, formatDay, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, language, locale, t } from "../i18n.js";
import { busy } from "./signin.js";

export const CONSENTS_ROUTE = "#/consents";

type Purpose = DirectiveVersionView["purpose"];
/** The purposes decided by a switch; research is decided study by study. */
const SWITCHED: readonly Purpose[] = ["care_team", "outside_team"];
/** Without a directive (server/consent/service.py DEFAULTS). */
const DEFAULTS: Record<Purpose, "permit" | "deny"> = { care_team: "permit", outside_team: "deny", research: "deny" };
type PracticeFile = ConsentsView["files"][number];

export async function consentsScreen(context: AppContext): Promise<Screen> {
  const title = t("consents.title");
  const content = h("section", { class: "consents-screen" });
  const body = h("div", {});
  replace(content, h("h1", {}, title), h("p", {}, t("consents.intro")), body);
  try {
    render(context, body, await context.api.myConsents(), null);
  } catch (error) {
    replace(body, refusalBox(error));
  }
  return { title, content };
}

function render(context: AppContext, body: HTMLElement, view: ConsentsView, said: string | null): void {
  const outcome = said ? h("p", { class: "alert success", role: "status", tabindex: "-1" }, said) : null;
  if (view.files.length === 0) {
    replace(body, outcome, h("p", { class: "empty" }, t("consents.noFile")));
    return;
  }
  replace(body, outcome, ...view.files.map((file) => practice(context, body, view, file)));
  outcome?.focus();
}

function inForce(view: ConsentsView, file: PracticeFile): DirectiveVersionView[] {
  return view.history.filter((d) => d.practiceId === file.practiceId && d.supersededAt === null);
}

function practice(context: AppContext, body: HTMLElement, view: ConsentsView, file: PracticeFile): HTMLElement {
  const current = inForce(view, file);
  const confirmation = h("div", {});
  const ask = (decision: ConsentDecisionView, what: string) => void confirm(context, body, confirmation, decision, what, view);
  const switches = SWITCHED.map((purpose) => {
    const general = current.find((d) => d.purpose === purpose && d.recipientId === null);
    const allowed = (general?.decision ?? DEFAULTS[purpose]) === "permit";
    const titleId = uniqueId("purpose");
    const meaningId = uniqueId("meaning");
    const toggle = h(
      "button",
      { type: "button", role: "switch", class: "switch", "aria-checked": String(allowed), "aria-labelledby": titleId, "aria-describedby": meaningId },
      h("span", { class: "switch-track", "aria-hidden": "true" }),
      h("span", { class: "switch-state" }, t(allowed ? "consents.allowed" : "consents.refused")),
    );
    toggle.onclick = () => {
      const decision = allowed ? "deny" : "permit";
      ask({ practiceId: file.practiceId, purpose, decision, recipientEmail: null }, t(`consents.change.${purpose}.${decision}` as MessageKey));
    };
    const since = general ? t("consents.since", { version: general.version, date: formatDate(general.createdAt, locale()) }) : t("consents.byDefault");
    return h(
      "li",
      { class: "consent" },
      h("div", {}, h("h3", { id: titleId }, t(`consents.purpose.${purpose}` as MessageKey)), h("p", { id: meaningId }, t(`consents.meaning.${purpose}` as MessageKey)), h("p", { class: "hint" }, since)),
      toggle,
    );
  });
  const specific = current.filter((d) => d.recipientId !== null);
  return h(
    "section",
    { class: "part", "aria-labelledby": `practice-${file.practiceId}` },
    h("h2", { id: `practice-${file.practiceId}` }, file.practiceName),
    informationOf(view, file),
    h("ul", { class: "consent-switches" }, ...switches),
    h("h3", {}, t("consents.professionals")),
    specific.length === 0
      ? h("p", { class: "empty" }, t("consents.noProfessional"))
      : h("ul", { class: "consents" }, ...specific.map((d) => h("li", {}, describe(d)))),
    professionalForm(file, ask),
    confirmation,
    researchOf(context, body, view, file),
    historyOf(view, file),
  );
}

/** The practice's studies, each with what it is and one button: take part, or stop taking part. */
function researchOf(context: AppContext, body: HTMLElement, view: ConsentsView, file: PracticeFile): HTMLElement {
  const headingId = uniqueId("research");
  const studies = view.studies.filter((s) => s.practiceId === file.practiceId);
  const part = h(
    "div",
    { class: "research", role: "group", "aria-labelledby": headingId },
    h("h3", { id: headingId }, t("consents.research")),
    h("p", { class: "hint" }, t("consents.meaning.research")),
  );
  if (studies.length === 0) {
    part.append(h("p", { class: "empty" }, t("consents.noStudy")));
    return part;
  }
  part.append(h("ul", { class: "studies" }, ...studies.map((study) => studyItem(context, body, view, study))));
  return part;
}

function studyItem(context: AppContext, body: HTMLElement, view: ConsentsView, study: StudyView): HTMLElement {
  const titleId = uniqueId("study");
  const takingPart = study.myDecision === "permit";
  const joinable = study.state === "open" || study.state === "upcoming";
  const framework = study.authorisation === null ? t("consents.study.methodology", { reference: study.methodology }) : t("consents.study.authorisation", { number: study.authorisation });
  const problems = h("div", {});
  const button = h("button", { type: "button", class: takingPart ? "secondary" : "", "aria-describedby": titleId }, t(takingPart ? "consents.study.leave" : "consents.study.join"));
  button.onclick = async () => {
    replace(problems);
    const done = busy(button, t("consents.recording"));
    const decision: ConsentDecisionView = { practiceId: study.practiceId, purpose: "research", decision: takingPart ? "deny" : "permit", recipientEmail: null, studyId: study.id };
    try {
      const recorded = await context.api.decideConsent(decision);
      const said = t(takingPart ? "consents.study.left" : "consents.study.joined", { title: study.title, version: recorded.directive.version });
      context.announce(said);
      render(context, body, { files: view.files, history: recorded.history, studies: recorded.studies, information: view.information }, said);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
  const status = takingPart ? t("consents.study.takingPart") : study.myDecision === "deny" ? t("consents.study.withdrawn") : t("consents.study.notTakingPart");
  return h(
    "li",
    { class: "study" },
    h("h4", { id: titleId }, study.title),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, t("consents.study.sponsor")),
      h("dd", {}, study.sponsor),
      h("dt", {}, t("consents.study.purpose")),
      h("dd", {}, study.purpose),
      h("dt", {}, t("consents.study.period")),
      h("dd", {}, t("consents.study.dates", { start: formatDay(study.startsOn, locale()), end: formatDay(study.endsOn, locale()) })),
      h("dt", {}, t("consents.study.framework")),
      h("dd", {}, framework),
    ),
    h("p", { class: takingPart ? "alert success" : "hint" }, study.state === "open" ? status : `${status} ${t(`consents.study.state.${study.state}` as MessageKey)}`),
    joinable || takingPart ? button : null,
    problems,
  );
}

/** One directive as a sentence: about what, for whom, which decision. */
function describe(d: DirectiveVersionView): string {
  const named = d.recipientName && d.recipientEmail ? `${d.recipientName} (${d.recipientEmail})` : (d.recipientName ?? d.recipientEmail ?? d.recipientId ?? "");
  if (d.purpose === "research") {
    return t("consents.directive.research", {
      study: d.studyTitle ?? t("consents.noStudyNamed"),
      decision: t(d.decision === "permit" ? "consents.study.permit" : "consents.study.deny"),
    });
  }
  const whom = d.recipientId === null ? t("consents.everyone") : named;
  return t("consents.directive", {
    purpose: t(`consents.purpose.${d.purpose}` as MessageKey),
    whom,
    decision: t(d.decision === "permit" ? "consents.allowed" : "consents.refused"),
  });
}

function professionalForm(file: PracticeFile, ask: (decision: ConsentDecisionView, what: string) => void): HTMLElement {
  const purpose = h(
    "select",
    { name: "purpose" },
    h("option", { value: "care_team" }, t("consents.purpose.care_team")),
    h("option", { value: "outside_team" }, t("consents.purpose.outside_team")),
  );
  const email = h("input", { type: "email", name: "professional", autocomplete: "off", spellcheck: "false", required: true });
  const decision = h("select", { name: "decision" }, h("option", { value: "deny" }, t("consents.refuse")), h("option", { value: "permit" }, t("consents.allow")));
  const form = h(
    "form",
    { class: "professional" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("consents.oneProfessional")),
      h("p", { class: "hint" }, t("consents.oneProfessionalHint")),
      field(t("consents.professionalEmail"), email),
      field(t("consents.about"), purpose),
      field(t("consents.decision"), decision),
      h("button", { type: "submit", class: "secondary" }, t("consents.seeEffect")),
    ),
  );
  form.onsubmit = (event) => {
    event.preventDefault();
    const chosen = purpose.value as "care_team" | "outside_team";
    const decided = decision.value as "permit" | "deny";
    const address = email.value.trim();
    ask(
      { practiceId: file.practiceId, purpose: chosen, decision: decided, recipientEmail: address },
      t(decided === "permit" ? "consents.change.one.permit" : "consents.change.one.deny", { email: address, purpose: t(`consents.purpose.${chosen}`) }),
    );
  };
  return form;
}

/** What the decision would end, computed by the worker, with the buttons to confirm or cancel. */
async function confirm(context: AppContext, body: HTMLElement, place: HTMLElement, decision: ConsentDecisionView, what: string, view: ConsentsView): Promise<void> {
  const headingId = uniqueId("effect");
  const heading = h("h3", { id: headingId, tabindex: "-1" }, t("consents.beforeConfirming"));
  const panel = h("div", { class: "effect", role: "region", "aria-labelledby": headingId }, heading, h("p", {}, what), h("p", { class: "working" }, t("consents.computing")));
  replace(place, panel);
  heading.focus();
  let effect: ConsentEffectView;
  try {
    effect = await context.api.consentEffect(decision);
  } catch (error) {
    replace(panel, heading, h("p", {}, what), refusalBox(error));
    return;
  }
  const confirmButton = h("button", { type: "button" }, t("consents.confirm"));
  const cancel = h("button", { type: "button", class: "secondary", onclick: () => replace(place) }, t("consents.cancel"));
  const problems = h("div", {});
  replace(panel, heading, h("p", {}, what), effectOf(effect), problems, h("div", { class: "actions" }, confirmButton, cancel));
  confirmButton.onclick = async () => {
    replace(problems);
    const done = busy(confirmButton, t("consents.recording"));
    try {
      const recorded = await context.api.decideConsent(decision);
      const said = t("consents.recorded", { version: recorded.directive.version }) + (recorded.sharesEnded > 0 ? ` ${t("consents.ended", { count: recorded.sharesEnded })}` : "");
      context.announce(said);
      render(context, body, { files: view.files, history: recorded.history, studies: recorded.studies, information: view.information }, said);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
}

function effectOf(effect: ConsentEffectView): HTMLElement {
  if (effect.readers.length === 0) return h("p", { class: "alert success" }, t("consents.effectNone"));
  const lines = effect.readers.map((r) => h("li", {}, t(r.documents === 1 ? "consents.loses.one" : "consents.loses.many", { name: r.name, count: r.documents })));
  const lead = effect.scope === "exact" ? null : h("p", {}, t(effect.scope === "members" ? "consents.effectMembers" : "consents.effectOthers"));
  return h("div", { class: "alert warning" }, lead, h("ul", { class: "losses" }, ...lines), h("p", { class: "hint" }, t("consents.effectProof")));
}

function historyOf(view: ConsentsView, file: PracticeFile): HTMLElement {
  const versions = view.history.filter((d) => d.practiceId === file.practiceId).reverse();
  const headingId = uniqueId("history");
  const list =
    versions.length === 0
      ? h("p", { class: "empty" }, t("consents.noHistory"))
      : h(
          "ol",
          { class: "consent-history", reversed: true },
          ...versions.map((d) =>
            h(
              "li",
              { value: String(d.version) },
              h("strong", {}, t("consents.version", { version: d.version })),
              ` ${describe(d)} — ${formatDate(d.createdAt, locale())}`,
              h("span", { class: "hint" }, d.supersededAt === null ? ` ${t("consents.current")}` : ` ${t("consents.replaced", { date: formatDate(d.supersededAt, locale()) })}`),
            ),
          ),
        );
  return h("div", { class: "history", role: "group", "aria-labelledby": headingId }, h("h3", { id: headingId }, t("consents.history")), h("p", { class: "hint" }, t("consents.historyChecked")), list);
}

/** The notices the practice gave the patient (version, day, how), each readable; or that it has not recorded informing them. */
function informationOf(view: ConsentsView, file: PracticeFile): HTMLElement {
  const given = view.information.filter((i) => i.practiceId === file.practiceId);
  const headingId = uniqueId("information");
  const part = h("div", { class: "information", role: "group", "aria-labelledby": headingId }, h("h3", { id: headingId }, t("information.title")));
  if (given.length === 0) {
    part.append(h("p", { class: "alert warning" }, t("information.none")));
    return part;
  }
  for (const information of given) {
    const how = t(information.how === "invitation" ? "information.how.invitation" : "information.how.in_person", { name: information.recordedByName });
    part.append(
      h("p", {}, t("information.given", { date: formatDay(information.informedOn, locale()), version: information.noticeVersion, how })),
      h("details", { class: "notice" }, h("summary", {}, t("information.read", { version: information.noticeVersion })), noticeText(information.notice)),
    );
  }
  return part;
}

/** A notice's text in the reader's language where the practice wrote one, paragraph by paragraph. */
export function noticeText(notice: NoticeView): HTMLElement {
  const english = language() === "en" && notice.textEn !== null;
  const text = english ? notice.textEn ?? "" : notice.textFr;
  const paragraphs = text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  return h("div", { class: "notice-text", lang: english ? "en" : "fr" }, ...paragraphs.map((p) => h("p", {}, p)));
}
