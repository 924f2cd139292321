/**
 * The security screen's parts for the account's secrets: the password changed (the
 * worker re-seals the keys here and signs the change, PROTOCOL 16.2) and the recovery
 * codes renewed (16.4) and the keys replaced (10.6). Each asks for a second factor again
 * when the last proof is old (step_up.ts), and the server signs the other devices out.
 */

import { type AppContext, refusalBox } from "../app.js";
import { field, h, replace, uniqueId } from "../dom.js";
import { t } from "../i18n.js";
import { newPasswordFields, recoverySheet } from "./register.js";
import { busy } from "./signin.js";
import { withStepUp } from "./step_up.js";

export function passwordPart(context: AppContext): HTMLElement {
  const { account } = context;
  const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true });
  const newPassword = newPasswordFields(t("security.newPassword"), () => [account.email, account.name]);
  const submit = h("button", { type: "submit" }, t("security.changePassword"));
  const problems = h("div", {});
  const outcome = h("div", { "aria-live": "polite" });
  const form = h("form", {}, field(t("security.currentPassword"), current), ...newPassword.fields, problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    replace(outcome);
    if (!(await newPassword.accepted(problems))) return;
    const done = busy(submit, t("security.changingPassword"));
    try {
      const changed = await withStepUp(context.api, outcome, () => context.api.changePassword(current.value, newPassword.password.value));
      if (changed === null) return;
      current.value = newPassword.password.value = newPassword.again.value = "";
      newPassword.rejudge();
      const message = t("security.passwordChanged");
      replace(outcome, h("p", { class: "alert success" }, message));
      context.announce(message);
    } catch (error) {
      replace(problems, refusalBox(error));
      current.focus();
    } finally {
      done();
    }
  });
  return h("div", {}, h("h2", {}, t("security.password")), h("p", {}, t("security.passwordIntro")), form, outcome);
}

/** `afterwards` runs once the keys are replaced (the security screen lists the devices again). */
export function keysPart(context: AppContext, afterwards: () => Promise<void>): HTMLElement {
  const password = h("input", { type: "password", name: "keys-password", autocomplete: "current-password", required: true });
  // After a lost or infected device, the server's copies wrapped to the former keys are replaced too.
  const compromised = h("input", { type: "checkbox", name: "keys-compromised" });
  const submit = h("button", { type: "submit", class: "secondary" }, t("security.rotateKeys"));
  const problems = h("div", {});
  const outcome = h("div", { "aria-live": "polite" });
  const rewrapOutcome = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {},
    field(t("security.keysPassword"), password),
    h("p", { class: "choice" }, h("label", {}, compromised, " ", t("security.keysCompromised"))),
    problems,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    replace(outcome);
    replace(rewrapOutcome);
    const done = busy(submit, t("security.rotatingKeys"));
    try {
      const rotated = await withStepUp(context.api, outcome, () => context.api.rotateKeys(password.value));
      if (rotated === null) return;
      password.value = "";
      const print = h("button", { type: "button", class: "secondary", onclick: () => window.print() }, t("register.print"));
      const heading = h("p", { class: "alert success", tabindex: "-1" }, t("security.keysRotated", { version: rotated.keyVersion }));
      replace(outcome, heading, recoverySheet(context.account.email, rotated.recoveryWords), h("p", {}, t("security.keysCompare")), h("p", { class: "actions" }, print));
      heading.focus();
      if (compromised.checked) await rewrapCopies(context, rewrapOutcome);
      await afterwards().catch(() => undefined);
    } catch (error) {
      replace(problems, refusalBox(error));
      password.focus();
    } finally {
      done();
    }
  });
  return h("div", {}, h("h2", {}, t("security.keys")), h("p", {}, t("security.keysIntro")), form, outcome, rewrapOutcome);
}

/**
 * Wraps again to the new keys the server's copies of every document's and message's
 * key wrapped to the former ones, and says how many; on a refusal, a button to go on
 * where it stopped (PROTOCOL 10.6).
 */
async function rewrapCopies(context: AppContext, place: HTMLElement): Promise<void> {
  const working = h("p", { class: "alert" }, t("security.rewrapping"));
  replace(place, working);
  try {
    const done = await withStepUp(context.api, place, () => context.api.rewrapKeys());
    if (done === null) return;
    const said = h("p", { class: "alert success", tabindex: "-1" }, t("security.rewrapped", { versions: done.versions, messages: done.messages }));
    const unopened = done.unopened > 0 ? h("p", { class: "alert warning" }, t("security.rewrapUnopened", { count: done.unopened })) : "";
    replace(place, said, unopened, h("p", {}, t("security.rewrapLimits")));
    context.announce(said.textContent ?? "");
  } catch (error) {
    const again = h("button", { type: "button", class: "secondary", onclick: () => void rewrapCopies(context, place) }, t("security.rewrapAgain"));
    replace(place, refusalBox(error), h("p", { class: "actions" }, again));
  }
}

export function recoveryCodesPart(context: AppContext): HTMLElement {
  const { account } = context;
  const outcome = h("div", { "aria-live": "polite" });
  const actions = h("p", { class: "actions" });
  const renew = h("button", { type: "button", class: "secondary" }, t("security.renewCodes"));
  const question = h("span", { id: uniqueId("renew-codes") }, t("security.renewQuestion"));
  const confirm = h("button", { type: "button", "aria-describedby": question.id }, t("security.confirmRenew"));
  const keep = h("button", { type: "button", class: "link" }, t("security.keepCodes"));
  renew.addEventListener("click", () => {
    replace(actions, question, " ", confirm, " ", keep);
    confirm.focus();
  });
  keep.addEventListener("click", () => {
    replace(actions, renew);
    renew.focus();
  });
  confirm.addEventListener("click", async () => {
    const done = busy(confirm, t("common.loading"));
    replace(outcome);
    try {
      const codes = await withStepUp(context.api, outcome, () => context.api.renewRecoveryCodes());
      if (codes === null) return;
      const print = h("button", { type: "button", class: "secondary", onclick: () => window.print() }, t("register.print"));
      const heading = h("p", { class: "alert success", tabindex: "-1" }, t("security.codesShown"));
      replace(
        outcome,
        heading,
        h("div", { class: "recovery-sheet" }, h("h3", {}, t("register.codesSheetTitle", { email: account.email })), h("ul", { class: "recovery-codes" }, ...codes.map((c) => h("li", {}, h("code", {}, c))))),
        h("p", { class: "actions" }, print),
      );
      heading.focus();
    } catch (error) {
      replace(outcome, refusalBox(error));
    } finally {
      done();
      replace(actions, renew);
    }
  });
  actions.append(renew);
  return h("div", {}, h("h2", {}, t("security.codes")), h("p", {}, t("security.codesIntro")), actions, outcome);
}
