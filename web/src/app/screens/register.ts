/**
 * Registration, in the steps of `uhs register`, `uhs verify-email` and the first
 * `uhs login`: the account's keys are made in the worker; the 24 recovery words are
 * shown once, with a sheet to print, and three of them asked back; the mailed code
 * confirms the address; the authenticator app is enrolled by QR code; the recovery
 * codes are shown once. The password is typed once: the worker keeps it until the
 * keystore is unlocked at the end.
 */

import type { AccountKind, PasswordProblem } from "../../client/registration.js";
import type { AccountView, Api, NoticeView } from "../api.js";
import { type Screen, errorBox, refusalBox } from "../app.js";
import { field, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, language, locale, t } from "../i18n.js";
import { type PasswordVerdict, judgePassword } from "../password_strength.js";
import { qrCode } from "../qr.js";
import { noticeSection } from "./practice_join.js";
import { busy } from "./signin.js";

/** How many of the 24 words the person types back. */
const WORDS_ASKED = 3;

const PROBLEM_KEYS: Record<PasswordProblem | "guessable", MessageKey> = {
  too_short: "register.passwordTooShort",
  contains_identity: "register.passwordIdentity",
  too_repetitive: "register.passwordRepetitive",
  too_weak: "register.passwordTooWeak",
  breached: "register.passwordBreached",
  guessable: "register.passwordGuessable",
};

/** Why a password is refused, zxcvbn's feedback after it; null if accepted. */
export function refusalOf(verdict: PasswordVerdict): string | null {
  return verdict.problem === null ? null : [t(PROBLEM_KEYS[verdict.problem]), ...verdict.feedback].join(" ");
}

type SignedIn = (account: AccountView) => void;

/**
 * A registration by invitation (practice_join.ts): the invited address and the kind of
 * account its role needs, and the code, which proves the address (no mailed code to type).
 */
export interface Invited {
  email: string;
  kind: AccountKind;
  code: string;
  /** The account is made: the code is spent. */
  used(): void;
}

export function registerScreen(api: Api, signedIn: SignedIn, invited?: Invited): Screen {
  const content = h("section", { class: "narrow register" });
  showForm(content, api, signedIn, invited);
  return { title: t("register.title"), content };
}

/** Puts a new step on the screen, its heading focused as a new screen's is. */
export function showStep(content: HTMLElement, title: string, ...parts: (Node | null)[]): void {
  const heading = h("h1", { tabindex: "-1" }, title);
  replace(content, heading, ...parts);
  document.title = `${title} — ${t("app.name")}`;
  heading.focus();
}

function showForm(content: HTMLElement, api: Api, signedIn: SignedIn, invited?: Invited): void {
  const name = h("input", { type: "text", name: "name", autocomplete: "name", required: true, "data-autofocus": true });
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true, spellcheck: "false" });
  const kind = h(
    "select",
    { name: "kind" },
    h("option", { value: "practitioner" }, t("register.kindPractitioner")),
    h("option", { value: "patient" }, t("register.kindPatient")),
  );
  const rpps = h("input", { type: "text", name: "rpps", inputmode: "numeric", pattern: "[0-9]{11}", maxlength: "11", autocomplete: "off" });
  const newPassword = newPasswordFields(t("register.password"), () => [email.value, name.value]);
  const { password, again } = newPassword;
  const rppsField = field(t("register.rpps"), rpps, t("register.rppsHint"));
  if (invited) {
    // The invitation is for this address and this kind of account: the server takes no other.
    email.value = invited.email;
    email.readOnly = true;
    kind.value = invited.kind;
    kind.disabled = true;
    rppsField.hidden = invited.kind !== "practitioner";
  }
  for (const input of [email, name]) input.addEventListener("input", newPassword.rejudge);
  kind.addEventListener("change", () => {
    rppsField.hidden = kind.value !== "practitioner";
  });
  const submit = h("button", { type: "submit" }, t("register.submit"));
  const problems = h("div", {});
  const form = h(
    "form",
    {},
    field(t("register.name"), name, t("register.nameHint")),
    field(t("signin.email"), email),
    field(t("register.kind"), kind),
    rppsField,
    ...newPassword.fields,
    problems,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    if (!(await newPassword.accepted(problems))) return;
    const done = busy(submit, t("register.working"));
    try {
      const address = email.value.trim();
      const words = await api.register({
        email: address,
        password: password.value,
        name: name.value.trim(),
        kind: kind.value === "patient" ? "patient" : "practitioner",
        ...(kind.value === "practitioner" && rpps.value.trim() ? { rpps: rpps.value.trim() } : {}),
        ...(invited ? { invitation: invited.code } : {}),
        ...(invited && notice ? { noticeVersion: notice.version } : {}),
      });
      invited?.used();
      password.value = again.value = "";
      showWords(content, api, signedIn, address, words, invited !== undefined);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  });
  const signIn = h("p", { class: "actions" }, h("a", { href: "#/" }, t("register.haveAccount")));
  const intro = invited ? h("p", {}, t("register.invitedIntro")) : h("p", {}, t("register.intro"));
  // A patient invited reads the practice's notice before the account is made (R11): the registration names its version.
  let notice: NoticeView | null = null;
  const noticePlace = h("div", {});
  if (invited && invited.kind === "patient") {
    submit.disabled = true;
    void api
      .invitationNotice(invited.code)
      .then((shown) => {
        if (!shown.forPatient) return;
        notice = shown;
        replace(noticePlace, noticeSection(shown));
        submit.textContent = t("register.submitNotice");
      })
      .catch((error: unknown) => replace(problems, refusalBox(error)))
      .finally(() => {
        submit.disabled = false;
      });
  }
  replace(content, h("h1", {}, t("register.title")), intro, noticePlace, form, signIn);
}

/** The recovery sheet: the words in order, and what they are for; printed alone (styles.css). */
export function recoverySheet(email: string, words: string[]): HTMLElement {
  const date = new Date().toLocaleDateString(locale(), { dateStyle: "long" });
  return h(
    "div",
    { class: "recovery-sheet" },
    h("h2", {}, t("register.sheetTitle")),
    h("p", {}, t("register.sheetAccount", { email, date })),
    h("ol", { class: "recovery-words", lang: "en" }, ...words.map((word) => h("li", {}, word))),
    h("p", {}, t("register.sheetAdvice")),
  );
}

/** `addressProven`: registered by invitation, the address needs no mailed code. */
function showWords(content: HTMLElement, api: Api, signedIn: SignedIn, email: string, words: string[], addressProven: boolean): void {
  const print = h("button", { type: "button", class: "secondary", onclick: () => window.print() }, t("register.print"));
  const written = h("button", { type: "button", onclick: () => checkWords(content, api, signedIn, email, words, addressProven) }, t("register.written"));
  showStep(
    content,
    t("register.wordsTitle"),
    h("p", {}, t("register.wordsIntro")),
    h("div", { class: "alert warning" }, h("p", {}, t("register.wordsOnce"))),
    recoverySheet(email, words),
    h("p", { class: "actions" }, print, written),
  );
}

/** Three positions drawn at random, in order: which words the person types back. */
function positionsToAsk(count: number): number[] {
  const chosen = new Set<number>();
  const draw = new Uint32Array(1);
  while (chosen.size < WORDS_ASKED) {
    crypto.getRandomValues(draw);
    chosen.add(draw[0]! % count);
  }
  return [...chosen].sort((a, b) => a - b);
}

function checkWords(content: HTMLElement, api: Api, signedIn: SignedIn, email: string, words: string[], addressProven: boolean): void {
  const asked = positionsToAsk(words.length).map((index) => ({
    index,
    input: h("input", { type: "text", name: `word-${index + 1}`, autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true }),
  }));
  const submit = h("button", { type: "submit" }, t("register.check"));
  const problems = h("div", {});
  const back = h("button", { type: "button", class: "link", onclick: () => showWords(content, api, signedIn, email, words, addressProven) }, t("register.seeWords"));
  const form = h("form", {}, ...asked.map(({ index, input }) => field(t("register.wordNumber", { number: index + 1 }), input)), problems, submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const wrong = asked.find(({ index, input }) => input.value.trim().toLowerCase() !== words[index]);
    if (wrong) {
      replace(problems, errorBox(t("register.wordWrong", { number: wrong.index + 1 })));
      wrong.input.select();
      wrong.input.focus();
      return;
    }
    // From here on the words are nowhere on the page: shown once.
    words.fill("");
    if (addressProven) void showTotp(content, api, signedIn);
    else showEmail(content, api, signedIn, email);
  });
  showStep(content, t("register.checkTitle"), h("p", {}, t("register.checkIntro")), form, h("p", { class: "actions" }, back));
}

/** A form of one code field: `run` with the code, `next` once it is accepted. */
function codeForm<T>(input: HTMLInputElement, label: string, hint: string, button: MessageKey, run: (code: string) => Promise<T>, next: (result: T) => void): HTMLFormElement {
  const submit = h("button", { type: "submit" }, t(button));
  const problems = h("div", {});
  const form = h("form", {}, field(label, input, hint), problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    const done = busy(submit, t("signin.verifying"));
    try {
      next(await run(input.value.trim()));
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
      input.select();
      input.focus();
    }
  });
  return form;
}

function showEmail(content: HTMLElement, api: Api, signedIn: SignedIn, email: string): void {
  const code = h("input", { type: "text", name: "email-code", autocomplete: "one-time-code", spellcheck: "false", required: true });
  const form = codeForm(code, t("register.emailCode"), t("register.emailCodeHint"), "register.confirm", (value) => api.confirmEmail(value), () =>
    void showTotp(content, api, signedIn),
  );
  showStep(content, t("register.emailTitle"), h("p", {}, t("register.emailIntro", { email })), form);
  code.focus();
}

/** The key as people type it into an app: groups of four. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

/** The enrolment of an account whose registration stopped before it (signin.ts): the worker kept its password. */
export function continueEnrolment(content: HTMLElement, api: Api, signedIn: SignedIn): void {
  void showTotp(content, api, signedIn);
}

async function showTotp(content: HTMLElement, api: Api, signedIn: SignedIn): Promise<void> {
  showStep(content, t("register.totpTitle"), h("p", { role: "status" }, t("register.totpStarting")));
  let enrolment: { secret: string; otpauthUri: string };
  try {
    enrolment = await api.beginTotpEnrolment();
  } catch (error) {
    const again = h("button", { type: "button", onclick: () => void showTotp(content, api, signedIn) }, t("register.tryAgain"));
    showStep(content, t("register.totpTitle"), refusalBox(error), h("p", { class: "actions" }, again));
    return;
  }
  const code = h("input", { type: "text", name: "totp", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true });
  const form = codeForm(code, t("register.totpCode"), t("register.totpCodeHint"), "signin.verify", (value) => api.finishTotpEnrolment(value), (result) =>
    showRecoveryCodes(content, signedIn, result.account, result.recoveryCodes),
  );
  showStep(
    content,
    t("register.totpTitle"),
    h("p", {}, t("register.totpIntro")),
    h("figure", { class: "qr-code" }, qrCode(enrolment.otpauthUri, { label: t("register.qrLabel") }), h("figcaption", {}, t("register.totpKey"), " ", h("code", { class: "totp-key" }, grouped(enrolment.secret)))),
    form,
  );
}

function showRecoveryCodes(content: HTMLElement, signedIn: SignedIn, account: AccountView, codes: string[]): void {
  const print = h("button", { type: "button", class: "secondary", onclick: () => window.print() }, t("register.print"));
  const onward = h("button", { type: "button", onclick: () => signedIn(account) }, t("register.continue"));
  showStep(
    content,
    t("register.codesTitle"),
    h("p", {}, t("register.codesIntro")),
    h("div", { class: "recovery-sheet" }, h("h2", {}, t("register.codesSheetTitle", { email: account.email })), h("ul", { class: "recovery-codes" }, ...codes.map((c) => h("li", {}, h("code", {}, c))))),
    h("p", { class: "actions" }, print, onward),
  );
}

/** A new password's fields, judged as typed (registration, a forgotten password, a password change). */
export interface NewPasswordFields {
  password: HTMLInputElement;
  again: HTMLInputElement;
  /** The password with its hint, the verdict, and the repetition, in that order. */
  fields: HTMLElement[];
  /** Judges the password again (when the words it must not contain change). */
  rejudge: () => void;
  /**
   * Judges the password and its repetition: says what is wrong in `problems` and
   * answers false, or answers true when both hold.
   */
  accepted: (problems: HTMLElement) => Promise<boolean>;
}

/**
 * A new password and its repetition, the password judged as typed against the
 * person's own words (`identity`: address, name), as the CLI judges it.
 */
export function newPasswordFields(label: string, identity: () => string[]): NewPasswordFields {
  const password = h("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true });
  const again = h("input", { type: "password", name: "new-password-again", autocomplete: "new-password", required: true });
  const strength = h("p", { class: "strength", id: uniqueId("strength"), "aria-live": "polite" });
  // zxcvbn answers asynchronously, so only the latest verdict is shown.
  let judging = 0;
  const judge = async (): Promise<string | null> => {
    const turn = ++judging;
    const refused = password.value ? refusalOf(await judgePassword(password.value, identity(), language())) : null;
    if (turn === judging) {
      strength.textContent = !password.value ? "" : (refused ?? t("register.passwordAccepted"));
      strength.className = `strength ${refused ? "weak" : "strong"}`;
    }
    return refused;
  };
  const rejudge = (): void => void judge().catch(() => undefined);
  password.addEventListener("input", rejudge);
  const passwordField = field(label, password, t("register.passwordHint"));
  // The verdict is read with the field, after its hint.
  password.setAttribute("aria-describedby", `${password.getAttribute("aria-describedby") ?? ""} ${strength.id}`.trim());
  const accepted = async (problems: HTMLElement): Promise<boolean> => {
    let problem: string | null;
    try {
      problem = await judge();
    } catch (error) {
      replace(problems, refusalBox(error));
      return false;
    }
    if (problem !== null || password.value !== again.value) {
      replace(problems, errorBox(problem ?? t("register.passwordsDiffer")));
      password.focus();
      return false;
    }
    return true;
  };
  return { password, again, fields: [passwordField, strength, field(t("register.passwordAgain"), again)], rejudge, accepted };
}
