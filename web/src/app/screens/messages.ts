/**
 * Secure messages: the person's threads with their verified members and unread
 * counts, kept up to date by polling (Poller), and a form to start a thread. The
 * worker checks each thread's signed membership: one that does not verify is listed
 * as refused, with the reason.
 */

import type { ThreadView } from "../api.js";
import { type AppContext, errorBox, refusalBox, type Screen } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { locale, t } from "../i18n.js";
import { describeRefusal } from "../refusals.js";
import { Poller } from "./messages_poll.js";
import { busy } from "./signin.js";

export const MESSAGES_ROUTE = "#/messages";
export const threadRoute = (id: string) => `#/messages/${encodeURIComponent(id)}`;

/** The others of a thread, by name. */
export function othersOf(thread: ThreadView): string {
  return thread.members
    .filter((m) => !m.me)
    .map((m) => m.name)
    .join(", ");
}

export async function messagesScreen(context: AppContext): Promise<Screen> {
  const title = t("messages.title");
  const content = h("section", { class: "messages" });
  replace(content, h("h1", {}, title));
  const list = h("div", {});
  const starting = h("div", {});
  content.append(list, starting);
  const show = (threads: ThreadView[]) => replace(list, threadList(threads));
  let shownUnread = "";
  try {
    const threads = await context.api.threads();
    shownUnread = threads.map((x) => `${x.id}:${x.unread}:${x.lastSeq}`).join();
    show(threads);
  } catch (error) {
    replace(list, refusalBox(error));
  }
  await newThreadForm(context, starting);
  const poller = new Poller(
    async () => {
      const threads = await context.api.threads();
      const state = threads.map((x) => `${x.id}:${x.unread}:${x.lastSeq}`).join();
      if (state === shownUnread) return false;
      shownUnread = state;
      show(threads);
      return true;
    },
    // The frame shows the screen as soon as it is returned, before the first poll.
    () => content.isConnected,
  );
  poller.start();
  return { title, content };
}

function threadList(threads: ThreadView[]): HTMLElement {
  if (threads.length === 0) return h("p", { class: "empty" }, t("messages.empty"));
  return h(
    "ul",
    { class: "threads", "aria-label": t("messages.listLabel") },
    ...threads.map((thread) => {
      const unread = thread.unread > 0 ? h("span", { class: "badge" }, t("messages.unread", { count: thread.unread })) : null;
      const when = thread.lastMessageAt ? h("time", { datetime: thread.lastMessageAt }, formatDate(thread.lastMessageAt, locale())) : h("span", {}, t("messages.noMessage"));
      if (thread.refused !== null) {
        return h(
          "li",
          { class: "refused" },
          h("a", { href: threadRoute(thread.id) }, t("messages.refusedThread")),
          h("p", {}, describeRefusal(thread.refusedCode ?? "internal").text),
          h("p", {}, h("small", { class: "refusal-code" }, t("error.code", { code: thread.refusedCode ?? "internal" }))),
        );
      }
      return h("li", { class: thread.unread > 0 ? "unread" : undefined }, h("a", { href: threadRoute(thread.id) }, othersOf(thread) || t("messages.yourself")), unread, h("span", { class: "when" }, when));
    }),
  );
}

/** The people this account can write to: colleagues and patients of its practices. */
async function people(context: AppContext): Promise<{ email: string; label: string }[]> {
  const found = new Map<string, string>();
  const practices = await context.api.practices().catch(() => []);
  for (const practice of practices) {
    if (practice.role === "patient") continue;
    const [members, patients] = await Promise.all([context.api.members(practice.id).catch(() => []), context.api.patients(practice.id).catch(() => [])]);
    for (const m of members) if (m.accountId !== context.account.id && m.role !== "patient") found.set(m.email, m.name ? `${m.name} (${m.email})` : m.email);
    for (const p of patients) found.set(p.email, t("messages.patientLabel", { name: p.name ? `${p.name} (${p.email})` : p.email }));
  }
  return [...found].map(([email, label]) => ({ email, label }));
}

async function newThreadForm(context: AppContext, place: HTMLElement): Promise<void> {
  const choices = await people(context);
  const boxes = choices.map((person) => {
    const box = h("input", { type: "checkbox", name: "with", value: person.email, id: uniqueId("with") });
    return { box, item: h("li", {}, box, h("label", { for: box.id }, person.label)) };
  });
  const others = h("input", { type: "text", name: "others", autocomplete: "off", spellcheck: "false" });
  const problems = h("div", {});
  const start = h("button", { type: "submit" }, t("messages.start"));
  const form = h(
    "form",
    { class: "new-thread" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("messages.newThread")),
      boxes.length ? h("ul", { class: "choices" }, ...boxes.map((b) => b.item)) : null,
      field(t("messages.others"), others, t("messages.othersHint")),
    ),
    problems,
    start,
  );
  form.onsubmit = async (event) => {
    event.preventDefault();
    replace(problems);
    const emails = [...boxes.filter((b) => b.box.checked).map((b) => b.box.value), ...others.value.split(",").map((a) => a.trim()).filter(Boolean)];
    if (emails.length === 0) {
      replace(problems, errorBox(t("messages.missingPerson")));
      return;
    }
    const done = busy(start, t("messages.starting"));
    try {
      const thread = await context.api.startThread(emails);
      done();
      context.announce(t("messages.started"));
      context.navigate(threadRoute(thread.id));
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
  replace(place, form);
}
