/**
 * Documents waiting for a patient the practice invited who has no account yet
 * (PROTOCOL 11.6): the invited patients offered on the sending screen, the state
 * shown on the document's screen, and the watch that, at sign-in and every minute
 * while signed in, has the worker complete each share whose patient joined. The
 * worker alone decides whether the patient's keys are proven; a refusal is kept to be
 * shown with the document, never retried to other keys.
 */

import type { Api, PatientInvitationView, PendingShareView } from "../api.js";
import { type AppContext, errorBox, refusalBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";

/** How often the worker looks again for patients who joined, while signed in. */
export const PENDING_CHECK_INTERVAL_MS = 60_000;

/** Why the worker refused to complete a pending share, by its id, until it completes. */
const refusals = new Map<string, { email: string; reason: string }>();

export class PendingWatch {
  private timer: ReturnType<typeof setInterval> | null = null;

  /**
   * `completed` hears the documents whose share this watch completed, so that a
   * screen showing one of them can be drawn again with its new reader.
   */
  constructor(
    private readonly api: Api,
    private readonly announce: (message: string) => void,
    private readonly completed: (documentIds: string[]) => void = () => undefined,
  ) {}

  start(): void {
    this.stop();
    void this.check();
    this.timer = setInterval(() => void this.check(), PENDING_CHECK_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look now; a failure to ask (offline, signed out, not a practitioner) waits for the next one. */
  async check(): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.api.completePendingShares();
    } catch {
      return;
    }
    const shared: string[] = [];
    for (const outcome of outcomes) {
      if (outcome.completed) {
        refusals.delete(outcome.pending.id);
        shared.push(outcome.pending.documentId);
        this.announce(t("pending.completedAnnounce", { email: outcome.pending.patientEmail }));
      } else {
        refusals.set(outcome.pending.id, { email: outcome.pending.patientEmail, reason: outcome.refused ?? "" });
      }
    }
    if (shared.length > 0) this.completed(shared);
  }
}

/** The practice's patients invited and not joined yet; none for an account that may not see them. */
export async function invitedPatients(context: AppContext, practiceId: string): Promise<PatientInvitationView[]> {
  const invitations = await context.api.patientInvitations(practiceId).catch(() => []);
  // The newest invitation of each address.
  const seen = new Set<string>();
  return invitations.filter((i) => !seen.has(i.email) && Boolean(seen.add(i.email)));
}

/** A small form to invite a new patient from the sending screen; `invited` reloads the choices. */
export function invitePatientForm(context: AppContext, practiceId: string, invited: () => void): HTMLElement {
  const address = h("input", { type: "email", name: "invited-patient", autocomplete: "off", spellcheck: "false" });
  const button = h("button", { type: "button", class: "secondary" }, t("pending.inviteButton"));
  const said = h("div", { "aria-live": "polite" });
  button.addEventListener("click", async () => {
    replace(said);
    if (!address.checkValidity() || !address.value.trim()) {
      replace(said, errorBox(t("pending.inviteAddress")));
      return;
    }
    button.disabled = true;
    try {
      const invitation = await context.api.invitePractice(practiceId, address.value.trim(), "patient");
      context.announce(t("pending.invited", { email: invitation.email }));
      invited();
    } catch (error) {
      replace(said, refusalBox(error));
      button.disabled = false;
    }
  });
  return h("details", { class: "invite-patient" }, h("summary", {}, t("pending.invitePatient")), field(t("pending.inviteAddress"), address), h("p", {}, button), said);
}

/** After a document is sent for an invited patient: its pending share recorded, said where `place` is. */
export async function recordPending(context: AppContext, documentId: string, practiceId: string, invitation: PatientInvitationView, place: HTMLElement): Promise<boolean> {
  try {
    await context.api.sharePending(documentId, practiceId, invitation.id);
  } catch (error) {
    place.append(refusalBox(error));
    return false;
  }
  place.append(h("p", { class: "alert pending" }, t("pending.recorded", { email: invitation.email })));
  return true;
}

/**
 * With a document: the patients it still waits for, or why this device refused to
 * share it with them; `listed`, one listing for a screen of several documents.
 */
export async function showPendingOfDocument(context: AppContext, documentId: string, place: HTMLElement, listed?: Promise<PendingShareView[]>): Promise<void> {
  let pending: PendingShareView[];
  try {
    pending = await (listed ?? context.api.pendingShares());
  } catch {
    return;
  }
  const id = documentId.toLowerCase();
  for (const p of pending.filter((p) => p.documentId === id)) {
    const refused = refusals.get(p.id);
    if (refused) {
      place.append(errorBox(t("pending.refused", { email: refused.email, reason: refused.reason })));
    } else if (p.state === "waiting" || p.state === "joined" || p.state === "expired") {
      place.append(h("p", { class: "alert pending", "data-pending": p.state }, t(`pending.${p.state}`, { email: p.patientEmail })));
    }
  }
}
