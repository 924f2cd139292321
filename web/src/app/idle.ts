/**
 * The idle lock: after IDLE_LOCK_MS without a key press, a click, a touch or a scroll
 * in the page, the application asks the worker to wipe the keys (the session stays)
 * and hides every screen behind the unlock screen, as a screen left unattended in a
 * practice should be. The worker then refuses every operation until the password
 * unlocks it again (worker/session.ts lockKeys, unlockKeys).
 *
 * The timer lives in the page because only the page sees the person's activity; a
 * script in the page could as well keep the session open by itself, but such a
 * script already has the worker's operations: the lock protects from a passer-by.
 */

/** Fifteen minutes, as a consulting room's session usually is. */
export const IDLE_LOCK_MS = 15 * 60 * 1000;

const ACTIVITY = ["keydown", "pointerdown", "wheel", "touchstart"] as const;

export class IdleLock {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly touched = () => this.arm();

  constructor(
    private readonly onIdle: () => void,
    private readonly delayMs = IDLE_LOCK_MS,
  ) {}

  /** Counts from now, and again from each activity. */
  start(): void {
    for (const kind of ACTIVITY) window.addEventListener(kind, this.touched, { capture: true, passive: true });
    this.arm();
  }

  stop(): void {
    for (const kind of ACTIVITY) window.removeEventListener(kind, this.touched, { capture: true });
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stop();
      this.onIdle();
    }, this.delayMs);
  }
}
