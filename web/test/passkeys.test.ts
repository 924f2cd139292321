/**
 * Passkeys in the worker (client/passkeys.ts and the worker's passkey operations): an
 * authenticator's answer is sent on only if it answers the very challenge the worker
 * asked the server for, as the kind of request it was (create or get), from the
 * worker's own origin; and the operations refuse to run out of turn.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { checkCredential } from "../src/client/passkeys.js";
import { toBase64Url, utf8 } from "../src/protocol/bytes.js";
import { WorkerService } from "../src/worker/session.js";
import { refusal } from "./vectors.js";

const ORIGIN = "https://sante.example.fr";
const CHALLENGE = toBase64Url(new Uint8Array(32).fill(7));
const NO_SERVER = () => Promise.reject(new TypeError("no server in this test"));

function answer(client: Record<string, unknown>, rawId = toBase64Url(new Uint8Array([1, 2, 3]))): Record<string, unknown> {
  return {
    id: rawId,
    rawId,
    type: "public-key",
    response: { clientDataJSON: toBase64Url(utf8(JSON.stringify(client))), attestationObject: "AA" },
  };
}

const honest = { type: "webauthn.create", challenge: CHALLENGE, origin: ORIGIN, crossOrigin: false };

test("an answer to the challenge asked, from this origin, is taken with its credential id", () => {
  assert.deepEqual(checkCredential(answer(honest), "webauthn.create", CHALLENGE, ORIGIN), new Uint8Array([1, 2, 3]));
});

test("an answer to another challenge, another kind of request or another site is refused", async () => {
  const other = toBase64Url(new Uint8Array(32).fill(8));
  for (const client of [
    { ...honest, challenge: other },
    { ...honest, type: "webauthn.get" },
    { ...honest, origin: "https://sante.example.fr.evil.test" },
    { ...honest, origin: "http://sante.example.fr" },
  ]) {
    assert.equal(await refusal(() => checkCredential(answer(client), "webauthn.create", CHALLENGE, ORIGIN)), "passkey_refused", JSON.stringify(client));
  }
});

test("a malformed answer is refused", async () => {
  const malformed = [
    { ...answer(honest), type: "password" },
    { ...answer(honest), rawId: 42 },
    { ...answer(honest), response: null },
    { ...answer(honest), response: { clientDataJSON: "not json!" } },
  ];
  for (const credential of malformed) {
    assert.equal(await refusal(() => checkCredential(credential, "webauthn.create", CHALLENGE, ORIGIN)), "passkey_refused");
  }
});

test("the passkey operations refuse to run out of turn", async () => {
  const worker = new WorkerService(ORIGIN, { fetch: NO_SERVER });
  assert.equal(await refusal(() => worker.passkeySignInOptions({})), "no_sign_in");
  assert.equal(await refusal(() => worker.finishPasskeySignIn({ credential: answer({ ...honest, type: "webauthn.get" }) })), "no_sign_in");
  assert.equal(await refusal(() => worker.passkeys({})), "signed_out");
  assert.equal(await refusal(() => worker.beginPasskeyEnrolment({})), "signed_out");
  assert.equal(await refusal(() => worker.finishPasskeyEnrolment({ credential: answer(honest), name: "x" })), "signed_out");
  assert.equal(await refusal(() => worker.removePasskey({ id: "6f0b2f7e-8a51-4d2c-9a0e-3b7c1d2e4f56" })), "signed_out");
  assert.equal(await refusal(() => worker.unlinkProfessionalIdentity({ id: "6f0b2f7e-8a51-4d2c-9a0e-3b7c1d2e4f56" })), "signed_out");
});
