/**
 * PDF documents drawn by pdf.js (Mozilla's reader, loaded only when a PDF is opened)
 * into canvases: the file is parsed in pdf.js's own worker, without the browser's
 * PDF plugin, without eval, scripts, forms or links — pixels only, so nothing in a
 * PDF can act as a page of this origin.
 */

import { h } from "./dom.js";

/** Pages drawn at most; a longer document is saved to be read in full. */
export const MOST_PAGES = 30;

export interface DrawnPdf {
  pages: number;
  drawn: number;
}

/** Pages whose text is read for the search index (client/search.py MAX_INDEXED_PDF_PAGES). */
export const MOST_INDEXED_PAGES = 300;
/** Characters of a PDF's text read for the search index (about MAX_INDEXED_TEXT_BYTES). */
export const MOST_INDEXED_CHARS = 2 * 1024 * 1024;
/** Larger PDFs are sent and opened whole, but their text is not read for the index. */
export const MOST_INDEXED_PDF_BYTES = 64 * 1024 * 1024;

type PdfJs = typeof import("pdfjs-dist");
type PdfDocument = Awaited<ReturnType<PdfJs["getDocument"]>["promise"]>;

/** `use` given `data` parsed by pdf.js in its own worker, which is let go afterwards. */
async function withPdf<T>(data: Uint8Array, use: (pdf: PdfDocument, pdfjs: PdfJs) => Promise<T>): Promise<T> {
  const pdfjs = await import("pdfjs-dist");
  if (!pdfjs.GlobalWorkerOptions.workerPort) {
    // Bundled by Vite as a file of this release, started under the page's policy.
    pdfjs.GlobalWorkerOptions.workerPort = new Worker(new URL("pdfjs-dist/build/pdf.worker.min.mjs", import.meta.url), { type: "module", name: "pdf" });
  }
  const loading = pdfjs.getDocument({
    data,
    isEvalSupported: false,
    enableXfa: false,
    // Glyphs drawn as paths: no font is installed into the page.
    disableFontFace: true,
    stopAtErrors: true,
  });
  try {
    return await use(await loading.promise, pdfjs);
  } finally {
    await loading.destroy();
  }
}

/** The text of the first MOST_INDEXED_PAGES pages, up to about MOST_INDEXED_CHARS. */
async function textOfPages(pdf: PdfDocument): Promise<string> {
  const parts: string[] = [];
  let size = 0;
  for (let number = 1; number <= Math.min(pdf.numPages, MOST_INDEXED_PAGES) && size < MOST_INDEXED_CHARS; number += 1) {
    const page = await pdf.getPage(number);
    const content = await page.getTextContent();
    const text = content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : " ") : "")).join("");
    parts.push(text);
    size += text.length;
    page.cleanup();
  }
  return parts.join("\n").slice(0, MOST_INDEXED_CHARS);
}

/**
 * The text of a PDF to index (PROTOCOL 18.1: pdf.js's extraction here, pypdf's in the
 * SDK), read in pdf.js's worker, never in the worker that holds the keys: "" for a PDF
 * pdf.js cannot read, or one past MOST_INDEXED_PDF_BYTES.
 */
export async function pdfText(data: Uint8Array): Promise<string> {
  if (data.byteLength > MOST_INDEXED_PDF_BYTES) return "";
  try {
    return await withPdf(data, textOfPages);
  } catch {
    return "";
  }
}

export interface ReadPdf extends DrawnPdf {
  /** Its text for the search index (as `pdfText`), "" when it could not be read. */
  text: string;
}

/**
 * Draws the first pages of `data` into `place`, each canvas labelled with
 * `pageLabel(n, total)` for screen readers, and reads its text (one parse for both).
 */
export async function drawPdf(data: Uint8Array, place: HTMLElement, pageLabel: (page: number, total: number) => string): Promise<ReadPdf> {
  return withPdf(data, async (pdf, pdfjs) => {
    const drawn = Math.min(pdf.numPages, MOST_PAGES);
    for (let number = 1; number <= drawn; number += 1) {
      const page = await pdf.getPage(number);
      const scale = Math.min(2, Math.max(1, (place.clientWidth || 800) / page.getViewport({ scale: 1 }).width)) * (window.devicePixelRatio || 1);
      const viewport = page.getViewport({ scale });
      const canvas = h("canvas", { class: "pdf-page", role: "img", "aria-label": pageLabel(number, pdf.numPages) });
      canvas.width = Math.floor(viewport.width);
      canvas.height = Math.floor(viewport.height);
      // Shown once drawn: a screen reader (or a test) finding the page finds it whole.
      await page.render({ canvas, viewport, annotationMode: pdfjs.AnnotationMode.DISABLE }).promise;
      place.append(canvas);
      page.cleanup();
    }
    const text = data.byteLength > MOST_INDEXED_PDF_BYTES ? "" : await textOfPages(pdf).catch(() => "");
    return { pages: pdf.numPages, drawn, text };
  });
}
