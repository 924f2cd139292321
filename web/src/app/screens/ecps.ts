/**
 * Signing in with an e-CPS (Pro Santé Connect). The worker makes the request (its
 * state and PKCE verifier stay there); the provider's sign-in opens in a window of its
 * own, so that this page and its worker stay; the provider sends that window back to
 * the application, which hands the address it came back to over to this page (a
 * BroadcastChannel of the origin: the window may have lost its opener on the way) and
 * closes. The code in it is worth nothing without the worker's verifier. The keys
 * are then opened with the password, which the e-CPS does not replace.
 */

import { WorkerRefusal } from "../../worker/client.js";
import type { AccountView, Api } from "../api.js";
import { type AppContext, describeError, errorBox, refusalBox } from "../app.js";
import { field, formatDate, h, replace } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { busy } from "./signin.js";
import { withStepUp } from "./step_up.js";

const CHANNEL = "uhealthsec-professional-sign-in";

/**
 * In the provider's window come back to the application (`?state=…&code=…`,
 * `&link_code=…` or `&error=…`): hands the address to the page that opened it and closes. True when
 * this page is that window, which then shows only that it is done.
 */
export function relayProfessionalReturn(root: HTMLElement): boolean {
  const query = new URLSearchParams(location.search);
  if (!query.has("state") || !(query.has("code") || query.has("link_code") || query.has("error"))) return false;
  const channel = new BroadcastChannel(CHANNEL);
  channel.postMessage(location.href);
  channel.close();
  // The code leaves the address bar and this window's history at once.
  history.replaceState(null, "", location.pathname);
  replace(root, h("section", { class: "narrow" }, h("h1", {}, t("ecps.returned")), h("p", {}, t("ecps.returnedHint"))));
  window.close();
  return true;
}

/**
 * Opens the provider's window at the address `start` gives (the worker's request),
 * `opened` once it is; the address it comes back to.
 */
async function throughProviderWindow(start: () => Promise<string>, opened: () => void): Promise<string> {
  const channel = new BroadcastChannel(CHANNEL);
  try {
    const returned = new Promise<string>((resolve) => channel.addEventListener("message", (event) => resolve(String(event.data)), { once: true }));
    if (window.open(await start(), "uhealthsec-e-cps", "popup,width=560,height=720") === null) throw new Error(t("ecps.popupBlocked"));
    opened();
    return await returned;
  } finally {
    channel.close();
  }
}

/** What the server's refusals of an e-CPS sign-in mean, in the reader's language. */
function describeProfessionalError(error: unknown): string {
  if (error instanceof WorkerRefusal && error.identifier === "not_found") return t("ecps.unavailable");
  if (error instanceof WorkerRefusal && error.identifier === "bad_request") {
    const known: [string, MessageKey][] = [
      ["is not linked to a U-HealthSec account", "ecps.notLinked"],
      ["expired or was already used", "ecps.expired"],
      ["cancelled or refused by the provider", "ecps.cancelled"],
      ["assurance level", "ecps.weakLevel"],
      ["account is disabled", "ecps.disabled"],
    ];
    const found = known.find(([english]) => error.message.includes(english));
    return found ? t(found[1]) : t("ecps.refused", { reason: error.message });
  }
  return describeError(error);
}

/** The button of the sign-in screen; `back` shows that screen again. */
export function professionalSignInButton(content: HTMLElement, api: Api, signedIn: (account: AccountView) => void, back: () => void): HTMLElement {
  const start = h("button", { type: "button", class: "secondary" }, t("ecps.start"));
  const problems = h("div", {});
  start.addEventListener("click", async () => {
    const done = busy(start, t("ecps.opening"));
    replace(problems);
    try {
      const landed = await throughProviderWindow(() => api.beginProfessionalSignIn(), () => showWaiting(content, api, back));
      const account = await api.finishProfessionalSignIn(landed);
      showPassword(content, api, signedIn, back, account.name);
    } catch (error) {
      void api.cancelSignIn().catch(() => undefined);
      back();
      const box = content.querySelector<HTMLElement>("[data-professional-problems]");
      if (box) replace(box, errorBox(describeProfessionalError(error)));
      else replace(problems, errorBox(describeProfessionalError(error)));
    } finally {
      done();
    }
  });
  return h("div", { class: "professional" }, h("p", {}, t("ecps.intro")), start, h("div", { "data-professional-problems": "" }, problems));
}

function showWaiting(content: HTMLElement, api: Api, back: () => void): void {
  const cancel = h("button", { type: "button", class: "link" }, t("signin.back"));
  cancel.addEventListener("click", () => {
    void api.cancelSignIn().catch(() => undefined);
    back();
  });
  const heading = h("h1", { tabindex: "-1" }, t("ecps.title"));
  replace(content, heading, h("p", { "aria-live": "polite" }, t("ecps.waiting")), h("p", { class: "actions" }, cancel));
  heading.focus();
}

function showPassword(content: HTMLElement, api: Api, signedIn: (account: AccountView) => void, back: () => void, name: string): void {
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, t("ecps.unlock"));
  const problems = h("div", {});
  const form = h("form", {}, field(t("signin.password"), password, t("ecps.passwordHint")), problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(submit, t("signin.working"));
    replace(problems);
    try {
      const account = await api.unlockProfessionalSignIn(password.value);
      password.value = "";
      signedIn(account);
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
      password.select();
      password.focus();
    }
  });
  const cancel = h("button", { type: "button", class: "link" }, t("signin.back"));
  cancel.addEventListener("click", () => {
    void api.cancelSignIn().catch(() => undefined);
    back();
  });
  const heading = h("h1", { tabindex: "-1" }, t("ecps.verified", { name }));
  replace(content, heading, h("p", {}, t("ecps.passwordIntro")), form, h("p", { class: "actions" }, cancel));
  password.focus();
}

/** The security screen's part: the e-CPS linked to the account, and one linked. */
export async function professionalIdentityPart(context: AppContext): Promise<HTMLElement> {
  const part = h("div", {}, h("h2", {}, t("ecps.identities")), h("p", {}, t("ecps.identitiesIntro")));
  const list = h("ul", { class: "readers identities" });
  const outcome = h("div", { "aria-live": "polite" });
  const show = (identities: IdentityView[]): void =>
    replace(list, ...(identities.length === 0 ? [h("li", {}, t("ecps.noIdentity"))] : identities.map((i) => identityItem(context, i, outcome, show))));
  try {
    show(await context.api.professionalIdentities());
  } catch (error) {
    part.append(refusalBox(error));
    return part;
  }
  const link = h("button", { type: "button", class: "secondary" }, t("ecps.link"));
  link.addEventListener("click", async () => {
    const done = busy(link, t("ecps.opening"));
    replace(outcome, h("p", {}, t("ecps.waiting")));
    try {
      const identities = await withStepUp(context.api, outcome, async () => {
        const landed = await throughProviderWindow(
          () => context.api.beginProfessionalLink(),
          () => replace(outcome, h("p", {}, t("ecps.waiting"))),
        );
        return context.api.finishProfessionalLink(landed);
      });
      if (identities === null) return;
      show(identities);
      const message = t("ecps.linked");
      replace(outcome, h("p", { class: "alert success" }, message));
      context.announce(message);
    } catch (error) {
      const refusal = error instanceof WorkerRefusal ? error.identifier : null;
      const said = refusal === "not_found" ? t("ecps.notOffered") : describeProfessionalError(error);
      replace(outcome, errorBox(said));
    } finally {
      done();
    }
  });
  part.append(list, link, outcome);
  return part;
}

type IdentityView = Awaited<ReturnType<Api["professionalIdentities"]>>[number];

/** A linked e-CPS with its button to unlink it (a second factor proven in the last minutes needed). */
function identityItem(context: AppContext, identity: IdentityView, outcome: HTMLElement, show: (identities: IdentityView[]) => void): HTMLElement {
  const description = t("ecps.identity", { rpps: identity.rpps ?? "—", linked: formatDate(identity.linkedAt, locale()) });
  const unlink = h("button", { type: "button", class: "secondary", "aria-label": t("ecps.unlinkLabel", { identity: description }) }, t("ecps.unlink"));
  unlink.addEventListener("click", async () => {
    const done = busy(unlink, t("ecps.unlinking"));
    replace(outcome);
    try {
      const identities = await withStepUp(context.api, outcome, () => context.api.unlinkProfessionalIdentity(identity.id));
      if (identities === null) {
        done();
        return;
      }
      show(identities);
      const message = t("ecps.unlinked");
      replace(outcome, h("p", { class: "alert success" }, message));
      context.announce(message);
    } catch (error) {
      done();
      replace(outcome, errorBox(describeError(error)));
    }
  });
  return h("li", { "data-identity": identity.id }, h("p", {}, description), unlink);
}
