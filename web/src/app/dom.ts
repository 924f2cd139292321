/**
 * Building the screens: elements are made with `h` and text is only ever set as
 * text. The page runs under Trusted Types (server/headers.py), so no HTML string is
 * parsed anywhere; a name, a title or a server's message cannot become markup.
 */

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | undefined | EventListener>;

/**
 * An element with its attributes and children. `on<event>` attributes take
 * listeners; `true` sets a boolean attribute, `false` and `undefined` leave it out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (typeof value === "string") {
      element.setAttribute(name, value);
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

let lastId = 0;

/** An id unique in the page, to tie a label or a description to its field. */
export function uniqueId(prefix: string): string {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

/** A labelled form field: the label names the input for assistive technologies. */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  const id = input.id || uniqueId("field");
  input.id = id;
  const parts: Child[] = [h("label", { for: id }, label)];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  parts.push(input);
  return h("div", { class: "field" }, ...parts);
}

const SIZE_UNITS = ["o", "Ko", "Mo", "Go", "To"] as const;

/** A size as people read it (French units: octets). */
export function formatSize(bytes: number, locale: string): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const units = locale.startsWith("fr") ? SIZE_UNITS : (["B", "KB", "MB", "GB", "TB"] as const);
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toLocaleString(locale, { maximumFractionDigits: digits })} ${units[unit]}`;
}

/** A calendar day (YYYY-MM-DD) in words, taken at noon so that no time zone moves it to the day before. */
export function formatDay(day: string, locale: string): string {
  const date = new Date(`${day}T12:00:00`);
  return Number.isNaN(date.getTime()) ? day : date.toLocaleDateString(locale, { dateStyle: "long" });
}

/** A moment (ISO 8601) as a day of the month and a time ("3 décembre à 10:00"): a date soon, said as people say it. */
export function formatDayAndTime(iso: string, locale: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(locale, { day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" });
}

export function formatDate(iso: string, locale: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}
