/**
 * Rule R6's counting and leaked-password list, as the CLI applies them
 * (client/passwords.py, where each constant's reason is given; both are checked
 * against tests/vectors/passwords.json). The worker refuses a new password on them
 * without any word list; the page adds zxcvbn (app/password_strength.ts).
 */

import { sha256 } from "@noble/hashes/sha2.js";

import { BREACHED_TEXT } from "./breached_source.js";

/** CNIL deliberation 2022-100, case 2 (a second factor and throttling): 50 bits (MIN_ENTROPY_BITS). */
export const MIN_ENTROPY_BITS = 50;
/** The deliberation's character sets; any character but an ASCII digit or letter is one of its 37 specials. */
const DIGITS = 10;
const LOWERCASE = 26;
const UPPERCASE = 26;
const SPECIALS = 37;
/** Its passphrase example: 7 words for 80 bits, so 80/7 bits a word (WORD_BITS). */
export const WORD_BITS = 80 / 7;
/** Spelled out as client/passwords.py has it (\s differs between the two languages). */
const WORD_SEPARATORS = /[ \t._-]+/u;
const LETTERS_ONLY = /^\p{L}+$/u;
/** The list's keys: the first bytes of SHA-256 of the lowercase UTF-8 password (BREACHED_PREFIX_BYTES). */
const BREACHED_PREFIX_BYTES = 4;

/** Length (in code points) x log2 of the size of the character sets `text` uses. */
function characterBits(text: string): number {
  const characters = [...text];
  let alphabet = 0;
  if (characters.some((c) => c >= "0" && c <= "9")) alphabet += DIGITS;
  if (characters.some((c) => c >= "a" && c <= "z")) alphabet += LOWERCASE;
  if (characters.some((c) => c >= "A" && c <= "Z")) alphabet += UPPERCASE;
  if (characters.some((c) => !/^[0-9a-zA-Z]$/.test(c))) alphabet += SPECIALS;
  return alphabet === 0 ? 0 : characters.length * Math.log2(alphabet);
}

/**
 * The password's entropy as CNIL deliberation 2022-100 counts it (cnil_entropy_bits):
 * characters by the sets they come from, or, for words separated by spaces, dots,
 * dashes or underscores, WORD_BITS a word of letters (its letters' count if less) and
 * the characters' count of any other part.
 */
export function cnilEntropyBits(password: string): number {
  const parts = password.split(WORD_SEPARATORS).filter((part) => part.length > 0);
  if (parts.length === 1 && parts[0] === password) return characterBits(password);
  let bits = 0;
  for (const part of parts) {
    const counted = characterBits(part);
    bits += LETTERS_ONLY.test(part) ? Math.min(WORD_BITS, counted) : counted;
  }
  return bits;
}

let breached: Set<string> | undefined;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Whether the password, in any case, is in the shipped list of leaked passwords (is_breached). */
export function isBreached(password: string): boolean {
  breached ??= new Set(
    BREACHED_TEXT.split("\n")
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith("#")),
  );
  const key = sha256(new TextEncoder().encode(password.toLowerCase())).subarray(0, BREACHED_PREFIX_BYTES);
  return breached.has(hex(key));
}
