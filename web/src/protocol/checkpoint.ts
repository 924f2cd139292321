/**
 * Checkpoints of a Merkle log as C2SP signed notes (docs/PROTOCOL.md section 9.2),
 * and the witnesses' C2SP tlog-cosignature v1 lines (section 13).
 *
 * Readers are strict: every line of the expected key must verify and one must be
 * there, no extension line, canonical numbers and base64.
 */

import { concat, constantTimeEqual, fromBase64, fromHex, readU64, toBase64, toHex, u64, u8, utf8 } from "./bytes.js";
import { ProtocolError, malformed } from "./errors.js";
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, checkPublicKey, signMessage, verifyMessage } from "./ed25519.js";
import { sha256 } from "./primitives.js";

/** The characters a key name must not hold besides "+": Unicode's White_Space, as Go's
 * unicode.IsSpace (not JavaScript's \s, which differs), the same set in every reader. */
const NAME_WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Signature types of C2SP signed-note: a log's Ed25519 signature, a witness's cosignature. */
export const NOTE_ED25519 = 0x01;
export const COSIGNATURE_ED25519 = 0x04;
export const MAX_NOTE_BYTES = 16_384;
export const MAX_SIGNATURES = 64;
const MAX_NAME_LENGTH = 200;
const MAX_INT63 = 2n ** 63n - 1n;
const EM_DASH = "\u2014";
const NAME = new RegExp(`^[!-*,-~]{1,${MAX_NAME_LENGTH}}$`); // printable ASCII, no space, no "+"
const SIZE = /^(0|[1-9][0-9]{0,18})$/;

export interface Checkpoint {
  origin: string;
  size: bigint;
  root: Uint8Array;
}

function checkName(name: string, what: string): void {
  if (!NAME.test(name)) throw malformed(`a ${what} is 1 to ${MAX_NAME_LENGTH} printable ASCII characters without spaces or '+'`);
}

/** The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]. */
export async function keyId(name: string, signatureType: number, key: Uint8Array): Promise<Uint8Array> {
  return (await sha256(concat(utf8(name), Uint8Array.of(0x0a), u8(signatureType), key))).slice(0, 4);
}

/** The verifier key `<name>+<hex key ID>+<base64(type || key)>`. */
export async function verifierKey(name: string, key: Uint8Array, signatureType = NOTE_ED25519): Promise<string> {
  checkName(name, "key name");
  return `${name}+${toHex(await keyId(name, signatureType, key))}+${toBase64(concat(u8(signatureType), key))}`;
}

/** The (name, public key) a verifier key names, after checking its key ID and the key (4.1). */
export async function parseVerifierKey(
  vkey: string,
  signatureType = NOTE_ED25519,
): Promise<{ name: string; key: Uint8Array }> {
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  // The base64 key may itself hold "+": only the first two separate fields.
  if (second < 0 || !/^[0-9a-f]{8}$/.test(vkey.slice(first + 1, second))) {
    throw malformed("a verifier key is <name>+<8 hex digits>+<base64 key>");
  }
  const name = vkey.slice(0, first);
  const hexId = vkey.slice(first + 1, second);
  checkName(name, "key name");
  const raw = fromBase64(vkey.slice(second + 1));
  if (raw.length !== 1 + PUBLIC_KEY_SIZE || raw[0] !== signatureType) {
    throw malformed("the verifier key is not an Ed25519 key of the expected type");
  }
  const key = raw.slice(1);
  checkPublicKey(key);
  if (toHex(await keyId(name, signatureType, key)) !== hexId) {
    throw malformed("the verifier key's ID does not match its name and key");
  }
  return { name, key };
}

/** The note text: three newline-terminated lines, no extension line. */
export function checkpointBody(checkpoint: Checkpoint): Uint8Array {
  checkName(checkpoint.origin, "log origin");
  if (checkpoint.size < 0n || checkpoint.size > MAX_INT63) throw malformed("a checkpoint's size is 0 to 2^63 - 1");
  if (checkpoint.root.length !== 32) throw malformed("a checkpoint's root is 32 bytes");
  return utf8(`${checkpoint.origin}\n${checkpoint.size}\n${toBase64(checkpoint.root)}\n`);
}

/** A checkpoint from a note's text, refusing anything `checkpointBody` would not write. */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") {
    throw malformed("a checkpoint is three lines (origin, size, root hash) with no extension line");
  }
  const [origin, size, root] = lines as [string, string, string, string];
  if (/[^\x00-\x7f]/.test(text)) throw malformed("a checkpoint is ASCII");
  checkName(origin, "log origin");
  if (!SIZE.test(size) || BigInt(size) > MAX_INT63) {
    throw malformed("a checkpoint's size is a decimal number without leading zeros");
  }
  const hash = fromBase64(root);
  if (hash.length !== 32) throw malformed("a checkpoint's root is 32 bytes");
  return { origin, size: BigInt(size), root: hash };
}

function signatureLine(name: string, blob: Uint8Array): string {
  return `${EM_DASH} ${name} ${toBase64(blob)}\n`;
}

/** `text` (newline-terminated) as a signed note, signed by the key named `name`. */
export async function signNote(text: string, name: string, privateKey: CryptoKey, publicKey: Uint8Array): Promise<string> {
  checkName(name, "key name");
  if (!text.endsWith("\n")) throw malformed("a note's text ends with a newline");
  const signature = await signMessage(privateKey, utf8(text));
  return `${text}\n${signatureLine(name, concat(await keyId(name, NOTE_ED25519, publicKey), signature))}`;
}

export async function signCheckpoint(checkpoint: Checkpoint, privateKey: CryptoKey, publicKey: Uint8Array): Promise<string> {
  return signNote(new TextDecoder().decode(checkpointBody(checkpoint)), checkpoint.origin, privateKey, publicKey);
}

/**
 * A signed note's text (with its final newline), unverified, and the decoded
 * signature lines of the key names in `names`; lines of other names are checked
 * only for their shape, as the format asks readers to ignore unknown keys.
 */
export function splitNote(note: string, names: ReadonlySet<string>): { text: string; signatures: [string, Uint8Array][] } {
  // In a unicode regex a paired surrogate is one code point: this finds lone ones only.
  if (/\p{Cs}/u.test(note)) throw malformed("a signed note is UTF-8 text");
  if (utf8(note).length > MAX_NOTE_BYTES) throw malformed(`a signed note is at most ${MAX_NOTE_BYTES} bytes`);
  if (/[\x00-\x09\x0b-\x1f]/.test(note)) throw malformed("a signed note holds no control character but newline");
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0 || !note.endsWith("\n")) throw malformed("a signed note is a text, a blank line and signature lines");
  const text = note.slice(0, cut + 1);
  const lines = note.slice(cut + 2, -1).split("\n");
  if (lines.length < 1 || lines.length > MAX_SIGNATURES) {
    throw malformed(`a signed note has 1 to ${MAX_SIGNATURES} signature lines`);
  }
  const signatures: [string, Uint8Array][] = [];
  for (const line of lines) {
    const parts = line.split(" ");
    const [dash, name, encoded] = parts;
    if (parts.length !== 3 || dash !== EM_DASH || !name || !encoded || name.includes("+") || NAME_WHITE_SPACE.test(name)) {
      throw malformed("a signature line is '\u2014 <key name> <base64 signature>'");
    }
    if (!names.has(name)) continue;
    const blob = fromBase64(encoded);
    if (blob.length < 5) throw malformed("a note signature is a key ID and a signature");
    signatures.push([name, blob]);
  }
  return { text, signatures };
}

/**
 * The text of `note` once the signature of the key (`name`, `key`) verifies. Lines
 * of other keys are ignored; every line with this key's name and key ID must
 * verify, and there must be one (else *invalid_signature*).
 */
export async function openNote(note: string, name: string, key: Uint8Array): Promise<string> {
  const { text, signatures } = splitNote(note, new Set([name]));
  const wanted = await keyId(name, NOTE_ED25519, key);
  let verified = false;
  for (const [lineName, blob] of signatures) {
    if (lineName === name && constantTimeEqual(blob.subarray(0, 4), wanted)) {
      await verifyMessage(key, utf8(text), blob.subarray(4));
      verified = true;
    }
  }
  if (!verified) throw new ProtocolError("invalid_signature", `the note carries no signature by the key ${name}`);
  return text;
}

/** The checkpoint in `note` once the log's signature (key name: its origin) verifies. */
export async function openCheckpoint(note: string, origin: string, logKey: Uint8Array): Promise<Checkpoint> {
  const checkpoint = parseCheckpoint(await openNote(note, origin, logKey));
  if (checkpoint.origin !== origin) throw malformed("the checkpoint is of another log");
  return checkpoint;
}

/** What a witness signs (tlog-cosignature v1): header, time line, checkpoint text. */
export function cosignatureMessage(checkpoint: Checkpoint, timestamp: bigint): Uint8Array {
  if (timestamp < 0n || timestamp > MAX_INT63) throw malformed("a cosignature's time is 0 to 2^63 - 1");
  return concat(utf8(`cosignature/v1\ntime ${timestamp}\n`), checkpointBody(checkpoint));
}

export async function cosignatureLine(name: string, witnessKey: Uint8Array, timestamp: bigint, signature: Uint8Array): Promise<string> {
  checkName(name, "witness name");
  if (signature.length !== SIGNATURE_SIZE || timestamp < 0n || timestamp > MAX_INT63) {
    throw malformed("a cosignature is a time and a 64-byte Ed25519 signature");
  }
  return signatureLine(name, concat(await keyId(name, COSIGNATURE_ED25519, witnessKey), u64(timestamp), signature));
}

/** The (time, signature) pairs the witness (`name`, `key`) appended to a note, unverified. */
export async function noteCosignatures(
  note: string,
  name: string,
  witnessKey: Uint8Array,
): Promise<{ timestamp: bigint; signature: Uint8Array }[]> {
  const wanted = await keyId(name, COSIGNATURE_ED25519, witnessKey);
  const found: { timestamp: bigint; signature: Uint8Array }[] = [];
  for (const [lineName, blob] of splitNote(note, new Set([name])).signatures) {
    if (lineName !== name || !constantTimeEqual(blob.subarray(0, 4), wanted)) continue;
    if (blob.length !== 4 + 8 + SIGNATURE_SIZE) throw malformed("a cosignature is a time and a 64-byte Ed25519 signature");
    const timestamp = readU64(blob, 4);
    if (timestamp > MAX_INT63) throw malformed("a cosignature's time is 0 to 2^63 - 1");
    found.push({ timestamp, signature: blob.slice(12) });
  }
  return found;
}

export function verifyCosignature(
  checkpoint: Checkpoint,
  witnessKey: Uint8Array,
  timestamp: bigint,
  signature: Uint8Array,
): Promise<void> {
  return verifyMessage(witnessKey, cosignatureMessage(checkpoint, timestamp), signature);
}

/** A Go-style signer key `PRIVATE+KEY+<name>+<hex id>+<base64(type || seed)>` (test vectors). */
export function parseSignerKey(skey: string): { name: string; keyId: Uint8Array; seed: Uint8Array } {
  // The base64 key may itself hold "+": only the first four separate fields.
  const parts = skey.split("+");
  if (parts.length < 5 || parts[0] !== "PRIVATE" || parts[1] !== "KEY") throw malformed("not a signer key");
  const raw = fromBase64(parts.slice(4).join("+"));
  if (raw.length !== 33 || raw[0] !== NOTE_ED25519) throw malformed("not an Ed25519 signer key");
  return { name: parts[2]!, keyId: fromHex(parts[3]!), seed: raw.slice(1) };
}
