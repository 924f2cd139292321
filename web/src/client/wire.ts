/**
 * Reading the server's JSON answers field by field, as client/wire.py parses them:
 * a field missing or of the wrong type refuses the whole answer with the refusal
 * its caller names (a hostile server's answer is checked before it is used).
 */

import { fromBase64Url } from "../protocol/bytes.js";
import { ClientRefusal, type RefusalIdentifier } from "./http.js";

export type Json = Record<string, unknown>;

/** JSON with every object's keys sorted at every level and no white space: two answers
 * that say the same compare equal (and ALTCHA signs its parameters in this form). */
export function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${sortedJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export class Wire {
  constructor(
    private readonly identifier: RefusalIdentifier,
    private readonly what: string,
  ) {}

  refuse(detail: string): ClientRefusal {
    return new ClientRefusal(this.identifier, `the server's answer for ${this.what} ${detail}`);
  }

  object(value: unknown): Json {
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw this.refuse("is not an object");
    return value as Json;
  }

  list(value: unknown): unknown[] {
    if (!Array.isArray(value)) throw this.refuse("is not a list");
    return value;
  }

  string(body: Json, name: string): string {
    const value = body[name];
    if (typeof value !== "string") throw this.refuse(`has no text ${name}`);
    return value;
  }

  optionalString(body: Json, name: string): string | null {
    const value = body[name];
    if (value === null || value === undefined) return null;
    if (typeof value !== "string") throw this.refuse(`has no text ${name}`);
    return value;
  }

  integer(body: Json, name: string): number {
    const value = body[name];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw this.refuse(`has no whole number ${name}`);
    return value;
  }

  boolean(body: Json, name: string): boolean {
    const value = body[name];
    if (typeof value !== "boolean") throw this.refuse(`has no true or false ${name}`);
    return value;
  }

  /** Base64url bytes (the wire's encoding of every byte field), of `size` bytes if given. */
  bytes(body: Json, name: string, size?: number): Uint8Array {
    const value = body[name];
    if (typeof value !== "string") throw this.refuse(`has no bytes ${name}`);
    let decoded: Uint8Array;
    try {
      decoded = fromBase64Url(value);
    } catch {
      throw this.refuse(`has no base64url ${name}`);
    }
    if (size !== undefined && decoded.length !== size) throw this.refuse(`has a ${name} of the wrong size`);
    return decoded;
  }

  optionalBytes(body: Json, name: string): Uint8Array | null {
    return body[name] === null || body[name] === undefined ? null : this.bytes(body, name);
  }

  bytesList(body: Json, name: string): Uint8Array[] {
    return this.list(body[name]).map((item) => this.bytes({ [name]: item }, name));
  }

  /** A UUID, in its canonical lower-case text. */
  uuid(body: Json, name: string): string {
    const value = this.string(body, name).toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) throw this.refuse(`has no id ${name}`);
    return value;
  }
}

/** The JSON body of a successful answer. */
export async function jsonOf(response: Response, wire: Wire): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    throw wire.refuse("is not JSON");
  }
}
