/**
 * Practices, as `uhs practice create|invite|join` make them (client/cli/practice.py):
 * a practitioner creates one and is its admin; an admin invites someone by address
 * with a role, the code going to them by mail only; the invited person accepts it
 * with their own account. Nothing here is encrypted; the answers are still checked,
 * so that a server cannot have the screen say something else than what was asked.
 */

import type { Session } from "./session.js";
import { type Json, Wire } from "./wire.js";

/** The roles a practice gives; a patient is invited as one too. */
export const ROLES = ["admin", "practitioner", "secretary", "patient"] as const;
export type Role = (typeof ROLES)[number];

export interface PracticeView {
  id: string;
  name: string;
  role: Role;
}

export interface InvitationView {
  email: string;
  role: Role;
  /** ISO 8601. */
  expiresAt: string;
}

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

function role(wire: Wire, body: Json): Role {
  const value = wire.string(body, "role");
  if (!isRole(value)) throw wire.refuse(`names an unknown role: ${value}`);
  return value;
}

function practiceOf(wire: Wire, item: unknown): PracticeView {
  const p = wire.object(item);
  return { id: wire.uuid(p, "id"), name: wire.string(p, "name"), role: role(wire, p) };
}

/** The practices of the signed-in account and its role in each. */
export async function listPractices(session: Session): Promise<PracticeView[]> {
  const wire = new Wire("malformed_answer", "your practices");
  return wire.list(await session.json("GET", "/practices", wire)).map((item) => practiceOf(wire, item));
}

/** A new practice, whose admin the signed-in account is (the server refuses an empty or too long name). */
export async function createPractice(session: Session, name: string): Promise<PracticeView> {
  const wanted = name.trim();
  const wire = new Wire("malformed_answer", "the new practice");
  const practice = practiceOf(wire, await session.json("POST", "/practices", wire, { json: { name: wanted } }));
  if (practice.name !== wanted || practice.role !== "admin") throw wire.refuse("is not the practice asked for, with you as its admin");
  return practice;
}

/** Invites `email` as `role`: the server mails the code, which never comes back here. */
export async function invite(session: Session, practiceId: string, email: string, wantedRole: Role): Promise<InvitationView> {
  const address = email.trim();
  const wire = new Wire("malformed_answer", "the invitation");
  const path = `/practices/${encodeURIComponent(practiceId)}/invitations`;
  const body = wire.object(await session.json("POST", path, wire, { json: { email: address, role: wantedRole } }));
  const invitation = { email: wire.string(body, "email"), role: role(wire, body), expiresAt: wire.string(body, "expires_at") };
  // The server writes the address as it keeps it (lower case): still the one asked for.
  if (invitation.email.toLowerCase() !== address.toLowerCase() || invitation.role !== wantedRole) {
    throw wire.refuse("is for another address or role than the one asked for");
  }
  if (Number.isNaN(Date.parse(invitation.expiresAt))) throw wire.refuse("has no valid end date");
  return invitation;
}

/**
 * Accepts the invitation of `code` (from the mail) with the signed-in account; a
 * patient names the version of the practice's notice the screen showed them, which
 * records that they were informed (PROTOCOL 21.2).
 */
export async function joinPractice(session: Session, code: string, noticeVersion: number | null = null): Promise<PracticeView> {
  const given = code.trim();
  const wire = new Wire("malformed_answer", "the practice joined");
  const body: Record<string, string | number> = { code: given };
  if (noticeVersion !== null) body["notice_version"] = noticeVersion;
  return practiceOf(wire, await session.json("POST", "/practices/invitations/accept", wire, { json: body }));
}

/** A member as GET /practices/{id}/members lists it (accounts/schemas.py MemberOut). */
export interface MemberView {
  accountId: string;
  email: string;
  name: string;
  /** The account's kind: only a practitioner has a professional identity to verify. */
  kind: string;
  role: Role;
  /** Proven with e-CPS, or vouched for by an admin or the operator. */
  identityVerified: boolean;
  /** Proven with e-CPS (the strongest proof; nothing to vouch for then). */
  rppsProven: boolean;
}

function memberOf(wire: Wire, item: unknown): MemberView {
  const m = wire.object(item);
  return {
    accountId: wire.uuid(m, "account_id"),
    email: wire.string(m, "email"),
    name: wire.string(m, "display_name"),
    kind: wire.string(m, "kind"),
    role: role(wire, m),
    identityVerified: wire.boolean(m, "identity_verified"),
    rppsProven: wire.boolean(m, "rpps_proven"),
  };
}

/** The members of a practice and their roles. */
export async function listMembers(session: Session, practiceId: string): Promise<MemberView[]> {
  const wire = new Wire("malformed_answer", "the practice's members");
  const path = `/practices/${encodeURIComponent(practiceId)}/members`;
  return wire.list(await session.json("GET", path, wire)).map((item) => memberOf(wire, item));
}

/**
 * (Admins) Vouches for a practitioner member's professional identity, as
 * `uhs practice verify` does: the answer must be that member, now verified.
 */
export async function vouchForIdentity(session: Session, practiceId: string, accountId: string): Promise<MemberView> {
  const wire = new Wire("malformed_answer", "the verified member");
  const path = `/practices/${encodeURIComponent(practiceId)}/members/${encodeURIComponent(accountId)}/identity-verification`;
  const member = memberOf(wire, await session.json("POST", path, wire));
  if (member.accountId !== accountId.toLowerCase() || !member.identityVerified) throw wire.refuse("is not the member vouched for, verified");
  return member;
}

/** How long a practice keeps its patients' files (retention/schemas.py PolicyOut). */
export interface RetentionPolicyView {
  years: number;
  archiveAfterYears: number;
}

function policyOf(wire: Wire, item: unknown, practiceId: string): RetentionPolicyView {
  const p = wire.object(item);
  if (wire.uuid(p, "practice_id") !== practiceId.toLowerCase()) throw wire.refuse("is about another practice");
  const policy = { years: wire.integer(p, "years"), archiveAfterYears: wire.integer(p, "archive_after_years") };
  if (policy.years === 0 || policy.archiveAfterYears === 0 || policy.archiveAfterYears > policy.years) throw wire.refuse("is not a retention period");
  return policy;
}

/** The practice's retention policy (its members read it). */
export async function retentionPolicy(session: Session, practiceId: string): Promise<RetentionPolicyView> {
  const wire = new Wire("malformed_answer", "the practice's retention policy");
  return policyOf(wire, await session.json("GET", `/practices/${encodeURIComponent(practiceId)}/retention-policy`, wire), practiceId);
}

/** (Admins) A new retention policy; the server refuses periods out of its bounds. */
export async function setRetentionPolicy(session: Session, practiceId: string, wanted: RetentionPolicyView): Promise<RetentionPolicyView> {
  const wire = new Wire("malformed_answer", "the practice's retention policy");
  const path = `/practices/${encodeURIComponent(practiceId)}/retention-policy`;
  const json = { years: wanted.years, archive_after_years: wanted.archiveAfterYears };
  const policy = policyOf(wire, await session.json("PUT", path, wire, { json }), practiceId);
  if (policy.years !== wanted.years || policy.archiveAfterYears !== wanted.archiveAfterYears) throw wire.refuse("is not the policy asked for");
  return policy;
}

/** The largest activity export the page accepts (1000 entries are far below it). */
const EXPORT_LIMIT = 16 * 1024 * 1024;

/**
 * (Admins) The practice's activity as a FHIR Bundle of AuditEvents, as
 * `uhs journal export --practice` writes it: refused unless it is one, so that
 * the file saved is what its name says.
 */
export async function exportActivity(session: Session, practiceId: string): Promise<string> {
  const wire = new Wire("malformed_answer", "the practice's activity export");
  const path = `/practices/${encodeURIComponent(practiceId)}/journal/export`;
  const response = await session.call("GET", path, { params: { format: "fhir" } });
  const text = await response.text();
  if (text.length > EXPORT_LIMIT) throw wire.refuse("is too large");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw wire.refuse("is not JSON");
  }
  const bundle = wire.object(parsed);
  if (wire.string(bundle, "resourceType") !== "Bundle") throw wire.refuse("is not a FHIR Bundle");
  for (const entry of wire.list(bundle["entry"] ?? [])) {
    if (wire.string(wire.object(wire.object(entry)["resource"]), "resourceType") !== "AuditEvent") throw wire.refuse("holds something else than AuditEvents");
  }
  return text;
}
