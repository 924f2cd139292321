/**
 * The service worker (web/public/sw.js) that keeps the application's own files for
 * use without a network and lets a phone install it. It sits beside index.html, so
 * that its scope is the whole application.
 */

export const SERVICE_WORKER = "sw.js";

/** The service worker's address for a page at `pageUrl`. */
export function serviceWorkerUrl(pageUrl: string): string {
  return new URL(SERVICE_WORKER, pageUrl).href;
}

/** Registers the service worker; a browser without one (or a refusal) leaves the
 * application working online, which is said in the console only. */
export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register(serviceWorkerUrl(document.baseURI), { scope: "./" }).catch((error: unknown) => {
    console.warn("the application will not work offline:", error);
  });
}
