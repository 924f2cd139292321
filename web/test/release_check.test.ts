import assert from "node:assert/strict";
import { test } from "node:test";

import { toBase64Url, toHex, utf8 } from "../src/protocol/bytes.js";
import { signCheckpoint, verifierKey } from "../src/protocol/checkpoint.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { leafHash, nodeHash } from "../src/protocol/merkle.js";
import { sha256 } from "../src/protocol/primitives.js";
import { ReleaseRefused, assetLeaf, checkRelease } from "../src/release_check.js";

const ORIGIN = "sante.example.fr/web";
const PAGE = utf8("<!doctype html><title>U-HealthSec</title>");
const SCRIPT = utf8("export {};\n");

/** A two-file release, as the server serves it, signed by the key of `seed`. */
async function release(seed: number, origin = ORIGIN) {
  const log = await importSigningSeed(new Uint8Array(32).fill(seed));
  const files: [string, Uint8Array][] = [["index.html", PAGE], ["assets/index-AbCdEf12.js", SCRIPT]];
  const hashes = await Promise.all(files.map(async ([, bytes]) => toHex(await sha256(bytes))));
  const leaves = await Promise.all(files.map(([path], i) => leafHash(assetLeaf(path, hashes[i]!))));
  const root = await nodeHash(leaves[0]!, leaves[1]!);
  return {
    log_key: await verifierKey(origin, log.publicKey),
    checkpoint: await signCheckpoint({ origin, size: 2n, root }, log.privateKey, log.publicKey),
    consistency: [],
    assets: files.map(([path], i) => ({ path, sha256: hashes[i]!, index: i, inclusion: [toBase64Url(leaves[1 - i]!)] })),
  };
}

const served = new Map([["index.html", PAGE], ["assets/index-AbCdEf12.js", SCRIPT]]);

test("the files a page loaded are accepted when the log holds them, and the log pinned", async () => {
  const pin = await checkRelease(await release(1), undefined, served);
  assert.equal(pin.origin, ORIGIN);
  assert.equal(pin.size, "2");
  assert.deepEqual(await checkRelease(await release(1), pin, served), pin);
});

test("a changed file, a file the log does not list, another key, a forked log or another log are refused", async () => {
  const pin = await checkRelease(await release(1), undefined, served);
  const refusals: [() => Promise<unknown>, RegExp][] = [
    [async () => checkRelease(await release(1), pin, new Map([["index.html", utf8("<p>autre</p>")]])), /index.html is not the file/],
    [async () => checkRelease(await release(1), pin, new Map([["assets/extra.js", SCRIPT]])), /assets\/extra.js is not in the web release log/],
    [async () => checkRelease(await release(2), pin, served), /another key/],
    [async () => checkRelease(await release(1), { ...pin, root: "00".repeat(32) }, served), /does not extend the one seen before/],
    [async () => checkRelease(await release(1, "sante.example.fr/keys"), undefined, served), /not a web release log/],
  ];
  for (const [check, message] of refusals) {
    await assert.rejects(check, (e: Error) => e instanceof ReleaseRefused && message.test(e.message), message.source);
  }
  const forged = await release(1);
  forged.assets[0]!.sha256 = toHex(await sha256(utf8("<p>autre</p>")));
  await assert.rejects(checkRelease(forged, undefined, new Map([["index.html", utf8("<p>autre</p>")]])), /index.html is not in the web release log's checkpoint/);
});
