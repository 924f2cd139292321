/**
 * The key directory's and the journal's checks (the worker's `checkTrust`), run at
 * sign-in and every few minutes while signed in, as the SDK checks before each use.
 * A failed check is not a screen's error: the server showed something no honest
 * server shows, so the application says so in an alert that stays and stops taking
 * input, as it does when its own code is not the released one (main.ts).
 */

import { WorkerRefusal } from "../../worker/client.js";
import type { TrustCheckView } from "../../worker/messages.js";
import type { Api } from "../api.js";
import { t } from "../i18n.js";
import { type Described, describeFailure } from "../refusals.js";

/** How often the checks run again while signed in. */
export const TRUST_CHECK_INTERVAL_MS = 5 * 60_000;

/**
 * Refusals that say nothing about the server's honesty: it could not be reached or
 * asked (the next check tries again), or this worker is no longer signed in.
 */
const NOT_A_FAILURE: ReadonlySet<string> = new Set([
  "network",
  "server_unreachable",
  "server_unavailable",
  "too_many_requests",
  "signed_out",
  "unauthorized",
  "locked",
]);

export class TrustWatch {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The last check that passed, for the security screen. */
  last: TrustCheckView | null = null;

  /** `root`: what stops taking input on a failure. */
  constructor(
    private readonly api: Api,
    private readonly root: HTMLElement,
  ) {}

  start(): void {
    this.stop();
    void this.check().catch(() => undefined);
    this.timer = setInterval(() => void this.check().catch(() => undefined), TRUST_CHECK_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check now: its result, null when it could not be made; a failure blocks the application and is thrown. */
  async check(): Promise<TrustCheckView | null> {
    try {
      this.last = await this.api.checkTrust();
      document.body.dataset.trust = "verified";
      return this.last;
    } catch (error) {
      if (error instanceof WorkerRefusal && NOT_A_FAILURE.has(error.identifier)) return null;
      this.block(describeFailure(error));
      throw error;
    }
  }

  private block({ text, code }: Described): void {
    this.stop();
    document.body.dataset.trust = "refused";
    if (document.getElementById("trust-alert") !== null) return;
    const alert = document.createElement("div");
    alert.setAttribute("role", "alert");
    alert.id = "trust-alert";
    alert.className = "alert error";
    const said = document.createElement("p");
    said.textContent = t("security.blocked", { reason: text });
    alert.append(said);
    if (code !== null) {
      const small = document.createElement("small");
      small.className = "refusal-code";
      small.textContent = t("error.code", { code });
      alert.append(small);
    }
    // Outside the screens, which are redrawn; nothing typed after this reaches the worker.
    document.body.prepend(alert);
    this.root.inert = true;
  }
}
