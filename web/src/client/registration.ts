/**
 * Creating an account from the worker, as the SDK's AuthClient does (client/api.py):
 * the keys and the sealed keystore are made here, the server gets the public bundle
 * inside the keystore and the password's auth secret, never the password or a
 * private key. Then the mailed code confirms the address, and the first sign-in
 * enrols the authenticator app (TOTP), whose confirmation gives the recovery codes.
 */

import { toBase64Url } from "../protocol/bytes.js";
import { createKeystore, encodeKeystore } from "../protocol/keystore.js";
import type { LoginState } from "./auth.js";
import { ClientRefusal, type Http, checkResponse } from "./http.js";
import { MIN_ENTROPY_BITS, cnilEntropyBits, isBreached } from "./passwords.js";
import { Wire, jsonOf } from "./wire.js";

export const MIN_PASSWORD_LENGTH = 12;
/**
 * The fewest different characters a new password may have. The CLI rates passwords
 * with zxcvbn (client/passwords.py), and so does the page before it asks
 * (app/password_strength.ts, whose word lists are loaded with the screen); the worker,
 * which holds no word lists, keeps the other rules of R6 (passwords.ts: the CNIL
 * counting and the leaked-password list) and refuses what zxcvbn rates worst: one
 * character or a short pattern repeated.
 */
export const MIN_DISTINCT_CHARACTERS = 5;

/** client/passwords.py's problems, in its order (its PROBLEM_MESSAGES). */
export type PasswordProblem = "too_short" | "contains_identity" | "too_repetitive" | "too_weak" | "breached";

export type AccountKind = "practitioner" | "patient";

/** Why `password` is refused as a new password, or null if it is accepted. */
export function passwordProblem(password: string, identity: string[]): PasswordProblem | null {
  // Judged as the key derivation reads it (NFKC, docs/PROTOCOL.md): full-width
  // "qwerty123456" typed in full-width letters is the leaked one, not 12 specials.
  password = password.normalize("NFKC");
  if ([...password].length < MIN_PASSWORD_LENGTH) return "too_short";
  const lowered = password.toLowerCase();
  for (const value of identity) {
    const whole = value.trim().toLowerCase();
    for (const part of new Set([whole, whole.split("@")[0] ?? "", ...whole.split(/[\s@.]+/)])) {
      if (part.length >= 4 && lowered.includes(part)) return "contains_identity";
    }
  }
  if (new Set(lowered).size < MIN_DISTINCT_CHARACTERS) return "too_repetitive";
  if (cnilEntropyBits(password) < MIN_ENTROPY_BITS) return "too_weak";
  if (isBreached(password)) return "breached";
  return null;
}

const PROBLEM_MESSAGES: Record<PasswordProblem, string> = {
  too_short: `use at least ${MIN_PASSWORD_LENGTH} characters; a few unrelated words work well`,
  contains_identity: "do not use your address or your name in it",
  too_repetitive: "this password is too easy to guess: use a few unrelated words",
  too_weak: "this password is too easy to guess: add two or three unrelated words",
  breached: "this password is in lists of leaked passwords: choose another one, for example a few unrelated words",
};

/** Why a new password is refused, in the words of the worker's refusal. */
export function passwordProblemMessage(problem: PasswordProblem): string {
  return PROBLEM_MESSAGES[problem];
}

export interface NewAccount {
  email: string;
  password: string;
  name: string;
  kind: AccountKind;
  rpps?: string;
  invitation?: string;
  /** With a patient's invitation: the version of the practice's notice shown before registering (PROTOCOL 21.2). */
  noticeVersion?: number;
}

/**
 * Makes the keys and the keystore, then registers them (with a proof of work when
 * the server asks). The recovery key is returned to be shown once; the auth secret
 * confirms the address without deriving the password again.
 */
export async function register(http: Http, account: NewAccount): Promise<{ recoveryKey: Uint8Array; authSecret: Uint8Array }> {
  const problem = passwordProblem(account.password, [account.email, account.name]);
  if (problem !== null) throw new ClientRefusal("weak_password", passwordProblemMessage(problem));
  const made = await createKeystore(account.password);
  const body: Record<string, unknown> = {
    email: account.email,
    display_name: account.name,
    kind: account.kind,
    auth_secret: toBase64Url(made.authSecret),
    keystore: toBase64Url(encodeKeystore(made.keystore)),
  };
  if (account.rpps) body["rpps"] = account.rpps;
  if (account.invitation) body["invitation"] = account.invitation;
  if (account.invitation && account.noticeVersion !== undefined) body["notice_version"] = account.noticeVersion;
  await checkResponse(await http.postWithProof("/accounts/registrations", body));
  return { recoveryKey: made.recoveryKey, authSecret: made.authSecret };
}

/** Confirms the address with the mailed code and the auth secret of the registration it confirms. */
export async function verifyEmail(http: Http, code: string, authSecret: Uint8Array): Promise<void> {
  await http.request("POST", "/accounts/email-verifications", { json: { code, auth_secret: toBase64Url(authSecret) } });
}

export interface TotpEnrolment {
  secret: string;
  otpauthUri: string;
}

/** Starts adding an authenticator app to a sign-in that requires one. */
export async function enrolTotp(http: Http, login: LoginState): Promise<TotpEnrolment> {
  const wire = new Wire("malformed_answer", "the authenticator app's key");
  const answer = wire.object(await jsonOf(await http.request("POST", "/auth/login/enrol/totp", { json: { ticket: login.ticket } }), wire));
  const enrolment = { secret: wire.string(answer, "secret"), otpauthUri: wire.string(answer, "otpauth_uri") };
  // The QR code is drawn from the URI: it must carry the key shown as text.
  const uri = new URL(enrolment.otpauthUri);
  if (uri.protocol !== "otpauth:" || uri.searchParams.get("secret") !== enrolment.secret) {
    throw wire.refuse("holds a QR code for another key than the one shown");
  }
  return enrolment;
}

/** Finishes the enrolment with a code of the app; the recovery codes are shown once. */
export async function confirmTotp(http: Http, login: LoginState, code: string): Promise<string[]> {
  const wire = new Wire("malformed_answer", "the recovery codes");
  const answer = await http.request("POST", "/auth/login/enrol/totp/confirm", { json: { ticket: login.ticket, code } });
  return recoveryCodesIn(wire, await jsonOf(answer, wire));
}

/** The most recovery codes an answer may give (the server gives 10). */
const RECOVERY_CODES_MAX = 20;
/** A recovery code: letters and digits in groups joined by dashes (the server's are two groups of 5). */
const RECOVERY_CODE = /^[a-z0-9]{4,16}(-[a-z0-9]{4,16}){0,3}$/;

/**
 * The recovery codes of an answer that gives them (shown once, and printed), or a
 * refusal: a server's text on the person's sheet would read as the application's.
 */
export function recoveryCodesIn(wire: Wire, answer: unknown): string[] {
  const codes = wire.list(wire.object(answer)["recovery_codes"]);
  if (codes.length === 0 || codes.length > RECOVERY_CODES_MAX || codes.some((c) => typeof c !== "string" || !RECOVERY_CODE.test(c))) {
    throw wire.refuse("are not a list of codes");
  }
  return codes as string[];
}
