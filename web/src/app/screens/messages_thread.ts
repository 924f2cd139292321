/**
 * One thread: its members as its signed membership proves them, its messages (each
 * shown only once the worker checked its signature and sender; a refused one says
 * why, never its text), read receipts, and a composer. New messages and receipts
 * come by polling, without reloading the page.
 */

import type { MessageView, PatientView, ThreadView } from "../api.js";
import { type AppContext, errorBox, refusalBox, ROUTES, type Screen } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { locale, t } from "../i18n.js";
import { describeRefusal } from "../refusals.js";
import { MESSAGES_ROUTE, othersOf } from "./messages.js";
import { Poller } from "./messages_poll.js";
import { busy } from "./signin.js";

export async function threadScreen(context: AppContext, id: string): Promise<Screen> {
  const content = h("section", { class: "thread" });
  const back = h("p", {}, h("a", { href: MESSAGES_ROUTE }, t("thread.back")));
  let read: { thread: ThreadView; messages: MessageView[] };
  try {
    read = await context.api.readThread(id, 0);
  } catch (error) {
    replace(content, back, h("h1", {}, t("thread.title")), refusalBox(error));
    return { title: t("thread.title"), content };
  }
  const title = t("thread.with", { names: othersOf(read.thread) || t("messages.yourself") });
  let thread = read.thread;
  const messages = [...read.messages];
  const members = h("p", { class: "members" });
  const list = h("ol", { class: "messages-list", "aria-label": t("thread.listLabel") });
  const render = () => {
    replace(members, t("thread.members", { names: thread.members.map((m) => `${m.name} (${m.email})`).join(", ") }));
    replace(list, ...messages.map((m) => messageItem(m, thread)));
    if (messages.length === 0) list.append(h("li", { class: "empty" }, t("thread.empty")));
  };
  render();
  // A message once, whatever place a server serves it again at (the worker refuses
  // such a copy; it is not news either).
  const held = (message: MessageView) => messages.some((m) => m.seq === message.seq || m.id === message.id);
  const add = (news: MessageView[]) => {
    for (const message of news) if (!held(message)) messages.push(message);
    messages.sort((a, b) => a.seq - b.seq);
  };
  const composer = await composerForm(context, thread, (sent) => {
    add([sent]);
    render();
  });
  replace(content, back, h("h1", {}, title), members, list, composer);
  const poller = new Poller(
    async () => {
      const last = messages.reduce((most, m) => Math.max(most, m.seq), 0);
      const next = await context.api.readThread(id, last);
      const receipts = (v: ThreadView) => v.members.map((m) => m.readSeq).join();
      const news = next.messages.filter((m) => !held(m));
      const changed = news.length > 0 || receipts(next.thread) !== receipts(thread);
      thread = next.thread;
      if (!changed) return false;
      add(news);
      render();
      for (const m of news) if (!m.mine) context.announce(t("thread.newMessage", { name: m.senderName || m.senderEmail }));
      return true;
    },
    () => content.isConnected,
  );
  poller.start();
  return { title, content };
}

function messageItem(message: MessageView, thread: ThreadView): HTMLElement {
  const when = h("time", { datetime: message.createdAt }, formatDate(message.createdAt, locale()));
  // The name is the server's; the address beside it is the one the key directory
  // proved for the key that signed the thread's membership.
  const who = message.mine
    ? h("strong", { class: "sender" }, t("thread.you"))
    : h(
        "strong",
        { class: "sender" },
        message.senderName || message.senderEmail || t("thread.unknownSender"),
        message.senderEmail && message.senderName !== message.senderEmail ? h("span", { class: "sender-email" }, ` (${message.senderEmail})`) : null,
      );
  if (message.refused !== null) {
    return h(
      "li",
      { class: "message refused" },
      h("p", { class: "meta" }, who, " · ", when),
      h("p", { class: "refusal" }, h("strong", {}, t("thread.refused")), " ", describeRefusal(message.refusedCode).text),
      h("p", {}, h("small", { class: "refusal-code" }, t("error.code", { code: message.refusedCode }))),
    );
  }
  const readers = thread.members.filter((m) => !m.me && m.readSeq >= message.seq).map((m) => m.name);
  const receipt = message.mine ? h("p", { class: "receipt" }, readers.length ? t("thread.readBy", { names: readers.join(", ") }) : t("thread.sent")) : null;
  return h(
    "li",
    { class: message.mine ? "message mine" : "message" },
    h("p", { class: "meta" }, who, " · ", when),
    message.text ? h("p", { class: "text" }, message.text) : null,
    message.attachments.length
      ? h(
          "ul",
          { class: "attachments" },
          ...message.attachments.map((a) => h("li", {}, t("thread.attachment"), " ", h("a", { href: ROUTES.document(a.documentId) }, a.title || a.filename))),
        )
      : null,
    receipt,
  );
}

/**
 * The patient files an attachment can go to: a practitioner's patients (the thread's
 * patient first). A patient adds no document (the server takes them from
 * practitioners only), so their composer has no attachment.
 */
async function patientFiles(context: AppContext, thread: ThreadView): Promise<PatientView[]> {
  if (context.account.kind !== "practitioner") return [];
  const practices = await context.api.practices().catch(() => []);
  const lists = await Promise.all(practices.filter((p) => p.role !== "patient").map((p) => context.api.patients(p.id).catch(() => [])));
  const inThread = new Set(thread.members.map((m) => m.accountId));
  return lists.flat().sort((a, b) => Number(inThread.has(b.patientId)) - Number(inThread.has(a.patientId)));
}

async function composerForm(context: AppContext, thread: ThreadView, sent: (message: MessageView) => void): Promise<HTMLElement> {
  const text = h("textarea", { name: "text", rows: "4", maxlength: "20000" });
  const problems = h("div", {});
  const send = h("button", { type: "submit" }, t("thread.send"));
  const files = await patientFiles(context, thread);
  const file = h("input", { type: "file", name: "attachment", id: uniqueId("attachment") });
  const patient = h("select", { name: "patientFile" }, ...files.map((p) => h("option", { value: p.patientFileId }, p.name ? `${p.name} (${p.email})` : p.email)));
  const attachment = files.length
    ? h("fieldset", {}, h("legend", {}, t("thread.attachmentLegend")), field(t("thread.attachFile"), file), field(t("thread.attachTo"), patient, t("thread.attachHint")))
    : null;
  const form = h("form", { class: "composer" }, field(t("thread.text"), text), attachment, problems, send);
  form.onsubmit = async (event) => {
    event.preventDefault();
    replace(problems);
    const chosen = file.files?.[0] ?? null;
    if (!text.value.trim() && chosen === null) {
      replace(problems, errorBox(t("thread.missingText")));
      text.focus();
      return;
    }
    const done = busy(send, t("thread.sending"));
    try {
      const message = await context.api.sendMessage(thread.id, text.value, chosen === null ? null : { file: chosen, patientFileId: patient.value });
      done();
      text.value = "";
      file.value = "";
      sent(message);
      context.announce(t("thread.sentAnnounce"));
      text.focus();
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
    }
  };
  return form;
}
