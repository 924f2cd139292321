/**
 * Signing in with an e-CPS (Pro Santé Connect), as the SDK's federated_login_url and
 * finish_federated_login do (client/api.py): the worker makes the OAuth request of
 * client "uhs-web" (its state and PKCE verifier stay here), the page opens the
 * server's /auth/federated/authorize with it in a window of its own, the provider
 * sends that window back to the application (PROFESSIONAL_RETURN_PATH), which hands the
 * address it came back to to the worker: the code is worth nothing without the
 * verifier. The provider's sign-in is itself multi-factor (eIDAS substantial or
 * high); the keys still need the password, which only this device's keystore opens.
 */

import { type Tokens, authorizationRequest, codeOf, exchangeCode } from "./auth.js";
import { fromHex, utf8 } from "../protocol/bytes.js";
import { type Http, checkResponse } from "./http.js";
import { signedChange } from "./passkeys.js";
import type { Session } from "./session.js";
import { Wire, jsonOf } from "./wire.js";

/** Where the provider's window comes back: the application, registered for "uhs-web" (server/bootstrap.py). */
export const PROFESSIONAL_RETURN_PATH = "/app/";

export interface ProfessionalRequest {
  state: string;
  verifier: string;
  redirectUri: string;
}

/**
 * The address to open in the provider's window, and what to keep to finish. Asked
 * of the server first, so that one without a provider (404) or refusing the request
 * says so here rather than in a window left open on its error: the answer, a redirect
 * to the provider, is not followed (the window makes its own request).
 */
export async function professionalSignIn(http: Http, deviceName: string): Promise<{ url: string; request: ProfessionalRequest }> {
  const redirectUri = http.url(PROFESSIONAL_RETURN_PATH);
  const { params, state, verifier } = await authorizationRequest(redirectUri, deviceName);
  const answer = await http.send("GET", "/auth/federated/authorize", { params, redirect: "manual" });
  // A browser's fetch sees a redirect it does not follow as "opaqueredirect", Node's as a 3xx.
  if (answer.type !== "opaqueredirect" && !(answer.status >= 300 && answer.status < 400)) await checkResponse(answer);
  await answer.body?.cancel();
  return { url: http.url("/auth/federated/authorize", params), request: { state, verifier, redirectUri } };
}

/** Tokens for the window's return to `landed`, refused unless it answers `request`. */
export function finishProfessionalSignIn(http: Http, request: ProfessionalRequest, landed: string): Promise<Tokens> {
  return exchangeCode(http, codeOf(new URL(landed), request.redirectUri, request.state), request.redirectUri, request.verifier);
}

/** Who the tokens are for, to greet them before they type their password. */
export async function whoIsSignedIn(http: Http, tokens: Tokens): Promise<{ email: string; name: string }> {
  const wire = new Wire("malformed_answer", "your account");
  const answer = await http.request("GET", "/accounts/me", { headers: { Authorization: `Bearer ${tokens.accessToken}` } });
  const me = wire.object(await jsonOf(answer, wire));
  return { email: wire.string(me, "email"), name: wire.string(me, "display_name") };
}

export interface ProfessionalIdentity {
  id: string;
  rpps: string | null;
  /** ISO 8601. */
  linkedAt: string;
}

/** The professional identities linked to the signed-in account. */
export async function professionalIdentities(session: Session): Promise<ProfessionalIdentity[]> {
  const wire = new Wire("malformed_answer", "your professional identities");
  return wire.list(await session.json("GET", "/auth/federated/identities", wire)).map((item) => {
    const i = wire.object(item);
    return { id: wire.uuid(i, "id"), rpps: wire.optionalString(i, "rpps"), linkedAt: wire.string(i, "linked_at") };
  });
}

/**
 * Starts linking an e-CPS to the signed-in account (a second factor proven in the
 * last minutes needed), as the SDK's start_link: the provider's address for the
 * window, and what to keep; the window comes back with a link code that only this
 * session, holding the verifier, can redeem.
 */
export async function professionalLink(session: Session): Promise<{ url: string; request: ProfessionalRequest }> {
  const redirectUri = session.http.url(PROFESSIONAL_RETURN_PATH);
  const { params, state, verifier } = await authorizationRequest(redirectUri, "");
  const wire = new Wire("malformed_answer", "the link's start");
  const body = { client_id: params["client_id"], redirect_uri: redirectUri, state, code_challenge: params["code_challenge"] };
  const answer = wire.object(await session.json("POST", "/auth/federated/links", wire, { json: body }));
  const url = new URL(wire.string(answer, "authorization_url"));
  if (url.protocol !== "https:" && url.hostname !== "127.0.0.1" && url.hostname !== "localhost") throw wire.refuse("names a provider that is not reached over https");
  return { url: url.href, request: { state, verifier, redirectUri } };
}

/**
 * Redeems the link code the window came back with (finish_link), signed by `sign` (the
 * account's signing key, PROTOCOL 16.4): a linked e-CPS signs in without the password
 * or a second factor, so a copied session alone must not link one.
 */
export async function finishProfessionalLink(
  session: Session,
  request: ProfessionalRequest,
  landed: string,
  sign: (digest: Uint8Array) => Promise<Uint8Array>,
): Promise<void> {
  const linkCode = codeOf(new URL(landed), request.redirectUri, request.state, "link_code");
  const change = await signedChange(session, "link-e-cps", utf8(linkCode), sign);
  await session.call("POST", "/auth/federated/links/complete", { json: { link_code: linkCode, code_verifier: request.verifier, change } });
}

/**
 * Unlinks the e-CPS `id` from the signed-in account, as the SDK's unlink: a second
 * factor proven in the last minutes, and the owner's consent signed by `sign` over the
 * identity's id (PROTOCOL 16.4), so that a copied session cannot remove it.
 */
export async function unlinkProfessionalIdentity(session: Session, id: string, sign: (digest: Uint8Array) => Promise<Uint8Array>): Promise<void> {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Wire("malformed_answer", "your professional identities").refuse("names an identity by something else than its UUID");
  const change = await signedChange(session, "unlink-e-cps", fromHex(hex), sign);
  await session.call("DELETE", `/auth/federated/identities/${encodeURIComponent(id)}`, { json: change });
}
