/**
 * The signed-in worker's footing, as client/exchange/session.py: authenticated
 * requests, signed by the user (UHS-Signature) so that the journal holds their own
 * proof of each action; the account, its id checked against its address's directory
 * entry; its own entry checked to hold the keys this worker unlocked.
 */

import { constantTimeEqual, utf8 } from "../protocol/bytes.js";
import { signatureHeader, signedRequestDigest } from "../protocol/journal.js";
import { sha256 } from "../protocol/primitives.js";
import type { Purpose } from "../protocol/signature.js";
import { type Tokens, accessTokenExpiry, refresh } from "./auth.js";
import { KeyDirectory, type VerifiedEntry } from "./directory.js";
import {
  CONTENT_DIGEST_HEADER,
  ClientRefusal,
  type Http,
  IDEMPOTENCY_KEY_HEADER,
  type RequestOptions,
  ServerClock,
  checkResponse,
  contentDigest,
} from "./http.js";
import type { IndexKeys } from "../protocol/search.js";
import type { PinStore } from "./pins.js";
import { Wire, jsonOf } from "./wire.js";

/** Refreshed this long before the server would refuse it. */
const TOKEN_MARGIN_MS = 30_000;

/** What the session needs of the unlocked keys, which stay in the worker's service. */
export interface HeldKeys {
  /** The unlocked public key bundle (refused as *locked* when there is none). */
  bundle(): Uint8Array;
  sign(purpose: Purpose, digest: Uint8Array): Promise<Uint8Array>;
  /**
   * Runs `use` with the document key of `wrapped` (unwrapped for `header`), which a
   * lock zero-fills, as it does once `use` is done.
   */
  withUnwrapped<T>(wrapped: Uint8Array, header: Uint8Array, use: (documentKey: Uint8Array) => Promise<T>): Promise<T>;
  /**
   * `wrapped` wrapped again to the current keys when only a former key set opens it
   * (PROTOCOL 10.6); null when the current keys open it; "unopened" when none does.
   */
  rewrapToCurrent(wrapped: Uint8Array, header: Uint8Array): Promise<Uint8Array | null | "unopened">;
  /** Runs `use` with a fresh document key, forgotten as `withUnwrapped`'s. */
  withFresh<T>(use: (documentKey: Uint8Array) => Promise<T>): Promise<T>;
  /** `sink`, refusing every write as *locked* once the keys are locked. */
  guard(sink: WritableStream<Uint8Array>): WritableStream<Uint8Array>;
  /** The personal search index's id and keys (PROTOCOL 18.4), derived at unlock. */
  searchIndex(): Promise<{ id: string; keys: IndexKeys }>;
}

export interface Account {
  id: string;
  email: string;
  name: string;
  kind: string;
}

export function exchangeRefused(message: string): ClientRefusal {
  return new ClientRefusal("exchange_refused", message);
}

export class Session {
  readonly directory: KeyDirectory;
  private checkedAccount: Account | null = null;
  private refreshing: Promise<Tokens> | null = null;
  /** The signed digest of each answered request, which its journal receipt must hold. */
  private readonly journaled = new WeakMap<Response, Uint8Array>();
  /** The time a signature says it was made at: the server's, once it refused the device's. */
  readonly clock = new ServerClock();

  constructor(
    readonly http: Http,
    private tokens: Tokens,
    readonly keys: HeldKeys,
    pins: PinStore,
  ) {
    // Key lookups are not signed: the signature names the signer's entry, found by them.
    this.directory = new KeyDirectory(
      (path, params) => this.call("GET", path, { params }),
      pins,
      (path, json) => this.call("POST", path, { json }),
    );
  }

  get refreshToken(): Tokens {
    return this.tokens;
  }

  /** A valid access token, refreshed once when it is about to expire. */
  async accessToken(): Promise<string> {
    if (Date.now() < this.tokens.expiresAt - TOKEN_MARGIN_MS) return this.tokens.accessToken;
    this.refreshing ??= refresh(this.http, this.tokens).finally(() => {
      this.refreshing = null;
    });
    this.tokens = await this.refreshing;
    return this.tokens.accessToken;
  }

  /**
   * The access token a step-up gave (`expiresIn` seconds from `answeredAt`, in ms),
   * for this session's next requests; the refresh token stays the session's.
   */
  useAccessToken(accessToken: string, expiresIn: number, answeredAt = Date.now()): void {
    this.tokens = { ...this.tokens, accessToken, expiresAt: accessTokenExpiry(answeredAt, expiresIn) };
  }

  /**
   * An authenticated request, refused as an ApiError unless it succeeded. A write
   * carries an idempotency key. Every request but key lookups (which the signature
   * depends on) and `/accounts/me` is signed (R3): over its JSON or empty body, or,
   * for a body sent as it is (an upload), over the `bodySha256` it declares in
   * `Content-Digest`, which the server checks the body against.
   */
  async call(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(options.headers ?? {}), Authorization: `Bearer ${await this.accessToken()}` };
    if (method !== "GET" && method !== "HEAD" && headers[IDEMPOTENCY_KEY_HEADER] === undefined) {
      // A retry after a lost answer is then answered, not carried out again.
      headers[IDEMPOTENCY_KEY_HEADER] = `"${crypto.randomUUID()}"`;
    }
    const sent: RequestOptions = { ...options, headers };
    const declared = options.bodySha256;
    const signable = !path.startsWith("/keys/") && path !== "/accounts/me";
    let journaled: Uint8Array | undefined;
    let sign: (() => Promise<void>) | undefined;
    if (signable && (declared !== undefined || (options.body === undefined && options.form === undefined))) {
      let bodySha256: Uint8Array;
      if (declared !== undefined) {
        headers[CONTENT_DIGEST_HEADER] = contentDigest(declared);
        bodySha256 = declared;
      } else {
        // The exact bytes that are hashed are the ones sent.
        const body = options.json === undefined ? new Uint8Array(0) : utf8(JSON.stringify(options.json));
        delete sent.json;
        if (options.json !== undefined) {
          sent.body = body;
          headers["Content-Type"] = "application/json";
        }
        bodySha256 = await sha256(body);
      }
      const url = new URL(this.http.url(path, options.params));
      const signer = await this.myEntry();
      const nonce = (headers[IDEMPOTENCY_KEY_HEADER] ?? "").replace(/^"|"$/g, "");
      // Fresh and single-use (13.0): signed now, over the request's idempotency key.
      sign = async () => {
        const signedAtMs = BigInt(Math.round(this.clock.nowMs()));
        const digest = await signedRequestDigest(method, url.pathname + url.search, bodySha256, signedAtMs, nonce);
        journaled = digest;
        headers["UHS-Signature"] = signatureHeader(signer.index, signedAtMs, await this.keys.sign("request", digest));
      };
      await sign();
    }
    const send = async () =>
      checkResponse(options.solveProofOfWork ? await this.http.sendWithProof(method, path, sent) : await this.http.send(method, path, sent));
    let response: Response;
    try {
      response = await send();
    } catch (refusal) {
      // Signed by a clock more than 10 minutes from the server's: signed again at the
      // server's time, and sent once more (a Blob body can be).
      if (sign === undefined || !this.clock.learn(refusal)) throw refusal;
      await sign();
      response = await send();
    }
    if (journaled !== undefined) this.journaled.set(response, journaled);
    return response;
  }

  /** The digest the journal entry of the request answered by `response` holds, if it was signed (13.0). */
  signedDigestOf(response: Response): Uint8Array | undefined {
    return this.journaled.get(response);
  }

  /** A signed-in JSON answer, read by `wire`. */
  async json(method: string, path: string, wire: Wire, options: RequestOptions = {}): Promise<unknown> {
    return jsonOf(await this.call(method, path, options), wire);
  }

  /**
   * The signed-in account, its id checked against its address's directory entry: the
   * id signs as author, and a server that answered another id would make the worker
   * sign for someone else.
   */
  async account(): Promise<Account> {
    if (this.checkedAccount !== null) return this.checkedAccount;
    const wire = new Wire("exchange_refused", "your account");
    const body = wire.object(await this.json("GET", "/accounts/me", wire));
    const account = { id: wire.uuid(body, "id"), email: wire.string(body, "email"), name: wire.string(body, "display_name"), kind: wire.string(body, "kind") };
    if ((await this.directory.lookup(account.email)).entry.accountId !== account.id) {
      throw exchangeRefused("the server describes your account with another id than the key directory does: nothing was sent");
    }
    this.checkedAccount = account;
    return account;
  }

  /** This account's own directory entry, checked to hold the keys this worker unlocked. */
  async myEntry(): Promise<VerifiedEntry> {
    const mine = await this.directory.lookup((await this.account()).email);
    if (!constantTimeEqual(mine.entry.bundle, this.keys.bundle())) {
      throw exchangeRefused(
        "the key directory publishes keys for you that are not the ones unlocked here: do not send anything, and tell your security contact",
      );
    }
    return mine;
  }

  /** `readers`' proven entries, yourself first, each account once (session._recipients). */
  async recipients(emails: readonly string[]): Promise<VerifiedEntry[]> {
    const mine = await this.myEntry();
    const found = new Map<string, VerifiedEntry>([[mine.entry.accountId, mine]]);
    for (const entry of await this.directory.lookupMany(emails)) {
      if (!found.has(entry.entry.accountId)) found.set(entry.entry.accountId, entry);
    }
    return [...found.values()];
  }
}
