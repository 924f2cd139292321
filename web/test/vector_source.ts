/** The vector files read from the repository (Node); the browser build swaps in test/browser/vector_source.ts. */

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Compiled to web/build/test/, so the repository root is three levels up.
const VECTORS = resolve(dirname(fileURLToPath(import.meta.url)), "../../../tests/vectors");

export function readVectorText(name: string): string {
  return readFileSync(resolve(VECTORS, name), "utf8");
}
