/**
 * Bundles web/test/ for a browser (tests/web/test_browser_vectors.py runs it in
 * headless Chromium): Node's test runner, assert and file reads are swapped for
 * the small browser versions in test/browser/.
 */

import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  logLevel: "warn",
  resolve: {
    alias: [
      { find: /^node:test$/, replacement: here("./test/browser/node_test.ts") },
      { find: /^node:assert\/strict$/, replacement: here("./test/browser/node_assert.ts") },
      { find: /^\.\/vector_source\.js$/, replacement: here("./test/browser/vector_source.ts") },
      { find: /^\.\/breached_source\.js$/, replacement: here("./src/client/breached_source.browser.ts") },
    ],
  },
  build: {
    outDir: "build/browser",
    emptyOutDir: true,
    target: "es2022",
    minify: false,
    lib: {
      entry: here("./test/browser/main.ts"),
      formats: ["es"],
      fileName: () => "tests.js",
    },
    // One file: the page imports it whole.
    rolldownOptions: {
      output: { codeSplitting: false },
    },
  },
});
