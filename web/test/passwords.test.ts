/**
 * Rule R6 in the browser, against the vectors the CLI's tests read too
 * (tests/vectors/passwords.json, tests/client/test_passwords.py): CNIL deliberation
 * 2022-100's counting with its 50-bit bar, the leaked-password list shipped with the
 * Python package, and the whole judgement with zxcvbn.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { judgePassword } from "../src/app/password_strength.js";
import { MIN_ENTROPY_BITS, WORD_BITS, cnilEntropyBits, isBreached } from "../src/client/passwords.js";
import { passwordProblem } from "../src/client/registration.js";
import { loadVectors } from "./vectors.js";

interface Verdict {
  password: string;
  identity: string[];
  problem: string | null;
}

const VECTORS = loadVectors<{
  min_entropy_bits: number;
  word_bits: number;
  entropy: { password: string; bits: number }[];
  rule: Verdict[];
  judged: Verdict[];
}>("passwords.json");

test("passwords (R6): the entropy is counted as CNIL deliberation 2022-100 does, the bar at 50 bits", () => {
  assert.equal(MIN_ENTROPY_BITS, VECTORS.min_entropy_bits);
  assert.ok(Math.abs(WORD_BITS - VECTORS.word_bits) < 1e-9);
  for (const { password, bits } of VECTORS.entropy) {
    assert.ok(Math.abs(cnilEntropyBits(password) - bits) < 1e-5, `${password}: ${cnilEntropyBits(password)} bits, not ${bits}`);
  }
  assert.ok(cnilEntropyBits("829104736251048") < 50 && passwordProblem("829104736251048", []) === "too_weak");
  assert.equal(passwordProblem("8291047362510483", []), null);
});

test("passwords (R6): the worker's refusals match the CLI's", () => {
  for (const { password, identity, problem } of VECTORS.rule) {
    assert.equal(passwordProblem(password, identity), problem, password);
  }
});

test("passwords (R6): leaked passwords are refused whatever their case, from the Python package's list", () => {
  for (const leaked of ["qwerty123456", "QwErTy123456", "justinbieber", "1qaz2wsx3edc4rfv"]) assert.ok(isBreached(leaked), leaked);
  assert.ok(!isBreached("plum orchard violin tundra harbour"));
});

test("passwords (R6): the page's judgement with zxcvbn matches the CLI's", async () => {
  for (const { password, identity, problem } of VECTORS.judged) {
    const verdict = await judgePassword(password, identity, "fr");
    assert.equal(verdict.problem, problem, password);
    if (problem === "guessable") assert.ok(verdict.feedback.length > 0, "zxcvbn's advice is given");
  }
});
