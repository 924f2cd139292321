/**
 * Runs steps of the worker's client (WorkerService, as the page's worker runs it)
 * against a real server, one WorkerService per person, for tests/web/test_web_client.py.
 * A step may ask for a hostile server: its requests and answers go through a
 * tampering fetch, for that step only.
 *
 * Usage: node build/scripts/web_client.js <jobs.json> <results.json>, where jobs.json
 * is `{"origin": ..., "steps": [...]}`; each result is the operation's answer as JSON
 * (`ok`, `value`) or its refusal's identifier (`error`), with what the sink received.
 */

import { readFileSync, writeFileSync } from "node:fs";

import { fromBase64Url, fromHex, toBase64Url, toHex } from "../src/protocol/bytes.js";
import { bytesSource } from "../src/protocol/streams.js";
import type { Fetch } from "../src/client/http.js";
import { WorkerService } from "../src/worker/session.js";

interface Tamper {
  /** A regular expression on the request's path. */
  path: string;
  /** The request goes to this path instead (its query kept). */
  redirect?: string;
  /** The request's query parameters replaced by these. */
  query?: Record<string, string>;
  /** Fields of the request's JSON body replaced by these. */
  request_json?: Record<string, unknown>;
  /** The byte at this offset of the answer's body is flipped. */
  flip_byte?: number;
  /** A base64url field of the JSON answer (dotted path, -1 for a list's last) has a bit flipped. */
  flip_json?: string;
  /** The answer's body replaced by these bytes (hex). */
  body_hex?: string;
  /** A text field of the JSON answer (dotted path) is replaced. */
  set_json?: { field: string; value: unknown };
}

interface Step {
  as: string;
  op: string;
  args?: Record<string, unknown>;
  /** sendDocument, newVersion: the content, hex. */
  content?: string;
  tamper?: Tamper[];
}

type Outcome = { ok: true; value: unknown; sink?: SinkState } | { ok: false; error: string; message: string; sink?: SinkState };

interface SinkState {
  written: string;
  closed: boolean;
  aborted: boolean;
}

function walk(value: unknown, dotted: string): { holder: Record<string, unknown>; key: string } {
  const parts = dotted.split(".");
  let holder = value as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) {
    const list = holder as unknown as unknown[];
    holder = (Array.isArray(list) && part === "-1" ? list[list.length - 1] : holder[part]) as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  const key = Array.isArray(holder) && last === "-1" ? String(holder.length - 1) : last;
  return { holder, key };
}

async function tampered(response: Response, tamper: Tamper): Promise<Response> {
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  headers.delete("content-encoding");
  const init = { status: response.status, statusText: response.statusText, headers };
  if (tamper.body_hex !== undefined) {
    await response.body?.cancel();
    return new Response(fromHex(tamper.body_hex) as BodyInit, init);
  }
  if (tamper.flip_byte !== undefined) {
    const body = new Uint8Array(await response.arrayBuffer());
    body[tamper.flip_byte] = body[tamper.flip_byte]! ^ 0x01;
    return new Response(body, init);
  }
  if (tamper.flip_json !== undefined || tamper.set_json !== undefined) {
    const body: unknown = await response.json();
    if (tamper.flip_json !== undefined) {
      const { holder, key } = walk(body, tamper.flip_json);
      const bytes = fromBase64Url(holder[key] as string);
      bytes[0] = bytes[0]! ^ 0x01;
      holder[key] = toBase64Url(bytes);
    }
    if (tamper.set_json !== undefined) {
      const { holder, key } = walk(body, tamper.set_json.field);
      holder[key] = tamper.set_json.value;
    }
    return new Response(JSON.stringify(body), init);
  }
  return response;
}

/** A fetch that applies the current step's tampering. */
function hostileFetch(current: () => Tamper[]): Fetch {
  return async (input, init) => {
    const url = new URL(input);
    const tamper = current().find((t) => new RegExp(t.path).test(url.pathname));
    if (tamper === undefined) return fetch(input, init);
    const headers = new Headers(init?.headers);
    if (tamper.redirect !== undefined) {
      url.pathname = tamper.redirect;
      // The real server checks a request's signature against its path: a hostile one would not.
      headers.delete("UHS-Signature");
    }
    if (tamper.query !== undefined) for (const [name, value] of Object.entries(tamper.query)) url.searchParams.set(name, value);
    const sent: RequestInit = { ...init, headers };
    if (tamper.request_json !== undefined && typeof init?.body === "string") {
      sent.body = JSON.stringify({ ...(JSON.parse(init.body) as Record<string, unknown>), ...tamper.request_json });
    }
    return tampered(await fetch(url.toString(), sent), tamper);
  };
}

function recordingSink(): { sink: WritableStream<Uint8Array>; state: () => SinkState } {
  const parts: Uint8Array[] = [];
  let closed = false;
  let aborted = false;
  const sink = new WritableStream<Uint8Array>({
    write: (chunk) => void parts.push(chunk.slice()),
    close: () => void (closed = true),
    abort: () => void (aborted = true),
  });
  return { sink, state: () => ({ written: parts.map(toHex).join(""), closed, aborted }) };
}

const [jobsPath, resultsPath] = process.argv.slice(2);
if (!jobsPath || !resultsPath) throw new Error("usage: web_client.js <jobs.json> <results.json>");
const { origin, steps } = JSON.parse(readFileSync(jobsPath, "utf8")) as { origin: string; steps: Step[] };
const services = new Map<string, WorkerService>();
let tampering: Tamper[] = [];
const results: Outcome[] = [];
for (const step of steps) {
  let service = services.get(step.as);
  if (service === undefined) {
    service = new WorkerService(origin, { fetch: hostileFetch(() => tampering) });
    services.set(step.as, service);
  }
  tampering = step.tamper ?? [];
  if (step.op === "expireAccessToken") {
    // As if the access token's lifetime had passed: the next request refreshes it.
    const signedIn = (service as unknown as { signedIn: { session: { tokens: { expiresAt: number } } } | null }).signedIn;
    if (signedIn !== null) signedIn.session.tokens.expiresAt = 0;
    results.push({ ok: true, value: signedIn !== null });
    continue;
  }
  const args: Record<string, unknown> = { ...(step.args ?? {}) };
  let recording: ReturnType<typeof recordingSink> | null = null;
  if (step.op === "openDocument") {
    recording = recordingSink();
    args["sink"] = recording.sink;
  }
  if (step.op === "sendDocument" && args["readers"] === undefined) {
    // As the send screen does: the readers reviewed first (through an honest server),
    // then the document sent for them. Where the review fails, the send shows why.
    tampering = [];
    const to = args["to"] as string[];
    args["readers"] = await service.handle("previewRecipients", { emails: to }).then(
      ({ recipients }) => recipients.map((r) => ({ accountId: r.accountId, fingerprint: r.fingerprint })),
      () => [],
    );
    tampering = step.tamper ?? [];
  }
  if (step.op === "sendDocument" || step.op === "newVersion") {
    const content = fromHex(step.content ?? "");
    args["source"] = bytesSource(content);
    args["size"] = content.length;
  }
  try {
    const value = await service.handle(step.op as never, args as never);
    results.push({ ok: true, value, ...(recording ? { sink: recording.state() } : {}) });
  } catch (error) {
    const identifier = (error as { identifier?: unknown }).identifier;
    if (typeof identifier !== "string") throw error;
    results.push({ ok: false, error: identifier, message: (error as Error).message, ...(recording ? { sink: recording.state() } : {}) });
  } finally {
    tampering = [];
  }
}
writeFileSync(resultsPath, JSON.stringify(results));
