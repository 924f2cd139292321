/**
 * The e-CPS sign-in in the worker (client/federation.ts and the worker's
 * professional operations): the request it makes carries a PKCE challenge and a state
 * of its own, and the address the provider's window came back to is refused unless
 * it comes back to the application with that state; the provider's refusal is raised
 * with its description; a request answers once; the steps refuse to run out of turn.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { WorkerService } from "../src/worker/session.js";
import { refusal } from "./vectors.js";

const ORIGIN = "https://sante.example.fr";
const NO_SERVER = async (): Promise<Response> => {
  throw new Error("no request is expected");
};

/** A server with a provider: its federated authorization redirects there (and nothing else is asked). */
const WITH_PROVIDER = async (input: RequestInfo | URL): Promise<Response> => {
  assert.equal(new URL(String(input)).pathname, "/auth/federated/authorize");
  return new Response(null, { status: 302, headers: { Location: "https://psc.example/authorize" } });
};

async function begun(): Promise<{ worker: WorkerService; request: URL }> {
  const worker = new WorkerService(ORIGIN, { fetch: WITH_PROVIDER });
  const { url } = await worker.beginProfessionalSignIn({});
  return { worker, request: new URL(url) };
}

test("a server without a provider says so before any window opens", async () => {
  const without = async (): Promise<Response> =>
    new Response(JSON.stringify({ detail: "professional sign-in is not configured on this server" }), {
      status: 404,
      headers: { "Content-Type": "application/problem+json" },
    });
  const worker = new WorkerService(ORIGIN, { fetch: without });
  assert.equal(await refusal(() => worker.beginProfessionalSignIn({})), "not_found");
  assert.equal(await refusal(() => worker.unlockProfessionalSignIn({ password: "x" })), "no_sign_in");
});

test("the request goes to the server's federated authorization with PKCE S256 and a state", async () => {
  const { request } = await begun();
  assert.equal(request.origin + request.pathname, `${ORIGIN}/auth/federated/authorize`);
  assert.equal(request.searchParams.get("client_id"), "uhs-web");
  assert.equal(request.searchParams.get("redirect_uri"), `${ORIGIN}/app/`);
  assert.equal(request.searchParams.get("code_challenge_method"), "S256");
  assert.match(request.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
  assert.match(request.searchParams.get("state") ?? "", /^[A-Za-z0-9_-]{22}$/);
});

test("a return with another state, to another address, or refused by the server, exchanges nothing", async () => {
  const cases = (state: string) => [
    `${ORIGIN}/app/?state=another&code=abc`,
    `${ORIGIN}/elsewhere/?state=${state}&code=abc`,
    `https://evil.example/app/?state=${state}&code=abc`,
    `${ORIGIN}/app/?error=access_denied&error_description=not+linked&state=${state}`,
  ];
  for (const index of [0, 1, 2, 3]) {
    const { worker, request } = await begun();
    const landed = cases(request.searchParams.get("state")!)[index]!;
    assert.equal(await refusal(() => worker.finishProfessionalSignIn({ landed })), "bad_request", landed);
    // The request answered once, refused: nothing waits for a password.
    assert.equal(await refusal(() => worker.finishProfessionalSignIn({ landed })), "no_sign_in");
    assert.equal(await refusal(() => worker.unlockProfessionalSignIn({ password: "x" })), "no_sign_in");
  }
});

test("the provider's refusal is said with its description", async () => {
  const { worker, request } = await begun();
  const state = request.searchParams.get("state")!;
  const landed = `${ORIGIN}/app/?error=access_denied&error_description=this+identity+is+not+linked&state=${state}`;
  await assert.rejects(() => worker.finishProfessionalSignIn({ landed }), /this identity is not linked/);
});

test("the e-CPS steps refuse to run out of turn", async () => {
  const worker = new WorkerService(ORIGIN, { fetch: NO_SERVER });
  assert.equal(await refusal(() => worker.professionalIdentities({})), "signed_out");
  assert.equal(await refusal(() => worker.beginProfessionalLink({})), "signed_out");
  assert.equal(await refusal(() => worker.finishProfessionalLink({ landed: `${ORIGIN}/app/?state=s&link_code=c` })), "signed_out");
  assert.equal(await refusal(() => worker.finishProfessionalSignIn({ landed: `${ORIGIN}/app/?state=s&code=c` })), "no_sign_in");
  assert.equal(await refusal(() => worker.unlockProfessionalSignIn({ password: "x" })), "no_sign_in");
});
