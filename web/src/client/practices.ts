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

/** Accepts the invitation of `code` (from the mail) with the signed-in account. */
export async function joinPractice(session: Session, code: string): Promise<PracticeView> {
  const given = code.trim();
  const wire = new Wire("malformed_answer", "the practice joined");
  return practiceOf(wire, await session.json("POST", "/practices/invitations/accept", wire, { json: { code: given } }));
}
