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
/** How often the wall clock is read while nothing happens. */
const CHECK_MS = 15 * 1000;

const ACTIVITY = ["keydown", "pointerdown", "wheel", "touchstart"] as const;

/**
 * The deadline is on the wall clock (Date.now), read at each activity, when the page is
 * shown again and every CHECK_MS: a timer does not count the time a machine sleeps,
 * so a laptop closed at minute 5 and opened the next morning would otherwise stay open
 * ten minutes more, and the first key pressed would count again from there.
 */
export class IdleLock {
  private timer: ReturnType<typeof setInterval> | null = null;
  private deadline = 0;
  private readonly touched = () => {
    if (!this.due()) this.deadline = Date.now() + this.delayMs;
  };
  private readonly shown = () => void this.due();

  constructor(
    private readonly onIdle: () => void,
    private readonly delayMs = IDLE_LOCK_MS,
  ) {}

  /** Counts from now, and again from each activity before the deadline. */
  start(): void {
    this.stop();
    for (const kind of ACTIVITY) window.addEventListener(kind, this.touched, { capture: true, passive: true });
    document.addEventListener("visibilitychange", this.shown);
    this.deadline = Date.now() + this.delayMs;
    this.timer = setInterval(this.shown, Math.min(CHECK_MS, this.delayMs));
  }

  stop(): void {
    for (const kind of ACTIVITY) window.removeEventListener(kind, this.touched, { capture: true });
    document.removeEventListener("visibilitychange", this.shown);
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Locks if the deadline passed; whether it had. */
  private due(): boolean {
    if (Date.now() < this.deadline) return false;
    this.stop();
    this.onIdle();
    return true;
  }
}
