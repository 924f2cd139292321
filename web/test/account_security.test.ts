/**
 * The signed-in account's sensitive changes in the worker (client/account_security.ts),
 * against a server faked around the keystore.json vector: a password change re-seals
 * the same keys under the new password and signs the statement the server checks
 * (16.2); a wrong current password or a weak new one is refused before anything is
 * sent; a server that serves a keystore of other keys than the session's gets nothing
 * signed. Only the step-up's own problem type reads as a step-up to ask for. An
 * access token, a step-up's or a refresh's, is refreshed by 900 s whatever the server
 * says of its lifetime. Recovery codes that are not codes are refused, not printed.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { changeAccountPassword } from "../src/client/account_security.js";
import { ACCESS_TOKEN_LONGEST_SECONDS, refresh } from "../src/client/auth.js";
import { ApiError, Http, STEP_UP_REQUIRED } from "../src/client/http.js";
import { MemoryPinStore } from "../src/client/pins.js";
import { recoveryCodesIn } from "../src/client/registration.js";
import { type HeldKeys, Session } from "../src/client/session.js";
import { keystoreChangeDigest, verifyKeystoreChange } from "../src/protocol/account_changes.js";
import { fromBase64Url, fromHex, toBase64Url } from "../src/protocol/bytes.js";
import { decodeBundle, encodePrivateKeys } from "../src/protocol/keys.js";
import { decodeKeystore, unlockWithPassword } from "../src/protocol/keystore.js";
import { Wire } from "../src/client/wire.js";
import { loadVectors, refusal } from "./vectors.js";

const ORIGIN = "https://sante.example.fr";
const ACCOUNT_ID = "0b7e2f4c-9a51-4d3e-8f60-2c1d5e7a9b13";
const NEW_PASSWORD = "lanterne orageuse sur le quai";
const vector = loadVectors("keystore.json").vectors[0]!;
const KEYSTORE = fromHex(vector.keystore as string);
const BUNDLE = fromHex(vector.public_bundle as string);

/** A signed-in session whose server serves `served` as the account's keystore; the changes PUT to it. */
function sessionServing(served: Uint8Array) {
  const sent: Record<string, string>[] = [];
  const http = new Http(ORIGIN, async (input: string) => {
    if (new URL(input).pathname !== "/accounts/me/keystore") return new Response(null, { status: 404 });
    return new Response(JSON.stringify({ keystore: toBase64Url(served) }), { status: 200, headers: { "Content-Type": "application/json" } });
  });
  const session = {
    http,
    accessToken: async () => "token",
    account: async () => ({ id: ACCOUNT_ID, email: "claire.martin@example.fr", name: "Claire Martin", kind: "practitioner" }),
    call: async (method: string, path: string, options: { json?: Record<string, string> }) => {
      assert.equal(`${method} ${path}`, "PUT /accounts/me/password");
      sent.push(options.json!);
      return new Response(null, { status: 204 });
    },
  } as unknown as Session;
  return { session, sent };
}

const identity = ["claire.martin@example.fr", "Claire Martin"];

test("a password change re-seals the same keys under the new password and signs the change", async () => {
  const { session, sent } = sessionServing(KEYSTORE);
  await changeAccountPassword(session, BUNDLE, vector.password as string, NEW_PASSWORD, identity);
  assert.equal(sent.length, 1);
  const body = sent[0]!;
  const resealed = fromBase64Url(body["keystore"]!);
  const authSecret = fromBase64Url(body["auth_secret"]!);
  // The same keys, opened with the new password only; the old one no longer opens it.
  const opened = await unlockWithPassword(decodeKeystore(resealed), NEW_PASSWORD);
  assert.deepEqual(encodePrivateKeys(opened.keys), fromHex(vector.private_keys as string));
  assert.deepEqual(opened.authSecret, authSecret);
  assert.equal(await refusal(() => unlockWithPassword(decodeKeystore(resealed), vector.password as string)), "wrong_password");
  // What the server checks (16.2): the signature over both keystores and the new secret.
  const digest = await keystoreChangeDigest(ACCOUNT_ID, KEYSTORE, resealed, authSecret);
  await verifyKeystoreChange(decodeBundle(BUNDLE).signing, digest, fromBase64Url(body["signature"]!));
});

test("a wrong current password or a weak new one is refused here, and nothing is sent", async () => {
  const { session, sent } = sessionServing(KEYSTORE);
  assert.equal(await refusal(() => changeAccountPassword(session, BUNDLE, "not the password", NEW_PASSWORD, identity)), "wrong_password");
  assert.equal(await refusal(() => changeAccountPassword(session, BUNDLE, vector.password as string, "court", identity)), "weak_password");
  assert.equal(await refusal(() => changeAccountPassword(session, BUNDLE, vector.password as string, "claire.martin@example.fr 2026", identity)), "weak_password");
  assert.equal(sent.length, 0);
});

test("a keystore of other keys than the session's is refused before anything is signed", async () => {
  // The server knows the password's keystore format but serves it for the session of
  // another bundle (a swap): the worker holds other keys, and signs nothing.
  const { session, sent } = sessionServing(KEYSTORE);
  const other = BUNDLE.slice();
  other[other.length - 1]! ^= 0x01;
  assert.equal(await refusal(() => changeAccountPassword(session, other, vector.password as string, NEW_PASSWORD, identity)), "exchange_refused");
  assert.equal(sent.length, 0);
});

test("only the step-up's own problem type asks for a second factor again", () => {
  assert.equal(new ApiError(403, "prove it again", { type: STEP_UP_REQUIRED }).identifier, "step_up_required");
  assert.equal(new ApiError(403, "not yours", { type: "about:blank" }).identifier, "forbidden");
  assert.equal(new ApiError(403, "not yours", {}).identifier, "forbidden");
  // The type means nothing with another status.
  assert.equal(new ApiError(401, "who are you", { type: STEP_UP_REQUIRED }).identifier, "unauthorized");
});

test("a password or codes blocked after 100 failures in a row (R7) read as such, not as any refusal", () => {
  assert.equal(new ApiError(403, "blocked", { type: "tag:uhealthsec.fr,2026:problem:password-blocked" }).identifier, "password_blocked");
  assert.equal(new ApiError(403, "blocked", { type: "tag:uhealthsec.fr,2026:problem:factors-blocked" }).identifier, "factors_blocked");
  assert.equal(new ApiError(401, "blocked", { type: "tag:uhealthsec.fr,2026:problem:password-blocked" }).identifier, "unauthorized");
});

test("an access token said to last for years is refreshed as one of the server's longest would be", async () => {
  const years = 10 * 365 * 24 * 3600;
  const http = new Http(ORIGIN, async () =>
    new Response(JSON.stringify({ access_token: "refreshed", refresh_token: "next", expires_in: years }), { status: 200, headers: { "Content-Type": "application/json" } }),
  );
  const longest = () => Date.now() + 1000 * ACCESS_TOKEN_LONGEST_SECONDS;
  const refreshed = await refresh(http, { accessToken: "old", refreshToken: "first", expiresAt: 0 });
  assert.ok(refreshed.expiresAt <= longest(), "a refresh's token kept for years");
  // The step-up's token replaces the session's, which keeps it no longer either.
  const session = new Session(http, refreshed, {} as HeldKeys, new MemoryPinStore());
  session.useAccessToken("stepped-up", years);
  assert.equal(session.refreshToken.accessToken, "stepped-up");
  assert.equal(session.refreshToken.refreshToken, "next");
  assert.ok(session.refreshToken.expiresAt <= longest(), "a step-up's token kept for years");
});

test("recovery codes that are not codes are refused rather than shown on the person's sheet", async () => {
  const codes = (list: unknown) => recoveryCodesIn(new Wire("malformed_answer", "the new recovery codes"), { recovery_codes: list });
  const genuine = ["k7m2p-x9qrt", "ab3cd-ef4gh", "mnp23-qrs45", "tuv67-wxy89", "zab2c-de3fg", "hjk4m-np5qr", "stu6v-wx7yz", "a2b3c-d4e5f", "g6h7j-k8m9n", "p2q3r-s4t5u"];
  assert.deepEqual(codes(genuine), genuine);
  // A server's words on the sheet the person prints and keeps would read as the application's.
  for (const [what, list] of [
    ["a sentence", [...genuine.slice(1), "Compte bloqué : appelez le 08 99 00 00 00"]],
    ["markup", ["<img src=x onerror=alert(1)>", ...genuine.slice(1)]],
    ["a code of a thousand characters", ["a".repeat(1000), ...genuine.slice(1)]],
    ["ten thousand codes", Array.from({ length: 10_000 }, (_, i) => genuine[i % genuine.length])],
    ["no code", []],
  ] as const) {
    assert.equal(await refusal(() => codes(list)), "malformed_answer", what);
  }
});
