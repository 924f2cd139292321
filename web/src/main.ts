/**
 * The web application's entry point: starts the crypto worker, through which every
 * operation on keys and every request to the server goes, then the screens
 * (app/app.ts) on top of it. Only the build for the browser
 * tests (vite.config.ts) puts it on `window`, for them to drive.
 */

import { Api } from "./app/api.js";
import { App } from "./app/app.js";
import { language, setLanguage, t } from "./app/i18n.js";
import { registerServiceWorker, serviceWorkerUrl } from "./offline.js";
import { checkOwnRelease } from "./release_check.js";
import { relayProfessionalReturn } from "./app/screens/ecps.js";
import { CryptoWorker } from "./worker/client.js";
// The crypto worker's own file, bundled by Vite: named here so that the release check
// (which no integrity attribute can replace for a worker) hashes it too.
import cryptoWorkerUrl from "./worker/worker.ts?worker&url";

declare global {
  interface Window {
    uhealthsec?: { cryptoWorker: CryptoWorker };
  }
}

/** Replaced by Vite: true only in the build for the browser tests. */
declare const __UHS_EXPOSE_WORKER__: boolean;
/** Replaced by Vite: false only in the build for the browser tests, served without
 * the server's web release log. */
declare const __UHS_CHECK_RELEASE__: boolean;

/** The part of the Trusted Types API used here (TypeScript's DOM library lacks it). */
interface TrustedTypePolicyFactory {
  createPolicy(name: string, rules: { createScriptURL: (url: string) => string }): unknown;
}

/**
 * The page runs under `require-trusted-types-for 'script'` (server/headers.py): a
 * string or URL given to a script sink goes through this "default" policy, which lets
 * only the files beside this one (the crypto worker) and the application's service
 * worker start, and refuses the rest.
 */
const OWN_FILES = new URL("./", import.meta.url).href;
const trustedTypes = (globalThis as { trustedTypes?: TrustedTypePolicyFactory }).trustedTypes;
trustedTypes?.createPolicy("default", {
  createScriptURL: (url) => {
    const href = new URL(url, document.baseURI).href;
    if (!href.startsWith(OWN_FILES) && href !== serviceWorkerUrl(document.baseURI)) {
      throw new TypeError("only the web application's own scripts may run");
    }
    return url;
  },
});

const root = document.getElementById("app")!;
// The e-CPS window come back from the provider hands its address to the page that
// opened it and closes: no application starts in it.
if (!relayProfessionalReturn(root)) startApplication();

function startApplication(): void {
  const cryptoWorker = new CryptoWorker(new Worker(cryptoWorkerUrl, { type: "module", name: "uhealthsec-crypto" }));
  if (__UHS_EXPOSE_WORKER__) window.uhealthsec = { cryptoWorker };
  registerServiceWorker();

  const status = document.getElementById("status")!;
  // The worker is ready once it answers a client operation (the shipped one answers no other).
  cryptoWorker.call("account", {}).then(
    () => {
      document.body.dataset.ready = "true";
      setLanguage(language());
      // The screens take no input (a password above all, which goes to the crypto
      // worker) until the page's files, that worker's among them, are the published ones.
      if (__UHS_CHECK_RELEASE__) root.inert = true;
      const app = new App(root, new Api(cryptoWorker));
      void app.start();
      if (__UHS_CHECK_RELEASE__) checkReleaseInBackground(() => takeInput(app));
    },
    (error: Error) => {
      status.textContent = t("app.workerFailed", { reason: error.message });
      document.body.dataset.ready = "false";
    },
  );
}

/** The screens take input, starting where the screen shown starts unless the
 * focus is already somewhere. */
function takeInput(app: App): void {
  root.inert = false;
  if (document.activeElement === null || document.activeElement === document.body) app.focusStart();
}

/** The page's own files against the server's web release log (release_check.ts): a
 * failure is said at once, in an alert that stays; `passed` once they pass (or
 * when offline, with nothing to check them against). */
function checkReleaseInBackground(passed: () => void): void {
  // Offline (the service worker's copy): nothing to check against until the next visit.
  if (!navigator.onLine) {
    document.body.dataset.release = "offline";
    passed();
    return;
  }
  checkOwnRelease(new URL(".", document.baseURI).href, [new URL(cryptoWorkerUrl, document.baseURI).href]).then(
    () => {
      document.body.dataset.release = "verified";
      passed();
    },
    (error: Error) => {
      document.body.dataset.release = "refused";
      const alert = document.createElement("p");
      alert.setAttribute("role", "alert");
      alert.id = "release-alert";
      alert.className = "alert error";
      alert.textContent = t("app.releaseRefused", { reason: error.message });
      // Outside the screens, which are redrawn; and the application still takes no input,
      // since a password typed into code the log does not hold could go anywhere.
      document.body.prepend(alert);
      root.inert = true;
    },
  );
}
