/**
 * Sign-in: the address and password (the worker derives the keys with Argon2id,
 * which takes about a second, and proves a little work to the server), then the
 * second factor. The password goes to the worker and is not kept by the page.
 */

import { WorkerRefusal } from "../../worker/client.js";
import type { AccountView, Api } from "../api.js";
import { ROUTES, type Screen, errorBox, refusalBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { professionalSignInButton } from "./ecps.js";
import { describePasskeyError, signInWithPasskey } from "./passkeys.js";
import { RECOVERY_ROUTE } from "./password_recovery.js";
import { continueEnrolment } from "./register.js";

export function signInScreen(api: Api, signedIn: (account: AccountView) => void): Screen {
  const content = h("section", { class: "narrow" });
  showCredentials(content, api, signedIn);
  return { title: t("signin.title"), content };
}

/** A button that says it is working and cannot be pressed twice meanwhile. */
export function busy(button: HTMLButtonElement, label: string): () => void {
  const idle = button.textContent ?? "";
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  return () => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = idle;
  };
}

function showCredentials(content: HTMLElement, api: Api, signedIn: (account: AccountView) => void): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, spellcheck: "false", "data-autofocus": true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, t("signin.submit"));
  const problems = h("div", {});
  const form = h("form", { novalidate: false }, field(t("signin.email"), email), field(t("signin.password"), password), problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("signin.working"));
    replace(problems);
    try {
      const { factors } = await api.signIn(email.value.trim(), password.value);
      password.value = "";
      showSecondFactor(content, api, signedIn, factors.includes("totp") ? "totp" : "recoveryCode", factors.includes("webauthn"));
    } catch (error) {
      if (error instanceof WorkerRefusal && error.identifier === "enrolment_required") {
        password.value = "";
        continueEnrolment(content, api, signedIn);
        return;
      }
      done();
      replace(problems, refusalBox(error));
      password.focus();
    }
  });
  const register = h("p", { class: "actions" }, h("a", { href: ROUTES.register }, t("signin.register")), " ", h("a", { href: RECOVERY_ROUTE }, t("signin.forgotten")));
  const professional = professionalSignInButton(content, api, signedIn, () => showCredentials(content, api, signedIn));
  replace(content, h("h1", {}, t("signin.title")), h("p", {}, t("signin.intro")), form, professional, register);
}

/** The field of a second factor's code: the authenticator app's six digits, or a recovery code. */
export function factorField(kind: "totp" | "recoveryCode"): { input: HTMLInputElement; field: HTMLElement } {
  const input =
    kind === "totp"
      ? h("input", { type: "text", name: "totp", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9 ]{6,7}", maxlength: "7", required: true })
      : h("input", { type: "text", name: "recovery-code", autocomplete: "off", spellcheck: "false", required: true });
  return { input, field: kind === "totp" ? field(t("signin.totp"), input, t("signin.totpHint")) : field(t("signin.recovery"), input, t("signin.recoveryHint")) };
}

function showSecondFactor(content: HTMLElement, api: Api, signedIn: (account: AccountView) => void, kind: "totp" | "recoveryCode", passkey: boolean): void {
  const { input: code, field: codeField } = factorField(kind);
  const submit = h("button", { type: "submit" }, t("signin.verify"));
  const problems = h("div", {});
  const other = h(
    "button",
    { type: "button", class: "link", onclick: () => showSecondFactor(content, api, signedIn, kind === "totp" ? "recoveryCode" : "totp", passkey) },
    t(kind === "totp" ? "signin.useRecovery" : "signin.useTotp"),
  );
  const restart = h(
    "button",
    {
      type: "button",
      class: "link",
      onclick: () => {
        // The password waits in the worker for the second factor: it is forgotten now.
        void api.cancelSignIn().catch(() => undefined);
        showCredentials(content, api, signedIn);
      },
    },
    t("signin.back"),
  );
  const form = h("form", {}, codeField, problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("signin.verifying"));
    replace(problems);
    try {
      signedIn(await api.finishSignIn(code.value.replace(/\s+/g, ""), kind));
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
      code.select();
      code.focus();
    }
  });
  const heading = h("h1", { tabindex: "-1" }, t("signin.factorTitle"));
  replace(content, heading, passkey ? passkeyChoice(api, signedIn) : null, form, h("p", { class: "actions" }, other, restart));
  code.focus();
}

/** The passkey, offered first when the account has one; a refusal is said beside it. */
function passkeyChoice(api: Api, signedIn: (account: AccountView) => void): HTMLElement {
  const use = h("button", { type: "button" }, t("signin.usePasskey"));
  const problems = h("div", {});
  use.addEventListener("click", async () => {
    const done = busy(use, t("signin.verifying"));
    replace(problems);
    try {
      signedIn(await signInWithPasskey(api));
    } catch (error) {
      done();
      replace(problems, errorBox(describePasskeyError(error, false)));
      use.focus();
    }
  });
  return h("div", { class: "passkey-choice" }, use, problems, h("p", {}, t("signin.orCode")));
}
