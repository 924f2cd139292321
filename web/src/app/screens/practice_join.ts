/**
 * Joining a practice from the link of an invitation mail (`<server>/app/#/join?code=…`),
 * as `uhs register --invitation` and `uhs practice join` do. The code is a secret: it
 * is in the fragment, which the browser never sends, and is taken out of the address
 * bar and the history as soon as the page reads it; it is then kept in this module's
 * memory only (never in the page's text, never in storage) until it is used or
 * refused, and a reload forgets it (the mail's link works again).
 *
 * Without an account, the person registers (register.ts, the address proven by the
 * invitation itself); with one, they sign in and accept it here.
 */

import type { AccountKind } from "../../client/registration.js";
import type { AccountView, NoticeView } from "../api.js";
import { type AppContext, refusalBox, ROUTES, type Screen } from "../app.js";
import { field, h, replace, uniqueId } from "../dom.js";
import { t } from "../i18n.js";
import { noticeText } from "./consents.js";
import { PRACTICE_ROUTE, roleName } from "./practice.js";
import type { Invited } from "./register.js";
import { busy } from "./signin.js";

export const JOIN_ROUTE = "#/join";

interface WaitingInvitation {
  code: string;
  /** The address and role the mail's link names: what the screens say and prefill; the server decides. */
  email: string;
  role: string;
}

let waiting: WaitingInvitation | null = null;

/** Whether `hash` is the join screen's, with or without the link's parameters. */
export function isJoinRoute(hash: string): boolean {
  return hash === JOIN_ROUTE || hash.startsWith(`${JOIN_ROUTE}?`);
}

/**
 * Takes the invitation out of the address (`#/join?code=…&email=…&role=…`) into this
 * module, and puts `#/join` in its place, in the history too: the code is never shown,
 * nor left for the back button or another person at this browser.
 */
export function takeInvitationFromAddress(): void {
  const query = location.hash.startsWith(`${JOIN_ROUTE}?`) ? location.hash.slice(JOIN_ROUTE.length + 1) : null;
  if (query === null) return;
  const params = new URLSearchParams(query);
  const code = params.get("code")?.trim();
  waiting = code ? { code, email: params.get("email")?.trim() ?? "", role: params.get("role") ?? "" } : null;
  history.replaceState(history.state, "", `${location.pathname}${location.search}${JOIN_ROUTE}`);
}

/** Where a sign-in leads: the invitation waiting to be accepted, if one is. */
export function routeAfterSignIn(): string {
  return waiting ? JOIN_ROUTE : ROUTES.inbox;
}

/** The waiting invitation as the registration screen uses it, if there is one. */
export function invitedRegistration(): Invited | undefined {
  const invitation = waiting;
  if (!invitation) return undefined;
  const kind: AccountKind = invitation.role === "patient" ? "patient" : "practitioner";
  return {
    email: invitation.email,
    kind,
    code: invitation.code,
    used: () => {
      if (waiting === invitation) waiting = null;
    },
  };
}

function invitationText(invitation: WaitingInvitation): string {
  return t("join.invitedAs", { email: invitation.email, role: roleName(invitation.role) });
}

/** A practice's notice as a patient reads it before joining: what it is, its text, its version. */
export function noticeSection(notice: NoticeView): HTMLElement {
  const headingId = uniqueId("notice");
  return h(
    "section",
    { class: "notice", "aria-labelledby": headingId },
    h("h2", { id: headingId }, t("join.noticeTitle")),
    h("p", {}, t("join.noticeIntro", { name: notice.practiceName })),
    noticeText(notice),
    h("p", { class: "hint" }, t("join.noticeVersion", { version: notice.version })),
  );
}

/** Signed out: register with the invitation, or sign in to accept it. */
export function joinSignedOutScreen(navigate: (route: string) => void): Screen {
  const title = t("join.title");
  const content = h("section", { class: "narrow" }, h("h1", {}, title));
  if (!waiting) {
    content.append(h("p", {}, t("join.noLink")), h("p", { class: "actions" }, h("a", { href: "#/" }, t("join.signIn"))));
    return { title, content };
  }
  const register = h("button", { type: "button", onclick: () => navigate(ROUTES.register) }, t("join.register"));
  const signIn = h("button", { type: "button", class: "secondary", onclick: () => navigate("#/") }, t("join.haveAccount"));
  content.append(h("p", {}, invitationText(waiting)), h("p", {}, t("join.choose")), h("p", { class: "actions" }, register, signIn));
  return { title, content };
}

/**
 * Signed in: accept the waiting invitation, or one whose code is typed from the mail.
 * A patient's invitation shows the practice's information notice first (how the file
 * is shared within its care team, R11); the acceptance names the version shown, which
 * records that the patient was informed of it.
 */
export function joinScreen(context: AppContext): Screen {
  const title = t("join.title");
  const content = h("section", { class: "narrow" });
  const invitation = waiting;
  const outcome = h("div", {});
  const noticePlace = h("div", {});
  const submit = h("button", { type: "submit" }, t("join.accept"));
  // Without a link, the code is typed from the mail, hidden as a password is.
  const typed = invitation ? null : h("input", { type: "password", name: "invitation-code", autocomplete: "off", spellcheck: "false", required: true });
  const form = h("form", {}, typed ? field(t("join.code"), typed, t("join.codeHint")) : null, noticePlace, outcome, submit);
  /** The notice shown, for the code it was shown for: a typed code changed is shown its own. */
  let shown: { code: string; notice: NoticeView } | null = null;
  const forget = () => {
    // Used or refused, the code is forgotten: the mail's link brings it back.
    if (invitation) {
      invitation.code = "";
      if (waiting === invitation) waiting = null;
    }
  };
  const refused = (error: unknown) => {
    replace(outcome, refusalBox(error, "join.refusedAdvice"));
    // A linked code is not tried twice: it is forgotten.
    if (invitation) {
      submit.remove();
      forget();
    }
    if (typed) {
      typed.value = "";
      typed.focus();
    }
  };
  /** Shows the notice of a patient's invitation; false when there is none to show (a staff invitation) or it was refused. */
  const showNotice = async (code: string): Promise<boolean> => {
    let notice: NoticeView;
    try {
      notice = await context.api.invitationNotice(code);
    } catch (error) {
      refused(error);
      return false;
    }
    if (!notice.forPatient) {
      shown = null;
      replace(noticePlace);
      return false;
    }
    shown = { code, notice };
    replace(noticePlace, noticeSection(notice));
    submit.textContent = t("join.acceptNotice");
    return true;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(outcome);
    const code = (invitation ? invitation.code : (typed?.value ?? "")).trim();
    const done = busy(submit, t("join.joining"));
    // A patient reads the notice before joining: a code not yet shown its notice shows it, and waits for a second click.
    if (shown?.code !== code) {
      const toRead = await showNotice(code);
      done();
      if (toRead || !submit.isConnected) return;
    }
    try {
      const practice = await context.api.joinPractice(code, shown?.notice.version ?? null);
      forget();
      showJoined(context, content, practice);
    } catch (error) {
      done();
      refused(error);
    }
  });
  const intro = invitation ? h("p", {}, invitationText(invitation)) : h("p", {}, t("join.typeCode"));
  const mismatch = invitation && invitation.email && !sameAddress(invitation.email, context.account) ? h("div", { class: "alert warning" }, h("p", {}, t("join.otherAddress", { email: context.account.email }))) : null;
  replace(content, h("h1", {}, title), intro, mismatch, form);
  // A linked patient's invitation shows its notice at once.
  if (invitation && invitation.role === "patient") void showNotice(invitation.code.trim());
  return { title, content };
}

function sameAddress(email: string, account: AccountView): boolean {
  return email.toLowerCase() === account.email.toLowerCase();
}

function showJoined(context: AppContext, content: HTMLElement, practice: { id: string; name: string; role: string }): void {
  const said = t("join.joined", { name: practice.name, role: roleName(practice.role) });
  const onward = practice.role === "patient" ? h("a", { href: ROUTES.inbox }, t("join.toDocuments")) : h("a", { href: PRACTICE_ROUTE(practice.id) }, t("join.toPractice"));
  const heading = h("h1", { tabindex: "-1" }, t("join.joinedTitle"));
  replace(content, heading, h("div", { class: "alert success" }, h("p", {}, said)), h("p", { class: "actions" }, onward));
  context.announce(said);
  heading.focus();
}
