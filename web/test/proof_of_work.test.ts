import assert from "node:assert/strict";
import { test } from "node:test";

import { fromBase64, fromHex, toHex, utf8 } from "../src/protocol/bytes.js";
import { hmac } from "../src/protocol/primitives.js";
import { Http } from "../src/client/http.js";
import { sortedJson } from "../src/client/wire.js";
import { type Challenge, HEADER as PROOF_HEADER, UnsolvableChallenge, headerValue, solve } from "../src/protocol/proof_of_work.js";
import { loadVectors } from "./vectors.js";

const vectors = loadVectors("proof_of_work.json");

test("proof_of_work.json: the solver finds each counter and derived key, and answers as the header does", async () => {
  assert.ok(vectors.vectors.length > 0);
  for (const v of vectors.vectors) {
    const challenge = v.challenge as Challenge;
    const solution = await solve(challenge);
    assert.equal(solution.counter, v.counter, v.endpoint);
    assert.equal(solution.derivedKey, v.derived_key, v.endpoint);
    const expected = JSON.parse(new TextDecoder().decode(fromBase64(v.header)));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(fromBase64(headerValue(challenge, solution)))), expected);
  }
});

test("proof_of_work.json: the challenge's signatures are the HMACs section 14 names", async () => {
  const key = fromHex(vectors.hmac_key);
  const keySignatureKey = await hmac(key, utf8("uhealthsec altcha v2 key signature"));
  for (const v of vectors.vectors) {
    assert.equal(sortedJson(v.challenge.parameters), v.signed_parameters);
    assert.equal(toHex(await hmac(key, utf8(v.signed_parameters))), v.challenge.signature);
    assert.equal(toHex(await hmac(keySignatureKey, fromHex(v.derived_key))), v.challenge.parameters.keySignature);
    assert.equal(v.challenge.parameters.data.cost, v.cost);
    assert.equal(v.challenge.parameters.expiresAt, vectors.expires_unix);
  }
});

test("proof of work: a challenge outside the client's bounds is refused before any key is derived", async () => {
  const base = vectors.vectors[0].challenge;
  const changes: Record<string, unknown>[] = [
    { algorithm: "SHA-256" },
    { memoryCost: 65537 },
    { cost: 5 },
    { parallelism: 5 },
    { keyLength: 65 },
    { keyLength: 15 },
    { cost: 1.5 },
    { cost: true },
    { nonce: "A45B" },
    { salt: "0011" },
    { keyPrefix: "00".repeat(33) },
  ];
  for (const change of changes) {
    const challenge = { ...base, parameters: { ...base.parameters, ...change } };
    await assert.rejects(solve(challenge), UnsolvableChallenge, JSON.stringify(change));
  }
});

test("R27: a step-up answered 429 with a challenge is sent again with the proof and its bearer token", async () => {
  const v = vectors.vectors[0]!;
  const sent: Headers[] = [];
  const http = new Http("https://sante.example.fr", async (_input: string, init?: RequestInit) => {
    sent.push(new Headers(init?.headers));
    if (sent.length === 1) {
      return new Response(JSON.stringify({ status: 429, challenge: v.challenge }), { status: 429, headers: { "Content-Type": "application/problem+json" } });
    }
    return new Response(JSON.stringify({ access_token: "stepped-up", expires_in: 300 }), { status: 200, headers: { "Content-Type": "application/json" } });
  });
  const answer = await http.sendWithProof("POST", "/auth/step-up", { json: { totp_code: "123456" }, headers: { Authorization: "Bearer token" } });
  assert.equal(answer.status, 200);
  assert.equal(sent.length, 2);
  assert.equal(sent[0]!.get(PROOF_HEADER), null, "nothing is solved at rest");
  const challenge = v.challenge as Challenge;
  assert.equal(sent[1]!.get(PROOF_HEADER), headerValue(challenge, await solve(challenge)));
  assert.equal(sent[1]!.get("Authorization"), "Bearer token");
});
