/**
 * A practice's anomaly alerts (R22, PROTOCOL 13.4), as client/alerts.py: listed a page
 * at a time, dismissed with a reason, or made an incident of the breach register; and
 * the practice's thresholds. Nothing here is encrypted: an alert is the server's
 * reading of its journal, not a proof. The answers are still read field by field and
 * refused unless they are about the practice and the alert asked for, so that a
 * server cannot have the screen say that something else was done.
 */

import { ApiError } from "./http.js";
import type { Session } from "./session.js";
import { type Json, Wire, sortedJson } from "./wire.js";

/** The most alerts the server answers at once: a full page means there may be more. */
export const ALERTS_PAGE = 200;
/** A dismissal's reason, as the server asks it (at least a short sentence). */
export const MIN_REASON = 10;
export const MAX_REASON = 2000;

export const RULES = ["mass_download", "off_hours", "repeated_denials", "read_throttle", "two_networks", "new_network_reads", "emergency_access"] as const;
const STATUSES = ["open", "dismissed", "incident"] as const;
const SUBJECT_KINDS = ["account", "patient"] as const;
const COUNTED = ["patients", "documents", "entries", "reads", "networks"] as const;

/** A value this page does not know is shown as unknown, never as one it knows (PROTOCOL 13.4). */
export type Known<T extends string> = T | "unknown";
export type AlertRule = Known<(typeof RULES)[number]>;
export type AlertStatus = Known<(typeof STATUSES)[number]>;
export type AlertListing = (typeof STATUSES)[number] | "all";

export interface AlertView {
  id: string;
  rule: AlertRule;
  subjectKind: Known<(typeof SUBJECT_KINDS)[number]>;
  subjectId: string;
  /** ISO 8601: the stretch of the journal the count was taken over. */
  windowStart: string;
  windowEnd: string;
  count: number;
  threshold: number;
  counted: Known<(typeof COUNTED)[number]>;
  status: AlertStatus;
  /** Why it was dismissed ("" otherwise). */
  reason: string;
  incidentId: string | null;
  createdAt: string;
  decidedAt: string | null;
}

function known<T extends string>(values: readonly T[], value: string): Known<T> {
  return (values as readonly string[]).includes(value) ? (value as T) : "unknown";
}

function time(wire: Wire, body: Json, name: string): string {
  const value = wire.string(body, name);
  if (Number.isNaN(Date.parse(value))) throw wire.refuse(`has no date ${name}`);
  return value;
}

function alertOf(wire: Wire, item: unknown, practiceId: string): AlertView {
  const a = wire.object(item);
  if (wire.uuid(a, "practice_id") !== practiceId.toLowerCase()) throw wire.refuse("holds an alert of another practice");
  const decidedAt = a["decided_at"] === null || a["decided_at"] === undefined ? null : time(wire, a, "decided_at");
  const incidentId = a["incident_id"] === null || a["incident_id"] === undefined ? null : wire.uuid(a, "incident_id");
  const alert: AlertView = {
    id: wire.uuid(a, "id"),
    rule: known(RULES, wire.string(a, "rule")),
    subjectKind: known(SUBJECT_KINDS, wire.string(a, "subject_kind")),
    subjectId: wire.uuid(a, "subject_id"),
    windowStart: time(wire, a, "window_start"),
    windowEnd: time(wire, a, "window_end"),
    count: wire.integer(a, "count"),
    threshold: wire.integer(a, "threshold"),
    counted: known(COUNTED, wire.string(a, "counted")),
    status: known(STATUSES, wire.string(a, "status")),
    reason: wire.string(a, "reason"),
    incidentId,
    createdAt: time(wire, a, "created_at"),
    decidedAt,
  };
  // An alert made an incident names it; an open one is undecided.
  if ((alert.status === "incident") !== (incidentId !== null)) throw wire.refuse("has an alert whose incident does not match its status");
  if ((alert.status === "open") !== (decidedAt === null)) throw wire.refuse("has an alert whose decision does not match its status");
  return alert;
}

/**
 * The practice's alerts of `status`, newest first, a page at a time: `before` is the
 * id of the last alert of the previous page. Refused unless every alert is of the
 * practice and of the status asked, in the order the protocol says, and none is
 * listed twice.
 */
export async function listAlerts(session: Session, practiceId: string, status: AlertListing, before?: string): Promise<AlertView[]> {
  const wire = new Wire("malformed_answer", "the practice's alerts");
  const params: Record<string, string> = { status };
  if (before !== undefined) params["before"] = before;
  const path = `/practices/${encodeURIComponent(practiceId)}/alerts`;
  const items = wire.list(await session.json("GET", path, wire, { params }));
  if (items.length > ALERTS_PAGE) throw wire.refuse("is longer than a page");
  const alerts = items.map((item) => alertOf(wire, item, practiceId));
  const ids = new Set<string>();
  for (const [i, alert] of alerts.entries()) {
    if (status !== "all" && alert.status !== status) throw wire.refuse(`holds an alert that is not ${status}`);
    if (ids.has(alert.id) || alert.id === before?.toLowerCase()) throw wire.refuse("lists an alert twice");
    ids.add(alert.id);
    const previous = alerts[i - 1];
    if (previous !== undefined && Date.parse(previous.createdAt) < Date.parse(alert.createdAt)) throw wire.refuse("is not newest first");
  }
  return alerts;
}

/** Closes an open alert as no breach, saying why; the alert answered, dismissed for that reason. */
export async function dismissAlert(session: Session, practiceId: string, alertId: string, reason: string): Promise<AlertView> {
  const wire = new Wire("malformed_answer", "the dismissed alert");
  const path = `/alerts/${encodeURIComponent(alertId)}/dismissal`;
  const alert = alertOf(wire, await session.json("POST", path, wire, { json: { reason } }), practiceId);
  if (alert.id !== alertId.toLowerCase() || alert.status !== "dismissed" || alert.reason !== reason.trim()) throw wire.refuse("is not the alert dismissed for the reason given");
  return alert;
}

/** What the alerts screen shows of the incident an alert opened (incidents/schemas.py IncidentOut). */
export interface AlertIncidentView {
  id: string;
  /** When the practice became aware: the 72-hour clock runs from it (GDPR art. 33). */
  awareAt: string;
  deadline: string;
  /** Patients the alert's account reached in its window, counted from the journal (null: not counted). */
  peopleCounted: number | null;
}

function optionalCount(wire: Wire, body: Json, name: string): number | null {
  return body[name] === null || body[name] === undefined ? null : wire.integer(body, name);
}

/**
 * Opens an incident of the breach register from an open alert (its nature: a breach
 * of confidentiality, as the CLI's default), then reads that incident: the alert and
 * the incident answered must be the ones asked for.
 */
export async function openIncidentFromAlert(session: Session, practiceId: string, alertId: string): Promise<{ alert: AlertView; incident: AlertIncidentView }> {
  const wire = new Wire("malformed_answer", "the alert made an incident");
  const made = alertOf(wire, await session.json("POST", `/alerts/${encodeURIComponent(alertId)}/incident`, wire, { json: {} }), practiceId);
  if (made.id !== alertId.toLowerCase() || made.status !== "incident" || made.incidentId === null) throw wire.refuse("is not the alert asked for, made an incident");
  const read = new Wire("malformed_answer", "the incident opened");
  const i = read.object(await session.json("GET", `/incidents/${encodeURIComponent(made.incidentId)}`, read));
  if (read.uuid(i, "id") !== made.incidentId || read.uuid(i, "practice_id") !== practiceId.toLowerCase()) throw read.refuse("is not the incident the alert opened");
  const incident = { id: made.incidentId, awareAt: time(read, i, "aware_at"), deadline: time(read, i, "deadline"), peopleCounted: optionalCount(read, i, "people_counted") };
  return { alert: made, incident };
}

/** The thresholds of the rules (server/incidents/anomalies/thresholds.py), by their wire names. */
export interface ThresholdsView {
  mass_window_minutes: number;
  mass_floor_patients: number;
  mass_floor_documents: number;
  mass_factor: number;
  mass_history_days: number;
  open_hour: number;
  close_hour: number;
  /** 0 Monday … 6 Sunday. */
  open_days: number[];
  off_hours_min_entries: number;
  off_hours_window_minutes: number;
  denials_per_account: number;
  denials_per_patient: number;
  denials_window_minutes: number;
  throttle_min_refused: number;
  networks_min: number;
  networks_window_minutes: number;
  new_network_documents: number;
  new_network_window_minutes: number;
  new_network_history_days: number;
  /**
   * Thresholds of a newer server that this page does not know: sent back as they came,
   * so that saving the others does not put them back to their defaults.
   */
  others: Record<string, number | number[]>;
}

export type Threshold = Exclude<keyof ThresholdsView, "open_days" | "mass_factor" | "others">;
export const WHOLE_THRESHOLDS: readonly Threshold[] = [
  "mass_window_minutes",
  "mass_floor_patients",
  "mass_floor_documents",
  "mass_history_days",
  "open_hour",
  "close_hour",
  "off_hours_min_entries",
  "off_hours_window_minutes",
  "denials_per_account",
  "denials_per_patient",
  "denials_window_minutes",
  "throttle_min_refused",
  "networks_min",
  "networks_window_minutes",
  "new_network_documents",
  "new_network_window_minutes",
  "new_network_history_days",
];
const KNOWN: ReadonlySet<string> = new Set([...WHOLE_THRESHOLDS, "mass_factor", "open_days", "changes"]);

export interface SettingsChangeView {
  changedAt: string;
  changedBy: string;
}

function thresholdsOf(wire: Wire, body: Json): ThresholdsView {
  const factor = body["mass_factor"];
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor <= 0) throw wire.refuse("has no factor mass_factor");
  const days = wire.list(body["open_days"]).map((day) => wire.integer({ day }, "day"));
  if (days.length === 0 || days.some((day) => day > 6)) throw wire.refuse("has no open days");
  const whole = Object.fromEntries(WHOLE_THRESHOLDS.map((name) => [name, wire.integer(body, name)])) as Record<Threshold, number>;
  const others: Record<string, number | number[]> = {};
  for (const [name, value] of Object.entries(body)) {
    if (KNOWN.has(name)) continue;
    const numbers = Array.isArray(value) ? value : [value];
    if (!numbers.every((n) => typeof n === "number" && Number.isFinite(n))) throw wire.refuse(`has a threshold ${name} that is not a number`);
    others[name] = value as number | number[];
  }
  return { ...whole, mass_factor: factor, open_days: days, others };
}

/** The practice's thresholds (its own, or the defaults) and who last changed them, newest first. */
export async function anomalySettings(session: Session, practiceId: string): Promise<{ thresholds: ThresholdsView; changes: SettingsChangeView[] }> {
  const wire = new Wire("malformed_answer", "the practice's alert thresholds");
  const body = wire.object(await session.json("GET", `/practices/${encodeURIComponent(practiceId)}/anomaly-settings`, wire));
  const changes = wire.list(body["changes"]).map((item) => {
    const c = wire.object(item);
    return { changedAt: time(wire, c, "changed_at"), changedBy: wire.uuid(c, "changed_by") };
  });
  return { thresholds: thresholdsOf(wire, body), changes };
}

/** The server's reasons for refusing thresholds, said after its `detail` (which names no value). */
const MAX_REASONS = 5;
const MAX_REASON_CHARS = 200;

function withReasons(error: ApiError): ApiError {
  const errors = Array.isArray(error.problem["errors"]) ? error.problem["errors"] : [];
  const reasons = errors.slice(0, MAX_REASONS).flatMap((e: unknown) => {
    if (typeof e !== "object" || e === null) return [];
    const { location, message } = e as { location?: unknown; message?: unknown };
    if (typeof message !== "string") return [];
    const where = Array.isArray(location) ? location.filter((part) => part !== "body").join(".") : "";
    return [`${where ? `${where}: ` : ""}${message}`.slice(0, MAX_REASON_CHARS)];
  });
  return reasons.length === 0 ? error : new ApiError(error.status, `${error.detail} (${reasons.join("; ")})`, error.problem);
}

/** (Admins) Sets the practice's thresholds, refused whole by the server when one is out of its bounds. */
export async function setAnomalySettings(session: Session, practiceId: string, wanted: ThresholdsView): Promise<ThresholdsView> {
  const wire = new Wire("malformed_answer", "the practice's alert thresholds");
  let answer: unknown;
  try {
    const { others, ...known } = wanted;
    answer = await session.json("PUT", `/practices/${encodeURIComponent(practiceId)}/anomaly-settings`, wire, { json: { ...others, ...known } });
  } catch (error) {
    throw error instanceof ApiError && error.status === 422 ? withReasons(error) : error;
  }
  const set = thresholdsOf(wire, wire.object(answer));
  // The server keeps the open days sorted and once each.
  const asked = { ...wanted, open_days: [...new Set(wanted.open_days)].sort((a, b) => a - b) };
  if (sortedJson(set) !== sortedJson(asked)) throw wire.refuse("is not the thresholds asked for");
  return set;
}
