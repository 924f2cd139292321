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
    return this.throughPipe(args.sink, (sink) => this.call("seal", { ...args, sink }));
  }

  open(args: Operations["open"]["args"]) {
    return this.throughPipe(args.sink, (sink) => this.call("open", { ...args, sink }));
  }

  /**
   * The worker writes into a pipe that this page drains into `sink`, and the answer
   * comes when `sink` has taken the last byte: a transferred stream would let the
   * worker's close resolve while the page is still writing.
   */
  private async throughPipe<T>(sink: WritableStream<Uint8Array>, run: (pipe: WritableStream<Uint8Array>) => Promise<T>): Promise<T> {
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const drained = pipe.readable.pipeTo(sink);
    let result: T;
    try {
      result = await run(pipe.writable);
    } catch (error) {
      drained.catch(() => undefined); // aborted by the worker: its refusal is the one to report
      throw error;
    }
    await drained;
    return result;
  }

  terminate(): void {
    this.worker.terminate();
  }
}
