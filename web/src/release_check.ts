/**
 * The page checks its own files against the server's web release log
 * (docs/PROTOCOL.md, section 17), as `uhs web verify` does from a terminal: the log's
 * checkpoint is accepted like the other logs' (its key and origin pinned at the first
 * visit, in this origin's IndexedDB; a consistency proof from the pinned size after),
 * every listed file is proven in it, and the page and every file of the application
 * this page loaded are hashed and must be listed with that hash.
 *
 * What it cannot do: a page replaced whole may skip its own check. It catches a
 * changed file beside a published page (the crypto worker, which no integrity
 * attribute covers), and a log forked or rolled back since the first visit.
 */

import { fromBase64Url, fromHex, toHex, utf8 } from "./protocol/bytes.js";
import { openCheckpoint, parseVerifierKey } from "./protocol/checkpoint.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./protocol/merkle.js";
import { sha256 } from "./protocol/primitives.js";

export const WEB_RELEASE_LOG = "web";
const LEAF_HEADER = "uhealthsec-web-asset/1\n";

/** What this browser verified of the log before (absent at the first visit). */
export interface ReleasePin {
  logKey: string;
  origin: string;
  size: string;
  root: string;
}

interface ServedRelease {
  log_key: string;
  checkpoint: string;
  consistency: string[];
  assets: { path: string; sha256: string; index: number; inclusion: string[] }[];
}

export class ReleaseRefused extends Error {
  override name = "ReleaseRefused";
}

/** The leaf of one served file (the server's protocol/web_release.py). */
export function assetLeaf(path: string, sha256Hex: string): Uint8Array {
  return utf8(`${LEAF_HEADER}${sha256Hex}  ${path}\n`);
}

/**
 * Checks `files` (path relative to the application, bytes as this page got them)
 * against the served release, from `pin`; returns the pin to keep.
 * @throws ReleaseRefused naming what failed.
 */
export async function checkRelease(
  served: ServedRelease,
  pin: ReleasePin | undefined,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<ReleasePin> {
  const { name: origin, key } = await parseVerifierKey(served.log_key);
  if (!origin.endsWith(`/${WEB_RELEASE_LOG}`)) throw new ReleaseRefused(`the log ${origin} is not a web release log`);
  if (pin && (pin.logKey !== served.log_key || pin.origin !== origin)) {
    throw new ReleaseRefused("the web release log is signed by another key than at this browser's first visit");
  }
  const head = await openCheckpoint(served.checkpoint, origin, key);
  if (pin) {
    const proof = served.consistency.map(fromBase64Url);
    await verifyConsistency(BigInt(pin.size), head.size, fromHex(pin.root), head.root, proof).catch(() => {
      throw new ReleaseRefused(`the web release log (${head.size} entries) does not extend the one seen before (${pin.size})`);
    });
  }
  const listed = new Map<string, string>();
  for (const asset of served.assets) {
    const leaf = await leafHash(assetLeaf(asset.path, asset.sha256));
    await verifyInclusion(leaf, asset.index, head.size, asset.inclusion.map(fromBase64Url), head.root).catch(() => {
      throw new ReleaseRefused(`${asset.path} is not in the web release log's checkpoint`);
    });
    listed.set(asset.path, asset.sha256);
  }
  for (const [path, bytes] of files) {
    const expected = listed.get(path);
    if (expected === undefined) throw new ReleaseRefused(`${path} is not in the web release log`);
    if (toHex(await sha256(bytes)) !== expected) throw new ReleaseRefused(`${path} is not the file the web release log holds`);
  }
  return { logKey: served.log_key, origin, size: head.size.toString(), root: toHex(head.root) };
}

// -- in the page -------------------------------------------------------------------

const PIN_DATABASE = "uhealthsec-web-release";
const PIN_STORE = "pins";

function pinStore<T>(mode: IDBTransactionMode, act: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(PIN_DATABASE, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(PIN_STORE);
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const database = opening.result;
      const request = act(database.transaction(PIN_STORE, mode).objectStore(PIN_STORE));
      request.onsuccess = () => {
        database.close();
        resolve(request.result);
      };
      request.onerror = () => {
        database.close();
        reject(request.error);
      };
    };
  });
}

/** The application's files this page loaded (the page itself and every script,
 * style or image from the application's directory, and the `started` scripts, which
 * the browser's list of resources leaves out: a worker's), by path relative to it. */
function loadedFiles(appUrl: string, started: readonly string[]): string[] {
  const names = [...performance.getEntriesByType("resource").map((entry) => entry.name), ...started];
  const paths = new Set(["index.html"]);
  for (const name of names) {
    // The file's address without its query or fragment, which the server does not
    // look at: a script loaded as "x.js?anything" is x.js's bytes, checked as x.js.
    const url = new URL(name);
    const file = url.origin + url.pathname;
    if (file.startsWith(appUrl)) paths.add(file.slice(appUrl.length) || "index.html");
  }
  return [...paths];
}

/** Checks this page's own files, and the workers it `started` (their addresses),
 * against the server's web release log; throws ReleaseRefused (or a ProtocolError
 * from a malformed signature or proof). */
export async function checkOwnRelease(appUrl: string, started: readonly string[] = []): Promise<void> {
  const pin = await pinStore<ReleasePin | undefined>("readonly", (store) => store.get(WEB_RELEASE_LOG));
  const answer = await fetch(new URL(`/web-release/assets${pin ? `?since=${pin.size}` : ""}`, appUrl), { cache: "no-store" });
  if (!answer.ok) throw new ReleaseRefused(`the web release log was not served (HTTP ${answer.status})`);
  const served = (await answer.json()) as ServedRelease;
  const files = new Map<string, Uint8Array>();
  for (const path of loadedFiles(appUrl, started)) {
    // As this browser holds them: from its cache (or the service worker's) when it has them.
    const file = await fetch(new URL(path, appUrl), { cache: "force-cache" });
    files.set(path, new Uint8Array(await file.arrayBuffer()));
  }
  const kept = await checkRelease(served, pin, files);
  await pinStore("readwrite", (store) => store.put(kept, WEB_RELEASE_LOG));
}
