/**
 * The documents the person can read, newest first, with a search over the encrypted
 * index the worker keeps (words of the text, names and their first letters, dates:
 * PROTOCOL 18), and a filter over what the worker decrypted of the listing (titles
 * never reach the server in the clear, so both run here). Each row's author is the one the worker verified (documents.ts summary);
 * a document whose signature did not verify is marked "non vérifié", unnamed.
 */

import type { DocumentView, ThreadView } from "../api.js";
import { type AppContext, ROUTES, type Screen, refusalBox } from "../app.js";
import { field, formatDate, formatDayAndTime, formatSize, h, replace } from "../dom.js";
import { locale, t } from "../i18n.js";
import { othersOf, threadRoute } from "./messages.js";

export async function inboxScreen(context: AppContext): Promise<Screen> {
  const content = h("section", {});
  const heading = h("h1", {}, t("inbox.title"));
  const sendLink = h("a", { class: "button", href: ROUTES.send }, t("inbox.send"));
  replace(content, h("div", { class: "heading-row" }, heading, sendLink));
  let documents: DocumentView[];
  let threads: ThreadView[];
  try {
    // Conversations with news are shown above the documents; their list failing
    // does not hide the documents.
    [documents, threads] = await Promise.all([context.api.inbox(), context.api.threads().catch(() => [])]);
  } catch (error) {
    content.append(refusalBox(error));
    return { title: t("inbox.title"), content };
  }
  const unreadThreads = threads.filter((thread) => thread.refused === null && thread.unread > 0);
  if (unreadThreads.length > 0) content.append(newMessages(unreadThreads));
  if (documents.length === 0) {
    content.append(h("p", { class: "empty" }, t("inbox.empty")));
    return { title: t("inbox.title"), content };
  }
  content.append(searchForm(context));
  const filter = h("input", { type: "search", name: "filter", autocomplete: "off" });
  const count = h("p", { class: "count", "aria-live": "polite" });
  const body = h("tbody", {});
  const show = () => {
    const words = filter.value.trim().toLocaleLowerCase();
    const shown = documents.filter((d) => !words || [d.title, d.filename, d.patientName, d.authorName, d.authorEmail].some((text) => text.toLocaleLowerCase().includes(words)));
    replace(body, ...shown.map(row));
    const unread = shown.filter((d) => d.readAt === null).length;
    count.textContent = t("inbox.count", { count: shown.length }) + (unread > 0 ? ` ${t("inbox.countNew", { count: unread })}` : "");
  };
  filter.addEventListener("input", show);
  const table = h(
    "table",
    { class: "documents" },
    h("caption", {}, t("inbox.caption")),
    h(
      "thead",
      {},
      h("tr", {}, ...(["inbox.document", "inbox.patient", "inbox.from", "inbox.date", "inbox.size"] as const).map((key) => h("th", { scope: "col" }, t(key)))),
    ),
    body,
  );
  show();
  content.append(field(t("inbox.filter"), filter), count, table);
  return { title: t("inbox.title"), content };
}

/**
 * The search over the encrypted index: run in the worker on submit (Enter or the
 * button), its results ranked there (most words matched, then newest), each opened in
 * one click; an empty result says so.
 */
function searchForm(context: AppContext): HTMLElement {
  const input = h("input", { type: "search", name: "q", autocomplete: "off", maxlength: "200", enterkeyhint: "search" });
  const button = h("button", { type: "submit" }, t("search.button"));
  const results = h("div", { class: "search-results", "aria-live": "polite" });
  const form = h("form", { role: "search", class: "search", "aria-label": t("search.region") }, field(t("search.label"), input, t("search.hint")), button, results);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (query === "") {
      replace(results);
      input.focus();
      return;
    }
    button.disabled = true;
    replace(results, h("p", {}, t("search.searching")));
    try {
      const found = await context.api.searchDocuments(query);
      if (found.length === 0) {
        replace(results, h("p", { class: "empty" }, t("search.none", { query })));
      } else {
        const heading = h("h2", {}, t("search.found", { count: found.length, query }));
        replace(results, heading, h("ul", { class: "search-list" }, ...found.map(result)));
      }
    } catch (error) {
      replace(results, refusalBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function result(document: DocumentView): HTMLLIElement {
  const who = document.verified ? document.authorName || document.authorEmail : t("inbox.unverified");
  const about = [document.patientName, who].filter((part) => part !== "").join(" · ");
  return h(
    "li",
    {},
    document.availableFrom !== null
      ? h("span", { class: "held-back" }, t("myDocuments.availableFrom", { date: formatDayAndTime(document.availableFrom, locale()) }))
      : h("a", { href: ROUTES.document(document.id) }, document.title || document.filename),
    h("span", { class: "hint" }, about, about === "" ? "" : " · ", h("time", { datetime: document.createdAt }, formatDate(document.createdAt, locale()))),
  );
}

/** The conversations with messages not read yet, each with its count. */
function newMessages(threads: ThreadView[]): HTMLElement {
  return h(
    "div",
    { class: "new-messages" },
    h("h2", {}, t("inbox.newMessages")),
    h(
      "ul",
      {},
      ...threads.map((thread) =>
        h("li", {}, h("a", { href: threadRoute(thread.id) }, othersOf(thread) || t("messages.yourself")), " ", h("span", { class: "badge" }, t("messages.unread", { count: thread.unread }))),
      ),
    ),
  );
}

function row(document: DocumentView): HTMLTableRowElement {
  const name = document.title || document.filename;
  // New: said in words beside the title, and in bold, not by colour alone.
  const isNew = document.readAt === null && document.availableFrom === null;
  // Held back by its author (R28): its date, nothing to open yet.
  const shown =
    document.availableFrom !== null
      ? h("span", { class: "held-back" }, t("myDocuments.availableFrom", { date: formatDayAndTime(document.availableFrom, locale()) }))
      : h(
          "span",
          {},
          h("a", { href: ROUTES.document(document.id) }, name),
          isNew ? h("span", { class: "badge new" }, t("inbox.new")) : null,
          // Restricted by its patient (R28): listed so only to the patient and the author.
          document.restrictedAt !== null ? h("span", { class: "badge restricted" }, t("document.restrictedBadge")) : null,
        );
  return h(
    "tr",
    { class: isNew ? "new" : undefined },
    h("td", { "data-label": t("inbox.document") }, shown),
    h("td", { "data-label": t("inbox.patient") }, document.patientName),
    // Only the signed author is named; a document whose signature did not verify says so.
    h("td", { "data-label": t("inbox.from") }, document.verified ? document.authorName || document.authorEmail : h("span", { class: "unverified" }, t("inbox.unverified"))),
    h("td", { "data-label": t("inbox.date") }, h("time", { datetime: document.createdAt }, formatDate(document.createdAt, locale()))),
    h("td", { "data-label": t("inbox.size") }, formatSize(document.size, locale())),
  );
}
