/** RFC 9162 proofs built from their definition (2.1.3.1 and 2.1.4.1), for tests that play a log. */

import { rootOf } from "../src/protocol/merkle.js";

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The inclusion proof of leaf `m` in the tree of `hashes`. */
export async function inclusionPath(m: number, hashes: Uint8Array[]): Promise<Uint8Array[]> {
  if (hashes.length <= 1) return [];
  const k = split(hashes.length);
  return m < k
    ? [...(await inclusionPath(m, hashes.slice(0, k))), await rootOf(hashes.slice(k))]
    : [...(await inclusionPath(m - k, hashes.slice(k))), await rootOf(hashes.slice(0, k))];
}

/** The proof that the tree of `hashes` extends its first `m` leaves (`complete` at the top call). */
export async function consistencyProof(m: number, hashes: Uint8Array[], complete = true): Promise<Uint8Array[]> {
  const n = hashes.length;
  if (m === n) return complete ? [] : [await rootOf(hashes)];
  const k = split(n);
  return m <= k
    ? [...(await consistencyProof(m, hashes.slice(0, k), complete)), await rootOf(hashes.slice(k))]
    : [...(await consistencyProof(m - k, hashes.slice(k), false)), await rootOf(hashes.slice(0, k))];
}
