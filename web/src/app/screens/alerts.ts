/**
 * "Alertes de sécurité": a practice's anomaly alerts (R22) for its admin, as `uhs
 * alerts list|dismiss|incident` handle them: the open ones first, each said in plain
 * French (the rule, who, when, what was counted against which threshold), closed with
 * a reason or made an incident of the breach register; the decided ones after, a page
 * at a time. And "Seuils des alertes": each rule's threshold, within the bounds the
 * server sets, saved whole.
 *
 * An alert is the server's reading of its journal, not a proof: the screen says so,
 * and never says "nothing happened" when there is no alert, only that there is
 * nothing to look at.
 */

import type { AlertIncidentView, AlertView, ThresholdsView } from "../api.js";
import { type AppContext, inputRefusalBox, refusalBox, type Screen } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { WorkerRefusal } from "../../worker/client.js";
import { ALERTS_PAGE as PAGE, MAX_REASON, MIN_REASON } from "../../client/alerts.js";
import { PRACTICE_ROUTE } from "./practice.js";
import { busy } from "./signin.js";

export const ALERTS_ROUTE = (practiceId: string) => `${PRACTICE_ROUTE(practiceId)}/alerts`;
export const ALERT_SETTINGS_ROUTE = (practiceId: string) => `${PRACTICE_ROUTE(practiceId)}/alert-settings`;
/** The routes above, matched: the practice's id and which screen. */
export const ALERTS_ROUTE_PATTERN = /^#\/practice\/([^/]+)\/(alerts|alert-settings)$/;


const RULE_NAMES: Record<AlertView["rule"], MessageKey> = {
  mass_download: "alerts.rule.mass_download",
  off_hours: "alerts.rule.off_hours",
  repeated_denials: "alerts.rule.repeated_denials",
  read_throttle: "alerts.rule.read_throttle",
  two_networks: "alerts.rule.two_networks",
  new_network_reads: "alerts.rule.new_network_reads",
  emergency_access: "alerts.rule.emergency_access",
  unknown: "alerts.rule.unknown",
};

const RULE_MEANINGS: Record<AlertView["rule"], MessageKey> = {
  mass_download: "alerts.meaning.mass_download",
  off_hours: "alerts.meaning.off_hours",
  repeated_denials: "alerts.meaning.repeated_denials",
  read_throttle: "alerts.meaning.read_throttle",
  two_networks: "alerts.meaning.two_networks",
  new_network_reads: "alerts.meaning.new_network_reads",
  emergency_access: "alerts.meaning.emergency_access",
  unknown: "alerts.meaning.unknown",
};

const COUNTED: Record<AlertView["counted"], MessageKey> = {
  patients: "alerts.counted.patients",
  documents: "alerts.counted.documents",
  entries: "alerts.counted.entries",
  reads: "alerts.counted.reads",
  networks: "alerts.counted.networks",
  unknown: "alerts.counted.unknown",
};

/** The server's own words after a refusal of its rules (a conflict, a refusal to the alert's subject, bounds). */
const SERVER_REFUSALS: ReadonlySet<string> = new Set(["bad_request", "forbidden", "conflict", "not_found"]);

/** The most of the server's words shown (a hostile server's may be long). */
const MAX_DETAIL = 1000;

/** A refusal, with the server's `detail` when the server refused (the API's problem detail). */
function refusalWithDetail(error: unknown, advice?: MessageKey): HTMLElement {
  const box = advice ? inputRefusalBox(error, advice) : refusalBox(error);
  if (error instanceof WorkerRefusal && SERVER_REFUSALS.has(error.identifier) && error.message) {
    // The server's words are English: said so to a screen reader.
    box.append(h("p", {}, `${t("alerts.serverSaid")} `, h("span", { lang: "en" }, error.message.slice(0, MAX_DETAIL))));
  }
  return box;
}

/** Who an alert or a change is about, as the members' screen names people (its patients are members too). */
type Names = Map<string, string>;

/**
 * The practice's members, listed once and only when there is someone to name: the
 * listing is journaled as an action about each patient, which the rules count, so
 * an admin looking at an empty list of alerts does not feed them.
 */
function namesOf(context: AppContext, practiceId: string): () => Promise<Names> {
  let listed: Promise<Names> | null = null;
  return () =>
    (listed ??= context.api.members(practiceId).then(
      (members) => new Map(members.map((m) => [m.accountId, m.name || m.email])),
      () => new Map(),
    ));
}

function nameOf(names: Names, id: string): string {
  return names.get(id) ?? t("alerts.unknownPerson", { id: id.slice(0, 8) });
}

/** The practice of `practiceId` among those the account administers, or a refusal box. */
async function practiceNamed(context: AppContext, practiceId: string): Promise<string | HTMLElement> {
  try {
    const practice = (await context.api.practices()).find((p) => p.id === practiceId.toLowerCase());
    return practice?.role === "admin" ? practice.name : h("p", { class: "empty" }, t("alerts.notAdmin"));
  } catch (error) {
    return refusalBox(error);
  }
}

function links(practiceId: string, ...more: HTMLElement[]): HTMLElement {
  return h("p", { class: "links" }, h("a", { href: PRACTICE_ROUTE(practiceId) }, t("alerts.backToPractice")), ...more);
}

export async function alertsScreen(context: AppContext, practiceId: string): Promise<Screen> {
  const title = t("alerts.title");
  const content = h("section", { class: "alerts" }, h("h1", {}, title));
  const practice = await practiceNamed(context, practiceId);
  if (typeof practice !== "string") {
    content.append(practice);
    return { title, content };
  }
  const names = namesOf(context, practiceId);
  const said = h("div", {});
  const open = h("div", {}, h("p", { class: "working" }, t("alerts.loading")));
  const decided = h("div", {});
  content.append(
    h("p", { class: "hint" }, t("alerts.intro", { practice })),
    links(practiceId, h("a", { href: ALERT_SETTINGS_ROUTE(practiceId) }, t("alerts.settingsLink"))),
    said,
    h("section", { class: "part", "aria-labelledby": "open-alerts" }, h("h2", { id: "open-alerts" }, t("alerts.openTitle")), open),
    h("section", { class: "part", "aria-labelledby": "decided-alerts" }, h("h2", { id: "decided-alerts" }, t("alerts.decidedTitle")), decided),
  );
  const load = async (message?: HTMLElement) => {
    try {
      const alerts = await context.api.alerts(practiceId, "open");
      const known = alerts.length > 0 ? await names() : new Map<string, string>();
      const shown = alerts.map((a) => alertItem(context, practiceId, known, a, load));
      replace(open, alerts.length === 0 ? h("p", { class: "empty calm" }, t("alerts.none")) : h("ul", { class: "alerts-list" }, ...shown));
    } catch (error) {
      replace(open, refusalBox(error));
    }
    await listDecided(context, practiceId, names, decided);
    // Said once the lists are the new ones.
    if (message) {
      replace(said, message);
      context.announce(message.textContent ?? "");
      message.focus();
    }
  };
  await load();
  return { title, content };
}

/** The decided alerts, newest first, a page at a time after the last one shown. */
async function listDecided(context: AppContext, practiceId: string, names: () => Promise<Names>, place: HTMLElement): Promise<void> {
  const list = h("ul", { class: "alerts-list decided" });
  const more = h("button", { type: "button", class: "secondary" }, t("alerts.more"));
  const problems = h("div", {});
  let last: string | undefined;
  const page = async (): Promise<boolean> => {
    try {
      const alerts = await context.api.alerts(practiceId, "all", last);
      last = alerts.at(-1)?.id;
      const decided = alerts.filter((a) => a.status !== "open");
      const known = decided.length > 0 ? await names() : new Map<string, string>();
      list.append(...decided.map((a) => alertItem(context, practiceId, known, a)));
      // Only a full page may have more after it.
      if (alerts.length < PAGE) more.remove();
      else place.append(more);
      return true;
    } catch (error) {
      replace(problems, refusalBox(error));
      more.remove();
      return false;
    }
  };
  more.onclick = async () => {
    const before = list.children.length;
    const done = busy(more, t("alerts.loading"));
    await page();
    done();
    // The keyboard goes on from the first alert the page added.
    const first = list.children[before]?.querySelector("h3");
    if (first instanceof HTMLElement) {
      first.setAttribute("tabindex", "-1");
      first.focus();
    }
  };
  replace(place, list, problems);
  if ((await page()) && list.children.length === 0 && !more.isConnected) replace(place, h("p", { class: "empty" }, t("alerts.noneDecided")));
}

function when(alert: AlertView): string {
  const start = formatDate(alert.windowStart, locale());
  const end = formatDate(alert.windowEnd, locale());
  return start === end ? t("alerts.at", { time: start }) : t("alerts.between", { start, end });
}

type Reload = (message?: HTMLElement) => Promise<void>;

function alertItem(context: AppContext, practiceId: string, names: Names, alert: AlertView, reload?: Reload): HTMLElement {
  const rule = t(RULE_NAMES[alert.rule]);
  const who = alert.subjectKind === "unknown" ? t("alerts.unknownPerson", { id: alert.subjectId.slice(0, 8) }) : nameOf(names, alert.subjectId);
  const title = t("alerts.itemTitle", { rule, who });
  // A denial rule's entries are refused requests: said so.
  const unit = alert.rule === "repeated_denials" && alert.counted === "entries" ? "alerts.counted.denials" : COUNTED[alert.counted];
  const counted = t(unit, { count: alert.count });
  const facts = h(
    "dl",
    { class: "details" },
    h("dt", {}, t(alert.subjectKind === "patient" ? "alerts.aboutPatient" : "alerts.aboutAccount")),
    h("dd", {}, who),
    h("dt", {}, t("alerts.when")),
    h("dd", {}, when(alert)),
    h("dt", {}, t("alerts.counted")),
    h("dd", {}, t("alerts.againstThreshold", { counted, threshold: alert.threshold })),
  );
  const item = h("li", { class: `alert-item ${alert.status}` }, h("h3", {}, title), h("p", {}, t(RULE_MEANINGS[alert.rule])), facts);
  if (alert.status === "open" && reload) {
    item.append(decisions(context, practiceId, alert, title, reload));
  } else {
    item.append(decision(alert));
  }
  return item;
}

/** What was decided, in one line, with the reason given. */
function decision(alert: AlertView): HTMLElement {
  const at = alert.decidedAt ? formatDate(alert.decidedAt, locale()) : "";
  if (alert.status === "dismissed") {
    return h("div", { class: "reason" }, h("p", { class: "state" }, h("strong", {}, t("alerts.dismissedOn", { date: at }))), h("blockquote", {}, alert.reason));
  }
  if (alert.status === "incident") return h("p", { class: "state" }, h("strong", {}, t("alerts.incidentOn", { date: at })));
  return h("p", { class: "state" }, t("alerts.statusUnknown"));
}

/** "Classer sans suite" and "Ouvrir un incident", each asked once more with its effect. */
function decisions(context: AppContext, practiceId: string, alert: AlertView, title: string, reload: Reload): HTMLElement {
  const dismiss = h("button", { type: "button", class: "secondary", "aria-label": t("alerts.dismissFor", { title }) }, t("alerts.dismiss"));
  const incident = h("button", { type: "button", "aria-label": t("alerts.incidentFor", { title }) }, t("alerts.openIncident"));
  const buttons = h("div", { class: "actions" }, incident, dismiss);
  const place = h("div", {}, buttons);
  // The server refuses the account an alert is about whenever someone else can decide: said before, refused by it.
  const aboutMe = alert.subjectKind === "account" && alert.subjectId === context.account.id.toLowerCase();
  const back = (focus: HTMLElement) => {
    replace(place, buttons);
    focus.focus();
  };

  dismiss.onclick = () => {
    const reason = h("textarea", { name: "dismiss-reason", rows: "3", minlength: String(MIN_REASON), maxlength: String(MAX_REASON), required: true });
    const confirm = h("button", { type: "submit" }, t("alerts.dismissConfirm"));
    const cancel = h("button", { type: "button", class: "secondary", onclick: () => back(dismiss) }, t("alerts.cancel"));
    const problems = h("div", {});
    const form = h("form", { class: "answer", novalidate: true, "aria-label": t("alerts.dismissFor", { title }) }, field(t("alerts.reason"), reason, t("alerts.reasonHint")), problems, h("div", { class: "actions" }, confirm, cancel));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      replace(problems);
      const done = busy(confirm, t("alerts.working"));
      try {
        await context.api.dismissAlert(practiceId, alert.id, reason.value);
        const said = h("div", { class: "alert success", tabindex: "-1" }, h("p", {}, t("alerts.dismissed", { title })));
        await reload(said);
      } catch (error) {
        done();
        replace(problems, refusalWithDetail(error, "alerts.reasonHint"));
      }
    });
    replace(place, form);
    reason.focus();
  };

  incident.onclick = () => {
    const confirm = h("button", { type: "button" }, t("alerts.incidentConfirm"));
    const cancel = h("button", { type: "button", class: "secondary", onclick: () => back(incident) }, t("alerts.cancel"));
    const problems = h("div", {});
    const question = h("div", { class: "alert warning", role: "group", "aria-label": t("alerts.incidentFor", { title }) }, h("p", {}, t("alerts.incidentEffect")), problems, h("div", { class: "actions" }, confirm, cancel));
    confirm.onclick = async () => {
      replace(problems);
      const done = busy(confirm, t("alerts.working"));
      try {
        const { incident: opened } = await context.api.openAlertIncident(practiceId, alert.id);
        await reload(incidentOpened(title, opened));
      } catch (error) {
        done();
        replace(problems, refusalWithDetail(error));
      }
    };
    replace(place, question);
    confirm.focus();
  };

  return h("div", {}, aboutMe ? h("p", { class: "alert warning" }, t("alerts.aboutYou")) : null, place);
}

/** The incident just opened: its 72-hour clock, and how many patients the journal counted. */
function incidentOpened(title: string, incident: AlertIncidentView): HTMLElement {
  const deadline = formatDate(incident.deadline, locale());
  return h(
    "div",
    { class: "alert success", tabindex: "-1" },
    h("p", {}, h("strong", {}, t("alerts.incidentOpened", { title }))),
    h("p", {}, t("alerts.incidentClock", { aware: formatDate(incident.awareAt, locale()), deadline })),
    incident.peopleCounted === null ? null : h("p", {}, t("alerts.incidentPeople", { count: incident.peopleCounted })),
    h("p", { class: "hint" }, t("alerts.incidentNext", { id: incident.id })),
  );
}

/** How many alerts wait for the admin, for the practice's screen; null when they cannot be listed. */
export async function openAlertCount(context: AppContext, practiceId: string): Promise<number | null> {
  try {
    return (await context.api.alerts(practiceId, "open")).length;
  } catch {
    return null;
  }
}

/** The practice screen's part: the open alerts' count, first thing an admin sees of the practice. */
export function alertsSummary(context: AppContext, practiceId: string): HTMLElement {
  const count = h("p", {}, t("alerts.loading"));
  void openAlertCount(context, practiceId).then((n) => {
    if (n === null) replace(count, t("alerts.countUnknown"));
    else if (n === 0) replace(count, t("alerts.countNone"));
    else replace(count, h("strong", { class: "badge late" }, t(n >= PAGE ? "alerts.countMany" : "alerts.count", { count: n })));
  });
  return h(
    "section",
    { class: "part", "aria-labelledby": "alerts-summary" },
    h("h2", { id: "alerts-summary" }, t("alerts.title")),
    count,
    h("p", { class: "links" }, h("a", { href: ALERTS_ROUTE(practiceId) }, t("alerts.seeAlerts")), h("a", { href: ALERT_SETTINGS_ROUTE(practiceId) }, t("alerts.settingsLink"))),
  );
}

// -- thresholds ------------------------------------------------------------------

type WholeThreshold = Exclude<keyof ThresholdsView, "open_days" | "others">;

interface Bounded {
  name: WholeThreshold;
  label: MessageKey;
  min: number;
  max: number;
  step?: string;
}

/** Each rule's thresholds and their bounds, as server/incidents/anomalies/thresholds.py sets them (the server checks them). */
const RULE_SETTINGS: { rule: MessageKey; meaning: MessageKey; fields: Bounded[] }[] = [
  {
    rule: "alerts.rule.mass_download",
    meaning: "alertSettings.mass",
    fields: [
      { name: "mass_floor_patients", label: "alertSettings.massPatients", min: 1, max: 500 },
      { name: "mass_floor_documents", label: "alertSettings.massDocuments", min: 1, max: 1000 },
      { name: "mass_factor", label: "alertSettings.massFactor", min: 1, max: 50, step: "0.1" },
      { name: "mass_window_minutes", label: "alertSettings.window", min: 5, max: 1440 },
      { name: "mass_history_days", label: "alertSettings.massHistory", min: 1, max: 90 },
    ],
  },
  {
    rule: "alerts.rule.off_hours",
    meaning: "alertSettings.offHours",
    fields: [
      { name: "open_hour", label: "alertSettings.openHour", min: 0, max: 23 },
      { name: "close_hour", label: "alertSettings.closeHour", min: 1, max: 24 },
      { name: "off_hours_min_entries", label: "alertSettings.offHoursEntries", min: 1, max: 100 },
      { name: "off_hours_window_minutes", label: "alertSettings.window", min: 1, max: 1440 },
    ],
  },
  {
    rule: "alerts.rule.repeated_denials",
    meaning: "alertSettings.denials",
    fields: [
      { name: "denials_per_account", label: "alertSettings.denialsAccount", min: 2, max: 100 },
      { name: "denials_per_patient", label: "alertSettings.denialsPatient", min: 2, max: 100 },
      { name: "denials_window_minutes", label: "alertSettings.window", min: 1, max: 1440 },
    ],
  },
  {
    rule: "alerts.rule.read_throttle",
    meaning: "alertSettings.throttle",
    fields: [{ name: "throttle_min_refused", label: "alertSettings.throttleRefused", min: 1, max: 100 }],
  },
  {
    rule: "alerts.rule.two_networks",
    meaning: "alertSettings.networks",
    fields: [
      { name: "networks_min", label: "alertSettings.networksMin", min: 2, max: 10 },
      { name: "networks_window_minutes", label: "alertSettings.window", min: 1, max: 240 },
    ],
  },
  {
    rule: "alerts.rule.new_network_reads",
    meaning: "alertSettings.newNetwork",
    fields: [
      { name: "new_network_documents", label: "alertSettings.newNetworkDocuments", min: 5, max: 1000 },
      { name: "new_network_window_minutes", label: "alertSettings.window", min: 5, max: 1440 },
      { name: "new_network_history_days", label: "alertSettings.newNetworkHistory", min: 7, max: 180 },
    ],
  },
];

const DAYS: MessageKey[] = ["alertSettings.day0", "alertSettings.day1", "alertSettings.day2", "alertSettings.day3", "alertSettings.day4", "alertSettings.day5", "alertSettings.day6"];

export async function alertSettingsScreen(context: AppContext, practiceId: string): Promise<Screen> {
  const title = t("alertSettings.title");
  const content = h("section", { class: "alert-settings" }, h("h1", {}, title));
  const practice = await practiceNamed(context, practiceId);
  if (typeof practice !== "string") {
    content.append(practice);
    return { title, content };
  }
  content.append(h("p", { class: "hint" }, t("alertSettings.intro", { practice })), links(practiceId, h("a", { href: ALERTS_ROUTE(practiceId) }, t("alerts.seeAlerts"))));
  let current: Awaited<ReturnType<AppContext["api"]["anomalySettings"]>>;
  try {
    current = await context.api.anomalySettings(practiceId);
  } catch (error) {
    content.append(refusalBox(error));
    return { title, content };
  }
  const lastChange = h("p", {}, t("alertSettings.neverChanged"));
  const showLastChange = (changedAt: string, who: string) => replace(lastChange, t("alertSettings.lastChange", { date: formatDate(changedAt, locale()), who }));
  const last = current.changes[0];
  if (last) showLastChange(last.changedAt, nameOf(await namesOf(context, practiceId)(), last.changedBy));

  const inputs = new Map<WholeThreshold, HTMLInputElement>();
  const days = DAYS.map((label, day) => {
    const box = h("input", { type: "checkbox", name: "open-day", value: String(day) });
    return { day, box, label: h("label", { class: "check" }, box, t(label)) };
  });
  const show = (thresholds: ThresholdsView) => {
    for (const [name, input] of inputs) input.value = String(thresholds[name]);
    for (const { day, box } of days) box.checked = thresholds.open_days.includes(day);
  };
  const fieldsets = RULE_SETTINGS.map(({ rule, meaning, fields }) => {
    const explained = h("p", { class: "hint", id: uniqueId("rule-meaning") }, t(meaning));
    const set = h("fieldset", { "aria-describedby": explained.id }, h("legend", {}, t(rule)), explained);
    for (const bounded of fields) {
      const input = h("input", { type: "number", name: bounded.name, min: String(bounded.min), max: String(bounded.max), step: bounded.step ?? "1", required: true, inputmode: bounded.step ? "decimal" : "numeric" });
      inputs.set(bounded.name, input);
      set.append(field(t(bounded.label), input, t("alertSettings.bounds", { min: bounded.min, max: bounded.max })));
    }
    if (rule === "alerts.rule.off_hours") {
      set.append(h("fieldset", { class: "days" }, h("legend", {}, t("alertSettings.openDays")), ...days.map((d) => d.label)));
    }
    return set;
  });
  show(current.thresholds);

  const submit = h("button", { type: "submit" }, t("alertSettings.save"));
  const outcome = h("div", {});
  // Bounds checked by the server, not here: its refusal is said with its own words.
  const form = h("form", { class: "thresholds", novalidate: true }, ...fieldsets, outcome, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(outcome);
    const wanted = { ...current.thresholds };
    for (const [name, input] of inputs) wanted[name] = Number(input.value);
    wanted.open_days = days.filter((d) => d.box.checked).map((d) => d.day);
    const done = busy(submit, t("alertSettings.saving"));
    try {
      const saved = await context.api.setAnomalySettings(practiceId, wanted);
      current = { thresholds: saved, changes: current.changes };
      show(saved);
      showLastChange(new Date().toISOString(), context.account.name || context.account.email);
      const said = t("alertSettings.saved");
      replace(outcome, h("div", { class: "alert success" }, h("p", {}, said)));
      context.announce(said);
    } catch (error) {
      replace(outcome, refusalWithDetail(error, "alertSettings.refusedBounds"));
    } finally {
      done();
    }
  });
  content.append(lastChange, form);
  return { title, content };
}
