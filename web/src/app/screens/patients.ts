/**
 * The practice's patient files, narrowed by a search on the patient's name (or
 * address); each opens the file's own screen (patients_file.ts).
 */

import type { PatientView, PracticeView } from "../api.js";
import { type AppContext, ROUTES, type Screen, refusalBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";

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
  if (practices.length > 1) content.append(field(t("patients.practice"), practice));
  content.append(list);
  practice.addEventListener("change", () => void showPatients(context, practice.value, list));
  await showPatients(context, practice.value, list);
  return { title, content };
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
