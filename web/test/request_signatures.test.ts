/**
 * R3: the worker signs every change it sends, an upload over the SHA-256 it declares
 * in Content-Digest (RFC 9530), which is what the server checks the body against.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, Http, SIGNATURE_REQUIRED, ServerClock } from "../src/client/http.js";
import { MemoryPinStore } from "../src/client/pins.js";
import { type HeldKeys, Session } from "../src/client/session.js";
import { toBase64, utf8 } from "../src/protocol/bytes.js";
import { signedRequestDigest } from "../src/protocol/journal.js";
import { sha256 } from "../src/protocol/primitives.js";

const ORIGIN = "https://sante.example.fr";

/** A session whose server records each request, and whose keys record what they sign. */
function recordingSession(server?: Http): { session: Session; sent: Headers[]; signed: Uint8Array[] } {
  const sent: Headers[] = [];
  const signed: Uint8Array[] = [];
  const http =
    server ??
    new Http(ORIGIN, async (_input, init) => {
      sent.push(new Headers(init?.headers));
      return new Response("{}", { status: 201, headers: { "Content-Type": "application/json" } });
    });
  const keys = {
    sign: async (_purpose: string, digest: Uint8Array) => {
      signed.push(digest);
      return new Uint8Array(64).fill(7);
    },
  } as unknown as HeldKeys;
  const session = new Session(http, { accessToken: "t", refreshToken: "r", expiresAt: Date.now() + 3_600_000 }, keys, new MemoryPinStore());
  // The signer's directory entry, as proven (PROTOCOL 10): only its index is sent.
  (session as unknown as { myEntry: () => Promise<unknown> }).myEntry = async () => ({ index: 12n });
  return { session, sent, signed };
}

/** R3 (13.0): the signing time and the nonce a request's signature covers, checked fresh and single-use. */
function signedOver(headers: Headers): [bigint, string] {
  const shape = /^12;([0-9]+);[A-Za-z0-9_-]{86}$/.exec(headers.get("UHS-Signature") ?? "");
  assert.ok(shape, "UHS-Signature is <index>;<signed_at_ms>;<signature>");
  const at = BigInt(shape[1]!);
  assert.ok(at <= BigInt(Date.now()) && at > BigInt(Date.now()) - 60_000n, "signed now");
  const key = /^"([A-Za-z0-9_-]{16,64})"$/.exec(headers.get("Idempotency-Key") ?? "");
  assert.ok(key, "a change carries its Idempotency-Key");
  return [at, key[1]!];
}

test("R3: an upload is signed over the SHA-256 it declares in Content-Digest", async () => {
  const { session, sent, signed } = recordingSession();
  const envelope = utf8("UHSE sealed bytes of a document");
  const digest = await sha256(envelope);
  await session.call("POST", "/blobs", { body: new Blob([envelope as BlobPart]), bodySha256: digest, headers: { "Content-Type": "application/octet-stream" } });
  const [headers] = sent;
  assert.equal(headers!.get("Content-Digest"), `sha-256=:${toBase64(digest)}:`);
  const [at, nonce] = signedOver(headers!);
  assert.deepEqual(signed, [await signedRequestDigest("POST", "/blobs", digest, at, nonce)]);
});

test("R3: a JSON change is signed over the bytes sent; a key lookup is not signed", async () => {
  const { session, sent, signed } = recordingSession();
  await session.call("POST", "/consents", { json: { purpose: "team" } });
  const [at, nonce] = signedOver(sent[0]!);
  assert.deepEqual(signed, [await signedRequestDigest("POST", "/consents", await sha256(utf8('{"purpose":"team"}')), at, nonce)]);
  assert.ok(sent[0]!.get("UHS-Signature"));
  assert.equal(sent[0]!.get("Content-Digest"), null);
  await session.call("POST", "/keys/lookups", { json: { emails: [] } });
  assert.equal(sent[1]!.get("UHS-Signature"), null);
  assert.equal(signed.length, 1);
});

test("R3: a device whose clock is wrong signs again at the time the server's refusal gives, and nothing else teaches it", async () => {
  let local = Date.parse("2026-11-28T10:00:00Z");
  const clock = new ServerClock(() => local);
  const stale = (serverTimeMs: unknown, status = 400, type: unknown = SIGNATURE_REQUIRED) =>
    new ApiError(status, "signed more than 10 minutes away", { type, server_time_ms: serverTimeMs });
  for (const refusal of [
    stale(-1),
    stale(1e15),
    stale("1764324000000"),
    stale(1.5),
    stale(Date.parse("2026-11-28T08:00:00Z"), 502),
    stale(Date.parse("2026-11-28T08:00:00Z"), 400, "about:blank"),
    new Error("not a refusal"),
  ]) {
    assert.equal(clock.learn(refusal), false);
  }
  assert.equal(clock.nowMs(), local);
  assert.ok(clock.learn(stale(Date.parse("2026-11-28T08:00:00Z")))); // the device is two hours fast
  local += 5_000; // moved on by the device's clock since
  assert.equal(clock.nowMs(), Date.parse("2026-11-28T08:00:05Z"));

  // The session signs again at the server's time and sends the request once more.
  const sent: Headers[] = [];
  const serverNow = Date.now() - 3 * 3_600_000;
  const http = new Http(ORIGIN, async (_input, init) => {
    sent.push(new Headers(init?.headers));
    if (sent.length === 1) {
      return new Response(JSON.stringify({ type: SIGNATURE_REQUIRED, detail: "clock", server_time_ms: serverNow }), { status: 400, headers: { "Content-Type": "application/problem+json" } });
    }
    return new Response("{}", { status: 201, headers: { "Content-Type": "application/json" } });
  });
  const { session } = recordingSession(http);
  await session.call("POST", "/consents", { json: { purpose: "team" } });
  assert.equal(sent.length, 2);
  const at = (headers: Headers) => Number(/^12;([0-9]+);/.exec(headers.get("UHS-Signature") ?? "")![1]);
  assert.ok(Math.abs(at(sent[0]!) - Date.now()) < 60_000, "first signed by the device's clock");
  assert.ok(Math.abs(at(sent[1]!) - serverNow) < 60_000, "then at the server's time");
  assert.equal(sent[1]!.get("Idempotency-Key"), sent[0]!.get("Idempotency-Key"));
});
