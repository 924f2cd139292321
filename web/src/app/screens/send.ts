/**
 * Sending: the patient, the recipients and the files; then the list of the people
 * whose keys the worker proved in the key directory, which is exactly who will be
 * able to read; only on confirmation is anything encrypted, file by file, streamed
 * from the disk to the server with a progress bar.
 */

import type { MemberView, PatientInvitationView, PatientView, PracticeView, RecipientView } from "../api.js";
import { type AppContext, ROUTES, type Screen, errorBox, refusalBox } from "../app.js";
import { field, formatDayAndTime, h, replace, uniqueId } from "../dom.js";
import { locale, t } from "../i18n.js";
import { busy } from "./signin.js";
import { invitePatientForm, invitedPatients, recordPending } from "./pending.js";

interface Choice {
  practiceId: string;
  /** For a patient who has no account yet: their file is opened when sending, and the document waits for them. */
  invited: PatientInvitationView | null;
  patient: PatientView;
  to: string[];
  files: File[];
  title: string;
  /** The instant (ISO 8601) the patient's copy becomes readable, if held back (R28). */
  heldBack: string | null;
}

/** A day as an `<input type=date>` writes it (YYYY-MM-DD), in this device's time zone. */
function dayOf(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The days a patient's copy may be held back until: tomorrow to 30 days on (PROTOCOL 11.7). */
function heldBackRange(now: Date): { min: string; max: string } {
  const day = (offset: number) => new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset);
  return { min: dayOf(day(1)), max: dayOf(day(30)) };
}

/** The start of `day` (YYYY-MM-DD) here, if it is a day the patient's copy may wait for; else null. */
function heldBackStart(day: string, now: Date): Date | null {
  const { min, max } = heldBackRange(now);
  const parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (parts === null || day < min || day > max) return null;
  return new Date(Number(parts[1]), Number(parts[2]) - 1, Number(parts[3]));
}

export async function sendScreen(context: AppContext): Promise<Screen> {
  const content = h("section", {});
  const title = t("send.title");
  replace(content, h("h1", {}, title), h("p", {}, t("send.intro")));
  let practices: PracticeView[];
  try {
    practices = await context.api.practices();
  } catch (error) {
    content.append(refusalBox(error));
    return { title, content };
  }
  const form = h("form", {});
  content.append(form);
  const practice = h("select", { name: "practice" }, ...practices.map((p) => h("option", { value: p.id }, p.name)));
  const chosen = h("div", {});
  if (practices.length > 1) form.append(field(t("send.practice"), practice));
  form.append(chosen);
  const load = () => void practiceForm(context, practice.value, chosen);
  practice.addEventListener("change", load);
  if (practices.length > 0) await practiceForm(context, practice.value, chosen);
  return { title, content };
}

async function practiceForm(context: AppContext, practiceId: string, place: HTMLElement): Promise<void> {
  let patients: PatientView[];
  let members: MemberView[];
  let invited: PatientInvitationView[];
  try {
    [patients, members, invited] = await Promise.all([context.api.patients(practiceId), context.api.members(practiceId), invitedPatients(context, practiceId)]);
  } catch (error) {
    replace(place, refusalBox(error));
    return;
  }
  // A file opened for an invited patient is listed as the invitation, which it waits on.
  const invitedEmails = new Set(invited.map((i) => i.email));
  patients = patients.filter((p) => !invitedEmails.has(p.email));
  const colleagues = members.filter((m) => m.accountId !== context.account.id && m.role !== "patient");

  // The patient: a list narrowed by a search on the name.
  const patientFilter = h("input", { type: "search", autocomplete: "off" });
  const patient = h("select", { name: "patient", required: true });
  const invitedHint = h("p", { class: "hint", hidden: true }, t("pending.sendHint"));
  patient.addEventListener("change", () => {
    invitedHint.hidden = !patient.value.startsWith("invited:");
  });
  const listPatients = () => {
    const words = patientFilter.value.trim().toLocaleLowerCase();
    const shown = patients.filter((p) => !words || `${p.name} ${p.email}`.toLocaleLowerCase().includes(words));
    const shownInvited = invited.filter((i) => !words || i.email.includes(words));
    const invitedGroup = shownInvited.length
      ? h("optgroup", { label: t("pending.invitedGroup") }, ...shownInvited.map((i) => h("option", { value: `invited:${i.id}` }, t("pending.invitedOption", { email: i.email }))))
      : null;
    replace(patient, h("option", { value: "" }, t("send.choosePatient")), ...shown.map((p) => h("option", { value: p.patientFileId }, p.name ? `${p.name} (${p.email})` : p.email)), invitedGroup);
    if (shown.length + shownInvited.length === 1) patient.value = shown[0]?.patientFileId ?? `invited:${shownInvited[0]!.id}`;
    invitedHint.hidden = !patient.value.startsWith("invited:");
  };
  patientFilter.addEventListener("input", listPatients);
  listPatients();

  // The recipients: colleagues to tick, and addresses outside the practice.
  const recipientFilter = h("input", { type: "search", autocomplete: "off" });
  const boxes = colleagues.map((member) => {
    const box = h("input", { type: "checkbox", name: "to", value: member.email, id: uniqueId("to") });
    const item = h("li", {}, box, h("label", { for: box.id }, member.name ? `${member.name} (${member.email})` : member.email));
    return { member, box, item };
  });
  const recipientList = h("ul", { class: "choices" }, ...boxes.map((b) => b.item));
  recipientFilter.addEventListener("input", () => {
    const words = recipientFilter.value.trim().toLocaleLowerCase();
    for (const { member, item } of boxes) item.hidden = Boolean(words) && !`${member.name} ${member.email}`.toLocaleLowerCase().includes(words);
  });
  const others = h("input", { type: "text", name: "others", autocomplete: "off", spellcheck: "false" });
  // R28: the patient reads their new document by default; the author may leave them out.
  const toPatient = h("input", { type: "checkbox", name: "to-patient", id: uniqueId("to-patient"), checked: true });
  // R28: results the author explains first reach the patient later, at most 30 days on.
  const heldBack = h("input", { type: "date", name: "held-back", ...heldBackRange(new Date()) });
  const heldBackField = field(t("send.heldBack"), heldBack, t("send.heldBackHint"));
  // Only for a patient with keys, among the readers: an invited patient's copy waits for them already.
  const showHeldBack = () => {
    heldBackField.hidden = !toPatient.checked || patient.value.startsWith("invited:");
  };
  toPatient.addEventListener("change", showHeldBack);
  patient.addEventListener("change", showHeldBack);
  const recipients = h(
    "fieldset",
    {},
    h("legend", {}, t("send.recipients")),
    h("ul", { class: "choices" }, h("li", {}, toPatient, h("label", { for: toPatient.id }, t("send.toPatient")))),
    heldBackField,
    colleagues.length > 5 ? field(t("send.recipientsFilter"), recipientFilter) : null,
    recipientList,
    field(t("send.others"), others, t("send.othersHint")),
  );

  // The files: dropped on the zone or chosen with the system's picker.
  let files: File[] = [];
  const input = h("input", { type: "file", multiple: true, class: "visually-hidden", id: uniqueId("files") });
  const chosenFiles = h("p", { class: "hint", "aria-live": "polite" });
  const setFiles = (list: FileList | null) => {
    files = list ? Array.from(list) : [];
    chosenFiles.textContent = files.length ? t("send.chosen", { count: files.length, names: files.map((f) => f.name).join(", ") }) : "";
  };
  input.addEventListener("change", () => setFiles(input.files));
  const zone = h("div", { class: "drop-zone" }, h("span", {}, `${t("send.drop")} `), input, h("label", { for: input.id, class: "button secondary" }, t("send.choose")));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    setFiles(event.dataTransfer?.files ?? null);
  });
  const filesField = h("fieldset", {}, h("legend", {}, t("send.files")), zone, chosenFiles);
  const documentTitle = h("input", { type: "text", name: "title", maxlength: "500", autocomplete: "off" });

  const problems = h("div", {});
  const check = h("button", { type: "submit" }, t("send.check"));
  const review = h("div", {});
  const form = h(
    "div",
    {},
    patients.length || invited.length
      ? h("fieldset", {}, h("legend", {}, t("send.patient")), field(t("send.patientFilter"), patientFilter), field(t("send.choosePatient"), patient), invitedHint, invitePatientForm(context, practiceId, () => void practiceForm(context, practiceId, place)))
      : h("div", {}, h("p", {}, t("send.noPatient")), invitePatientForm(context, practiceId, () => void practiceForm(context, practiceId, place))),
    recipients,
    filesField,
    field(t("send.documentTitle"), documentTitle),
    problems,
    check,
  );
  replace(place, form, review);
  const outer = place.closest("form")!;
  outer.onsubmit = async (event) => {
    event.preventDefault();
    replace(problems);
    const to = [...boxes.filter((b) => b.box.checked).map((b) => b.member.email), ...others.value.split(",").map((a) => a.trim()).filter(Boolean)];
    const invitation = invited.find((i) => `invited:${i.id}` === patient.value) ?? null;
    // An invited patient's file is opened only once the sending is confirmed.
    const chosenPatient = invitation ? { patientFileId: "", patientId: "", email: invitation.email, name: "" } : patients.find((p) => p.patientFileId === patient.value);
    // The document may wait for an invited patient alone: you are its other reader.
    // An invited patient's copy waits as a pending share (recordPending), not among the readers.
    if (chosenPatient && !invitation && toPatient.checked && !to.includes(chosenPatient.email)) to.push(chosenPatient.email);
    const missing = !chosenPatient ? "send.missingPatient" : to.length === 0 && !invitation ? "send.missingRecipient" : files.length === 0 ? "send.missingFile" : null;
    if (missing || !chosenPatient) {
      replace(problems, errorBox(t(missing ?? "send.missingPatient")));
      return;
    }
    const heldBackDay = toPatient.checked && !invitation ? heldBack.value : "";
    const heldBackFrom = heldBackDay ? heldBackStart(heldBackDay, new Date()) : null;
    if (heldBackDay && heldBackFrom === null) {
      replace(problems, errorBox(t("send.heldBackRange")));
      heldBack.focus();
      return;
    }
    const done = busy(check, t("send.checking"));
    try {
      const proven = await context.api.previewRecipients(to);
      done();
      // The directory's account for the patient's address must be the file's patient (PROTOCOL 11.7).
      const patientEntry = proven.find((r) => r.email.toLowerCase() === chosenPatient.email.toLowerCase());
      if (!invitation && toPatient.checked && patientEntry?.accountId !== chosenPatient.patientId) {
        replace(problems, errorBox(t("send.patientNotProven", { email: chosenPatient.email })));
        return;
      }
      const choice = { practiceId, invited: invitation, patient: chosenPatient, to, files, title: documentTitle.value.trim(), heldBack: heldBackFrom?.toISOString() ?? null };
      showReview(context, choice, proven, form, review);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
}

function showReview(context: AppContext, choice: Choice, proven: RecipientView[], form: HTMLElement, review: HTMLElement): void {
  form.hidden = true;
  const confirm = h("button", { type: "button" }, t("send.confirm"));
  const change = h("button", { type: "button", class: "secondary" }, t("send.change"));
  const heading = h("h2", { tabindex: "-1" }, t("send.whoCanRead"));
  const readers = h(
    "ul",
    { class: "readers" },
    ...proven.map((r) => h("li", {}, h("strong", {}, r.name || r.email), ` <${r.email}>`, h("br", {}), h("span", { class: "fingerprint" }, r.fingerprint))),
  );
  const progressPlace = h("div", {});
  const waiting = choice.invited ? h("p", { class: "alert pending" }, t("pending.waiting", { email: choice.invited.email })) : null;
  const later = choice.heldBack ? h("p", { class: "alert pending held-back" }, t("send.heldBackReview", { email: choice.patient.email, date: formatDayAndTime(choice.heldBack, locale()) })) : null;
  replace(review, heading, h("p", { class: "hint" }, t("send.whoCanReadHint")), readers, waiting, later, h("p", { class: "actions" }, confirm, change), progressPlace);
  heading.focus();
  change.addEventListener("click", () => {
    replace(review);
    form.hidden = false;
  });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    change.disabled = true;
    if (choice.invited && !choice.patient.patientFileId) {
      try {
        choice.patient = await context.api.openInvitedPatientFile(choice.practiceId, choice.invited.email);
      } catch (error) {
        progressPlace.append(refusalBox(error));
        change.disabled = false;
        return;
      }
    }
    for (const file of choice.files) {
      const bar = h("progress", { max: "100", value: "0" });
      const label = h("label", {}, t("send.progress", { name: file.name }));
      const id = uniqueId("progress");
      bar.id = id;
      label.setAttribute("for", id);
      progressPlace.append(h("div", { class: "progress" }, label, bar));
      try {
        const { document: sent, indexFailure } = await context.api.sendDocument(
          file,
          {
            patientFileId: choice.patient.patientFileId,
            to: choice.to,
            readers: proven,
            title: choice.files.length === 1 && choice.title ? choice.title : file.name,
            ...(choice.heldBack ? { heldBack: { accountId: choice.patient.patientId, availableFrom: choice.heldBack } } : {}),
          },
          (doneBytes, total) => {
            bar.value = total ? Math.round((doneBytes / total) * 100) : 100;
          },
        );
        bar.value = 100;
        const message = t("send.done", { title: sent.title || sent.filename });
        progressPlace.append(h("p", { class: "alert success" }, message, " ", h("a", { href: ROUTES.document(sent.id) }, t("send.open"))));
        if (indexFailure !== null) progressPlace.append(h("p", { class: "hint" }, t("search.notIndexed")));
        context.announce(message);
        if (choice.invited && !(await recordPending(context, sent.id, choice.practiceId, choice.invited, progressPlace))) {
          change.disabled = false;
          return;
        }
      } catch (error) {
        progressPlace.append(refusalBox(error));
        change.disabled = false;
        return;
      }
    }
  });
}
