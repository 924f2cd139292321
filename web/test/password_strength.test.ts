/**
 * The browser judges a new password as the CLI does (client/passwords.py, whose test
 * tests/web/test_password_strength.py checks the same two passwords): a guessable
 * one is refused with zxcvbn's feedback, in the person's language, a strong one taken.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { MIN_SCORE, judgePassword } from "../src/app/password_strength.js";

const IDENTITY = ["claire.martin@cabinet.test", "Claire Martin"];

test("password strength: a common password is refused with zxcvbn's feedback, in French or English", async () => {
  const verdict = await judgePassword("Password2024!", IDENTITY, "fr");
  assert.equal(verdict.problem, "guessable");
  // @zxcvbn-ts/language-fr's words, not its translation keys.
  assert.ok(verdict.feedback.includes("Ce mot de passe est similaire à un mot de passe couramment utilisé."), verdict.feedback.join(" / "));
  assert.ok(verdict.feedback.includes("Ajoutez des mots moins courants."), verdict.feedback.join(" / "));
  const english = await judgePassword("Password2024!", IDENTITY, "en");
  assert.equal(english.problem, "guessable");
  assert.ok(english.feedback.some((said) => said.includes("similar to a commonly used password")), english.feedback.join(" / "));
});

test("password strength: a few unrelated words are accepted; short or personal ones refused first", async () => {
  assert.deepEqual(await judgePassword("cheval agrafe pile correcte bleu", IDENTITY, "fr"), { problem: null, feedback: [] });
  assert.equal((await judgePassword("Court1!", IDENTITY, "fr")).problem, "too_short");
  assert.equal((await judgePassword("claire.martin-rivage-42", IDENTITY, "fr")).problem, "contains_identity");
  assert.equal(MIN_SCORE, 3);
});
