import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { sha256 } from "../src/protocol/primitives.js";
import {
  PURPOSES,
  type Reader,
  checkStartsThread,
  decodeReaders,
  decodeRevocationStatement,
  encodeManifest,
  encodeMembership,
  encodeMessageManifest,
  encodeReaders,
  encodeRevocationStatement,
  encodeShareStatement,
  verifyEncoded,
} from "../src/protocol/manifest.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("exchange.json");
const author = fromHex(vectors.author_public_key);
const readerOf = (r: any): Reader => ({ accountId: r.account_id, email: r.email });

async function checkSigned(v: any, encoded: Uint8Array, purpose: "document" | "message", label: string): Promise<void> {
  assert.equal(toHex(encoded), v.encoded, label);
  assert.equal(toHex(await sha256(encoded)), v.digest, label);
  await verifyEncoded(author, purpose, encoded, fromHex(v.signature));
  const other = purpose === "document" ? "message" : "document";
  assert.equal(await refusal(() => verifyEncoded(author, other, encoded, fromHex(v.signature))), "invalid_signature", label);
}

test("exchange.json: version manifests of both formats are encoded byte for byte and their signatures verify", async () => {
  assert.ok(vectors.manifests.length > 0 && vectors.manifests_v2.length > 0);
  for (const v of [...vectors.manifests, ...vectors.manifests_v2]) {
    const readers = v.readers ? v.readers.map(readerOf) : null;
    const encoded = encodeManifest({
      documentId: v.document_id,
      version: v.version,
      patientFileId: v.patient_file_id,
      authorId: v.author_id,
      signerKeyIndex: BigInt(v.signer_key_index),
      contentDigest: fromHex(v.content_digest),
      metadataDigest: fromHex(v.metadata_digest),
      previous: v.previous ? fromHex(v.previous) : null,
      readers,
    });
    if (readers) {
      assert.equal(toHex(encodeReaders(readers)), v.reader_list);
      assert.deepEqual(decodeReaders(fromHex(v.reader_list)), [...readers].sort((a, b) => (a.accountId < b.accountId ? -1 : 1)));
    }
    await checkSigned(v, encoded, PURPOSES.manifest, `manifest ${v.document_id} v${v.version}`);
  }
});

test("exchange.json: share and revocation statements are encoded byte for byte and verify", async () => {
  for (const v of vectors.share_statements) {
    const encoded = encodeShareStatement({
      documentId: v.document_id,
      version: v.version,
      granterId: v.granter_id,
      signerKeyIndex: BigInt(v.signer_key_index),
      recipient: readerOf(v.recipient),
      ...(v.available_from === undefined ? {} : { availableFrom: BigInt(v.available_from) }),
    });
    await checkSigned(v, encoded, PURPOSES.share, "share");
  }
  for (const v of vectors.revocation_statements) {
    const statement = {
      documentId: v.document_id,
      version: v.version,
      revokerId: v.revoker_id,
      signerKeyIndex: BigInt(v.signer_key_index),
      reader: readerOf(v.reader),
    };
    await checkSigned(v, encodeRevocationStatement(statement), PURPOSES.revocation, "revocation");
    assert.deepEqual(decodeRevocationStatement(fromHex(v.encoded)), statement);
  }
});

test("exchange.json: every refused revocation statement gets its identifier", async () => {
  assert.ok(vectors.invalid_revocation_statements.length > 0);
  for (const v of vectors.invalid_revocation_statements) {
    assert.equal(await refusal(() => decodeRevocationStatement(fromHex(v.encoded))), v.error, v.description);
  }
});

test("exchange.json: thread membership links are encoded byte for byte, verify, and the first derives its thread's id", async () => {
  assert.ok(vectors.thread_memberships.length > 0);
  for (const v of vectors.thread_memberships) {
    const link = {
      threadId: v.thread_id,
      seq: v.seq,
      actorId: v.actor_id,
      signerKeyIndex: BigInt(v.signer_key_index),
      previous: fromHex(v.previous),
      members: v.members.map(readerOf),
    };
    await checkSigned(v, encodeMembership(link), PURPOSES.membership, `membership ${v.seq}`);
    if (v.nonce) {
      await checkStartsThread(link, fromHex(v.nonce));
      assert.equal(await refusal(() => checkStartsThread(link, new Uint8Array(32))), "malformed");
    }
  }
});

test("reader lists: an unsorted list, a repeated account or trailing bytes are malformed", async () => {
  const v = vectors.manifests_v2.find((m: any) => m.readers.length > 1);
  const list = fromHex(v.reader_list);
  assert.equal(await refusal(() => decodeReaders(Uint8Array.of(...list, 0))), "malformed");
  const readers = decodeReaders(list);
  const first = encodeReaders([readers[0]!]).subarray(2);
  const second = encodeReaders([readers[1]!]).subarray(2);
  assert.equal(await refusal(() => decodeReaders(Uint8Array.of(0, 2, ...second, ...first))), "malformed");
  assert.equal(await refusal(() => decodeReaders(Uint8Array.of(0, 2, ...first, ...first))), "malformed");
});

test("exchange.json: message manifests are encoded byte for byte and verify", async () => {
  assert.ok(vectors.message_manifests.length > 0);
  for (const v of vectors.message_manifests) {
    const manifest = {
      messageId: v.message_id,
      threadId: v.thread_id,
      senderId: v.sender_id,
      signerKeyIndex: BigInt(v.signer_key_index),
      bodyDigest: fromHex(v.body_digest),
    };
    await checkSigned(v, encodeMessageManifest(manifest), PURPOSES.message, "message manifest");
    assert.equal(await refusal(async () => encodeMessageManifest({ ...manifest, bodyDigest: new Uint8Array(31) })), "malformed");
  }
});
