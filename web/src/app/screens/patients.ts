/**
 * The practice's patient files, narrowed by a search on the patient's name (or
 * address); each opens the file's own screen (patients_file.ts). Below them, the
 * practice's research studies with how many patients take part in each now
 * (consent is the patient's, given per study on their side).
 */

import type { PatientView, PracticeView, StudyView } from "../api.js";
import { type AppContext, ROUTES, type Screen, refusalBox } from "../app.js";
import { field, formatDay, h, replace } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";

/** The practices whose files this account sees: those it works in, not those it is a patient of. */
export async function workingPractices(context: AppContext): Promise<PracticeView[]> {
  return (await context.api.practices()).filter((p) => p.role !== "patient");
}

export async function patientsScreen(context: AppContext): Promise<Screen> {
  const title = t("patients.title");
  const content = h("section", {}, h("h1", {}, title), h("p", {}, t("patients.intro")));
  let practices: PracticeView[];
  try {
    practices = await workingPractices(context);
  } catch (error) {
    content.append(refusalBox(error));
    return { title, content };
  }
  if (practices.length === 0) {
    content.append(h("p", { class: "empty" }, t("patients.noPractice")));
    return { title, content };
  }
  const practice = h("select", { name: "practice" }, ...practices.map((p) => h("option", { value: p.id }, p.name)));
  const list = h("div", {});
  const studies = h("div", {});
  if (practices.length > 1) content.append(field(t("patients.practice"), practice));
  content.append(list, studies);
  const show = () => Promise.all([showPatients(context, practice.value, list), showStudies(context, practice.value, studies)]);
  practice.addEventListener("change", () => void show());
  await show();
  return { title, content };
}

async function showStudies(context: AppContext, practiceId: string, place: HTMLElement): Promise<void> {
  const heading = h("h2", { id: "studies-heading" }, t("studies.title"));
  let studies: StudyView[];
  try {
    studies = await context.api.practiceStudies(practiceId);
  } catch (error) {
    replace(place, heading, refusalBox(error));
    return;
  }
  const items = studies.map((s) =>
    h(
      "li",
      {},
      h("strong", {}, s.title),
      ` — ${s.sponsor}, ${t("studies.dates", { start: formatDay(s.startsOn, locale()), end: formatDay(s.endsOn, locale()) })}`,
      s.state === "open" ? null : h("span", { class: "hint" }, ` ${t(`studies.state.${s.state}` as MessageKey)}`),
      s.consenting === null ? null : h("p", { class: "participants" }, t("studies.consenting", { count: s.consenting })),
    ),
  );
  replace(
    place,
    h(
      "section",
      { class: "part", "aria-labelledby": "studies-heading" },
      heading,
      h("p", { class: "hint" }, t("studies.intro")),
      items.length ? h("ul", { class: "practice-studies" }, ...items) : h("p", { class: "empty" }, t("studies.none")),
    ),
  );
}

async function showPatients(context: AppContext, practiceId: string, place: HTMLElement): Promise<void> {
  let patients: PatientView[];
  try {
    patients = await context.api.patients(practiceId);
  } catch (error) {
    replace(place, refusalBox(error));
    return;
  }
  if (patients.length === 0) {
    replace(place, h("p", { class: "empty" }, t("patients.none")));
    return;
  }
  const collator = new Intl.Collator(undefined, { sensitivity: "base" });
  const sorted = [...patients].sort((a, b) => collator.compare(a.name || a.email, b.name || b.email));
  const search = h("input", { type: "search", name: "patient-search", autocomplete: "off" });
  const count = h("p", { class: "count", "aria-live": "polite" });
  const list = h("ul", { class: "patients" });
  const show = () => {
    const words = search.value.trim().toLocaleLowerCase();
    const shown = sorted.filter((p) => !words || `${p.name} ${p.email}`.toLocaleLowerCase().includes(words));
    replace(
      list,
      ...shown.map((p) => h("li", {}, h("a", { href: ROUTES.patient(p.patientFileId) }, p.name || p.email), p.name ? h("span", { class: "hint" }, ` ${p.email}`) : null)),
    );
    count.textContent = t("patients.count", { count: shown.length });
  };
  search.addEventListener("input", show);
  show();
  replace(place, field(t("patients.search"), search), count, list);
}
