/**
 * A sensitive change (password, second factors, e-CPS) made once more after a second
 * factor proven again. The server refuses such a change when the last proof is more
 * than five minutes old (PROTOCOL, sign-in values on the wire); the person then gives
 * the app's code, a recovery code or a passkey here, in place, and the change is made
 * again without leaving the screen. No other refusal asks for a factor.
 */

import { WorkerRefusal } from "../../worker/client.js";
import type { Api } from "../api.js";
import { errorBox, refusalBox } from "../app.js";
import { h, replace, uniqueId } from "../dom.js";
import { t } from "../i18n.js";
import { answerPasskeyRequest, describePasskeyError } from "./passkeys.js";
import { busy, factorField } from "./signin.js";

function needsStepUp(error: unknown): boolean {
  return error instanceof WorkerRefusal && error.identifier === "step_up_required";
}

/**
 * Runs `change`; if the server asks for a recent second factor, asks for one in
 * `place` and runs `change` again once it is proven. Null if the person cancelled.
 * Any other refusal is thrown, as `change` threw it.
 */
export async function withStepUp<T>(api: Api, place: HTMLElement, change: () => Promise<T>): Promise<T | null> {
  try {
    return await change();
  } catch (error) {
    if (!needsStepUp(error)) throw error;
  }
  if (!(await proveAgain(api, place))) return null;
  return change();
}

/** Asks for a second factor in `place` until one is proven (true) or the person cancels (false). */
function proveAgain(api: Api, place: HTMLElement): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (proven: boolean): void => {
      replace(place);
      resolve(proven);
    };
    const show = (kind: "totp" | "recoveryCode"): void => {
      const { input: code, field: codeField } = factorField(kind);
      const submit = h("button", { type: "submit" }, t("stepUp.confirm"));
      const cancel = h("button", { type: "button", class: "link", onclick: () => finish(false) }, t("stepUp.cancel"));
      const other = h("button", { type: "button", class: "link", onclick: () => show(kind === "totp" ? "recoveryCode" : "totp") }, t(kind === "totp" ? "signin.useRecovery" : "signin.useTotp"));
      const problems = h("div", {});
      const form = h("form", {}, codeField, problems, h("p", { class: "actions" }, submit, " ", other, " ", cancel));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const done = busy(submit, t("signin.verifying"));
        replace(problems);
        try {
          await api.stepUp(kind === "totp" ? { totp: code.value } : { recoveryCode: code.value });
          finish(true);
        } catch (error) {
          done();
          replace(problems, refusalBox(error));
          code.select();
          code.focus();
        }
      });
      const passkey = h("button", { type: "button", class: "secondary" }, t("signin.usePasskey"));
      const passkeyProblems = h("div", {});
      passkey.addEventListener("click", async () => {
        const done = busy(passkey, t("signin.verifying"));
        replace(passkeyProblems);
        try {
          await api.stepUp({ credential: await answerPasskeyRequest(await api.stepUpPasskeyOptions()) });
          finish(true);
        } catch (error) {
          done();
          const refused = error instanceof WorkerRefusal && error.identifier === "unauthorized";
          replace(passkeyProblems, errorBox(refused ? t("passkeys.refused") : describePasskeyError(error, false)));
        }
      });
      const title = h("h3", { id: uniqueId("step-up"), tabindex: "-1" }, t("stepUp.title"));
      replace(
        place,
        h(
          "div",
          { class: "step-up", role: "group", "aria-labelledby": title.id },
          title,
          h("p", {}, t("stepUp.intro")),
          form,
          h("div", { class: "passkey-choice" }, h("p", {}, t("stepUp.orPasskey")), passkey, passkeyProblems),
        ),
      );
      code.focus();
    };
    show("totp");
  });
}
