/**
 * Refusals, named by the identifiers of docs/PROTOCOL.md section 8.1.
 *
 * A message says what failed and where, never a key, a password or plaintext:
 * callers show it to users and may log it.
 */

export type ErrorIdentifier =
  | "malformed"
  | "unsupported"
  | "invalid_public_key"
  | "header_authentication"
  | `chunk_authentication:${number}`
  | "truncated"
  | "trailing_data"
  | "decryption_failed"
  | "invalid_signature"
  | "wrong_password"
  | "weak_parameters"
  | "parameters_above_budget"
  | "invalid_proof";

export class ProtocolError extends Error {
  readonly identifier: ErrorIdentifier;

  constructor(identifier: ErrorIdentifier, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.identifier = identifier;
  }
}

export function malformed(message: string): ProtocolError {
  return new ProtocolError("malformed", message);
}

export function unsupported(message: string): ProtocolError {
  return new ProtocolError("unsupported", message);
}
