import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { open, openStream, seal } from "../src/protocol/envelope.js";
import { bytesSink, bytesSource } from "../src/protocol/streams.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("envelope.json");

test("envelope: every valid vector is reproduced byte for byte and opens", async () => {
  assert.ok(vectors.valid.length > 0);
  for (const v of vectors.valid) {
    const key = fromHex(v.document_key);
    const sealed = await seal(key, fromHex(v.plaintext), {
      chunkLog2: v.chunk_log2,
      salt: fromHex(v.salt),
      noncePrefix: fromHex(v.nonce_prefix),
    });
    assert.equal(toHex(sealed), v.envelope, v.description);
    const opened = await open(key, fromHex(v.envelope));
    assert.equal(toHex(opened.plaintext), v.plaintext, v.description);
    assert.equal(toHex(opened.contentDigest), v.content_digest, v.description);
  }
});

test("envelope: every invalid vector is refused with its identifier", async () => {
  assert.ok(vectors.invalid.length > 0);
  for (const v of vectors.invalid) {
    const got = await refusal(() => open(fromHex(v.document_key), fromHex(v.envelope)));
    assert.equal(got, v.error, v.description);
  }
});

test("envelope: reading does not depend on how the source is sliced", async () => {
  for (const v of [...vectors.valid, ...vectors.invalid]) {
    const envelope = fromHex(v.envelope);
    // Byte-by-byte reads only for the short ones: the branch points are the same.
    for (const slice of envelope.length < 1024 ? [1, 7, 4113] : [7, 4113]) {
      const out = bytesSink();
      const got = await refusal(() => openStream(fromHex(v.document_key), bytesSource(envelope, slice), out.sink));
      assert.equal(got, v.error ?? null, `${v.description}, slices of ${slice}`);
    }
  }
});
