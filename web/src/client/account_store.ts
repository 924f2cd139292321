/**
 * What the worker remembers for one account on one server across visits, as the SDK
 * keeps it in its state files: one value per name (the readers it revoked, where each
 * history's chain stood). Kept in IndexedDB, which workers have; in memory where there
 * is none (Node's tests).
 *
 * The limitation of pins.ts holds here too: IndexedDB belongs to the origin, so a
 * script already running in the page could change or delete these; they guard against
 * a server that withholds or rewrites, not against a compromised page.
 */

export interface AccountValue<T> {
  load(): Promise<T | undefined>;
  /** Replaces the value with `change` of the current one, atomically. */
  update(change: (current: T | undefined) => T): Promise<void>;
}

export class MemoryValue<T> implements AccountValue<T> {
  private value: T | undefined;

  async load(): Promise<T | undefined> {
    return this.value;
  }

  async update(change: (current: T | undefined) => T): Promise<void> {
    this.value = change(this.value);
  }
}

const DATABASE = "uhealthsec-account";
const STORE = "values";

function requested<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

let database: Promise<IDBDatabase> | null = null;

function open(factory: IDBFactory): Promise<IDBDatabase> {
  if (database === null) {
    const request = factory.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    database = requested(request);
  }
  return database;
}

export class IndexedDbValue<T> implements AccountValue<T> {
  constructor(
    private readonly factory: IDBFactory,
    private readonly key: string,
  ) {}

  async load(): Promise<T | undefined> {
    const db = await open(this.factory);
    return (await requested(db.transaction(STORE, "readonly").objectStore(STORE).get(this.key))) as T | undefined;
  }

  async update(change: (current: T | undefined) => T): Promise<void> {
    const db = await open(this.factory);
    const transaction = db.transaction(STORE, "readwrite");
    const store = transaction.objectStore(STORE);
    // Read and written in one transaction: two changes at once both stay.
    store.put(change((await requested(store.get(this.key))) as T | undefined), this.key);
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
  }
}

/** The value `name` of `accountId` on the server at `origin`: IndexedDB where there is one. */
export function accountValue<T>(origin: string, accountId: string, name: string): AccountValue<T> {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  return factory === undefined ? new MemoryValue<T>() : new IndexedDbValue<T>(factory, `${origin} ${accountId.toLowerCase()} ${name}`);
}
