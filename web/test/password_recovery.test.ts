/**
 * A forgotten password in the worker (client/password_recovery.ts and the worker's
 * startPasswordRecovery, provePasswordRecovery, finishPasswordRecovery), against a
 * server faked with the keystore_recovery.json vector: the steps refuse to run out of
 * turn; a wrong mailed code and a wrong factor are told apart, and a recovery code
 * stands for the phone; wrong words and a weak password are refused before anything
 * is sent; the right words re-seal the same keys under the new password, keep the
 * recovery slot, and sign the statement the server checks, after which the worker
 * holds nothing of the recovery.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { keystoreRecoveryDigest, verifyKeystoreChange } from "../src/protocol/account_changes.js";
import { fromBase64Url, fromHex, toBase64Url, utf8 } from "../src/protocol/bytes.js";
import { encodePrivateKeys } from "../src/protocol/keys.js";
import { decodeKeystore, recoveryWords, unlockWithPassword, unlockWithRecoveryKey } from "../src/protocol/keystore.js";
import { MemoryPinStore } from "../src/client/pins.js";
import { WorkerService } from "../src/worker/session.js";
import { loadVectors, refusal } from "./vectors.js";

const ORIGIN = "https://sante.example.fr";
const EMAIL = "camille.petit@example.fr";
const MAILED_CODE = "abcd-efgh-jkmn-pqrs";
const TOTP = "123456";
const RECOVERY_CODE = "k7m2-q9xa";
const PASSKEY_ID = toBase64Url(new Uint8Array([4, 5, 6]));
/** The server's challenge number `n` for a passkey. */
const challengeOf = (n: number) => toBase64Url(new Uint8Array(32).fill(n));

/** An authenticator's answer to `challenge` from `origin` (its signature is the server's to check). */
function passkeyAnswer(challenge: string, origin = ORIGIN): Record<string, unknown> {
  const client = { type: "webauthn.get", challenge, origin, crossOrigin: false };
  return {
    id: PASSKEY_ID,
    rawId: PASSKEY_ID,
    type: "public-key",
    response: { clientDataJSON: toBase64Url(utf8(JSON.stringify(client))), authenticatorData: "AA", signature: "AA" },
  };
}
const NEW_PASSWORD = "lanterne orageuse sur le quai";
const vector = loadVectors("keystore_recovery.json").vectors[0]!;
const problem = (status: number, detail: string) => new Response(JSON.stringify({ detail }), { status, headers: { "Content-Type": "application/problem+json" } });

/** The server's side of 16.5 for the vector's account; the completions it was sent. */
function fakeServer() {
  const completions: Record<string, string>[] = [];
  let challenges = 0;
  const fetch = async (input: string, init?: RequestInit) => {
    const path = new URL(input).pathname;
    const body = JSON.parse(String(init?.body ?? "{}")) as Record<string, unknown>;
    if (path === "/accounts/password-recoveries") return new Response(JSON.stringify({ detail: "mailed if an account uses it" }), { status: 202 });
    if (path === "/accounts/password-recoveries/proof") {
      if (body["email"] !== EMAIL || body["code"] !== MAILED_CODE) return problem(400, "this code is wrong, expired or was already used");
      const factor = body["second_factor"] as Record<string, unknown>;
      const passkey = factor["webauthn"] as Record<string, unknown> | undefined;
      if (factor["totp_code"] !== TOTP && factor["recovery_code"] !== RECOVERY_CODE && passkey?.["rawId"] !== PASSKEY_ID) return problem(401, "wrong second factor");
      return new Response(
        JSON.stringify({
          account_id: vector.account_id,
          nonce: toBase64Url(fromHex(vector.nonce)),
          recovery_keystore: toBase64Url(fromHex(vector.recovery_keystore)),
          expires_at: "2026-11-27T10:40:00Z",
        }),
        { status: 200, headers: { "Content-Type": "application/json" } },
      );
    }
    if (path === "/auth/login/passkey-options") {
      challenges += 1;
      return new Response(JSON.stringify({ challenge: challengeOf(challenges), allowCredentials: [{ id: PASSKEY_ID, type: "public-key" }] }), { status: 200 });
    }
    if (path === "/accounts/password-recoveries/completion") {
      completions.push(body as Record<string, string>);
      return new Response(null, { status: 204 });
    }
    return problem(404, "not here");
  };
  return { completions, fetch };
}

function recovering() {
  const server = fakeServer();
  return { server, worker: new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore() }) };
}

const WORDS = recoveryWords(fromHex(vector.recovery_key));

test("password recovery: the steps refuse to run out of turn", async () => {
  const { worker, server } = recovering();
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, totp: TOTP })), "no_recovery");
  assert.equal(await refusal(() => worker.finishPasswordRecovery({ words: WORDS, password: NEW_PASSWORD })), "no_recovery");
  await worker.startPasswordRecovery({ email: EMAIL });
  // Proven first: the words and the new password wait for the code and the factor.
  assert.equal(await refusal(() => worker.finishPasswordRecovery({ words: WORDS, password: NEW_PASSWORD })), "no_recovery");
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE })), "recovery_factor_refused");
  await worker.cancelSignIn({});
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, totp: TOTP })), "no_recovery");
  assert.equal(server.completions.length, 0);
});

test("password recovery: a wrong mailed code and a wrong second factor are each said as what they are", async () => {
  const { worker } = recovering();
  await worker.startPasswordRecovery({ email: EMAIL });
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: "wxyz-wxyz-wxyz-wxyz", totp: TOTP })), "recovery_code_refused");
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, totp: "654321" })), "recovery_factor_refused");
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, recoveryCode: "zzzz-zzzz" })), "recovery_factor_refused");
  // A recovery code stands for the phone, as at sign-in.
  assert.deepEqual(await worker.provePasswordRecovery({ code: ` ${MAILED_CODE} `, recoveryCode: ` ${RECOVERY_CODE}` }), { proven: true });
});

test("password recovery: wrong words and a weak password are refused here, and nothing is sent", async () => {
  const { worker, server } = recovering();
  await worker.startPasswordRecovery({ email: EMAIL });
  await worker.provePasswordRecovery({ code: MAILED_CODE, totp: TOTP });
  const otherKey = recoveryWords(new Uint8Array(32).fill(9));
  const swapped = WORDS.split(" ");
  [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
  for (const words of [otherKey, swapped.join(" "), "cheval agrafe", WORDS.replace(/^\S+/, "licorne")]) {
    assert.equal(await refusal(() => worker.finishPasswordRecovery({ words, password: NEW_PASSWORD })), "wrong_recovery_words", words);
  }
  assert.equal(await refusal(() => worker.finishPasswordRecovery({ words: WORDS, password: "court" })), "weak_password");
  assert.equal(await refusal(() => worker.finishPasswordRecovery({ words: WORDS, password: `${EMAIL} et encore` })), "weak_password");
  assert.equal(server.completions.length, 0);
});

test("password recovery: the right words re-seal the same keys under the new password, signed over the server's nonce", async () => {
  const { worker, server } = recovering();
  await worker.startPasswordRecovery({ email: EMAIL });
  await worker.provePasswordRecovery({ code: MAILED_CODE, totp: TOTP });
  // Typed as a person types them: capitals, line breaks, extra spaces.
  const typed = WORDS.toUpperCase().split(" ").join("  \n");
  assert.deepEqual(await worker.finishPasswordRecovery({ words: typed, password: NEW_PASSWORD }), { email: EMAIL });
  assert.equal(server.completions.length, 1);
  const sent = server.completions[0]!;
  assert.equal(sent["account_id"], vector.account_id);
  assert.equal(sent["nonce"], toBase64Url(fromHex(vector.nonce)));
  const newKeystore = fromBase64Url(sent["keystore"]!);
  const authSecret = fromBase64Url(sent["auth_secret"]!);
  const handedOver = decodeKeystore(fromHex(vector.recovery_keystore));
  const resealed = decodeKeystore(newKeystore);
  const opened = await unlockWithPassword(resealed, NEW_PASSWORD);
  assert.deepEqual(opened.authSecret, authSecret);
  const recovered = await unlockWithRecoveryKey(handedOver, fromHex(vector.recovery_key));
  assert.deepEqual(encodePrivateKeys(opened.keys), encodePrivateKeys(recovered));
  // The recovery slot is kept byte for byte (the words still open it), the password slot is a real one.
  assert.deepEqual(resealed.recoveryNonce, handedOver.recoveryNonce);
  assert.deepEqual(resealed.recoverySealed, handedOver.recoverySealed);
  assert.notDeepEqual(resealed.passwordSealed, handedOver.passwordSealed);
  const digest = await keystoreRecoveryDigest(vector.account_id, fromHex(vector.nonce), newKeystore, authSecret);
  await verifyKeystoreChange(fromHex(vector.signing_public_key), digest, fromBase64Url(sent["signature"]!));
  // The recovery is spent: the worker keeps nothing of it.
  assert.equal(await refusal(() => worker.finishPasswordRecovery({ words: WORDS, password: NEW_PASSWORD })), "no_recovery");
});

test("password recovery: a passkey proves the factor only with an answer to the challenge asked here, once", async () => {
  const { worker } = recovering();
  assert.equal(await refusal(() => worker.recoveryPasskeyOptions({})), "no_recovery");
  await worker.startPasswordRecovery({ email: EMAIL });
  // No challenge asked: an answer the page brings is refused.
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, credential: passkeyAnswer(challengeOf(1)) })), "passkey_refused");
  const first = (await worker.recoveryPasskeyOptions({})).options;
  assert.equal(first["challenge"], challengeOf(1));
  // An answer to another challenge, then one from another site.
  await worker.recoveryPasskeyOptions({});
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, credential: passkeyAnswer(challengeOf(9)) })), "passkey_refused");
  await worker.recoveryPasskeyOptions({});
  const elsewhere = passkeyAnswer(challengeOf(3), "https://sante.example.fr.evil.test");
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, credential: elsewhere })), "passkey_refused");
  // The challenge is spent by the answer given, right or wrong.
  assert.equal(await refusal(() => worker.provePasswordRecovery({ code: MAILED_CODE, credential: passkeyAnswer(challengeOf(3)) })), "passkey_refused");
  await worker.recoveryPasskeyOptions({});
  assert.deepEqual(await worker.provePasswordRecovery({ code: MAILED_CODE, credential: passkeyAnswer(challengeOf(4)) }), { proven: true });
});
