/**
 * A patient's own documents (#/my-documents): every document about them they can
 * read, by practice, then by author, newest first, each opened by the document screen
 * (which verifies and decrypts it, and saves it); and their FHIR R4 export, built in
 * the worker (client/portability.ts), offered as a file to save.
 *
 * Titles, dates and authors are the worker's (documents.ts summary, the inbox's
 * path): an author is named only once their signature verified; a document whose
 * signature did not verify is put apart under "Non vérifié", unnamed. Every text is
 * set as text, never as markup.
 */

import type { DocumentView, MyDocumentsView } from "../api.js";
import { type AppContext, ROUTES, type Screen, errorBox, refusalBox } from "../app.js";
import { describeFailure } from "../refusals.js";
import { formatDate, formatDayAndTime, formatSize, h, replace } from "../dom.js";
import { locale, t } from "../i18n.js";

export const MY_DOCUMENTS_ROUTE = "#/my-documents";

/** The object URL of the last export offered, revoked when another screen is drawn. */
let exportUrl: string | null = null;

function releaseExport(): void {
  if (exportUrl !== null) URL.revokeObjectURL(exportUrl);
  exportUrl = null;
}

export async function myDocumentsScreen(context: AppContext): Promise<Screen> {
  releaseExport();
  const title = t("myDocuments.title");
  const content = h("section", { class: "my-documents" }, h("h1", {}, title), h("p", {}, t("myDocuments.intro")));
  let mine: MyDocumentsView;
  try {
    mine = await context.api.myDocuments();
  } catch (error) {
    content.append(refusalBox(error));
    return { title, content };
  }
  if (mine.documents.length === 0) {
    content.append(h("p", { class: "empty" }, t("myDocuments.empty")), exportPart(context));
    return { title, content };
  }
  content.append(h("p", { class: "count" }, t("myDocuments.count", { count: mine.documents.length })));
  const practiceOf = new Map(mine.files.map((f) => [f.patientFileId, f.practiceName]));
  for (const [practice, ofPractice] of grouped(mine.documents, (d) => practiceOf.get(d.patientFileId) ?? "")) {
    const part = h("section", { class: "part practice-documents" }, h("h2", {}, practice || t("myDocuments.unknownPractice")));
    for (const [author, ofAuthor] of grouped(ofPractice, (d) => (d.verified ? d.authorName || d.authorEmail : ""))) {
      const heading = author ? h("h3", {}, author) : h("h3", { class: "unverified" }, t("myDocuments.unverifiedGroup"));
      part.append(heading);
      if (!author) part.append(errorBox(t("myDocuments.unverifiedAdvice")));
      part.append(h("ul", { class: "my-documents-list" }, ...ofAuthor.map(item)));
    }
    content.append(part);
  }
  content.append(exportPart(context));
  return { title, content };
}

/** `documents` (newest first) grouped by `key`, the group of the newest document first. */
function grouped(documents: DocumentView[], key: (d: DocumentView) => string): Map<string, DocumentView[]> {
  const groups = new Map<string, DocumentView[]>();
  for (const document of documents) {
    const name = key(document);
    groups.set(name, [...(groups.get(name) ?? []), document]);
  }
  return groups;
}

function item(document: DocumentView): HTMLElement {
  if (document.availableFrom !== null) {
    // Held back by its author (R28): nothing to open before the day, its title included.
    return h(
      "li",
      { class: "held-back" },
      h("span", {}, t("myDocuments.availableFrom", { date: formatDayAndTime(document.availableFrom, locale()) })),
      h("span", { class: "hint" }, " — ", t("myDocuments.heldBackHint"), " · ", h("time", { datetime: document.createdAt }, formatDate(document.createdAt, locale()))),
    );
  }
  const name = document.title || document.filename;
  return h(
    "li",
    {},
    h("a", { href: ROUTES.document(document.id) }, name),
    document.readAt === null ? h("span", { class: "badge new" }, t("inbox.new")) : null,
    document.restrictedAt !== null ? h("span", { class: "badge restricted" }, t("document.restrictedBadge")) : null,
    h(
      "span",
      { class: "hint" },
      " — ",
      h("time", { datetime: document.createdAt }, formatDate(document.createdAt, locale())),
      ` · ${formatSize(document.size, locale())}`,
      document.version > 1 ? ` · ${t("myDocuments.version", { version: document.version })}` : "",
    ),
  );
}

/** The export's button, its progress while the worker writes it, then the file to save. */
function exportPart(context: AppContext): HTMLElement {
  const button = h("button", { type: "button" }, t("myDocuments.export"));
  const progress = h("progress", { "aria-label": t("myDocuments.exportProgress"), hidden: true });
  const said = h("p", { class: "hint", role: "status", "aria-live": "polite" });
  const result = h("div", {});
  button.addEventListener("click", async () => {
    button.disabled = true;
    releaseExport();
    replace(result);
    progress.hidden = false;
    said.textContent = t("myDocuments.exporting");
    try {
      const { outcome, content } = await context.api.exportRecord((bytes) => {
        said.textContent = t("myDocuments.exportingBytes", { size: formatSize(bytes, locale()) });
      });
      // Another screen drawn meanwhile: the bundle is not kept for a link no one sees.
      if (!button.isConnected) return;
      exportUrl = URL.createObjectURL(content);
      const filename = `mon-dossier-fhir-${new Date().toISOString().slice(0, 10)}.json`;
      said.textContent = "";
      const done = t("myDocuments.exported", { documents: outcome.documents, versions: outcome.versions, messages: outcome.messages, auditEvents: outcome.auditEvents });
      replace(
        result,
        h("div", { class: "alert success" }, h("p", {}, done), h("p", {}, t("myDocuments.exportFormat"))),
        h("a", { class: "button", href: exportUrl, download: filename }, t("myDocuments.saveExport")),
      );
      context.announce(done);
    } catch (error) {
      said.textContent = "";
      const { text, code } = describeFailure(error);
      replace(result, errorBox(t("myDocuments.exportRefused", { reason: text }), "myDocuments.exportRefusedAdvice", code));
    } finally {
      progress.hidden = true;
      button.disabled = false;
    }
  });
  return h("section", { class: "part export" }, h("h2", {}, t("myDocuments.exportTitle")), h("p", {}, t("myDocuments.exportIntro")), h("p", { class: "actions" }, button), progress, said, result);
}
