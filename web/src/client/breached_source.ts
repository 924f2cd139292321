/**
 * The leaked-password list the Python client ships (src/uhealthsec/client/
 * breached_passwords.txt, written by scripts/breached_passwords.py), read from the
 * repository under Node; the Vite builds swap in breached_source.browser.ts, which
 * bundles the same file.
 */

import { readFileSync } from "node:fs";

// Compiled to web/build/src/client/, so the repository root is four levels up.
export const BREACHED_TEXT: string = readFileSync(new URL("../../../../src/uhealthsec/client/breached_passwords.txt", import.meta.url), "ascii");
