/**
 * One document: what the listing says of it, then its content once the worker has
 * downloaded it, checked its signature against the key directory and decrypted it.
 * Images and plain text are shown; any other file is only offered to save, so that
 * nothing a sender wrote can run as a page of this origin.
 */

import { isShownInline } from "../api.js";
import { type AppContext, ROUTES, type Screen, errorBox, refusalBox } from "../app.js";
import { describeFailure } from "../refusals.js";
import { formatDate, formatSize, h, replace } from "../dom.js";
import { drawPdf } from "../pdf_viewer.js";
import { locale, t } from "../i18n.js";
import type { DocumentView } from "../../worker/messages.js";
import { showPendingOfDocument } from "./pending.js";

/** Object URLs of the last document shown, revoked when another is shown. */
let shownUrls: string[] = [];

function release(): void {
  for (const url of shownUrls) URL.revokeObjectURL(url);
  shownUrls = [];
}

export async function documentScreen(context: AppContext, id: string): Promise<Screen> {
  release();
  const back = h("p", {}, h("a", { href: ROUTES.inbox }, `← ${t("document.back")}`));
  const content = h("section", {});
  let listed: DocumentView;
  try {
    listed = await context.api.document(id);
  } catch (error) {
    // Its patient restricted it (R28): said so, not as a document that is not there.
    if (describeFailure(error).code === "document_restricted") {
      replace(content, back, h("h1", {}, t("document.restrictedTitle")), h("p", { class: "alert warning" }, t("refusal.document_restricted")));
      return { title: t("document.restrictedTitle"), content };
    }
    replace(content, back, h("h1", {}, t("document.notFound")));
    return { title: t("document.notFound"), content };
  }
  const title = listed.title || listed.filename;
  const details = h(
    "dl",
    { class: "details" },
    ...detail(t("document.patient"), listed.patientName),
    ...detail(t("document.from"), listed.authorName ? `${listed.authorName} <${listed.authorEmail}>` : listed.authorEmail),
    ...detail(t("document.date"), formatDate(listed.createdAt, locale())),
    ...detail(t("document.file"), listed.filename),
    ...detail(t("document.size"), formatSize(listed.size, locale())),
    ...detail(t("document.version"), String(listed.version)),
    ...detail(t("document.readers"), listed.recipients.join(", ")),
  );
  const result = h("div", { class: "opened", "aria-live": "polite" }, h("p", { class: "working" }, t("document.opening")));
  const pending = h("div", {});
  replace(content, back, h("h1", {}, title), details, restrictionPart(context, listed), pending, result);
  void open(context, id, result);
  void showPendingOfDocument(context, id, pending);
  return { title, content };
}

/**
 * Its restriction (R28): the patient restricts it, or lifts that, here; its author is
 * told it is restricted. Nothing for the other readers, who cannot open it then.
 */
function restrictionPart(context: AppContext, listed: DocumentView): HTMLElement {
  const place = h("div", { class: "restriction", "aria-live": "polite" });
  const author = listed.authorName || listed.authorEmail;
  const draw = (restrictedAt: string | null): void => {
    if (context.account.kind !== "patient") {
      if (restrictedAt !== null) replace(place, h("p", { class: "alert warning" }, t("document.restrictedForAuthor")));
      return;
    }
    const restricted = restrictedAt !== null;
    const button = h("button", { type: "button", class: "secondary" }, t(restricted ? "document.liftRestriction" : "document.restrict"));
    const said = h("div", {});
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const since = await context.api.restrictDocument(listed.id, !restricted);
        draw(since);
        context.announce(t(since === null ? "document.restrictionLifted" : "document.restrictedForPatient", { author }));
      } catch (error) {
        replace(said, refusalBox(error));
        button.disabled = false;
      }
    });
    const explanation = restricted
      ? h("p", { class: "alert warning" }, t("document.restrictedForPatient", { author }))
      : h("p", {}, t("document.restrictExplain", { author }));
    replace(place, explanation, h("p", {}, button), said);
  };
  draw(listed.restrictedAt);
  return place;
}

/** Draws a PDF; its text, for the search index ("" when pdf.js cannot read it). */
async function showPdf(content: Blob, place: HTMLElement): Promise<string> {
  try {
    const drawn = await drawPdf(new Uint8Array(await content.arrayBuffer()), place, (page, total) => t("document.pdfPage", { page, total }));
    if (drawn.drawn < drawn.pages) place.append(h("p", { class: "hint" }, t("document.pdfMore", { drawn: drawn.drawn, pages: drawn.pages })));
    return drawn.text;
  } catch {
    // The signature held: the file is what its author sent, but pdf.js cannot draw it.
    place.append(h("p", {}, t("document.pdfUnreadable")));
    return "";
  }
}

function detail(term: string, value: string): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, value)];
}

async function open(context: AppContext, id: string, result: HTMLElement): Promise<void> {
  try {
    const opened = await context.api.openDocument(id);
    const url = URL.createObjectURL(opened.content);
    shownUrls.push(url);
    const former = opened.signerFormerKeyVersion;
    const verified = h(
      "div",
      { class: "alert success" },
      h("p", {}, t("document.verified", { signer: opened.signer })),
      ...(former === null ? [] : [h("p", {}, t("document.signedWithFormerKeys", { signer: opened.signer, version: former }))]),
    );
    // Told quietly: the document opened; only finding it by a search later is affected.
    if (opened.indexFailure !== null) verified.append(h("p", { class: "hint" }, t("search.notIndexed")));
    const save = h("a", { class: "button", href: url, download: opened.document.filename || "document" }, t("document.save"));
    const kind = isShownInline(opened.document.mediaType);
    let preview: HTMLElement;
    if (kind === "image") {
      preview = h("img", { class: "preview", src: url, alt: t("document.preview") });
    } else if (kind === "text") {
      preview = h("pre", { class: "preview", tabindex: "0", "aria-label": t("document.preview") }, await opened.content.text());
    } else if (kind === "pdf") {
      preview = h("div", { class: "preview pdf", role: "group", "aria-label": t("document.preview") });
      replace(result, verified, save, preview);
      const text = await showPdf(opened.content, preview);
      context.announce(t("document.verified", { signer: opened.signer }));
      if (opened.indexDeferred && (await context.api.indexOpenedPdf(id, text)) !== null) {
        verified.append(h("p", { class: "hint" }, t("search.notIndexed")));
      }
      return;
    } else {
      preview = h("p", {}, t("document.notShown"));
    }
    replace(result, verified, save, preview);
    context.announce(t("document.verified", { signer: opened.signer }));
  } catch (error) {
    const { text, code } = describeFailure(error);
    replace(result, errorBox(t("document.refused", { reason: text }), "document.refusedAdvice", code));
  }
}
