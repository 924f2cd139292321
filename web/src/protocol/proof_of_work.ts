/**
 * The client's side of the proof of work (docs/PROTOCOL.md section 14): an ALTCHA
 * v2 challenge with Argon2id, solved by trying counters from 0.
 *
 * The challenge comes from a server that may be hostile: its parameters are
 * checked against the client's bounds before any key is derived, and the number of
 * tries is bounded, so it can neither make the page allocate more than 64 MiB nor
 * keep it busy forever.
 */

import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { argon2id as wasmArgon2id } from "hash-wasm";

import { concat, fromHex, toBase64, toHex, u32, utf8 } from "./bytes.js";

export const HEADER = "UHS-Proof-Of-Work";
export const ALGORITHM = "ARGON2ID";
/** 64 MiB: eight times what the server asks, the size of the client's own password KDF. */
export const MAX_MEMORY_KIB = 64 * 1024;
export const MAX_TIME_COST = 4;
export const MAX_PARALLELISM = 4;
/** KiB x passes over all tries of one challenge: 2,048 tries at the server's parameters. */
export const MAX_WORK_KIB = 2048 * 8192;
/** Tries of one challenge whatever its memory: each try also costs a fixed time. */
export const MAX_TRIES = 2048;
const HEX = /^(?:[0-9a-f]{2}){1,64}$/;

export class UnsolvableChallenge extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsolvableChallenge";
  }
}

export interface Challenge {
  parameters: Record<string, unknown>;
  signature: string;
  [key: string]: unknown;
}

export interface Solution {
  counter: number;
  derivedKey: string;
}

function integer(parameters: Record<string, unknown>, name: string, low: number, high: number): number {
  const value = parameters[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new UnsolvableChallenge(`the server's challenge has no integer ${name}`);
  }
  if (value < low || value > high) {
    throw new UnsolvableChallenge(`the server's challenge asks ${name}=${value}, this client accepts ${low} to ${high}`);
  }
  return value;
}

function hex(parameters: Record<string, unknown>, name: string): Uint8Array {
  const value = parameters[name];
  if (typeof value !== "string" || !HEX.test(value)) throw new UnsolvableChallenge(`the server's challenge has no hex ${name}`);
  return fromHex(value);
}

async function deriveKey(
  password: Uint8Array,
  salt: Uint8Array,
  passes: number,
  memoryKib: number,
  lanes: number,
  keyLength: number,
): Promise<Uint8Array> {
  try {
    return await wasmArgon2id({
      password,
      salt,
      iterations: passes,
      memorySize: memoryKib,
      parallelism: lanes,
      hashLength: keyLength,
      outputType: "binary",
    });
  } catch (error) {
    if (typeof WebAssembly !== "undefined" && !(error instanceof WebAssembly.CompileError)) throw error;
    return nobleArgon2id(password, salt, { t: passes, m: memoryKib, p: lanes, dkLen: keyLength });
  }
}

/** Finds the counter whose Argon2id key starts with `keyPrefix`; refuses a challenge out of bounds. */
export async function solve(challenge: Challenge): Promise<Solution> {
  const parameters = challenge?.parameters;
  if (typeof parameters !== "object" || parameters === null || parameters["algorithm"] !== ALGORITHM) {
    throw new UnsolvableChallenge("the server asks for an unknown proof of work");
  }
  const memory = integer(parameters, "memoryCost", 8, MAX_MEMORY_KIB);
  const passes = integer(parameters, "cost", 1, MAX_TIME_COST);
  const lanes = integer(parameters, "parallelism", 1, MAX_PARALLELISM);
  const keyLength = integer(parameters, "keyLength", 16, 64);
  const nonce = hex(parameters, "nonce");
  const salt = hex(parameters, "salt");
  const prefix = hex(parameters, "keyPrefix");
  if (memory < 8 * lanes || salt.length < 8 || prefix.length > keyLength) {
    throw new UnsolvableChallenge("the server's challenge has impossible parameters");
  }
  const tries = Math.min(MAX_TRIES, Math.floor(MAX_WORK_KIB / (memory * passes)));
  const prefixHex = toHex(prefix);
  for (let counter = 0; counter < tries; counter++) {
    const key = await deriveKey(concat(nonce, u32(counter)), salt, passes, memory, lanes, keyLength);
    if (toHex(key.subarray(0, prefix.length)) === prefixHex) return { counter, derivedKey: toHex(key) };
  }
  throw new UnsolvableChallenge("the server's challenge costs more than this client spends");
}

/** The header value: base64 of `{"challenge": <as served>, "solution": {...}}`. */
export function headerValue(challenge: Challenge, solution: Solution): string {
  return toBase64(utf8(JSON.stringify({ challenge, solution })));
}
