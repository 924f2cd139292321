/**
 * The search analyser (docs/PROTOCOL.md, "Search analyser"): the keywords a text, a
 * name or a date is indexed under, and the keywords a query looks for. The same rules
 * as the Python SDK's (uhealthsec/protocol/search_text.py), token for token, so that a
 * document indexed by one client is found by the other: tests/vectors/search.json.
 * Pure functions; no I/O.
 */

import FrenchStemmer from "./snowball/french-stemmer.js";

/** Longer words are not indexed (they are not words: identifiers, base64, noise). */
export const MAX_WORD_CHARS = 40;
/** Shortest name prefix indexed ("pet" finds Petit). */
export const MIN_PREFIX_CHARS = 3;
/** Longest name prefix indexed (the whole name word is indexed however long). */
export const MAX_PREFIX_CHARS = 20;

// Folded (lowercase, accents removed) French and English stop words: the Python list.
const FRENCH_STOP_WORDS = `
    au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma
    mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses
    son sur ta te tes toi ton tu un une vos votre vous c d j l m n s t y ete etee etees
    etes etant suis es est sommes sont serai sera serons seront serais serait etais
    etait etions etaient fus fut ai as avons avez ont aurai aura aurons auront aurais
    aurait avais avait avions avaient eu eue eus cet cette ceci cela ca donc or ni car
    si tres plus sans sous chez comme aussi alors ainsi dont lors leurs quel quelle
    quels quelles
    madame mme monsieur mademoiselle mlle docteur dr professeur pr
`;
const ENGLISH_STOP_WORDS = `
    a an and are as at be been being but by can could did do does doing for from had
    has have having he her hers him his how i if in into is it its itself me my no nor
    not of off on once only or other our ours out over own she should so some such than
    that the their theirs them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would
    you your yours mr mrs ms
`;
export const STOP_WORDS: ReadonlySet<string> = new Set(`${FRENCH_STOP_WORDS} ${ENGLISH_STOP_WORDS}`.split(/\s+/).filter((w) => w !== ""));

/** Letters that Unicode does not decompose into a base letter and a mark. */
const LIGATURES: Readonly<Record<string, string>> = { "œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l" };
const LIGATURE = /[œæßøđł]/gu;
const COMBINING_MARK = /\p{Mn}/gu;
const WORD_CHAR = /^[\p{L}\p{N}\p{M}]$/u;
const DIGITS = /^\p{Nd}+$/u;
// Python's re on str: [0-9] is ASCII only, as here.
const ISO_DATE = /(?<![0-9])([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?(?![0-9])/g;

let stemmer: FrenchStemmer | null = null;

/** Characters (code points), as Python's len() counts them. */
function length(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** Lowercase, accents removed: NFD, combining marks (Mn) dropped, ligatures spelled out, NFC. */
export function fold(text: string): string {
  const bare = text.toLowerCase().normalize("NFD").replace(COMBINING_MARK, "");
  return bare.replace(LIGATURE, (c) => LIGATURES[c] ?? c).normalize("NFC");
}

/** NFKC, lowercase, then the maximal runs of letters, digits and marks (Unicode general
 * categories L*, N*, M*), in order. */
export function words(text: string): string[] {
  const found: string[] = [];
  let current = "";
  for (const c of text.normalize("NFKC").toLowerCase()) {
    if (WORD_CHAR.test(c)) current += c;
    else if (current !== "") {
      found.push(current);
      current = "";
    }
  }
  if (current !== "") found.push(current);
  return found;
}

/** The folded word, or null for a stop word, a one-character or an overlong word. */
function kept(word: string): string | null {
  const folded = fold(word);
  const size = length(folded);
  if (size < 2 || size > MAX_WORD_CHARS || STOP_WORDS.has(folded)) return null;
  return folded;
}

/** The French Snowball stem, folded. Snowball's rules read accents, so the lowercase
 * word is stemmed before its stem is folded; numbers are kept as they are. */
export function stem(word: string, folded: string = fold(word)): string {
  if (DIGITS.test(folded)) return folded;
  stemmer ??= new FrenchStemmer();
  return fold(stemmer.stemWord(word)) || folded;
}

function dateTokens(match: RegExpMatchArray): string[] {
  const [, year, month, day] = match;
  const tokens = [year!, `${year}-${month}`];
  if (day !== undefined) tokens.push(`${year}-${month}-${day}`);
  return tokens;
}

/** The keywords of free text (title, file name, type, body): each kept word's stem; and
 * each ISO date (YYYY-MM or YYYY-MM-DD) found in it, as dateKeywords. */
export function textKeywords(text: string): Set<string> {
  const keywords = new Set<string>();
  for (const match of text.matchAll(ISO_DATE)) for (const token of dateTokens(match)) keywords.add(token);
  for (const word of words(text)) {
    const folded = kept(word);
    if (folded !== null) keywords.add(stem(word, folded));
  }
  return keywords;
}

/** The keywords of a person's name (patient, author): each word's stem, the folded word,
 * and its prefixes of 3 to 20 characters. */
export function nameKeywords(name: string): Set<string> {
  const keywords = new Set<string>();
  for (const word of words(name)) {
    const folded = kept(word);
    if (folded === null) continue;
    keywords.add(stem(word, folded));
    keywords.add(folded);
    const chars = [...folded];
    for (let size = MIN_PREFIX_CHARS; size <= Math.min(chars.length, MAX_PREFIX_CHARS); size++) {
      keywords.add(chars.slice(0, size).join(""));
    }
  }
  return keywords;
}

/** A date ("YYYY-MM-DD"): its year, year-month and year-month-day. */
export function dateKeywords(day: string): Set<string> {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(day);
  if (match === null) throw new RangeError("a date is YYYY-MM-DD");
  return new Set(dateTokens(match));
}

/** What a query looks for: one term per kept word (and per ISO date), each the set of
 * keywords any of which matches it: the word's stem and the folded word (so that a name
 * or a name's prefix typed whole is found). A document matches when it matches every term. */
export function queryTerms(query: string): string[][] {
  const terms: string[][] = [];
  const add = (term: string[]): void => {
    const sorted = [...new Set(term)].sort(compareUtf8);
    if (!terms.some((t) => t.length === sorted.length && t.every((w, i) => w === sorted[i]))) terms.push(sorted);
  };
  // Python keeps every date term, duplicates included; a duplicate changes no result.
  for (const match of query.matchAll(ISO_DATE)) terms.push([match[0]]);
  for (const word of words(query.replace(ISO_DATE, " "))) {
    const folded = kept(word);
    if (folded !== null) add([stem(word, folded), folded]);
  }
  return terms;
}

export interface DocumentFacts {
  title?: string;
  filename?: string;
  mediaType?: string;
  patient?: string;
  author?: string;
  /** YYYY-MM-DD */
  day?: string;
  text?: string;
}

/** Strings in the order of their UTF-8 bytes (that of their code points), as Python sorts them. */
export function compareUtf8(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Every keyword a document is indexed under, at most `limit`: every keyword of the title,
 * file name, type, names and date, then those of the text in the order of their UTF-8
 * bytes (the SDK's DocumentFacts.keywords). */
export function documentKeywords(facts: DocumentFacts, limit: number): Set<string> {
  const described = new Set<string>();
  for (const text of [facts.title ?? "", facts.filename ?? "", facts.mediaType ?? ""]) {
    for (const w of textKeywords(text)) described.add(w);
  }
  for (const name of [facts.patient ?? "", facts.author ?? ""]) {
    if (name !== "") for (const w of nameKeywords(name)) described.add(w);
  }
  if (facts.day !== undefined) for (const w of dateKeywords(facts.day)) described.add(w);
  const text = [...textKeywords(facts.text ?? "")].filter((w) => !described.has(w)).sort(compareUtf8);
  const room = Math.max(limit - described.size, 0);
  return new Set([...described, ...text.slice(0, room)]);
}

/** FHIR elements whose strings are identifiers, addresses, codes of the format itself or
 *  encoded bytes (an attachment's `data`), not words of the record. */
export const FHIR_SKIPPED_ELEMENTS: ReadonlySet<string> = new Set([
  "resourceType", "id", "reference", "system", "url", "fullUrl", "data", "contentType",
  "language", "versionId", "profile", "lastUpdated", "status",
]);
/** Deeper values are not read (no resource of the specification nests this deep). */
export const MAX_FHIR_DEPTH = 32;
/** JSON nested deeper than this is not read at all: both clients' parsers then agree. */
export const MAX_FHIR_JSON_NESTING = 512;
const XHTML_TAG = /<[^>]*>/g;
const XML_ENTITY = /&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);/g;
const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function entity(_match: string, name: string): string {
  const named = NAMED_ENTITIES[name];
  if (named !== undefined) return named;
  const point = name[1] === "x" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  // Nothing that is not a character (NUL, a lone surrogate, past U+10FFFF).
  return point > 0 && point <= 0x10ffff && !(point >= 0xd800 && point <= 0xdfff) ? String.fromCodePoint(point) : " ";
}

/** The text of a FHIR resource (JSON, as parsed) to index: every string value but those of
 *  FHIR_SKIPPED_ELEMENTS, the narrative (`div`) without its tags and with its character
 *  references read, one per line. Numbers and booleans are not text (protocol/search_text.py). */
export function fhirText(resource: unknown): string {
  const parts: string[] = [];
  const walk = (value: unknown, element: string, depth: number): void => {
    if (depth > MAX_FHIR_DEPTH) return;
    if (typeof value === "string") {
      if (element === "div") parts.push(value.replace(XHTML_TAG, " ").replace(XML_ENTITY, entity));
      else if (!FHIR_SKIPPED_ELEMENTS.has(element)) parts.push(value);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, element, depth + 1);
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) walk(item, key, depth + 1);
    }
  };
  walk(resource, "", 0);
  return parts.join("\n");
}

/** Whether no object or array of the JSON `raw` lies deeper than `limit`. */
function nestingWithin(raw: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const byte of raw) {
    if (inString) {
      if (escaped) escaped = false;
      else if (byte === 0x5c) escaped = true;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      depth += 1;
      if (depth > limit) return false;
    } else if (byte === 0x5d || byte === 0x7d) depth -= 1;
  }
  return true;
}

/**
 * `fhirText` of a file holding a FHIR resource: strict UTF-8 JSON (one BOM allowed),
 * nested at most MAX_FHIR_JSON_NESTING deep, an object whose `resourceType` is a
 * string. Anything else: no text (protocol/search_text.py fhir_resource_text).
 */
export function fhirResourceText(raw: Uint8Array): string {
  if (!nestingWithin(raw, MAX_FHIR_JSON_NESTING)) return "";
  let resource: unknown;
  try {
    resource = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    return "";
  }
  const isResource = resource !== null && typeof resource === "object" && !Array.isArray(resource)
    && typeof (resource as { resourceType?: unknown }).resourceType === "string";
  return isResource ? fhirText(resource) : "";
}
