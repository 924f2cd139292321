import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import * as xwing from "../src/protocol/xwing.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("xwing.json");

declare global {
  /** Set by a page whose browser has WebCrypto's X-Wing (tests/web/test_browser_vectors.py). */
  var __UHS_EXPECT_NATIVE_XWING__: boolean | undefined;
}

/** Each backend this platform has, forced in turn; the best one chosen again after. */
async function eachBackend(body: (backend: xwing.Backend) => Promise<void>): Promise<void> {
  const backends: xwing.Backend[] = (await xwing.nativeAvailable()) ? ["native", "noble"] : ["noble"];
  try {
    for (const backend of backends) {
      await xwing.useBackend(backend);
      await body(backend);
    }
  } finally {
    await xwing.useBackend(null);
  }
}

test("xwing: WebCrypto's X-Wing is chosen wherever it is reported, and the fallback can be forced", async () => {
  const native = await xwing.nativeAvailable();
  if (globalThis.__UHS_EXPECT_NATIVE_XWING__) assert.ok(native, "this browser has MLKEM768-X25519");
  assert.equal(await xwing.backend(), native ? "native" : "noble");
  await xwing.useBackend("noble");
  assert.equal(await xwing.backend(), "noble");
  await xwing.useBackend(null);
  if (!native) await assert.rejects(xwing.useBackend("native"));
});

test("xwing.json: every key pair, encapsulation and decapsulation is reproduced by each backend", async () => {
  assert.ok(vectors.vectors.length > 0);
  await eachBackend(async (backend) => {
    for (const [i, v] of vectors.vectors.entries()) {
      const seed = fromHex(v.seed);
      assert.equal(v.sk, v.seed);
      assert.equal(toHex(await xwing.publicKeyOf(seed)), v.pk, `${backend} vector ${i}: public key`);
      // A derandomized encapsulation is always built from the parts.
      const { sharedSecret, ciphertext } = await xwing.encapsulate(fromHex(v.pk), fromHex(v.eseed));
      assert.equal(toHex(ciphertext), v.ct, `${backend} vector ${i}: ciphertext`);
      assert.equal(toHex(sharedSecret), v.ss, `${backend} vector ${i}: shared secret`);
      assert.equal(toHex(await xwing.decapsulate(seed, fromHex(v.ct))), v.ss, `${backend} vector ${i}: decapsulation`);
    }
  });
});

test("xwing: what one backend encapsulates, the other decapsulates", async () => {
  const seed = fromHex(vectors.vectors[0].seed);
  const publicKey = fromHex(vectors.vectors[0].pk);
  const sealed: { sharedSecret: Uint8Array; ciphertext: Uint8Array }[] = [];
  await eachBackend(async () => {
    sealed.push(await xwing.encapsulate(publicKey));
  });
  await eachBackend(async (backend) => {
    for (const { sharedSecret, ciphertext } of sealed) {
      assert.equal(toHex(await xwing.decapsulate(seed, ciphertext)), toHex(sharedSecret), backend);
    }
  });
});

test("xwing: a public key with a coefficient not below q, or a ciphertext of another length, is malformed", async () => {
  const v = vectors.vectors[0];
  const pk = fromHex(v.pk);
  pk[0] = 0xff;
  pk[1] = 0x0f; // first coefficient 4095
  await eachBackend(async (backend) => {
    assert.equal(await refusal(() => xwing.encapsulate(pk)), "malformed", backend);
    assert.equal(await refusal(() => xwing.decapsulate(fromHex(v.seed), fromHex(v.ct).subarray(1))), "malformed", backend);
  });
});

test("xwing: an all-zero X25519 output is a decryption failure in both directions, whatever the encoding of the point", async () => {
  const v = vectors.vectors[0];
  const p = 2n ** 255n - 19n;
  const littleEndian = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  const smallOrder = [0n, 1n, p - 1n, p, p + 1n, 2n ** 255n, 325606250916557431795983626356110631294008115727848805560023387167927233504n];
  await eachBackend(async (backend) => {
    for (const u of smallOrder) {
      const ct = fromHex(v.ct);
      ct.set(littleEndian(u), 1088);
      assert.equal(await refusal(() => xwing.decapsulate(fromHex(v.seed), ct)), "decryption_failed", `${backend} ct_X ${u}`);
      const pk = fromHex(v.pk);
      pk.set(littleEndian(u), 1184);
      assert.equal(await refusal(() => xwing.encapsulate(pk)), "decryption_failed", `${backend} pk_X ${u}`);
    }
  });
});
