/**
 * A forgotten password (#/password-recovery, PROTOCOL 16.5): the address, the code
 * mailed to it with a second factor, then the 24 recovery words and the new password.
 * The worker opens the keys with the words, re-seals them under the new password and
 * signs the change; the server then ends every session of the account. The words and
 * the password go to the worker and are cleared from the page once sent.
 */

import { WorkerRefusal } from "../../worker/client.js";
import type { Api } from "../api.js";
import { type Screen, errorBox, refusalBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { answerPasskeyRequest, describePasskeyError } from "./passkeys.js";
import { newPasswordFields, showStep } from "./register.js";
import { busy, factorField } from "./signin.js";

export const RECOVERY_ROUTE = "#/password-recovery";

export function passwordRecoveryScreen(api: Api): Screen {
  const content = h("section", { class: "narrow recovery" });
  showAddress(content, api);
  return { title: t("recover.title"), content };
}

const backToSignIn = () => h("p", { class: "actions" }, h("a", { href: "#/" }, t("recover.backToSignIn")));

function showAddress(content: HTMLElement, api: Api): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, spellcheck: "false", "data-autofocus": true });
  const submit = h("button", { type: "submit" }, t("recover.send"));
  const problems = h("div", {});
  const form = h("form", {}, field(t("signin.email"), email), problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("recover.sending"));
    replace(problems);
    try {
      await api.startPasswordRecovery(email.value.trim());
      showProof(content, api, email.value.trim(), "totp");
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  });
  replace(content, h("h1", {}, t("recover.title")), h("p", {}, t("recover.intro")), h("p", {}, t("recover.noWords")), form, backToSignIn());
}

function showProof(content: HTMLElement, api: Api, email: string, kind: "totp" | "recoveryCode"): void {
  const code = h("input", { type: "text", name: "mailed-code", autocomplete: "one-time-code", spellcheck: "false", required: true });
  const { input: factor, field: factorPart } = factorField(kind);
  const submit = h("button", { type: "submit" }, t("recover.verify"));
  const problems = h("div", {});
  const form = h(
    "form",
    {},
    field(t("recover.code"), code, t("recover.codeHint", { email })),
    factorPart,
    problems,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("signin.verifying"));
    replace(problems);
    try {
      await api.provePasswordRecovery(code.value.trim(), kind === "totp" ? { totp: factor.value } : { recoveryCode: factor.value });
      showWords(content, api, email);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
      code.focus();
    }
  });
  const other = h(
    "button",
    { type: "button", class: "link", onclick: () => showProof(content, api, email, kind === "totp" ? "recoveryCode" : "totp") },
    t(kind === "totp" ? "signin.useRecovery" : "signin.useTotp"),
  );
  // A passkey stands for the app's code, as at sign-in: the mailed code is typed first.
  const passkey = h("button", { type: "button", class: "secondary" }, t("signin.usePasskey"));
  const passkeyProblems = h("div", {});
  code.addEventListener("input", () => replace(passkeyProblems));
  passkey.addEventListener("click", async () => {
    replace(passkeyProblems);
    if (!code.value.trim()) {
      replace(passkeyProblems, errorBox(t("recover.codeFirst")));
      code.focus();
      return;
    }
    const done = busy(passkey, t("signin.verifying"));
    try {
      const credential = await answerPasskeyRequest(await api.recoveryPasskeyOptions());
      await api.provePasswordRecovery(code.value.trim(), { credential });
      showWords(content, api, email);
    } catch (error) {
      done();
      // The server's refusal of the factor is the passkey's here, not a code's.
      const refused = error instanceof WorkerRefusal && error.identifier === "recovery_factor_refused";
      replace(passkeyProblems, errorBox(refused ? t("passkeys.refused") : describePasskeyError(error, false)));
    }
  });
  const passkeyChoice = h("div", { class: "passkey-choice" }, h("p", {}, t("recover.orPasskey")), passkey, passkeyProblems);
  showStep(content, t("recover.proofTitle"), h("p", {}, t("recover.proofIntro", { email })), form, passkeyChoice, h("p", { class: "actions" }, other), backToSignIn());
}

function showWords(content: HTMLElement, api: Api, email: string): void {
  const words = h("textarea", { name: "recovery-words", rows: "4", autocomplete: "off", spellcheck: "false", autocapitalize: "none", required: true });
  const newPassword = newPasswordFields(t("recover.newPassword"), () => [email]);
  const { password, again } = newPassword;
  const submit = h("button", { type: "submit" }, t("recover.replace"));
  const problems = h("div", {});
  const form = h(
    "form",
    {},
    field(t("recover.words"), words, t("recover.wordsHint")),
    ...newPassword.fields,
    problems,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    if (!(await newPassword.accepted(problems))) return;
    const done = busy(submit, t("recover.replacing"));
    try {
      const address = await api.finishPasswordRecovery(words.value, password.value);
      words.value = password.value = again.value = "";
      showDone(content, address);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
      words.focus();
    }
  });
  showStep(content, t("recover.wordsTitle"), h("p", {}, t("recover.wordsIntro")), form, backToSignIn());
}

function showDone(content: HTMLElement, email: string): void {
  showStep(
    content,
    t("recover.doneTitle"),
    h("p", { class: "alert success" }, t("recover.done", { email })),
    h("p", { class: "actions" }, h("a", { href: "#/", class: "button" }, t("recover.signIn"))),
  );
}
