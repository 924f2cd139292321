// Node only: it drives the polling with node:test's mocked timers.
/**
 * The messages screens' polling (app/screens/messages_poll.ts), on Node's mocked
 * timers: waits that double while nothing comes, up to a bound, and start again short
 * after news; no poll while the tab is hidden, one at once when it is shown again;
 * none once the screen is left.
 */

import assert from "node:assert/strict";
import { mock, test } from "node:test";

import { POLL_FIRST_MS, POLL_LONGEST_MS, Poller } from "../src/app/screens/messages_poll.js";

class FakeDocument extends EventTarget {
  visibilityState: "visible" | "hidden" = "visible";
  show(state: "visible" | "hidden"): void {
    this.visibilityState = state;
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

const page = new FakeDocument();
(globalThis as unknown as { document: FakeDocument }).document = page;

/** Lets the poll's promise and what follows it run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

async function after(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await settle();
  await settle();
}

function poller(answers: boolean[], alive = () => true) {
  let polls = 0;
  const started = new Poller(async () => {
    polls += 1;
    return answers.shift() ?? false;
  }, alive);
  started.start();
  return { polls: () => polls, poller: started };
}

test("messages: the wait doubles while nothing comes, up to its bound, and is short again after news", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { polls, poller: started } = poller([false, false, false, false, false, true]);
    const waits = [POLL_FIRST_MS, 2 * POLL_FIRST_MS, 4 * POLL_FIRST_MS, 8 * POLL_FIRST_MS, POLL_LONGEST_MS, POLL_LONGEST_MS, POLL_FIRST_MS];
    assert.ok(8 * POLL_FIRST_MS < POLL_LONGEST_MS && 16 * POLL_FIRST_MS > POLL_LONGEST_MS);
    for (const [i, wait] of waits.entries()) {
      await after(wait - 1);
      assert.equal(polls(), i, `not before ${wait} ms`);
      await after(1);
      assert.equal(polls(), i + 1, `after ${wait} ms`);
    }
    started.stop();
  } finally {
    mock.timers.reset();
  }
});

test("messages: no poll while the tab is hidden, one at once when it is shown, none once the screen is left", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    let shown = true;
    const { polls } = poller([], () => shown);
    await after(POLL_FIRST_MS);
    assert.equal(polls(), 1);
    page.show("hidden");
    await after(10 * POLL_LONGEST_MS);
    assert.equal(polls(), 1);
    page.show("visible");
    await settle();
    assert.equal(polls(), 2);
    await after(2 * POLL_FIRST_MS);
    assert.equal(polls(), 3);
    shown = false;
    await after(10 * POLL_LONGEST_MS);
    assert.equal(polls(), 3);
    // Left, it no longer listens: showing the tab again asks nothing.
    page.show("hidden");
    page.show("visible");
    await settle();
    assert.equal(polls(), 3);
  } finally {
    mock.timers.reset();
  }
});
