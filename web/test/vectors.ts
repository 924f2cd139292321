/** Loads the project's vector files (tests/vectors/*.json), the contract both implementations meet. */

import { readVectorText } from "./vector_source.js";

export function loadVectors<T = any>(name: string): T {
  // Sizes up to 2^63 - 1 do not fit a double: integers of 16 digits or more are read
  // as strings, for BigInt().
  const text = readVectorText(name).replace(/(:\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
  return JSON.parse(text) as T;
}

/** Runs `action` and returns the identifier it was refused with, or null if it succeeded. */
export async function refusal(action: () => unknown): Promise<string | null> {
  try {
    await action();
    return null;
  } catch (error) {
    const identifier = (error as { identifier?: unknown }).identifier;
    if (typeof identifier !== "string") throw error;
    return identifier;
  }
}

/**
 * As `refusal`, but an error without an identifier counts as "internal" (what the
 * worker answers for it) instead of failing the test.
 */
export async function outcome(action: () => unknown): Promise<string | null> {
  try {
    return await refusal(action);
  } catch {
    return "internal";
  }
}
