/**
 * Signing in from the worker, as the SDK's AuthClient does (client/api.py): the
 * password's parameters from /auth/prelogin, the auth secret derived here (the
 * server never sees the password), the proof of work when the shield asks, the
 * second factor, then an authorization code with PKCE (client "uhs-web") exchanged
 * for tokens that stay in the worker.
 *
 * The authorization endpoint answers 302 to `{issuer}/app/callback?code=…&state=…`:
 * the worker follows it on its own origin and reads the code from the final URL.
 */

import { toBase64Url, utf8 } from "../protocol/bytes.js";
import { derivePasswordSecrets, decodePreloginParams } from "../protocol/keystore.js";
import { sha256 } from "../protocol/primitives.js";
import { ApiError, ClientRefusal, type Http, checkResponse } from "./http.js";
import { Wire, jsonOf } from "./wire.js";

export const WEB_CLIENT_ID = "uhs-web";
/** Where the authorization endpoint sends the code: registered for "uhs-web" (server/bootstrap.py). */
export const CALLBACK_PATH = "/app/callback";

/** A TOTP code, a recovery code, or a passkey's assertion (client/passkeys.ts). */
export type SecondFactor = { totp_code: string } | { recovery_code: string } | { webauthn: Record<string, unknown> };

export interface LoginState {
  ticket: string;
  methods: string[];
  enrolmentRequired: boolean;
  /** The second factor came with the password: nothing more to prove. */
  complete: boolean;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token stops being accepted (milliseconds since the epoch). */
  expiresAt: number;
}

/** The auth secret of `password` with the account's parameters (/auth/prelogin). */
export async function deriveAuthSecret(http: Http, email: string, password: string): Promise<Uint8Array> {
  const wire = new Wire("malformed_answer", "the password's parameters");
  const answer = await http.request("POST", "/auth/prelogin", { json: { email } });
  const params = decodePreloginParams(wire.string(wire.object(await jsonOf(answer, wire)), "argon2_params"));
  const secrets = await derivePasswordSecrets(password, params);
  secrets.passwordKey.fill(0);
  return secrets.authSecret;
}

/**
 * Checks the password (its auth secret); `secondFactor` is checked first when given.
 * Null when the server asks for the second factor with the password (an address
 * past its failed attempts): the caller sends it again with one.
 */
export async function startLogin(http: Http, email: string, authSecret: Uint8Array, secondFactor?: SecondFactor): Promise<LoginState | null> {
  const body: Record<string, unknown> = { email, auth_secret: toBase64Url(authSecret) };
  if (secondFactor !== undefined) body["second_factor"] = secondFactor;
  const response = await http.postWithProof("/auth/login", body);
  if (response.status === 401 && secondFactor === undefined) {
    const problem = (await response
      .clone()
      .json()
      .catch(() => ({}))) as Record<string, unknown>;
    if (problem["second_factor_required"] === true) return null;
  }
  const wire = new Wire("malformed_answer", "the sign-in");
  const started = wire.object(await jsonOf(await checkResponse(response), wire));
  return {
    ticket: wire.string(started, "ticket"),
    methods: wire.list(started["methods"]).filter((m): m is string => typeof m === "string"),
    enrolmentRequired: wire.boolean(started, "enrolment_required"),
    complete: started["complete"] === true,
  };
}

/**
 * Follows the link mailed when 100 failures in a row blocked the password or the codes
 * (R7, PROTOCOL 14): what counts from zero again. A token unknown, used or expired is
 * refused as such (400).
 */
export async function unblockAuthenticator(http: Http, token: string): Promise<"password" | "factors"> {
  let answer: Response;
  try {
    answer = await checkResponse(await http.request("POST", "/auth/unblock", { json: { token } }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) throw new ClientRefusal("unblock_link_refused", "the unblocking link is not valid, was already used or has expired");
    throw error;
  }
  const wire = new Wire("malformed_answer", "the unblocking");
  const unblocked = wire.string(wire.object(await jsonOf(answer, wire)), "unblocked");
  if (unblocked !== "password" && unblocked !== "factors") throw wire.refuse("names no authenticator");
  return unblocked;
}

/** Proves the second factor of a sign-in under way. */
export async function proveSecondFactor(http: Http, login: LoginState, proof: SecondFactor): Promise<void> {
  await checkResponse(await http.postWithProof("/auth/login/second-factor", { ticket: login.ticket, ...proof }));
}

/** RFC 7636 S256: a random verifier and its challenge. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = toBase64Url(crypto.getRandomValues(new Uint8Array(48)));
  return { verifier, challenge: toBase64Url(await sha256(utf8(verifier))) };
}

/** An authorization request of this client (RFC 6749 4.1.1 with PKCE): its parameters, and the state and verifier to keep. */
export async function authorizationRequest(
  redirectUri: string,
  deviceName: string,
): Promise<{ params: Record<string, string>; state: string; verifier: string }> {
  const { verifier, challenge } = await pkcePair();
  const state = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  const params = {
    response_type: "code",
    client_id: WEB_CLIENT_ID,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    scope: "api",
    device_name: deviceName,
  };
  return { params, state, verifier };
}

/**
 * The authorization code of the redirect to `landed`, refused unless it came back to
 * `redirectUri` with this request's `state` (its parameter `name`: a link's is
 * "link_code"); the authorization server's refusal
 * (RFC 6749 4.1.2.1) is raised with its description.
 */
export function codeOf(landed: URL, redirectUri: string, state: string, name = "code"): string {
  if (landed.origin + landed.pathname !== redirectUri) throw new ApiError(400, "the authorization endpoint redirected elsewhere", {});
  if (landed.searchParams.get("state") !== state) throw new ApiError(400, "the authorization response carries another state", {});
  const code = landed.searchParams.get(name);
  if (code === null) {
    throw new ApiError(400, landed.searchParams.get("error_description") ?? landed.searchParams.get("error") ?? "refused", {
      error: landed.searchParams.get("error"),
    });
  }
  return code;
}

/** Exchanges a completed sign-in for tokens: authorization code with PKCE. */
export async function authorize(http: Http, login: LoginState, deviceName: string): Promise<Tokens> {
  const redirectUri = http.url(CALLBACK_PATH);
  const { params, state, verifier } = await authorizationRequest(redirectUri, deviceName);
  const response = await http.send("POST", "/oauth/authorize", { form: { ...params, ticket: login.ticket }, redirect: "follow" });
  // The callback page's own answer does not matter: only where the redirect led.
  if (!response.redirected) {
    await checkResponse(response);
    throw new ApiError(response.status, "the authorization endpoint did not redirect", {});
  }
  await response.body?.cancel();
  return exchangeCode(http, codeOf(new URL(response.url), redirectUri, state), redirectUri, verifier);
}

/** Tokens for an authorization code, with the PKCE verifier its request was made with. */
export function exchangeCode(http: Http, code: string, redirectUri: string, verifier: string): Promise<Tokens> {
  return tokenRequest(http, { grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier });
}

/**
 * The longest an access token is kept before it is refreshed, whatever `expires_in`
 * the server said (its own longest is 900 s): one said to last for years would never
 * be refreshed, and the session would stop working once the server no longer took it.
 */
export const ACCESS_TOKEN_LONGEST_SECONDS = 900;

/** When an access token the server answered at `answeredAt` (ms) is to be refreshed. */
export function accessTokenExpiry(answeredAt: number, expiresIn: number): number {
  return answeredAt + 1000 * Math.min(expiresIn, ACCESS_TOKEN_LONGEST_SECONDS);
}

export function refresh(http: Http, tokens: Tokens): Promise<Tokens> {
  return tokenRequest(http, { grant_type: "refresh_token", refresh_token: tokens.refreshToken });
}

async function tokenRequest(http: Http, form: Record<string, string>): Promise<Tokens> {
  const wire = new Wire("malformed_answer", "the tokens");
  const started = Date.now();
  const answer = await http.request("POST", "/oauth/token", { form: { ...form, client_id: WEB_CLIENT_ID } });
  const token = wire.object(await jsonOf(answer, wire));
  const refreshToken = wire.optionalString(token, "refresh_token");
  if (refreshToken === null) throw wire.refuse("has no refresh token");
  return { accessToken: wire.string(token, "access_token"), refreshToken, expiresAt: accessTokenExpiry(started, wire.integer(token, "expires_in")) };
}

/** Ends the session the refresh token belongs to (RFC 7009). */
export async function revoke(http: Http, tokens: Tokens): Promise<void> {
  await http.request("POST", "/oauth/revoke", {
    form: { token: tokens.refreshToken, token_type_hint: "refresh_token", client_id: WEB_CLIENT_ID },
  });
}

/** The sealed keystore of the signed-in account. */
export async function fetchKeystore(http: Http, accessToken: string): Promise<Uint8Array> {
  const wire = new Wire("malformed_answer", "the keystore");
  const answer = await http.request("GET", "/accounts/me/keystore", { headers: { Authorization: `Bearer ${accessToken}` } });
  return wire.bytes(wire.object(await jsonOf(answer, wire)), "keystore");
}

/** The refusal for a state in which no sign-in can continue. */
export function noSignIn(): ClientRefusal {
  return new ClientRefusal("no_sign_in", "no sign-in is under way: start again with the password");
}
