/**
 * A new password judged as the CLI judges it (client/passwords.py, rule R6): the
 * worker's rules first (client/registration.ts: at least 12 characters, neither the
 * address nor the name in it, 50 bits by CNIL deliberation 2022-100's counting, not a
 * leaked password), then zxcvbn's rating at least 3 of 4 over its first 100
 * characters, the address's and name's parts given as the person's own words. zxcvbn (@zxcvbn-ts, with the common and French word lists) is
 * loaded only when a password is first judged: its chunk is a file of the release like
 * any other, fetched from this origin by the screens that set a password.
 */

import type { ZxcvbnFactory } from "@zxcvbn-ts/core";

import { type PasswordProblem, passwordProblem } from "../client/registration.js";
import type { Language } from "./i18n.js";

/** zxcvbn's lowest acceptable score (client/passwords.py MIN_SCORE). */
export const MIN_SCORE = 3;
/** zxcvbn's cost grows with length; a longer password is strong anyway (_RATED_PREFIX). */
export const RATED_PREFIX = 100;

export interface PasswordVerdict {
  /** Null when accepted; "guessable" when zxcvbn rates it below MIN_SCORE. */
  problem: PasswordProblem | "guessable" | null;
  /** zxcvbn's warning and suggestions, in the language asked for (empty otherwise). */
  feedback: string[];
}

const judges = new Map<Language, Promise<ZxcvbnFactory>>();

/** zxcvbn with the common and French word lists, its feedback in `language`. */
function judge(language: Language): Promise<ZxcvbnFactory> {
  let loading = judges.get(language);
  if (loading === undefined) {
    loading = Promise.all([
      import("@zxcvbn-ts/core"),
      import("@zxcvbn-ts/language-common"),
      import("@zxcvbn-ts/language-fr"),
      language === "en" ? import("@zxcvbn-ts/language-en/dist/translations.mjs").then((m) => m.default) : null,
    ]).then(
      ([core, common, fr, english]) =>
        new core.ZxcvbnFactory({
          translations: english ?? fr.translations,
          graphs: common.adjacencyGraphs,
          dictionary: { ...common.dictionary, ...fr.dictionary },
        }),
    );
    // A chunk that failed to load is asked for again next time.
    loading.catch(() => judges.delete(language));
    judges.set(language, loading);
  }
  return loading;
}

/** The person's own words for zxcvbn: the parts of their address and name. */
function ownWords(identity: readonly string[]): string[] {
  return identity.flatMap((value) => value.replace(/@/g, " ").split(/\s+/)).filter((part) => part.length > 0);
}

/** Why `password` is refused as a new password (null if accepted), with zxcvbn's feedback. */
export async function judgePassword(password: string, identity: readonly string[], language: Language): Promise<PasswordVerdict> {
  const problem = passwordProblem(password, [...identity]);
  if (problem !== null) return { problem, feedback: [] };
  const rated = (await judge(language)).check(password.normalize("NFKC").slice(0, RATED_PREFIX), ownWords(identity));
  if (rated.score >= MIN_SCORE) return { problem: null, feedback: [] };
  const feedback = [rated.feedback.warning, ...rated.feedback.suggestions].filter((said): said is string => typeof said === "string" && said.length > 0);
  return { problem: "guessable", feedback };
}
