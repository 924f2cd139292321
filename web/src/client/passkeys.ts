/**
 * Passkeys (WebAuthn) from the worker, as the SDK's AuthClient does (client/api.py):
 * the options for navigator.credentials.create() or get() come from the server, the
 * page asks the authenticator (only a page can), and its answer comes back here. The
 * worker checks that the answer is for the challenge it asked for, of the right kind
 * and from its own origin, before it sends it on, and signs the addition of a passkey
 * with the account's key (PROTOCOL 16.4): a passkey is added only by whoever holds
 * the unlocked keystore, never by a copied session alone.
 */

import { fromBase64Url, fromHex, fromUtf8, toBase64Url } from "../protocol/bytes.js";
import { type FactorAction, factorChangeDigest } from "../protocol/account_changes.js";
import type { LoginState } from "./auth.js";
import { ClientRefusal, type Http, checkResponse } from "./http.js";
import type { Session } from "./session.js";
import { Wire, jsonOf } from "./wire.js";

/** The server's options, as py_webauthn's options_to_json writes them (binary as base64url). */
export type PasskeyOptions = Record<string, unknown>;
/** An authenticator's answer in the JSON form of WebAuthn Level 3 (PublicKeyCredential.toJSON()). */
export type PasskeyCredential = Record<string, unknown>;

export interface PasskeyView {
  id: string;
  name: string;
  /** ISO 8601. */
  createdAt: string;
}

function refused(message: string): ClientRefusal {
  return new ClientRefusal("passkey_refused", message);
}

/** The options' challenge, which the answer must sign. */
export function challengeOf(options: PasskeyOptions): string {
  const challenge = options["challenge"];
  if (typeof challenge !== "string" || challenge === "") throw new Wire("malformed_answer", "the passkey options").refuse("has no challenge");
  return challenge;
}

/**
 * Refuses an answer that is not `type` ("webauthn.create" or "webauthn.get") over
 * `challenge` from `origin`: a page that hands over an answer made for another
 * request, another site or another account's sign-in is stopped here.
 */
export function checkCredential(credential: PasskeyCredential, type: string, challenge: string, origin: string): Uint8Array {
  const response = credential["response"];
  const rawId = credential["rawId"];
  if (credential["type"] !== "public-key" || typeof rawId !== "string" || typeof response !== "object" || response === null) {
    throw refused("the passkey's answer is malformed");
  }
  let client: Record<string, unknown>;
  let id: Uint8Array;
  try {
    id = fromBase64Url(rawId);
    client = JSON.parse(fromUtf8(fromBase64Url(String((response as Record<string, unknown>)["clientDataJSON"])))) as Record<string, unknown>;
  } catch {
    throw refused("the passkey's answer is malformed");
  }
  if (client["type"] !== type) throw refused("the passkey answered another kind of request");
  if (client["challenge"] !== challenge) throw refused("the passkey answered another request than this one");
  if (client["origin"] !== new URL(origin).origin) throw refused(`the passkey answered for ${String(client["origin"])}, not for this site`);
  return id;
}

/** Options for navigator.credentials.create() to add a passkey (a recent second factor needed). */
export async function registrationOptions(session: Session): Promise<PasskeyOptions> {
  const wire = new Wire("malformed_answer", "the passkey options");
  return wire.object(await session.json("POST", "/auth/factors/webauthn-options", wire));
}

/**
 * Adds the passkey `credential` answered to `options`, with the owner's consent
 * signed by `sign` (the account's signing key, held by the worker).
 */
export async function addPasskey(
  session: Session,
  options: PasskeyOptions,
  credential: PasskeyCredential,
  name: string,
  sign: (digest: Uint8Array) => Promise<Uint8Array>,
): Promise<void> {
  const credentialId = checkCredential(credential, "webauthn.create", challengeOf(options), session.http.origin);
  const change = await signedChange(session, "add-passkey", credentialId, sign);
  await session.call("POST", "/auth/factors/webauthn", { json: { credential, name, change } });
}

/**
 * Removes the passkey `id` of the signed-in account, the owner's consent signed by
 * `sign` over its id, as the SDK's remove_passkey: a copied session cannot take a
 * person's passkey away.
 */
export async function removePasskey(session: Session, id: string, sign: (digest: Uint8Array) => Promise<Uint8Array>): Promise<void> {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw refused("a passkey is named by its UUID");
  const change = await signedChange(session, "remove-passkey", fromHex(hex), sign);
  await session.call("DELETE", `/auth/factors/webauthn/${encodeURIComponent(id)}`, { json: change });
}

/** The consent a change of factors carries: the server's single-use nonce, signed. */
export async function signedChange(
  session: Session,
  action: FactorAction,
  subject: Uint8Array,
  sign: (digest: Uint8Array) => Promise<Uint8Array>,
): Promise<{ nonce: string; signature: string }> {
  const wire = new Wire("malformed_answer", "the change's nonce");
  const answer = wire.object(await session.json("POST", "/auth/factors/change-nonce", wire));
  const nonce = wire.bytes(answer, "nonce", 32);
  const { id } = await session.account();
  const signature = await sign(await factorChangeDigest(id, action, subject, nonce));
  return { nonce: wire.string(answer, "nonce"), signature: toBase64Url(signature) };
}

/** The passkeys of the signed-in account (GET /auth/factors). */
export async function listPasskeys(session: Session): Promise<PasskeyView[]> {
  const wire = new Wire("malformed_answer", "your second factors");
  return wire
    .list(await session.json("GET", "/auth/factors", wire))
    .map((item) => wire.object(item))
    .filter((f) => f["kind"] === "webauthn")
    .map((f) => ({ id: wire.string(f, "id"), name: wire.string(f, "name"), createdAt: wire.string(f, "created_at") }));
}

/**
 * Options for navigator.credentials.get() to prove a sign-in's second factor: over
 * its ticket once the password is checked, or over the address alone when the
 * server asks for the factor with the password (`login` null).
 */
export async function signInOptions(http: Http, email: string, login: LoginState | null): Promise<PasskeyOptions> {
  const wire = new Wire("malformed_answer", "the passkey options");
  const answer =
    login === null
      ? await checkResponse(await http.postWithProof("/auth/login/passkey-options", { email }))
      : await http.request("POST", "/auth/login/webauthn-options", { json: { ticket: login.ticket } });
  return wire.object(await jsonOf(answer, wire));
}
