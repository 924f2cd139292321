/**
 * The unlock screen of an idle-locked session (app/idle.ts): the password alone opens
 * the keys again, in the worker, which checks they are the session's own keys. After
 * five wrong passwords the worker signs the device out; a full sign-in follows.
 */

import { WorkerRefusal } from "../../worker/client.js";
import type { AccountView, Api } from "../api.js";
import { type Screen, refusalBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { busy } from "./signin.js";

export function unlockScreen(api: Api, account: AccountView, unlocked: (account: AccountView) => void, signedOut: (why?: string) => void): Screen {
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, "data-autofocus": true });
  const submit = h("button", { type: "submit" }, t("unlock.submit"));
  const problems = h("div", {});
  const form = h("form", {}, h("input", { type: "email", name: "email", autocomplete: "username", value: account.email, hidden: true, readonly: true }), field(t("signin.password"), password), problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("unlock.working"));
    replace(problems);
    const typed = password.value;
    password.value = "";
    try {
      unlocked(await api.unlockKeys(typed));
    } catch (error) {
      if (error instanceof WorkerRefusal && error.identifier === "signed_out") {
        signedOut(t("unlock.signedOut"));
        return;
      }
      done();
      replace(problems, refusalBox(error));
      password.focus();
    }
  });
  const leave = h("button", { type: "button", class: "secondary", onclick: () => signedOut() }, t("nav.signOut"));
  const content = h(
    "section",
    { class: "narrow" },
    h("h1", {}, t("unlock.title")),
    h("p", {}, t("unlock.intro", { name: account.name || account.email })),
    form,
    h("p", { class: "actions" }, leave),
  );
  return { title: t("unlock.title"), content };
}
