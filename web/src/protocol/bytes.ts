/** Byte helpers: hex, base64, big-endian integers, concatenation, constant-time comparison. */

import { malformed } from "./errors.js";

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function u8(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError("u8 out of range");
  return Uint8Array.of(n);
}

export function u16(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError("u16 out of range");
  return Uint8Array.of(n >>> 8, n & 0xff);
}

export function u32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError("u32 out of range");
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

export function u64(n: bigint): Uint8Array {
  if (n < 0n || n >= 1n << 64n) throw new RangeError("u64 out of range");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

export function readU16(data: Uint8Array, offset: number): number {
  return ((data[offset] ?? 0) << 8) | (data[offset + 1] ?? 0);
}

export function readU32(data: Uint8Array, offset: number): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(offset, false);
}

export function readU64(data: Uint8Array, offset: number): bigint {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(offset, false);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(data: Uint8Array): string {
  let out = "";
  for (const byte of data) out += HEX[byte];
  return out;
}

export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw malformed("not hexadecimal");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, refusing invalid sequences rather than replacing them. */
export function fromUtf8(data: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw malformed("not valid UTF-8");
  }
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_INDEX = new Map(Array.from(BASE64, (c, i) => [c, i] as const));

const BASE64_ASCII = utf8(BASE64);
const PAD = 0x3d; // "="

/** Standard padded base64 (RFC 4648 section 4). */
export function toBase64(data: Uint8Array): string {
  return new TextDecoder().decode(toBase64Ascii(data));
}

/**
 * Standard padded base64 as ASCII bytes: what toBase64 gives, without a string, for
 * large data written out as it is encoded (the patient's export).
 */
export function toBase64Ascii(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 3) * 4);
  let o = 0;
  for (let i = 0; i < data.length; i += 3) {
    const a = data[i]!;
    const b = data[i + 1] ?? 0;
    const c = data[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    out[o++] = BASE64_ASCII[n >> 18]!;
    out[o++] = BASE64_ASCII[(n >> 12) & 63]!;
    out[o++] = i + 1 < data.length ? BASE64_ASCII[(n >> 6) & 63]! : PAD;
    out[o++] = i + 2 < data.length ? BASE64_ASCII[n & 63]! : PAD;
  }
  return out;
}

/**
 * Standard padded base64, canonical only: the padding is present and the unused
 * bits of the last character are zero, so that one value has one encoding.
 */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw malformed("base64 length is not a multiple of 4");
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const lastGroup = i + 4 === text.length;
    const values: number[] = [];
    for (let j = 0; j < 4; j++) {
      const c = text[i + j]!;
      if (c === "=" && lastGroup && j >= 4 - padding) {
        values.push(0);
        continue;
      }
      const v = BASE64_INDEX.get(c);
      if (v === undefined) throw malformed("not base64");
      values.push(v);
    }
    const n = (values[0]! << 18) | (values[1]! << 12) | (values[2]! << 6) | values[3]!;
    if (lastGroup && padding === 2 && (n & 0xffff) !== 0) throw malformed("non-canonical base64");
    if (lastGroup && padding === 1 && (n & 0xff) !== 0) throw malformed("non-canonical base64");
    out[o++] = (n >> 16) & 0xff;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}

/** Compares in time that depends on the lengths only. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return constantTimeEqual(a, b);
}

/** Unpadded base64url (RFC 4648 section 5), as the API's JSON carries binary values. */
export function toBase64Url(data: Uint8Array): string {
  return toBase64(data).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Unpadded base64url, strictly: no other alphabet, no padding, canonical trailing bits. */
export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw malformed("not unpadded base64url");
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return fromBase64(padded);
}

/** The 16 bytes of a UUID written in text (hyphens anywhere are ignored). */
export function uuidBytes(id: string): Uint8Array {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw malformed("not a UUID");
  return fromHex(hex);
}

/** A UUID's 16 bytes in its canonical text form (lower case, hyphenated). */
export function uuidText(bytes: Uint8Array): string {
  const h = toHex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
