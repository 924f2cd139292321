/**
 * One patient file: until when it is kept, the patient's consent (read only: only
 * the patient changes it), and its documents, newest first. Each document opens onto
 * its versions and readers, checked in the worker against the signed history: a new
 * version is shown before anything is encrypted (which document it continues, who
 * will read it), a reader is added with an optional end of access, or revoked.
 */

import type { DocumentHistoryView, DocumentView, InformationView, NextVersionView, PatientFileView, PatientView, PendingShareView, PracticeView } from "../api.js";
import { type AppContext, ROUTES, type Screen, errorBox, inputRefusalBox, refusalBox } from "../app.js";
import { field, formatDate, formatDay, formatSize, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { busy } from "./signin.js";
import { workingPractices } from "./patients.js";
import { showPendingOfDocument } from "./pending.js";

type FileView = PatientFileView;

const BASES = ["last_care", "minor", "death", "suspended", "birth_date_unknown", "beyond_calendar"];
const PURPOSES = ["care_team", "outside_team", "research"];
const DECISIONS = ["permit", "deny"];

/** The catalogue's words for a value the server names, or the value itself for one it does not know. */
function translated(prefix: string, value: string, known: readonly string[], otherwise = value): string {
  return known.includes(value) ? t(`${prefix}.${value}` as MessageKey) : otherwise;
}

export async function patientFileScreen(context: AppContext, patientFileId: string): Promise<Screen> {
  const back = h("p", {}, h("a", { href: ROUTES.patients }, `← ${t("patients.back")}`));
  const content = h("section", {});
  let patient: PatientView | undefined;
  let practice: PracticeView | undefined;
  let file: FileView;
  let information: InformationView[];
  try {
    [patient, practice] = (await findPatient(context, patientFileId)) ?? [];
    if (!patient || !practice) {
      replace(content, back, h("h1", {}, t("patients.fileNotFound")));
      return { title: t("patients.fileNotFound"), content };
    }
    [file, information] = await Promise.all([context.api.patientFile(patientFileId), context.api.fileInformation(patientFileId)]);
  } catch (error) {
    replace(content, back, h("h1", {}, patient?.name || t("patients.title")), refusalBox(error));
    return { title: t("patients.title"), content };
  }
  const title = patient.name || patient.email;
  replace(
    content,
    back,
    h("h1", {}, title),
    h("p", { class: "hint" }, patient.email),
    informationPart(context, patientFileId, information, practice.role),
    retentionPart(context, patientFileId, file.retention, practice.role),
    consentPart(file.consents),
    documentsPart(context, file.documents),
  );
  return { title, content };
}

async function findPatient(context: AppContext, patientFileId: string): Promise<[PatientView, PracticeView] | undefined> {
  const wanted = patientFileId.toLowerCase();
  for (const practice of await workingPractices(context)) {
    const found = (await context.api.patients(practice.id)).find((p) => p.patientFileId === wanted);
    if (found) return [found, practice];
  }
  return undefined;
}

function detail(term: string, value: string): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, value)];
}

/**
 * Whether the patient was informed of how their file is shared within the care team
 * (R11): "informé·e le …", or, until then, why colleagues cannot receive their
 * documents and a button to record that the practitioner informed them in person.
 */
function informationPart(context: AppContext, patientFileId: string, information: InformationView[], role: string): HTMLElement {
  const shown = h("div", {});
  const show = (given: InformationView[]) => {
    replace(
      shown,
      given.length === 0
        ? h("p", { class: "alert warning" }, t("patients.notInformed"))
        : h(
            "ul",
            { class: "information" },
            ...given.map((i) =>
              h(
                "li",
                {},
                t("patients.informedOn", {
                  date: formatDay(i.informedOn, locale()),
                  version: i.noticeVersion,
                  how: t(i.how === "invitation" ? "patients.informedHow.invitation" : "patients.informedHow.in_person", { name: i.recordedByName }),
                }),
              ),
            ),
          ),
    );
  };
  show(information);
  const part = h("section", { class: "part", "aria-labelledby": "information-heading" }, h("h2", { id: "information-heading" }, t("patients.information")), shown);
  // Only a practitioner of the practice records it (the server refuses the others).
  if (information.length > 0 || (role !== "admin" && role !== "practitioner")) return part;
  const today = new Date();
  const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
  const when = h("input", { type: "date", name: "informed-on", value: day, max: day, required: true });
  const submit = h("button", { type: "submit" }, t("patients.recordInformed"));
  const outcome = h("div", {});
  const form = h("form", { class: "informed" }, h("fieldset", {}, h("legend", {}, t("patients.recordInformedTitle")), h("p", { class: "hint" }, t("patients.recordInformedHint")), field(t("patients.informedDay"), when)), outcome, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(outcome);
    const done = busy(submit, t("patients.recordingInformed"));
    try {
      const recorded = await context.api.recordInformation(patientFileId, when.value);
      show([recorded]);
      form.remove();
      const said = t("patients.informedRecorded");
      shown.append(h("p", { class: "alert success", role: "status" }, said));
      context.announce(said);
    } catch (error) {
      done();
      replace(outcome, inputRefusalBox(error, "patients.informedSafeguards"));
    }
  });
  part.append(form);
  return part;
}

function retentionPart(context: AppContext, patientFileId: string, retention: FileView["retention"], role: string): HTMLElement {
  const shown = h("div", {});
  const show = (now: FileView["retention"]) => {
    const basis = translated("patients.basis", now.basis, BASES, now.explanation);
    replace(
      shown,
      h(
        "dl",
        { class: "details" },
        ...detail(t("patients.keepUntil"), now.keepUntil ? formatDay(now.keepUntil, locale()) : t("patients.keepUnknown")),
        ...(now.destroyableFrom ? detail(t("patients.destroyableFrom"), formatDay(now.destroyableFrom, locale())) : []),
        ...detail(t("patients.basis"), basis),
        ...detail(t("patients.lastCare"), formatDay(now.lastCareOn, locale())),
        ...detail(t("patients.bornOn"), now.bornOn ? formatDay(now.bornOn, locale()) : t("patients.notRecorded")),
        ...(now.diedOn ? detail(t("patients.diedOn"), formatDay(now.diedOn, locale())) : []),
      ),
      now.archived ? h("p", {}, t("patients.archived")) : null,
    );
  };
  const part = h("section", { class: "part", "aria-labelledby": "retention-heading" }, h("h2", { id: "retention-heading" }, t("patients.retention")), shown);
  // The server lets the practice's admin and the practitioners treating the patient record them; a secretary never sees this screen.
  if (role === "admin" || role === "practitioner") {
    const facts = factsForm(context, patientFileId, (now) => {
      show(now);
      facts.recorded(now);
    });
    part.append(facts.form);
    facts.recorded(retention);
  }
  show(retention);
  return part;
}

/** The dates the end rests on, as the server's safeguards allow them: its refusals said with those safeguards. */
function factsForm(context: AppContext, patientFileId: string, show: (now: FileView["retention"]) => void): { form: HTMLElement; recorded: (now: FileView["retention"]) => void } {
  const dateInput = (name: string) => h("input", { type: "date", name });
  const born = dateInput("born-on");
  const lastCare = dateInput("last-care-on");
  const died = dateInput("died-on");
  // A death recorded by mistake is erased, never overwritten silently: offered only while one is recorded.
  const clearDeath = h("input", { type: "checkbox", name: "clear-death" });
  const clearChoice = h("p", { class: "choice" }, h("label", {}, clearDeath, " ", t("patients.clearDeath")));
  const recorded = (now: FileView["retention"]) => {
    clearChoice.hidden = !now.diedOn;
    if (!now.diedOn) clearDeath.checked = false;
  };
  const submit = h("button", { type: "submit" }, t("patients.factsSave"));
  const outcome = h("div", {});
  const form = h(
    "form",
    { class: "facts" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("patients.factsTitle")),
      h("p", { class: "hint" }, t("patients.factsMeaning")),
      field(t("patients.bornOn"), born),
      field(t("patients.lastCare"), lastCare),
      field(t("patients.diedOn"), died, t("patients.diedHint")),
      clearChoice,
    ),
    outcome,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(outcome);
    const facts: { bornOn?: string; lastCareOn?: string; diedOn?: string | null } = {};
    if (born.value) facts.bornOn = born.value;
    if (lastCare.value) facts.lastCareOn = lastCare.value;
    if (died.value) facts.diedOn = died.value;
    if (clearDeath.checked) {
      if (died.value) {
        replace(outcome, errorBox(t("patients.clearDeathOrDate")));
        died.focus();
        return;
      }
      facts.diedOn = null;
    }
    if (Object.keys(facts).length === 0) {
      replace(outcome, errorBox(t("patients.factsNone")));
      born.focus();
      return;
    }
    const done = busy(submit, t("patients.factsSaving"));
    try {
      const now = await context.api.recordRetentionFacts(patientFileId, facts);
      show(now);
      const said = now.keepUntil ? t("patients.factsSaved", { date: formatDay(now.keepUntil, locale()) }) : t("patients.factsSavedUnknown");
      replace(outcome, h("div", { class: "alert success" }, h("p", {}, said)));
      context.announce(said);
      for (const input of [born, lastCare, died]) input.value = "";
      clearDeath.checked = false;
    } catch (error) {
      replace(outcome, inputRefusalBox(error, "patients.factsSafeguards"));
    } finally {
      done();
    }
  });
  return { form, recorded };
}

function consentPart(consents: FileView["consents"]): HTMLElement {
  const items = consents.map((d) =>
    h(
      "li",
      {},
      h("strong", {}, t("patients.consentItem", { purpose: translated("patients.purpose", d.purpose, PURPOSES), decision: translated("patients.decision", d.decision, DECISIONS) })),
      d.recipient ? ` ${t("patients.consentFor", { recipient: d.recipient })}` : null,
      d.study ? ` ${t("patients.consentStudy", { study: d.study })}` : null,
      ` (${t("patients.consentSince", { date: formatDate(d.createdAt, locale()) })})`,
    ),
  );
  return h(
    "section",
    { class: "part", "aria-labelledby": "consent-heading" },
    h("h2", { id: "consent-heading" }, t("patients.consent")),
    h("p", { class: "hint" }, t("patients.consentReadOnly")),
    items.length ? h("ul", { class: "consents" }, ...items) : h("p", {}, t("patients.consentNone")),
  );
}

function documentsPart(context: AppContext, documents: DocumentView[]): HTMLElement {
  const part = h("section", { class: "part", "aria-labelledby": "documents-heading" }, h("h2", { id: "documents-heading" }, t("patients.documents")));
  if (documents.length === 0) {
    part.append(h("p", { class: "empty" }, t("patients.noDocuments")));
    return part;
  }
  // One listing of the documents waiting for a patient who has not joined yet, for all of them.
  const pending = context.api.pendingShares();
  pending.catch(() => undefined);
  part.append(h("ul", { class: "file-documents" }, ...documents.map((d) => documentItem(context, d, pending))));
  return part;
}

function documentItem(context: AppContext, document: DocumentView, pending: Promise<PendingShareView[]>): HTMLElement {
  const name = document.title || document.filename;
  const waiting = h("div", {});
  void showPendingOfDocument(context, document.id, waiting, pending);
  const panel = h("div", { class: "document-panel", id: uniqueId("document"), hidden: true });
  const toggle = h("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": panel.id }, t("patients.details", { title: name }));
  toggle.addEventListener("click", () => {
    const opening = panel.hidden;
    panel.hidden = !opening;
    toggle.setAttribute("aria-expanded", String(opening));
    toggle.textContent = t(opening ? "patients.hideDetails" : "patients.details", { title: name });
    if (opening) void showHistory(context, document.id, panel);
  });
  return h(
    "li",
    {},
    h("h3", {}, h("a", { href: ROUTES.document(document.id) }, name)),
    h(
      "p",
      { class: "hint" },
      `${formatDate(document.createdAt, locale())} · ${document.authorName || document.authorEmail} · ${t("document.version")} ${document.version} · ${formatSize(document.size, locale())}`,
    ),
    waiting,
    toggle,
    panel,
  );
}

/** The document's checked history in `panel`; `said` is the outcome of what was just done there. */
async function showHistory(context: AppContext, id: string, panel: HTMLElement, said?: string): Promise<void> {
  replace(panel, h("p", { class: "working" }, t("common.loading")));
  let history: DocumentHistoryView;
  try {
    history = await context.api.documentHistory(id);
  } catch (error) {
    replace(panel, refusalBox(error));
    return;
  }
  // Shown where it happened; said once, by the frame's live region (context.announce).
  const outcome = said ? h("p", { class: "alert success" }, said) : null;
  replace(
    panel,
    outcome,
    h("h4", {}, t("patients.versions")),
    h("ol", { class: "versions", reversed: true }, ...history.versions.map(versionItem)),
    h("h4", {}, t("patients.readers")),
    h("ul", { class: "readers" }, ...history.readers.map((r) => readerItem(context, history, r, panel))),
    history.revoked.length
      ? h(
          "div",
          {},
          h("h4", {}, t("patients.revokedList")),
          h("ul", {}, ...history.revoked.map((r) => h("li", {}, t("patients.revokedItem", { email: r.email, version: r.version, by: r.by === "you" ? t("patients.you") : r.by })))),
        )
      : null,
    shareForm(context, history, panel),
    newVersionForm(context, history, panel),
  );
  if (said) context.announce(said);
}

function versionItem(version: DocumentHistoryView["versions"][number]): HTMLElement {
  const by = t("patients.versionBy", { name: version.authorName || "—", date: formatDate(version.createdAt, locale()), size: formatSize(version.size, locale()) });
  const name = version.title ? t("patients.versionItem", { number: version.number, title: version.title }) : t("patients.versionUnreadable", { number: version.number });
  return h("li", {}, h("strong", {}, name), h("br", {}), h("span", { class: "hint" }, by));
}

function readerItem(context: AppContext, history: DocumentHistoryView, reader: DocumentHistoryView["readers"][number], panel: HTMLElement): HTMLElement {
  const who = reader.name || reader.email;
  const until = reader.expiresAt ? t("patients.expires", { date: formatDate(reader.expiresAt, locale()) }) : t("patients.noExpiry");
  const item = h("li", {}, h("strong", {}, who), ` <${reader.email}> — ${until} `);
  if (reader.accountId === context.account.id) return item;
  const revoke = h("button", { type: "button", class: "secondary" }, t("patients.revoke", { name: who }));
  revoke.addEventListener("click", async () => {
    const done = busy(revoke, t("patients.revoking"));
    try {
      const versions = await context.api.revokeReader(history.id, reader.email);
      await showHistory(context, history.id, panel, t("patients.revoked", { email: reader.email, versions }));
    } catch (error) {
      done();
      item.append(refusalBox(error));
    }
  });
  item.append(revoke);
  return item;
}

/** Midnight ending the chosen day, in the person's time zone: the access ends then. */
function endOfDay(day: string): string | null {
  if (!day) return null;
  const date = new Date(`${day}T23:59:59`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function shareForm(context: AppContext, history: DocumentHistoryView, panel: HTMLElement): HTMLElement {
  const email = h("input", { type: "email", name: "share-email", autocomplete: "off", spellcheck: "false" });
  const expiry = h("input", { type: "date", name: "share-expiry", min: new Date().toISOString().slice(0, 10) });
  const submit = h("button", { type: "submit" }, t("patients.shareSubmit"));
  const problems = h("div", {});
  const form = h(
    "form",
    { class: "share" },
    h("fieldset", {}, h("legend", {}, t("patients.share")), field(t("patients.shareEmail"), email), field(t("patients.shareExpiry"), expiry, t("patients.shareExpiryHint")), problems, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    const address = email.value.trim();
    if (!address) {
      replace(problems, errorBox(t("patients.missingEmail")));
      return;
    }
    const done = busy(submit, t("patients.sharing"));
    try {
      await context.api.shareDocument(history.id, [address], endOfDay(expiry.value));
      await showHistory(context, history.id, panel, t("patients.shared", { email: address }));
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  });
  return form;
}

function newVersionForm(context: AppContext, history: DocumentHistoryView, panel: HTMLElement): HTMLElement {
  const input = h("input", { type: "file", name: "new-version" });
  const check = h("button", { type: "submit" }, t("patients.newVersionCheck"));
  const problems = h("div", {});
  const review = h("div", {});
  const fields = h("div", {}, field(t("patients.newVersionFile"), input), problems, check);
  const form = h("form", { class: "new-version" }, h("fieldset", {}, h("legend", {}, t("patients.newVersion")), fields, review));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    const file = input.files?.[0];
    if (!file) {
      replace(problems, errorBox(t("patients.missingFile")));
      return;
    }
    const done = busy(check, t("patients.checking"));
    try {
      const next = await context.api.nextVersion(history.id);
      done();
      fields.hidden = true;
      showBeforeChanging(context, next, file, review, panel, () => {
        replace(review);
        fields.hidden = false;
        check.focus();
      });
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  });
  return form;
}

/** What the new version continues and who will read it, as the SDK's before_changing shows it. */
function showBeforeChanging(context: AppContext, next: NextVersionView, file: File, review: HTMLElement, panel: HTMLElement, cancel: () => void): void {
  const heading = h("h4", { tabindex: "-1" }, t("patients.beforeChanging"));
  const confirm = h("button", { type: "button" }, t("patients.confirmVersion", { next: next.latestVersion + 1 }));
  const back = h("button", { type: "button", class: "secondary" }, t("patients.cancel"));
  const problems = h("div", {});
  replace(
    review,
    heading,
    h("p", {}, t("patients.beforeChangingText", { title: next.title, version: next.latestVersion, next: next.latestVersion + 1 })),
    // Each reader with the fingerprint of the keys the worker proved and will encrypt
    // to, as the send screen and the trust screen show them, to compare out of band.
    h(
      "ul",
      { class: "readers" },
      ...next.readers.map((r) =>
        h("li", {}, h("strong", {}, r.name || r.email), ` <${r.email}>`, h("br", {}), h("span", { class: "hint" }, `${t("trust.fingerprint")} : `), h("span", { class: "fingerprint" }, r.fingerprint)),
      ),
    ),
    problems,
    h("p", { class: "actions" }, confirm, back),
  );
  heading.focus();
  back.addEventListener("click", cancel);
  confirm.addEventListener("click", async () => {
    back.disabled = true;
    const done = busy(confirm, t("patients.uploading"));
    try {
      // The document keeps its title; the file gives the version's name and type.
      const number = await context.api.newVersion(next, file, next.title);
      await showHistory(context, next.id, panel, t("patients.versionSent", { number, title: next.title }));
    } catch (error) {
      done();
      back.disabled = false;
      replace(problems, refusalBox(error));
    }
  });
}
