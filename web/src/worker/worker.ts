/**
 * The dedicated crypto worker: every operation that touches a private key or a
 * document key runs here (messages.ts lists them), so the page's main thread never
 * holds one. Requests are answered in the order they complete, each by its id.
 */

/// <reference lib="webworker" />

import { malformed } from "../protocol/errors.js";
import { DESCRIBE_KEYS, type HeldKeys, type Response, transferablesOf } from "./messages.js";
import { portReadable, portWritable } from "./pieces.js";
import { WorkerService } from "./session.js";

/**
 * True only in the app-tests build (vite.config.ts), which answers DESCRIBE_KEYS and
 * the key operations of CryptoOperations; the shipped worker answers neither.
 */
declare const __UHS_EXPOSE_WORKER__: boolean;

const scope = self as unknown as DedicatedWorkerGlobalScope;
// The server is the one that served the page: the worker talks to its own origin only.
const service = new WorkerService(scope.location.origin, { exposeKeyOperations: __UHS_EXPOSE_WORKER__ });

/** The identifier a refusal names: that of an error of this codebase, else "internal". */
function identifierOf(error: unknown): string | null {
  if (typeof error !== "object" || error === null) return null;
  const identifier = (error as { identifier?: unknown }).identifier;
  return typeof identifier === "string" ? identifier : null;
}

/**
 * The arguments with a seal's or an open's ports (client.ts) as the streams they
 * carry (pieces.ts); anything else as it came.
 */
function withStreams(args: unknown): unknown {
  if (typeof args !== "object" || args === null) return args;
  const { source, sink } = args as { source?: unknown; sink?: unknown };
  return {
    ...args,
    ...(source instanceof MessagePort ? { source: portReadable(source) } : {}),
    ...(sink instanceof MessagePort ? { sink: portWritable(sink) } : {}),
  };
}

scope.onmessage = async (event: MessageEvent<unknown>) => {
  const data = event.data as { id?: unknown; op?: unknown; args?: unknown } | null;
  // Every request is answered, even one without an id: the page would wait for ever.
  const id = typeof data === "object" && data !== null && typeof data.id === "number" ? data.id : null;
  // DESCRIBE_KEYS is no operation of the Operations API, and its answer none of theirs.
  let response: Response | { id: number; ok: true; result: HeldKeys };
  try {
    if (id === null) throw malformed("a request is an object with a numeric id, an operation and its arguments");
    const result =
      __UHS_EXPOSE_WORKER__ && data!.op === DESCRIBE_KEYS ? service.describeKeys() : await service.handle(data!.op as never, withStreams(data!.args) as never);
    response = { id, ok: true, result };
  } catch (error) {
    const identifier = identifierOf(error);
    response = {
      id,
      ok: false,
      identifier: identifier ?? "internal",
      // Messages of this codebase name what failed, never a secret; others are not passed on.
      message: identifier !== null && error instanceof Error ? error.message : "the operation failed",
    };
  }
  scope.postMessage(response, transferablesOf(response));
};
