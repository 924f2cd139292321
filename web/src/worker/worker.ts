/**
 * The dedicated crypto worker: every operation that touches a private key or a
 * document key runs here (messages.ts lists them), so the page's main thread never
 * holds one. Requests are answered in the order they complete, each by its id.
 */

/// <reference lib="webworker" />

import { type Request, type Response, transferablesOf } from "./messages.js";
import { CryptoService } from "./service.js";

const service = new CryptoService();
const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = async (event: MessageEvent<Request>) => {
  const { id, op, args } = event.data;
  let response: Response;
  try {
    response = { id, ok: true, result: await service.handle(op, args) };
  } catch (error) {
    const identifier = (error as { identifier?: unknown }).identifier;
    response = {
      id,
      ok: false,
      identifier: typeof identifier === "string" ? identifier : "internal",
      // Messages of this codebase name what failed, never a secret; others are not passed on.
      message: typeof identifier === "string" ? (error as Error).message : "the operation failed",
    };
  }
  scope.postMessage(response, transferablesOf(response));
};
