/**
 * The web application (index.html, src/main.ts and the crypto worker) built into
 * content-hashed files inside the server package, which serves them at /app/
 * (uhealthsec/server/web_app.py) and ships them in its wheel.
 *
 * `--mode app-tests` (npm run build:app-tests) builds the same application into
 * build/app/ instead, with the crypto worker's client on `window.uhealthsec` for the
 * browser tests and benchmarks that drive it (tests/web/browser_app.py); the
 * application as shipped exposes nothing on `window`.
 */

import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

export const APP_TESTS_MODE = "app-tests";

export default defineConfig(({ mode }) => {
  const forTests = mode === APP_TESTS_MODE;
  return {
    base: "/app/",
    logLevel: "warn",
    define: { __UHS_EXPOSE_WORKER__: JSON.stringify(forTests) },
    build: {
      outDir: forTests
        ? fileURLToPath(new URL("./build/app", import.meta.url))
        : fileURLToPath(new URL("../src/uhealthsec/server/web_assets", import.meta.url)),
      emptyOutDir: true,
      target: "es2022",
      assetsDir: "assets",
      // Every file but index.html is named by its content's hash and cached for good.
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
    },
    worker: { format: "es" },
  };
});
