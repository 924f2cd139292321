/**
 * What the worker remembers of the server's key directory log (its *pin*, as
 * client/logs.py's LogPin): the log's origin and key, the size and root of the last
 * checkpoint it verified. Kept in IndexedDB, which workers have, so that a later
 * visit refuses a log that was rewritten or rolled back; in memory where there is
 * no IndexedDB (Node's tests).
 *
 * A limitation: the application's screens never read or write the pins, but
 * IndexedDB belongs to the origin, not to the worker, so any script running in the
 * page (an injection, a hostile extension) can read, replace or delete them. Such a
 * script can make the next visit accept a rolled-back or forked log as if it were the
 * first one; the pins guard against a server that rewrites its log, not against a
 * page that is already compromised.
 */

export interface LogPin {
  origin: string;
  logKey: Uint8Array;
  size: bigint;
  root: Uint8Array;
}

export interface PinStore {
  load(): Promise<LogPin | null>;
  save(pin: LogPin): Promise<void>;
}

export class MemoryPinStore implements PinStore {
  private pin: LogPin | null = null;

  async load(): Promise<LogPin | null> {
    return this.pin;
  }

  async save(pin: LogPin): Promise<void> {
    this.pin = pin;
  }
}

const DATABASE = "uhealthsec-pins";
const STORE = "pins";

function requested<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** One pin per server and log, under `key` (the server's origin and the log's name). */
export class IndexedDbPinStore implements PinStore {
  private database: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly factory: IDBFactory,
    private readonly key: string,
  ) {}

  private open(): Promise<IDBDatabase> {
    if (this.database === null) {
      const request = this.factory.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      this.database = requested(request);
    }
    return this.database;
  }

  async load(): Promise<LogPin | null> {
    const database = await this.open();
    const stored = (await requested(database.transaction(STORE, "readonly").objectStore(STORE).get(this.key))) as LogPin | undefined;
    return stored ?? null;
  }

  async save(pin: LogPin): Promise<void> {
    const database = await this.open();
    const transaction = database.transaction(STORE, "readwrite");
    transaction.objectStore(STORE).put(pin, this.key);
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
  }
}

/** The pin of the server's `log` (the key directory unless named) at `origin`: IndexedDB where there is one. */
export function pinStoreFor(origin: string, log = "keys"): PinStore {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  return factory === undefined ? new MemoryPinStore() : new IndexedDbPinStore(factory, `${origin} ${log}`);
}
