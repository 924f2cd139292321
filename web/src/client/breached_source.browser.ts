/** The leaked-password list bundled by Vite (breached_source.ts reads it under Node). */

import text from "../../../src/uhealthsec/client/breached_passwords.txt?raw";

export const BREACHED_TEXT: string = text;
