/**
 * The link mailed when 100 failures in a row blocked a password or second-factor codes
 * (`<server>/app/#/unblock?token=…`, R7, PROTOCOL 14). As for an invitation's link
 * (practice_join.ts), the token is in the fragment, which the browser never sends, and
 * is taken out of the address bar and the history as soon as the page reads it. It is
 * sent only when the person presses the button: a mail scanner that opens the link
 * does not use it up.
 */

import type { Api } from "../api.js";
import { refusalBox, type Screen } from "../app.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { busy } from "./signin.js";

export const UNBLOCK_ROUTE = "#/unblock";

let waiting: string | null = null;

export function isUnblockRoute(hash: string): boolean {
  return hash === UNBLOCK_ROUTE || hash.startsWith(`${UNBLOCK_ROUTE}?`);
}

/** Takes the token out of the address (`#/unblock?token=…`) into this module. */
export function takeUnblockTokenFromAddress(): void {
  if (!location.hash.startsWith(`${UNBLOCK_ROUTE}?`)) return;
  const token = new URLSearchParams(location.hash.slice(UNBLOCK_ROUTE.length + 1)).get("token")?.trim();
  waiting = token ? token : null;
  history.replaceState(history.state, "", `${location.pathname}${location.search}${UNBLOCK_ROUTE}`);
}

export function unblockScreen(api: Api): Screen {
  const title = t("unblock.title");
  const content = h("section", { class: "narrow" }, h("h1", {}, title));
  const signIn = h("p", { class: "actions" }, h("a", { href: "#/" }, t("unblock.signIn")));
  const token = waiting;
  if (!token) {
    content.append(h("p", {}, t("unblock.noLink")), signIn);
    return { title, content };
  }
  const submit = h("button", { type: "submit", "data-autofocus": true }, t("unblock.submit"));
  const outcome = h("div", { "aria-live": "polite" });
  const form = h("form", {}, h("p", {}, t("unblock.intro")), h("p", {}, t("unblock.advice")), outcome, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("unblock.working"));
    replace(outcome);
    try {
      const unblocked = await api.unblock(token);
      waiting = null;
      const said = t(unblocked === "password" ? "unblock.donePassword" : "unblock.doneFactors");
      replace(content, h("h1", {}, title), h("p", { class: "alert success", role: "status" }, said), signIn);
    } catch (error) {
      done();
      replace(outcome, refusalBox(error));
    }
  });
  content.append(form, signIn);
  return { title, content };
}
