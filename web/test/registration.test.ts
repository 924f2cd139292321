/**
 * Registration in the worker (client/registration.ts and the worker's register,
 * confirmEmail, beginTotpEnrolment and finishTotpEnrolment): a weak password is
 * refused before any key is made or anything sent, the steps refuse to run out of
 * turn, and an enrolment whose QR code carries another key than the one shown as
 * text is refused.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { Http } from "../src/client/http.js";
import { MemoryPinStore } from "../src/client/pins.js";
import { enrolTotp, passwordProblem } from "../src/client/registration.js";
import { defaultParams, encodePreloginParams } from "../src/protocol/keystore.js";
import { WorkerService } from "../src/worker/session.js";
import { outcome } from "./vectors.js";

const ORIGIN = "https://sante.example.fr";
const SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/** A server answering each path with `answers[path]`, recording what was asked. */
function fakeServer(answers: Record<string, unknown>) {
  const asked: string[] = [];
  const fetch = async (input: string) => {
    const path = new URL(input).pathname;
    asked.push(path);
    const answer = answers[path];
    if (answer === undefined) return new Response(JSON.stringify({ detail: "not here" }), { status: 404, headers: { "Content-Type": "application/problem+json" } });
    return new Response(JSON.stringify(answer), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  return { asked, fetch };
}

test("registration: a new password is judged by the CLI's rules besides zxcvbn", () => {
  const identity = ["lea.bernard@cabinet.test", "Dr Léa Bernard"];
  assert.equal(passwordProblem("Kp7#xQ2!mZ9$", identity), null);
  assert.equal(passwordProblem("Kp7#xQ2!mZ9", identity), "too_short");
  assert.equal(passwordProblem("mon LEA.BERNARD à moi", identity), "contains_identity");
  assert.equal(passwordProblem("cabinet du bernard!", identity), "contains_identity");
  assert.equal(passwordProblem("abababababababab", identity), "too_repetitive");
  assert.equal(passwordProblem("Dr cheval agrafe batterie correcte", identity), null, "a part under 4 letters is not refused");
});

test("registration: the worker refuses a weak password before making keys or sending anything", async () => {
  const server = fakeServer({});
  const worker = new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore() });
  const refusal = await outcome(() =>
    worker.handle("register", { email: "lea.bernard@cabinet.test", password: "lea.bernard-2024", name: "Dr Léa Bernard", kind: "practitioner" }),
  );
  assert.equal(refusal, "weak_password");
  assert.deepEqual(server.asked, []);
});

test("registration: confirming, enrolling or finishing with no registration under way is refused, nothing sent", async () => {
  const server = fakeServer({});
  const worker = new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore() });
  assert.equal(await outcome(() => worker.handle("confirmEmail", { code: "ABCD-1234" })), "no_registration");
  assert.equal(await outcome(() => worker.handle("beginTotpEnrolment", {})), "no_registration");
  assert.equal(await outcome(() => worker.handle("finishTotpEnrolment", { code: "123456" })), "no_registration");
  assert.deepEqual(server.asked, []);
});

test("registration: an account that already has a second factor is not enrolled again, nor finished without an enrolment", async () => {
  const server = fakeServer({
    "/accounts/registrations": { detail: "registered" },
    "/auth/login": { ticket: "t".repeat(43), methods: ["totp", "recovery_code"], enrolment_required: false, complete: false },
  });
  const worker = new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore() });
  const { recoveryWords } = await worker.handle("register", {
    email: "lea.bernard@cabinet.test",
    password: "cheval agrafe batterie correcte lampe",
    name: "Dr Léa Bernard",
    kind: "practitioner",
  });
  assert.equal(recoveryWords.length, 24);
  assert.equal(await outcome(() => worker.handle("beginTotpEnrolment", {})), "already_enrolled");
  assert.equal(await outcome(() => worker.handle("finishTotpEnrolment", { code: "123456" })), "no_registration");
  assert.ok(!server.asked.includes("/auth/login/enrol/totp"));
  // Signing out forgets the registration.
  await worker.handle("signOut", {});
  assert.equal(await outcome(() => worker.handle("confirmEmail", { code: "ABCD-1234" })), "no_registration");
});

test("registration: an enrolment whose QR code holds another key than the one shown is refused", async () => {
  const login = { ticket: "t", methods: [], enrolmentRequired: true, complete: false };
  const answer = (uri: string) =>
    new Http(ORIGIN, fakeServer({ "/auth/login/enrol/totp": { secret: SECRET, otpauth_uri: uri, qr_svg: "" } }).fetch);
  const good = `otpauth://totp/U-HealthSec:lea?secret=${SECRET}&issuer=U-HealthSec`;
  assert.deepEqual(await enrolTotp(answer(good), login), { secret: SECRET, otpauthUri: good });
  for (const uri of [
    `otpauth://totp/U-HealthSec:lea?secret=${"A".repeat(32)}&issuer=U-HealthSec`,
    `otpauth://totp/U-HealthSec:lea?issuer=U-HealthSec`,
    `https://evil.example/?secret=${SECRET}`,
  ]) {
    assert.equal(await outcome(() => enrolTotp(answer(uri), login)), "malformed_answer", uri);
  }
});

test("registration: an account with no second factor yet, signing in, goes on to enrol one without the password again", async () => {
  const server = fakeServer({
    "/auth/prelogin": { argon2_params: encodePreloginParams(defaultParams()) },
    "/auth/login": { ticket: "t".repeat(43), methods: [], enrolment_required: true, complete: false },
    "/auth/login/enrol/totp": { secret: SECRET, otpauth_uri: `otpauth://totp/U-HealthSec:lea?secret=${SECRET}`, qr_svg: "" },
  });
  const worker = new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore() });
  const refusal = await outcome(() => worker.handle("signIn", { email: "lea.bernard@cabinet.test", password: "cheval agrafe batterie correcte lampe" }));
  assert.equal(refusal, "enrolment_required");
  const enrolment = await worker.handle("beginTotpEnrolment", {});
  assert.equal(enrolment.secret, SECRET);
  assert.deepEqual(server.asked, ["/auth/prelogin", "/auth/login", "/auth/login", "/auth/login/enrol/totp"]);
});

/** A server that asks for the code of an authenticator app after the password. */
const ASKS_FOR_A_CODE = {
  "/auth/prelogin": { argon2_params: encodePreloginParams(defaultParams()) },
  "/auth/login": { ticket: "t".repeat(43), methods: ["totp"], enrolment_required: false, complete: false },
};

test("sign-in: starting again forgets the sign-in under way, its password with it", async () => {
  const server = fakeServer(ASKS_FOR_A_CODE);
  const worker = new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore() });
  assert.deepEqual(await worker.handle("signIn", { email: "lea.bernard@cabinet.test", password: "cheval agrafe batterie correcte lampe" }), { factors: ["totp"] });
  assert.deepEqual(await worker.handle("cancelSignIn", {}), { cancelled: true });
  assert.equal((worker as unknown as { pending: unknown }).pending, null, "the password is still held");
  assert.equal(await outcome(() => worker.handle("finishSignIn", { totp: "123456" })), "no_sign_in");
  assert.deepEqual(server.asked, ["/auth/prelogin", "/auth/login"], "the code was sent for a cancelled sign-in");
});

test("sign-in: one left waiting for its second factor is forgotten when its time is up", async () => {
  const server = fakeServer(ASKS_FOR_A_CODE);
  const worker = new WorkerService(ORIGIN, { fetch: server.fetch, pins: new MemoryPinStore(), pendingSignInMs: 1 });
  await worker.handle("signIn", { email: "lea.bernard@cabinet.test", password: "cheval agrafe batterie correcte lampe" });
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal((worker as unknown as { pending: unknown }).pending, null, "the password is still held");
  assert.equal(await outcome(() => worker.handle("finishSignIn", { totp: "123456" })), "no_sign_in");
  assert.deepEqual(server.asked, ["/auth/prelogin", "/auth/login"]);
});
