/**
 * The readers whose access this account ended from this browser, remembered across
 * visits as the SDK keeps them in its state file (models.py RevokedReader): a later
 * visit still leaves them out of new versions even if the server withholds the signed
 * revocation statement. Kept per server and account in IndexedDB, which workers have;
 * in memory where there is none (Node's tests).
 *
 * The limitation of pins.ts holds here too: IndexedDB belongs to the origin, so a
 * script already running in the page could delete these; they guard against a server
 * that withholds statements, not against a compromised page.
 */

import type { Reader } from "../protocol/manifest.js";

/** A reader whose access this account ended, from `version` on. */
export interface RevokedHere {
  documentId: string;
  version: number;
  reader: Reader;
  revokerId: string;
}

export interface RevocationStore {
  load(): Promise<RevokedHere[]>;
  add(revoked: RevokedHere): Promise<void>;
}

export class MemoryRevocationStore implements RevocationStore {
  private readonly revoked: RevokedHere[] = [];

  async load(): Promise<RevokedHere[]> {
    return [...this.revoked];
  }

  async add(revoked: RevokedHere): Promise<void> {
    this.revoked.push(revoked);
  }
}

const DATABASE = "uhealthsec-revocations";
const STORE = "revocations";

function requested<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** One list per server and account, under `key`; each addition one read-write transaction. */
export class IndexedDbRevocationStore implements RevocationStore {
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

  async load(): Promise<RevokedHere[]> {
    const database = await this.open();
    const stored = (await requested(database.transaction(STORE, "readonly").objectStore(STORE).get(this.key))) as RevokedHere[] | undefined;
    return stored ?? [];
  }

  async add(revoked: RevokedHere): Promise<void> {
    const database = await this.open();
    const transaction = database.transaction(STORE, "readwrite");
    const store = transaction.objectStore(STORE);
    // Read and written in one transaction: two revocations at once both stay.
    const stored = ((await requested(store.get(this.key))) as RevokedHere[] | undefined) ?? [];
    store.put([...stored, revoked], this.key);
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
  }
}

/** The revocations made by `accountId` on the server at `origin`: IndexedDB where there is one. */
export function revocationStoreFor(origin: string, accountId: string): RevocationStore {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  return factory === undefined ? new MemoryRevocationStore() : new IndexedDbRevocationStore(factory, `${origin} ${accountId.toLowerCase()}`);
}
