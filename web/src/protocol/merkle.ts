/**
 * Merkle trees of RFC 9162 section 2.1 with SHA-256 (docs/PROTOCOL.md section 9):
 * tree hashes, and verification of inclusion and consistency proofs.
 */

import { concat, constantTimeEqual } from "./bytes.js";
import { ProtocolError } from "./errors.js";
import { sha256 } from "./primitives.js";

export const HASH_SIZE = 32;

function invalidProof(message: string): ProtocolError {
  return new ProtocolError("invalid_proof", message);
}

export function leafHash(data: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(0x00), data));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** MTH over leaf hashes held in memory: the largest power of two below n splits. */
export async function rootOf(leafHashes: readonly Uint8Array[]): Promise<Uint8Array> {
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  if (leafHashes.length === 1) return leafHashes[0]!;
  let k = 1;
  while (k * 2 < leafHashes.length) k *= 2;
  return nodeHash(await rootOf(leafHashes.slice(0, k)), await rootOf(leafHashes.slice(k)));
}

/**
 * The MTH of the leaves added so far, kept as a stack of perfect subtree roots (one
 * per set bit of the size, largest first): memory O(log n), and folding the stack
 * right to left at any point gives the MTH of the leaves so far (RFC 9162 2.1.1).
 */
export class RootBuilder {
  private readonly subtrees: { size: bigint; hash: Uint8Array }[] = [];
  size = 0n;

  async add(leaf: Uint8Array): Promise<void> {
    let node = { size: 1n, hash: leaf };
    for (let last = this.subtrees.at(-1); last !== undefined && last.size === node.size; last = this.subtrees.at(-1)) {
      this.subtrees.pop();
      node = { size: last.size * 2n, hash: await nodeHash(last.hash, node.hash) };
    }
    this.subtrees.push(node);
    this.size += 1n;
  }

  /** How many subtree roots are held (the bits set in the size). */
  get depth(): number {
    return this.subtrees.length;
  }

  async root(): Promise<Uint8Array> {
    if (this.subtrees.length === 0) return sha256(new Uint8Array(0));
    let hash = this.subtrees.at(-1)!.hash;
    for (let i = this.subtrees.length - 2; i >= 0; i--) hash = await nodeHash(this.subtrees[i]!.hash, hash);
    return hash;
  }
}

function checkHashes(values: readonly Uint8Array[]): void {
  for (const value of values) {
    if (value.length !== HASH_SIZE) throw invalidProof("a Merkle tree hash is 32 bytes");
  }
}

// Sizes and indices up to 2^63 - 1 (checkpoints allow them): bigint, not number.
type Count = bigint | number;

/** Refuses (*invalid_proof*) unless `proof` shows leaf hash `leaf` at `index` under `root` (RFC 9162 2.1.3.2). */
export async function verifyInclusion(
  leaf: Uint8Array,
  index: Count,
  size: Count,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Promise<void> {
  checkHashes([leaf, ...proof]);
  const leafIndex = BigInt(index);
  const treeSize = BigInt(size);
  if (leafIndex < 0n || leafIndex >= treeSize) throw invalidProof(`leaf ${leafIndex} is outside a tree of ${treeSize} leaves`);
  let fn = leafIndex;
  let sn = treeSize - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw invalidProof("the inclusion proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n || !constantTimeEqual(r, root)) {
    throw invalidProof(`leaf ${leafIndex} is not in the tree of ${treeSize} leaves with this root`);
  }
}

/**
 * Refuses (*invalid_proof*) unless the tree with `newRoot` extends the one with
 * `oldRoot` (RFC 9162 2.1.4.2); a proof from size 0 is refused, between equal
 * sizes the proof is empty and the roots equal.
 */
export async function verifyConsistency(
  oldSize: Count,
  newSize: Count,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): Promise<void> {
  checkHashes(proof);
  const size1 = BigInt(oldSize);
  const size2 = BigInt(newSize);
  if (size1 <= 0n || size2 < size1) throw invalidProof(`no consistency proof goes from ${size1} to ${size2} leaves`);
  if (size1 === size2) {
    if (proof.length > 0 || !constantTimeEqual(oldRoot, newRoot)) {
      throw invalidProof(`two different trees claim the same size ${size1}`);
    }
    return;
  }
  if (proof.length === 0) throw invalidProof("the consistency proof is empty");
  const path = (size1 & (size1 - 1n)) === 0n ? [oldRoot, ...proof] : [...proof];
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) throw invalidProof("the consistency proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n || !constantTimeEqual(fr, oldRoot) || !constantTimeEqual(sr, newRoot)) {
    throw invalidProof(`the tree of ${size2} leaves does not extend the tree of ${size1} leaves`);
  }
}
