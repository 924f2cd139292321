/**
 * Polling for the messages screens (no third-party push service): new messages and
 * read receipts come without a reload, the server asked less often while nothing
 * happens, and not at all while the tab is hidden.
 */

/** The first wait between two polls, and the longest once nothing new comes. */
export const POLL_FIRST_MS = 2_000;
export const POLL_LONGEST_MS = 20_000;

/**
 * Asks `poll` again and again while `alive` says the screen is shown: POLL_FIRST_MS
 * after news, twice as long each time nothing new comes (or the server fails), up to
 * POLL_LONGEST_MS; not at all while the tab is hidden, and at once when it is shown
 * again.
 */
export class Poller {
  private wait = POLL_FIRST_MS;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private readonly onVisibility = () => {
    if (document.visibilityState === "hidden") this.pause();
    else this.resume();
  };

  constructor(
    private readonly poll: () => Promise<boolean>,
    private readonly alive: () => boolean,
  ) {}

  start(): void {
    document.addEventListener("visibilitychange", this.onVisibility);
    if (document.visibilityState !== "hidden") this.schedule();
  }

  stop(): void {
    this.pause();
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  private pause(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private resume(): void {
    this.pause();
    this.wait = POLL_FIRST_MS;
    void this.tick();
  }

  private schedule(): void {
    this.pause();
    this.timer = setTimeout(() => void this.tick(), this.wait);
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (!this.alive()) {
      this.stop();
      return;
    }
    if (this.running) return;
    this.running = true;
    let news = false;
    try {
      news = await this.poll();
    } catch {
      news = false; // shown by the next successful poll, or by the screen's own error
    } finally {
      this.running = false;
    }
    this.wait = news ? POLL_FIRST_MS : Math.min(this.wait * 2, POLL_LONGEST_MS);
    if (!this.alive()) this.stop();
    else if (document.visibilityState !== "hidden" && this.timer === null) this.schedule();
  }
}
