/**
 * The web application (index.html, src/main.ts and the crypto worker) built into
 * content-hashed files inside the server package, which serves them at /app/
 * (uhealthsec/server/web_app.py) and ships them in its wheel.
 */

import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../src/uhealthsec/server/web_assets", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    assetsDir: "assets",
    // Every file but index.html is named by its content's hash and cached for good.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  worker: { format: "es" },
});
