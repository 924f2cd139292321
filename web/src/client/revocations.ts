/**
 * The readers whose access this account ended from this browser, remembered across
 * visits (account_store.ts) as the SDK keeps them in its state file (models.py
 * RevokedReader): a later visit still leaves them out of new versions even if the
 * server withholds the signed revocation statement.
 */

import type { Reader } from "../protocol/manifest.js";
import { type AccountValue, MemoryValue, accountValue } from "./account_store.js";

/** A reader whose access this account ended, from `version` on. */
export interface RevokedHere {
  documentId: string;
  version: number;
  reader: Reader;
  revokerId: string;
}

export class RevocationStore {
  constructor(private readonly value: AccountValue<RevokedHere[]> = new MemoryValue()) {}

  async load(): Promise<RevokedHere[]> {
    return (await this.value.load()) ?? [];
  }

  async add(revoked: RevokedHere): Promise<void> {
    await this.value.update((current) => [...(current ?? []), revoked]);
  }
}

/** The revocations made by `accountId` on the server at `origin`, kept across visits. */
export function revocationStoreFor(origin: string, accountId: string): RevocationStore {
  return new RevocationStore(accountValue(origin, accountId, "revocations"));
}
