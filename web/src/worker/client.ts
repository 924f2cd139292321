/**
 * The page's side of the crypto worker: one method per operation of messages.ts,
 * each a promise of the worker's answer. A refusal rejects with a WorkerRefusal
 * carrying the identifier the worker named.
 *
 * Byte arguments are transferred, not copied: the caller's arrays are emptied
 * (a password's bytes do not stay behind in the page by accident).
 */

import type { Operation, Operations, Request, Response } from "./messages.js";
import { transferablesOf } from "./messages.js";
import { portReadable, portWritable } from "./pieces.js";

export class WorkerRefusal extends Error {
  constructor(
    readonly identifier: string,
    message: string,
  ) {
    super(message);
    this.name = "WorkerRefusal";
  }
}

export class CryptoWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<Response>) => {
      const answer = event.data;
      const { id } = answer;
      const waiting = id === null ? undefined : this.pending.get(id);
      if (id === null || waiting === undefined) return;
      this.pending.delete(id);
      if (answer.ok) waiting.resolve(answer.result);
      else waiting.reject(new WorkerRefusal(answer.identifier, answer.message));
    };
    worker.onerror = (event) => {
      const error = new WorkerRefusal("internal", `the crypto worker failed: ${event.message}`);
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
  }

  /** Starts the worker bundled at `url` (Vite emits it as its own hashed file). */
  static start(url: URL | string): CryptoWorker {
    return new CryptoWorker(new Worker(url, { type: "module", name: "uhealthsec-crypto" }));
  }

  call<Op extends Operation>(op: Op, args: Operations[Op]["args"]): Promise<Operations[Op]["result"]> {
    const id = this.nextId++;
    const request: Request<Op> = { id, op, args };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage(request, transferablesOf(args));
    });
  }

  unlockWithPassword(keystore: Uint8Array, password: string) {
    return this.call("unlockWithPassword", { keystore, password });
  }

  unlockWithRecoveryWords(keystore: Uint8Array, words: string) {
    return this.call("unlockWithRecoveryWords", { keystore, words });
  }

  lock() {
    return this.call("lock", {});
  }

  publicBundle() {
    return this.call("publicBundle", {});
  }

  sign(purpose: Operations["sign"]["args"]["purpose"], digest: Uint8Array) {
    return this.call("sign", { purpose, digest });
  }

  seal(args: Operations["seal"]["args"]) {
    return this.streaming("seal", args);
  }

  open(args: Operations["open"]["args"]) {
    return this.streaming("open", args);
  }

  /**
   * Runs a streaming operation with its source and sink carried over ports (pieces.ts):
   * the page sends `source`'s pieces as the worker asks for them and drains what the
   * worker writes into `sink`. The answer comes when `sink` has taken the last byte,
   * and a refusal cancels `source` and aborts `sink` whatever the worker reached.
   */
  private async streaming<Op extends "seal" | "open">(op: Op, args: Operations[Op]["args"]): Promise<Operations[Op]["result"]> {
    const toWorker = new MessageChannel();
    const fromWorker = new MessageChannel();
    const stop = new AbortController();
    const sent = args.source.pipeTo(portWritable(toWorker.port1), { signal: stop.signal });
    const drained = portReadable(fromWorker.port1).pipeTo(args.sink, { signal: stop.signal });
    // Failures of the pipes are the worker's refusal's consequences: it is the one reported.
    sent.catch(() => undefined);
    drained.catch(() => undefined);
    const wire = { ...args, source: toWorker.port2, sink: fromWorker.port2 } as unknown as Operations[Op]["args"];
    let result: Operations[Op]["result"];
    try {
      result = await this.call(op, wire);
    } catch (error) {
      stop.abort(error);
      throw error;
    }
    await drained;
    return result;
  }

  terminate(): void {
    this.worker.terminate();
  }
}
