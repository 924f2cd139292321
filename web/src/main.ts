/**
 * The web application's entry point: starts the crypto worker, through which every
 * operation on keys goes, and says when it answers. The screens come on top of
 * `uhealthsec.cryptoWorker`, the page's only way to the keys.
 */

import { CryptoWorker } from "./worker/client.js";

declare global {
  interface Window {
    uhealthsec: { cryptoWorker: CryptoWorker };
  }
}

// Vite bundles the worker from this very expression into its own hashed file.
const cryptoWorker = new CryptoWorker(new Worker(new URL("./worker/worker.ts", import.meta.url), { type: "module", name: "uhealthsec-crypto" }));
window.uhealthsec = { cryptoWorker };

const status = document.getElementById("status")!;
cryptoWorker.lock().then(
  () => {
    status.textContent = "Prêt.";
    document.body.dataset.ready = "true";
  },
  (error: Error) => {
    status.textContent = `Le module de chiffrement n'a pas démarré : ${error.message}`;
    document.body.dataset.ready = "false";
  },
);
