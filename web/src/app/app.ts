/**
 * The application's frame: a header with the navigation, one main region that the
 * current screen fills, and a polite live region that says what happened. Screens
 * are chosen by the URL's fragment (#/inbox, #/documents/ID, #/send, #/trust, #/security), so
 * that the server serves one page and the back button works.
 */

import type { AccountView, Api } from "./api.js";
import { h, replace } from "./dom.js";
import { type MessageKey, language, setLanguage, t } from "./i18n.js";
import { describeFailure } from "./refusals.js";
import { documentScreen } from "./screens/document.js";
import { inboxScreen } from "./screens/inbox.js";
import { patientsScreen } from "./screens/patients.js";
import { patientFileScreen } from "./screens/patients_file.js";
import { registerScreen } from "./screens/register.js";
import { sendScreen } from "./screens/send.js";
import { signInScreen } from "./screens/signin.js";
import { trustScreen } from "./screens/trust.js";
import { securityScreen } from "./screens/security.js";
import { TrustWatch } from "./screens/security_watch.js";
import { PendingWatch } from "./screens/pending.js";
import { MESSAGES_ROUTE, messagesScreen } from "./screens/messages.js";
import { threadScreen } from "./screens/messages_thread.js";
import { practiceScreen } from "./screens/practice.js";
import { ALERTS_ROUTE_PATTERN, alertSettingsScreen, alertsScreen } from "./screens/alerts.js";
import { COMPLIANCE_ROUTE_PATTERN, complianceScreen } from "./screens/compliance.js";
import { invitedRegistration, isJoinRoute, joinScreen, joinSignedOutScreen, routeAfterSignIn, takeInvitationFromAddress } from "./screens/practice_join.js";
import { CONSENTS_ROUTE, consentsScreen } from "./screens/consents.js";
import { RIGHTS_ROUTE, rightsScreen } from "./screens/rights.js";
import { historyScreen } from "./screens/history.js";
import { MY_DOCUMENTS_ROUTE, myDocumentsScreen } from "./screens/my_documents.js";
import { IdleLock } from "./idle.js";
import { unlockScreen } from "./screens/unlock.js";
import { RECOVERY_ROUTE, passwordRecoveryScreen } from "./screens/password_recovery.js";
import { isUnblockRoute, takeUnblockTokenFromAddress, unblockScreen } from "./screens/unblock.js";

export interface Screen {
  /** The screen's heading, also the page's title. */
  title: string;
  content: HTMLElement;
}

export interface AppContext {
  api: Api;
  account: AccountView;
  /** Says `message` to assistive technologies and shows it in the status line. */
  announce(message: string): void;
  navigate(route: string): void;
  /** The key directory's and the journal's background checks. */
  trust: TrustWatch;
  /** Ends the session here (this device was signed out). */
  signOut(): void;
}

export const ROUTES = {
  inbox: "#/inbox",
  send: "#/send",
  trust: "#/trust",
  security: "#/security",
  document: (id: string) => `#/documents/${encodeURIComponent(id)}`,
  patients: "#/patients",
  patient: (patientFileId: string) => `#/patients/${encodeURIComponent(patientFileId)}`,
  register: "#/register",
  practice: "#/practice",
  history: "#/history",
} as const;

/** A refusal as the person reads it, in the chosen language (refusals.ts). */
export function describeError(error: unknown): string {
  return describeFailure(error).text;
}

/**
 * An alert box for a refusal; `role="alert"` has it read out at once. `code`, the
 * worker's code of the refusal, is shown in small print for support.
 */
export function errorBox(message: string, advice?: MessageKey, code?: string | null): HTMLElement {
  return h(
    "div",
    { class: "alert error", role: "alert" },
    h("p", {}, message),
    advice ? h("p", {}, t(advice)) : null,
    code ? h("p", {}, h("small", { class: "refusal-code" }, t("error.code", { code }))) : null,
  );
}

/** The alert box of `error`: its text, `advice` after it, its code in small print. */
export function refusalBox(error: unknown, advice?: MessageKey): HTMLElement {
  const { text, code } = describeFailure(error);
  return errorBox(text, advice, code);
}

/** The alert box of `error`, with `rules` (the server's bounds, in the person's language) when it refused the input itself. */
export function inputRefusalBox(error: unknown, rules: MessageKey): HTMLElement {
  return refusalBox(error, describeFailure(error).code === "bad_request" ? rules : undefined);
}

export class App {
  private account: AccountView | null = null;
  private readonly main: HTMLElement;
  private readonly header: HTMLElement;
  private readonly status: HTMLElement;
  private rendering = 0;
  private readonly trust: TrustWatch;
  /** Said above the next screen drawn, then forgotten. */
  private notice: string | null = null;
  /** Set while the keys are idle-locked: only the unlock screen shows. */
  private locked = false;
  private readonly idleLock = new IdleLock(() => void this.lock());
  private readonly pendingShares: PendingWatch;

  constructor(
    private readonly root: HTMLElement,
    private readonly api: Api,
  ) {
    this.trust = new TrustWatch(api, root);
    this.pendingShares = new PendingWatch(
      api,
      (message) => this.announce(message),
      (documentIds) => this.redrawDocumentShown(documentIds),
    );
    this.header = h("header", { class: "top" });
    this.main = h("main", { id: "main", tabindex: "-1" });
    // Said to screen readers only: each screen shows its own outcome where it happened.
    this.status = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    const skip = h("a", { class: "skip", href: "#main", onclick: (event: Event) => this.skipToContent(event) }, t("app.skip"));
    replace(this.root, skip, this.header, this.main, this.status);
    window.addEventListener("hashchange", () => void this.render());
  }

  async start(): Promise<void> {
    this.account = await this.api.account().catch(() => null);
    if (this.account) this.startSession();
    await this.render();
  }

  /** What runs while signed in and unlocked: the background checks, the idle lock. */
  private startSession(): void {
    this.trust.start();
    this.pendingShares.start();
    this.idleLock.start();
  }

  /** The idle lock: keys wiped in the worker, every screen replaced by the unlock screen. */
  private async lock(): Promise<void> {
    if (!this.account || this.locked) return;
    this.trust.stop();
    this.pendingShares.stop();
    this.locked = true;
    await this.render();
    await this.api.lockKeys().catch(() => undefined);
    this.announce(t("unlock.locked"));
  }

  /**
   * A document's screen drawn before its pending share completed shows its new reader,
   * unless the person is typing in it; other screens are left as they are.
   */
  private redrawDocumentShown(documentIds: string[]): void {
    if (this.locked || !this.account) return;
    if (this.main.contains(document.activeElement) && document.activeElement?.matches("input, textarea, select")) return;
    if (documentIds.some((id) => location.hash.toLowerCase() === ROUTES.document(id).toLowerCase())) void this.render();
  }

  announce(message: string): void {
    this.status.textContent = message;
  }

  private skipToContent(event: Event): void {
    event.preventDefault();
    this.main.focus();
  }

  private navigate(route: string): void {
    if (location.hash === route) void this.render();
    else location.hash = route;
  }

  private async signOut(): Promise<void> {
    this.trust.stop();
    this.idleLock.stop();
    this.pendingShares.stop();
    await this.api.signOut().catch(() => undefined);
    this.account = null;
    this.locked = false;
    this.navigate("#/");
  }

  private switchLanguage(): void {
    setLanguage(language() === "fr" ? "en" : "fr");
    void this.render();
  }

  private renderHeader(): void {
    const languageButton = h(
      "button",
      { type: "button", class: "link", lang: language() === "fr" ? "en" : "fr", "aria-label": t("app.languageLabel"), onclick: () => this.switchLanguage() },
      t("app.language"),
    );
    const brand = h("a", { class: "brand", href: this.account ? ROUTES.inbox : "#/" }, t("app.name"));
    if (!this.account || this.locked) {
      replace(this.header, brand, h("div", { class: "account" }, languageButton));
      return;
    }
    const here = location.hash;
    const link = (route: string, label: MessageKey) =>
      h("li", {}, h("a", { href: route, "aria-current": here.startsWith(route) ? "page" : undefined }, t(label)));
    const nav = h(
      "nav",
      { id: "main-nav", "aria-label": t("nav.label") },
      h(
        "ul",
        {},
        link(ROUTES.inbox, "nav.inbox"),
        // Only practitioners keep patient files and add documents to them (the server's rule).
        this.account.kind === "practitioner" ? link(ROUTES.patients, "nav.patients") : null,
        this.account.kind === "practitioner" ? link(ROUTES.send, "nav.send") : null,
        link(ROUTES.trust, "nav.trust"),
        link(ROUTES.security, "nav.security"),
        link(MESSAGES_ROUTE, "nav.messages"),
        // Practitioners run practices; a patient is only ever invited to one.
        this.account.kind === "practitioner" ? link(ROUTES.practice, "nav.practice") : null,
        ...(this.account.kind === "patient" ? [link(MY_DOCUMENTS_ROUTE, "nav.myDocuments"), link(CONSENTS_ROUTE, "nav.consents"), link(RIGHTS_ROUTE, "nav.rights")] : []),
        link(ROUTES.history, "nav.history"),
      ),
    );
    const who = h("span", { class: "who" }, t("nav.signedInAs", { name: this.account.name || this.account.email }));
    const signOut = h("button", { type: "button", class: "secondary", onclick: () => void this.signOut() }, t("nav.signOut"));
    const account = h("div", { id: "account-menu", class: "account" }, who, signOut, languageButton);
    replace(this.header, brand, this.menuButton(), nav, account);
  }

  /**
   * On a phone the navigation and the account's controls fold behind one button (the
   * stylesheet shows it below 40rem only); Escape folds them again and gives the
   * button the focus back. A new screen redraws the header, folded.
   */
  private menuButton(): HTMLElement {
    const button = h("button", { type: "button", class: "menu-toggle secondary", "aria-expanded": "false", "aria-controls": "main-nav account-menu" }, t("nav.menu"));
    const fold = (open: boolean) => {
      button.setAttribute("aria-expanded", String(open));
      this.header.classList.toggle("menu-open", open);
    };
    button.addEventListener("click", () => fold(button.getAttribute("aria-expanded") !== "true"));
    this.header.classList.remove("menu-open");
    this.header.onkeydown = (event: KeyboardEvent) => {
      if (event.key !== "Escape" || !this.header.classList.contains("menu-open")) return;
      fold(false);
      button.focus();
    };
    return button;
  }

  private async render(): Promise<void> {
    const turn = ++this.rendering;
    takeInvitationFromAddress();
    takeUnblockTokenFromAddress();
    this.renderHeader();
    const screen = await this.screenFor(location.hash);
    if (turn !== this.rendering) return; // a later navigation overtook this one
    document.title = `${screen.title} — ${t("app.name")}`;
    // Why the person landed here, once (a device signed out by the idle lock's guesses).
    const notice = this.notice;
    this.notice = null;
    replace(this.main, ...(notice ? [errorBox(notice)] : []), screen.content);
    this.focusStart();
  }

  /**
   * The heading is where a screen reader and the keyboard start on a new screen,
   * unless the screen names a field to start with. Also called once the page lets the
   * screens take input (main.ts), since an inert screen takes no focus.
   */
  focusStart(): void {
    const first = this.main.querySelector<HTMLElement>("[data-autofocus]");
    const heading = this.main.querySelector("h1");
    if (first) {
      first.focus();
    } else if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  private async screenFor(hash: string): Promise<Screen> {
    // The mailed link works whoever is signed in on this browser: it names its account.
    if (isUnblockRoute(hash)) return unblockScreen(this.api);
    if (!this.account) {
      const signedIn = (account: AccountView) => {
        this.account = account;
        this.startSession();
        this.navigate(routeAfterSignIn());
      };
      if (hash === ROUTES.register) return registerScreen(this.api, signedIn, invitedRegistration());
      if (isJoinRoute(hash)) return joinSignedOutScreen((route) => this.navigate(route));
      if (hash === RECOVERY_ROUTE) return passwordRecoveryScreen(this.api);
      return signInScreen(this.api, signedIn);
    }
    if (this.locked) {
      const unlocked = (account: AccountView) => {
        this.account = account;
        this.locked = false;
        this.startSession();
        // Back to the screen the lock hid, drawn again from the worker.
        void this.render();
      };
      const signedOut = (why?: string) => {
        this.notice = why ?? null;
        void this.signOut();
      };
      return unlockScreen(this.api, this.account, unlocked, signedOut);
    }
    const context: AppContext = {
      api: this.api,
      account: this.account,
      announce: (message) => this.announce(message),
      navigate: (route) => this.navigate(route),
      trust: this.trust,
      signOut: () => void this.signOut(),
    };
    const documentMatch = /^#\/documents\/([^/]+)$/.exec(hash);
    if (documentMatch) return documentScreen(context, decodeURIComponent(documentMatch[1]!));
    if (hash === ROUTES.send) return sendScreen(context);
    if (hash === ROUTES.trust) return trustScreen(context);
    if (hash === ROUTES.security) return securityScreen(context);
    if (hash === ROUTES.patients) return patientsScreen(context);
    const patientMatch = /^#\/patients\/([^/]+)$/.exec(hash);
    if (patientMatch) return patientFileScreen(context, decodeURIComponent(patientMatch[1]!));
    if (hash === MESSAGES_ROUTE) return messagesScreen(context);
    const threadMatch = /^#\/messages\/([^/]+)$/.exec(hash);
    if (threadMatch) return threadScreen(context, decodeURIComponent(threadMatch[1]!));
    if (isJoinRoute(hash)) return joinScreen(context);
    const complianceMatch = COMPLIANCE_ROUTE_PATTERN.exec(hash);
    if (complianceMatch) return complianceScreen(context, decodeURIComponent(complianceMatch[1]!));
    const alertsMatch = ALERTS_ROUTE_PATTERN.exec(hash);
    if (alertsMatch) {
      const practiceId = decodeURIComponent(alertsMatch[1]!);
      return alertsMatch[2] === "alerts" ? alertsScreen(context, practiceId) : alertSettingsScreen(context, practiceId);
    }
    const practiceMatch = /^#\/practice(?:\/([^/]+))?$/.exec(hash);
    if (practiceMatch) return practiceScreen(context, practiceMatch[1] && decodeURIComponent(practiceMatch[1]));
    if (hash === CONSENTS_ROUTE) return consentsScreen(context);
    if (hash === MY_DOCUMENTS_ROUTE) return myDocumentsScreen(context);
    if (hash === RIGHTS_ROUTE) return rightsScreen(context);
    if (hash === ROUTES.history) return historyScreen(context);
    return inboxScreen(context);
  }
}
