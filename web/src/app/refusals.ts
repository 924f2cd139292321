/**
 * The worker's refusals as the person reads them. The worker names each refusal by a
 * stable code (the protocol's identifiers, the client's checks, the server's statuses,
 * the worker's own); its message is English for logs and support, so the page shows
 * the text of the code in the chosen language, the code beside it in small print.
 */

import type { RefusalIdentifier, ServerRefusalIdentifier } from "../client/http.js";
import type { ErrorIdentifier } from "../protocol/errors.js";
import { WorkerRefusal } from "../worker/client.js";
import type { WorkerError } from "../worker/messages.js";
import { type MessageKey, t } from "./i18n.js";

/** "chunk_authentication:3" is the code "chunk_authentication" (which chunk is for support). */
type ProtocolCode = Exclude<ErrorIdentifier, `chunk_authentication:${number}`> | "chunk_authentication";

/** Every code the worker answers a refusal with ("internal": anything else that failed in it). */
export type RefusalCode = ProtocolCode | RefusalIdentifier | ServerRefusalIdentifier | WorkerError["identifier"] | "internal";

/** The text of each code: a code added to any of the unions above fails to compile until it has one. */
export const REFUSAL_TEXTS: Record<RefusalCode, MessageKey> = {
  malformed: "refusal.malformed",
  unsupported: "refusal.unsupported",
  invalid_public_key: "refusal.invalid_public_key",
  header_authentication: "refusal.header_authentication",
  chunk_authentication: "refusal.chunk_authentication",
  truncated: "refusal.truncated",
  trailing_data: "refusal.trailing_data",
  decryption_failed: "refusal.decryption_failed",
  invalid_signature: "refusal.invalid_signature",
  wrong_password: "refusal.wrong_password",
  weak_parameters: "refusal.weak_parameters",
  parameters_above_budget: "refusal.parameters_above_budget",
  invalid_proof: "refusal.invalid_proof",
  exchange_refused: "refusal.exchange_refused",
  directory_refused: "refusal.directory_refused",
  log_refused: "refusal.log_refused",
  malformed_answer: "refusal.malformed_answer",
  signed_out: "refusal.signed_out",
  no_sign_in: "refusal.no_sign_in",
  enrolment_required: "refusal.enrolment_required",
  not_for_the_page: "refusal.not_for_the_page",
  unsolvable_challenge: "refusal.unsolvable_challenge",
  server_unreachable: "refusal.server_unreachable",
  weak_password: "refusal.weak_password",
  no_registration: "refusal.no_registration",
  already_enrolled: "refusal.already_enrolled",
  bad_request: "refusal.bad_request",
  unauthorized: "refusal.unauthorized",
  forbidden: "refusal.forbidden",
  step_up_required: "refusal.step_up_required",
  patient_not_informed: "refusal.patient_not_informed",
  document_restricted: "refusal.document_restricted",
  not_found: "refusal.not_found",
  conflict: "refusal.conflict",
  too_large: "refusal.too_large",
  too_many_requests: "refusal.too_many_requests",
  server_unavailable: "refusal.server_unavailable",
  refused: "refusal.refused",
  locked: "refusal.locked",
  unknown_operation: "refusal.unknown_operation",
  internal: "refusal.internal",
  history_incomplete: "refusal.history_incomplete",
  export_too_large: "refusal.export_too_large",
  query_too_long: "refusal.query_too_long",
  passkey_refused: "refusal.passkey_refused",
  recovery_code_refused: "refusal.recovery_code_refused",
  password_blocked: "refusal.password_blocked",
  factors_blocked: "refusal.factors_blocked",
  unblock_link_refused: "refusal.unblock_link_refused",
  recovery_factor_refused: "refusal.recovery_factor_refused",
  wrong_recovery_words: "refusal.wrong_recovery_words",
  no_recovery: "refusal.no_recovery",
};

/** The code of a worker's identifier, or null for one this page does not know. */
export function refusalCode(identifier: string): RefusalCode | null {
  const code = identifier.startsWith("chunk_authentication:") ? "chunk_authentication" : identifier;
  return Object.hasOwn(REFUSAL_TEXTS, code) ? (code as RefusalCode) : null;
}

/** What a failure is for the person: its text, and the worker's code for support (null if none). */
export interface Described {
  text: string;
  code: string | null;
}

/** A refusal the worker names by `identifier` (also inside an answer: a message refused). */
export function describeRefusal(identifier: string): Described {
  const code = refusalCode(identifier);
  return { text: t(code === null ? "refusal.internal" : REFUSAL_TEXTS[code]), code: identifier };
}

/**
 * A failure as the person reads it: a refusal of the worker by its code; a failed
 * fetch or a worker that stopped answering as the network; anything else (a bug of
 * the page) as an unexpected error, never its English message.
 */
export function describeFailure(error: unknown): Described {
  if (error instanceof WorkerRefusal) return describeRefusal(error.identifier);
  if (error instanceof TypeError) return { text: t("error.network"), code: null };
  return { text: t("refusal.internal"), code: error instanceof Error ? error.name : null };
}
