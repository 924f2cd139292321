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

/**
 * Draws the first pages of `data` into `place`, each canvas labelled with
 * `pageLabel(n, total)` for screen readers.
 */
export async function drawPdf(data: Uint8Array, place: HTMLElement, pageLabel: (page: number, total: number) => string): Promise<DrawnPdf> {
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
  const pdf = await loading.promise;
  try {
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
    return { pages: pdf.numPages, drawn };
  } finally {
    await loading.destroy();
  }
}
