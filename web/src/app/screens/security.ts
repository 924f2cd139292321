/**
 * The account's security (#/security): the background checks of the key directory
 * and the journal (security_watch.ts), run again on demand, and the devices signed in
 * to the account, each of which can be signed out (this one too, which ends the
 * session here). The password and the recovery codes are changed by account_security.ts,
 * the account's passkeys listed and added by passkeys.ts, its e-CPS by ecps.ts.
 */

import type { SessionView, TrustCheckView } from "../../worker/messages.js";
import { type AppContext, ROUTES, type Screen, errorBox, refusalBox } from "../app.js";
import { formatDate, h, replace } from "../dom.js";
import { locale, t } from "../i18n.js";
import { keysPart, passwordPart, recoveryCodesPart } from "./account_security.js";
import { professionalIdentityPart } from "./ecps.js";
import { passkeysPart } from "./passkeys.js";
import { busy } from "./signin.js";

export async function securityScreen(context: AppContext): Promise<Screen> {
  const title = t("security.title");
  const content = h("section", { class: "narrow" }, h("h1", {}, title));
  const devices = h("div", {}, await devicesPart(context));
  // Replacing the keys signs the other devices out: the list is read again.
  const keys = keysPart(context, async () => replace(devices, await devicesPart(context)));
  content.append(
    checksPart(context),
    passwordPart(context),
    recoveryCodesPart(context),
    keys,
    await passkeysPart(context),
    await professionalIdentityPart(context),
    devices,
  );
  return { title, content };
}

function describeCheck(check: TrustCheckView | null): string {
  if (check === null) return t("security.notChecked");
  return t("security.lastCheck", { when: formatDate(check.checkedAt, locale()), directory: check.directorySize, journal: check.journalSize });
}

function checksPart(context: AppContext): HTMLElement {
  const state = h("p", { id: "trust-state" }, describeCheck(context.trust.last));
  const outcome = h("div", { "aria-live": "polite" });
  const checkNow = h("button", { type: "button" }, t("security.checkNow"));
  checkNow.addEventListener("click", async () => {
    const done = busy(checkNow, t("common.loading"));
    replace(outcome);
    try {
      const check = await context.trust.check();
      replace(state, describeCheck(check ?? context.trust.last));
      if (check !== null) replace(outcome, h("p", { class: "alert success" }, t("security.checked")));
      else replace(outcome, errorBox(t("error.network")));
    } catch (error) {
      replace(outcome, refusalBox(error));
    } finally {
      done();
    }
  });
  return h(
    "div",
    {},
    h("h2", {}, t("security.checks")),
    h("p", {}, t("security.checksIntro")),
    state,
    checkNow,
    outcome,
    h("p", {}, h("a", { href: ROUTES.trust }, t("security.compare"))),
  );
}

async function devicesPart(context: AppContext): Promise<HTMLElement> {
  const part = h("div", {}, h("h2", {}, t("security.devices")));
  const outcome = h("div", { "aria-live": "polite" });
  const list = h("ul", { class: "readers devices" });
  const show = (sessions: SessionView[]) => replace(list, ...sessions.map((s) => deviceItem(context, s, list, outcome, show)));
  try {
    show(await context.api.sessions());
  } catch (error) {
    part.append(refusalBox(error));
    return part;
  }
  part.append(list, outcome);
  return part;
}

function deviceItem(context: AppContext, session: SessionView, list: HTMLElement, outcome: HTMLElement, show: (sessions: SessionView[]) => void): HTMLElement {
  const language = locale();
  const created = formatDate(session.createdAt, language);
  const description = t("security.device", { device: session.deviceName, created, used: formatDate(session.lastUsedAt, language) });
  const revoke = h(
    "button",
    { type: "button", class: "secondary", "aria-label": session.current ? undefined : t("security.revokeLabel", { device: session.deviceName, created }) },
    session.current ? t("security.revokeThis") : t("security.revoke"),
  );
  revoke.addEventListener("click", async () => {
    const done = busy(revoke, t("common.loading"));
    replace(outcome);
    try {
      if (await context.api.revokeSession(session.id)) {
        context.signOut();
        return;
      }
      const message = t("security.revoked", { device: session.deviceName });
      show(await context.api.sessions());
      replace(outcome, h("p", { class: "alert success" }, message));
      context.announce(message);
      list.querySelector<HTMLElement>("button")?.focus();
    } catch (error) {
      replace(outcome, refusalBox(error));
    } finally {
      done();
    }
  });
  return h(
    "li",
    { "data-session": session.id },
    h("p", {}, h("strong", {}, description), session.current ? ` (${t("security.thisDevice")})` : null),
    revoke,
  );
}
