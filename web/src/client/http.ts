/**
 * The worker's HTTP footing: requests to the server that served the page (its own
 * origin), an error answer raised as an ApiError carrying the server's RFC 9457
 * `detail` and a stable identifier, the shield's proof of work solved when a
 * route that checks a secret is answered 429 with a challenge (as client/transport.py does), and the
 * refusals of the client's own checks (ClientRefusal).
 */

import { toBase64 } from "../protocol/bytes.js";
import { HEADER as PROOF_HEADER, type Challenge, UnsolvableChallenge, headerValue, solve } from "../protocol/proof_of_work.js";

/** Proofs of work solved for one request before giving up (each 429 carries a new one). */
export const MAX_CHALLENGES = 3;
/**
 * Requests whose repetition has the effect of one (RFC 9110, 9.2.2), sent again after
 * a 503 or a lost answer; a write is sent again only if it carries an idempotency key,
 * which the server answers a repetition by (client/transport.py RetryUnavailable).
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";
/** The SHA-256 of a body sent as it is (an upload), ahead of it (RFC 9530). */
export const CONTENT_DIGEST_HEADER = "Content-Digest";

/** The `Content-Digest` value of a body of this SHA-256. */
export function contentDigest(sha256: Uint8Array): string {
  return `sha-256=:${toBase64(sha256)}:`;
}
/** Retries of one request answered 503 (or whose answer was lost), after its first attempt. */
export const MAX_RETRIES = 4;
/** The longest wait before a retry, whatever the server's Retry-After says. */
export const MAX_RETRY_DELAY_MS = 30_000;

/**
 * How long to wait before retry number `attempt` (from 0): never sooner than the
 * server's Retry-After (in seconds), and doubling from one second on each attempt.
 */
export function retryDelayMs(retryAfter: string | null, attempt: number): number {
  const asked = retryAfter !== null && /^\s*\d+(\.\d+)?\s*$/.test(retryAfter) ? 1000 * Number(retryAfter) : 0;
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(asked, 1000 * 2 ** attempt));
}

export type Sleep = (ms: number) => Promise<void>;

/** The problem type (RFC 9457) of a refusal that a step-up lifts (/auth/step-up). */
export const STEP_UP_REQUIRED = "tag:uhealthsec.fr,2026:problem:step-up-required";
/** The problem type of a care-team share refused until the patient is informed (PROTOCOL 21.3). */
export const PATIENT_NOT_INFORMED = "tag:uhealthsec.fr,2026:problem:patient-not-informed";
/** The problem type of a document its patient restricted to themselves and its author (R28, PROTOCOL 11.8). */
export const DOCUMENT_RESTRICTED = "tag:uhealthsec.fr,2026:problem:document-restricted";

/** The identifiers of the server's refusals, one per kind of status the page tells apart. */
export type ServerRefusalIdentifier =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "step_up_required"
  | "patient_not_informed"
  | "document_restricted"
  | "password_blocked"
  | "factors_blocked"
  | "not_found"
  | "conflict"
  | "too_large"
  | "too_many_requests"
  | "server_unavailable"
  | "refused";

/**
 * The identifier of a refusal by the server, from its status: what the page tells
 * apart (a wrong password or code is "unauthorized"; a throttled sign-in
 * "too_many_requests").
 */
export function identifierOfStatus(status: number): ServerRefusalIdentifier {
  switch (status) {
    case 400:
    case 422:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "too_large";
    case 429:
      return "too_many_requests";
    default:
      return status >= 500 ? "server_unavailable" : "refused";
  }
}

/** The 403s the page tells apart by their problem type: only these types name them (PROTOCOL). */
const FORBIDDEN_TYPES = new Map<unknown, ServerRefusalIdentifier>([
  [STEP_UP_REQUIRED, "step_up_required"],
  [PATIENT_NOT_INFORMED, "patient_not_informed"],
  [DOCUMENT_RESTRICTED, "document_restricted"],
  // 100 failures in a row blocked the password or the codes (R7): the mailed link unblocks.
  ["tag:uhealthsec.fr,2026:problem:password-blocked", "password_blocked"],
  ["tag:uhealthsec.fr,2026:problem:factors-blocked", "factors_blocked"],
]);

/** An answer of the server that refused a request (status 400 and above). */
export class ApiError extends Error {
  readonly identifier: ServerRefusalIdentifier;

  constructor(
    readonly status: number,
    readonly detail: string,
    readonly problem: Record<string, unknown>,
  ) {
    super(detail);
    this.name = "ApiError";
    // Only the step-up's own problem type asks for a second factor again (PROTOCOL).
    this.identifier = status === 403 ? (FORBIDDEN_TYPES.get(problem["type"]) ?? "forbidden") : identifierOfStatus(status);
  }
}

/**
 * What the client refuses after checking the server's answers (the SDK's
 * ExchangeRefused, DirectoryRefused, LogRefused, MalformedAnswer), or a request the
 * worker cannot make in its state (signed out, no sign-in under way).
 */
export type RefusalIdentifier =
  | "exchange_refused"
  | "directory_refused"
  | "log_refused"
  | "malformed_answer"
  | "signed_out"
  | "no_sign_in"
  | "enrolment_required"
  | "not_for_the_page"
  | "unsolvable_challenge"
  | "server_unreachable"
  | "weak_password"
  | "no_registration"
  | "already_enrolled"
  | "history_incomplete"
  | "export_too_large"
  | "query_too_long"
  | "passkey_refused"
  | "recovery_code_refused"
  | "unblock_link_refused"
  | "recovery_factor_refused"
  | "wrong_recovery_words"
  | "no_recovery";

export class ClientRefusal extends Error {
  constructor(
    readonly identifier: RefusalIdentifier,
    message: string,
  ) {
    super(message);
    this.name = "ClientRefusal";
  }
}

/** The problem type of a change refused for its signature (PROTOCOL 13.0). */
export const SIGNATURE_REQUIRED = "tag:uhealthsec.fr,2026:problem:signature-required";
/** A server time outside these years is not a clock, whoever says it. */
const EARLIEST_MS = Date.UTC(2020, 0, 1);
const LATEST_MS = Date.UTC(2200, 0, 1);

/**
 * The time a request's signature says it was made at (PROTOCOL 13.0), as
 * client/transport.py ServerClock: the device's clock, or, once the server refused a
 * signature as made more than 10 minutes from its own time (its `server_time_ms`),
 * that time moved on by the device's clock since. Only that refusal teaches the time,
 * never an answer's `Date`, which a proxy on the way may write: a client led to sign
 * ahead of time hands out requests that stay fresh longer.
 */
export class ServerClock {
  private offsetMs = 0;

  constructor(private readonly local: () => number = Date.now) {}

  /** Take the server's time from its refusal of a stale signature: true if it was one. */
  learn(refusal: unknown): boolean {
    if (!(refusal instanceof ApiError) || refusal.status !== 400 || refusal.problem["type"] !== SIGNATURE_REQUIRED) return false;
    const server = refusal.problem["server_time_ms"];
    if (typeof server !== "number" || !Number.isSafeInteger(server) || server < EARLIEST_MS || server >= LATEST_MS) return false;
    this.offsetMs = server - this.local();
    return true;
  }

  nowMs(): number {
    return this.local() + this.offsetMs;
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  params?: Record<string, string | number>;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
  /** Sent as it is (an upload); a stream is sent half-duplex. */
  body?: Uint8Array | Blob | ReadableStream<Uint8Array>;
  /**
   * The SHA-256 of `body`, declared ahead of it in `Content-Digest` (RFC 9530): a
   * signed-in request is signed over it (R3), and the server refuses a body that
   * does not hash to it.
   */
  bodySha256?: Uint8Array;
  redirect?: RequestRedirect;
  /** Solve the shield's proof of work if the answer asks for one (a secret is checked). */
  solveProofOfWork?: boolean;
}

/** Raises the server's refusal as an ApiError; returns the answer otherwise. */
export async function checkResponse(response: Response): Promise<Response> {
  if (response.status < 400) return response;
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = await response.json();
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) problem = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: the status alone says what happened.
  }
  const detail = problem["detail"] ?? problem["error_description"] ?? response.statusText;
  throw new ApiError(response.status, typeof detail === "string" && detail ? detail : `the server answered ${response.status}`, problem);
}

export class Http {
  /** `origin`: the page's own (the worker's `location.origin`), or a test server's. */
  constructor(
    readonly origin: string,
    private readonly fetcher: Fetch = (input, init) => fetch(input, init),
    private readonly sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** The URL of `path` on the server's origin: never another one ("//host/…" is refused). */
  url(path: string, params?: Record<string, string | number>): string {
    const url = new URL(path, this.origin);
    if (url.origin !== new URL(this.origin).origin) throw new TypeError(`requests go to the server's own origin only, not ${url.origin}`);
    for (const [name, value] of Object.entries(params ?? {})) url.searchParams.set(name, String(value));
    return url.toString();
  }

  /**
   * The server's answer, whatever its status. A request whose repetition has the
   * effect of one is sent again, after the server's Retry-After with exponential
   * backoff, when it could not reach the server or the answer was lost, when the
   * server answered 503 (briefly unavailable), or 409 with Retry-After to a keyed
   * write (its first attempt still being carried out). A streamed body is never sent twice.
   */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers = new Headers(options.headers ?? {});
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    } else if (options.form !== undefined) {
      body = new URLSearchParams(options.form);
    } else if (options.body !== undefined) {
      body = options.body as BodyInit;
    }
    const init: RequestInit & { duplex?: "half" } = { method, headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) init.body = body;
    if (options.body instanceof ReadableStream) init.duplex = "half";
    if (options.redirect !== undefined) init.redirect = options.redirect;
    const url = this.url(path, options.params);
    const keyed = headers.has(IDEMPOTENCY_KEY_HEADER);
    const replayable = !(options.body instanceof ReadableStream) && (IDEMPOTENT_METHODS.has(method) || keyed);
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetcher(url, init);
      } catch {
        if (!replayable || attempt >= MAX_RETRIES) {
          throw new ClientRefusal("server_unreachable", "the server could not be reached, or its answer was lost: check the connection");
        }
        await this.sleep(retryDelayMs(null, attempt));
        continue;
      }
      const inProgress = response.status === 409 && keyed && response.headers.has("retry-after");
      if (!(response.status === 503 || inProgress) || !replayable || attempt >= MAX_RETRIES) return response;
      await response.body?.cancel();
      await this.sleep(retryDelayMs(response.headers.get("retry-after"), attempt));
    }
  }

  /** The answer, refused as an ApiError unless it succeeded. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    return checkResponse(await this.send(method, path, options));
  }

  /**
   * POST as JSON, solving the shield's proof of work if it asks for one (429 with a
   * challenge): free at rest, a moment's computation under attack.
   */
  async postWithProof(path: string, json: unknown): Promise<Response> {
    return this.sendWithProof("POST", path, { json });
  }

  /**
   * Sends, solving the shield's proof of work if it asks for one: every route that
   * checks a secret may (a sign-in's steps, a step-up, a recovery; PROTOCOL 14).
   */
  async sendWithProof(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const sent: RequestOptions = { ...options, headers };
    let response = await this.send(method, path, sent);
    for (let attempt = 0; attempt < MAX_CHALLENGES && response.status === 429; attempt++) {
      let challenge: Challenge;
      try {
        challenge = ((await response.clone().json()) as { challenge: Challenge }).challenge;
        if (typeof challenge !== "object" || challenge === null) return response;
      } catch {
        return response;
      }
      try {
        headers[PROOF_HEADER] = headerValue(challenge, await solve(challenge));
      } catch (error) {
        if (error instanceof UnsolvableChallenge) throw new ClientRefusal("unsolvable_challenge", error.message);
        throw error;
      }
      response = await this.send(method, path, sent);
    }
    return response;
  }
}
