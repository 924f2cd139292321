/**
 * Documents in the worker against a server that lies about them. The inbox lists
 * only what the worker verified: a document's author is the signer of its manifest
 * (the signature checked with a key the directory proves), its readers those the
 * signed manifest and signed share statements name; a server that names another
 * author, lists readers nobody signed for, or serves a version whose signature does
 * not verify gets a row marked not verified, with neither. A reader revoked from this
 * browser stays revoked on a later visit, whatever the server withholds. A new
 * version is encrypted only to the readers, under the keys, whose fingerprints the
 * person was shown.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import type { VerifiedEntry } from "../src/client/directory.js";
import { Documents, encodeMetadata, fingerprintOf } from "../src/client/documents.js";
import { PatientFiles } from "../src/client/patient_files.js";
import { RevocationStore } from "../src/client/revocations.js";
import type { Session } from "../src/client/session.js";
import { toBase64Url } from "../src/protocol/bytes.js";
import { importSigningSeed } from "../src/protocol/ed25519.js";
import { HEADER_SIZE, contentDigest, seal } from "../src/protocol/envelope.js";
import { encodeBundle, generatePrivateKeys, publicKeysOf } from "../src/protocol/keys.js";
import { NO_PREVIOUS, type Reader, encodeManifest, encodeShareStatement, signEncoded } from "../src/protocol/manifest.js";

const AUTHOR: Reader = { accountId: "0a4e1f52-6c1b-4f0e-9d55-3c2b1a09f8e7", email: "dr.martin@demo.test" };
const ME: Reader = { accountId: "7b5c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e", email: "kine.durand@demo.test" };
const LATER: Reader = { accountId: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f", email: "camille.petit@demo.test" };
const INTRUDER: Reader = { accountId: "99999999-8888-4777-8666-555555555555", email: "intrus@example.com" };
const AUTHOR_INDEX = 7n;

interface Lies {
  /** Changes the served document (JSON) before it is listed. */
  document?: (served: Record<string, unknown>) => void;
}

/** A document by AUTHOR for ME, then shared by AUTHOR with LATER, served as `lies` says, to `me`. */
async function server(lies: Lies = {}, me: Reader = ME) {
  const keys = generatePrivateKeys();
  const signing = await importSigningSeed(keys.signingSeed);
  const bundle = encodeBundle(await publicKeysOf(keys));
  const documentKey = crypto.getRandomValues(new Uint8Array(32));
  const metadataEnvelope = await seal(documentKey, encodeMetadata({ title: "Compte rendu", filename: "cr.txt", media_type: "text/plain" }), { chunkLog2: 12 });
  const documentId = crypto.randomUUID();
  const patientFileId = crypto.randomUUID();
  const manifest = {
    documentId,
    version: 1,
    patientFileId,
    authorId: AUTHOR.accountId,
    signerKeyIndex: AUTHOR_INDEX,
    contentDigest: new Uint8Array(32).fill(1),
    metadataDigest: await contentDigest(metadataEnvelope),
    previous: NO_PREVIOUS,
    readers: [AUTHOR, ME],
  };
  const signature = await signEncoded(signing.privateKey, "document", encodeManifest(manifest));
  const share = encodeShareStatement({ documentId, version: 1, granterId: AUTHOR.accountId, signerKeyIndex: AUTHOR_INDEX, recipient: LATER });
  const shareSignature = await signEncoded(signing.privateKey, "document", share);
  const wire = (r: Reader) => ({ account_id: r.accountId, email: r.email });
  const served: Record<string, unknown> = {
    id: documentId,
    patient_file_id: patientFileId,
    patient_id: LATER.accountId,
    author_id: AUTHOR.accountId,
    author_email: AUTHOR.email,
    author_name: "Dr Claire Martin",
    latest_version: 1,
    versions: [
      {
        number: 1,
        author_id: AUTHOR.accountId,
        envelope_header: toBase64Url(new Uint8Array(HEADER_SIZE)),
        metadata_envelope: toBase64Url(metadataEnvelope),
        signature: toBase64Url(signature),
        signer_key_index: Number(AUTHOR_INDEX),
        size: 10,
        created_at: "2026-11-27T07:00:00Z",
        wrapped_key: toBase64Url(new Uint8Array(8)),
        content_digest: toBase64Url(manifest.contentDigest),
        readers: manifest.readers.map(wire),
        statements: [{ granter_id: AUTHOR.accountId, signer_key_index: Number(AUTHOR_INDEX), recipient: wire(LATER), signature: toBase64Url(shareSignature) }],
      },
    ],
    recipients: [AUTHOR, ME, LATER].map((r) => ({ ...wire(r), display_name: r.email, expires_at: null })),
    revocations: [],
  };
  lies.document?.(served);
  const entry = (reader: Reader, index: bigint): VerifiedEntry => ({ index, entry: { accountId: reader.accountId, keyVersion: 1, kind: 1, email: reader.email, bundle } });
  const entries = new Map([AUTHOR, ME, LATER].map((r, i) => [r.email, entry(r, i === 0 ? AUTHOR_INDEX : BigInt(i))]));
  const posted: { path: string; json: unknown }[] = [];
  const session = {
    account: async () => ({ id: me.accountId, email: me.email, name: me.email, kind: "practitioner" }),
    myEntry: async () => entries.get(me.email)!,
    keys: {
      withUnwrapped: async (_w: Uint8Array, _h: Uint8Array, use: (key: Uint8Array) => Promise<unknown>) => use(documentKey),
      sign: async (_purpose: string, digest: Uint8Array) => new Uint8Array(64).fill(digest[0]!),
    },
    directory: {
      entry: async (index: bigint) => [...entries.values()].find((e) => e.index === index) ?? assert.fail(`no directory entry ${index}`),
      lookup: async (email: string) => entries.get(email) ?? assert.fail(`no keys for ${email}`),
    },
    json: async (method: string, path: string, _wire: unknown, options: { params?: Record<string, number>; json?: unknown } = {}) => {
      if (method === "POST") {
        posted.push({ path, json: options.json });
        return { versions: 1 };
      }
      if (path === `/documents/${documentId}`) return served;
      assert.equal(path, "/documents");
      return options.params?.offset === 0 ? [served] : [];
    },
  } as unknown as Session;
  return { session, served, documentId, posted };
}

/** The inbox as the worker lists it to ME. */
async function inbox(lies: Lies = {}) {
  const { session } = await server(lies);
  const documents = new Documents(session);
  new PatientFiles(session, documents); // which vouches for the readers
  return documents.inbox();
}

/** One visit of AUTHOR: the patient files as a fresh worker has them, with what this browser remembers. */
function visit(session: Session, revocations: RevocationStore): PatientFiles {
  return new PatientFiles(session, new Documents(session), revocations);
}

test("inbox: the author is the manifest's proven signer and the readers the signed ones, not the server's list", async () => {
  const [document] = await inbox({ document: (d) => (d["recipients"] as unknown[]).push({ account_id: INTRUDER.accountId, email: INTRUDER.email, display_name: "X", expires_at: null }) });
  assert.equal(document!.verified, true);
  assert.equal(document!.authorEmail, AUTHOR.email);
  assert.equal(document!.authorName, "Dr Claire Martin");
  // LATER by the author's signed share statement; the intruder whom nobody signed for is left out.
  assert.deepEqual(document!.recipients, [AUTHOR.email, ME.email, LATER.email]);
});

test("inbox: another author named by the server is not shown: the signer is", async () => {
  const [document] = await inbox({
    document: (d) => {
      d["author_email"] = "dr.house@example.com";
      d["author_name"] = "Dr House";
    },
  });
  assert.equal(document!.verified, true);
  assert.equal(document!.authorEmail, AUTHOR.email);
  assert.notEqual(document!.authorName, "Dr House");
});

test("inbox: a version whose signature does not verify is listed as not verified, with neither author nor readers", async () => {
  const [document] = await inbox({
    document: (d) => {
      const version = (d["versions"] as Record<string, unknown>[])[0]!;
      version["readers"] = [...(version["readers"] as unknown[]), { account_id: INTRUDER.accountId, email: INTRUDER.email }];
    },
  });
  assert.equal(document!.verified, false);
  assert.equal(document!.title, "Compte rendu");
  assert.equal(document!.authorEmail, "");
  assert.equal(document!.authorName, "");
  assert.deepEqual(document!.recipients, []);
});

test("inbox: a share statement whose signature does not verify leaves the document not verified", async () => {
  const [document] = await inbox({
    document: (d) => {
      const statement = ((d["versions"] as Record<string, unknown>[])[0]!["statements"] as Record<string, unknown>[])[0]!;
      statement["recipient"] = { account_id: INTRUDER.accountId, email: INTRUDER.email };
    },
  });
  assert.equal(document!.verified, false);
  assert.deepEqual(document!.recipients, []);
});

test("revocation: a reader revoked on an earlier visit is still left out when the server withholds the statement", async () => {
  const remembered = new RevocationStore();
  const { session, documentId, posted } = await server({}, AUTHOR);
  assert.equal(await visit(session, remembered).revoke(documentId, LATER.email), 1);
  assert.equal(posted[0]!.path, `/documents/${documentId}/revocations`);

  // A later visit: the server serves no revocation and still lists the revoked reader.
  const view = await new Documents(session).view(documentId);
  assert.deepEqual(view.revocations, []);
  let said = "";
  try {
    await visit(session, remembered).readersOfNextVersion(view);
  } catch (error) {
    said = (error as Error).message;
  }
  assert.match(said, /the server lists camille\.petit@demo\.test again as a reader of version 1, whom you revoked at version 1/);

  // What made the difference is this browser's memory: without it the reader is taken.
  const forgetful = await visit(session, new RevocationStore()).readersOfNextVersion(view);
  assert.deepEqual(forgetful.map((r) => r.entry.email).sort(), [AUTHOR.email, LATER.email, ME.email].sort());
});

test("new version: each reader is shown with their proven keys' fingerprint, and other keys are refused before anything is encrypted", async () => {
  const { session, documentId, posted } = await server({}, AUTHOR);
  const files = visit(session, new RevocationStore());
  const next = await files.nextVersion(documentId);
  const proven = await fingerprintOf((await session.directory.lookup(LATER.email)).entry.bundle);
  assert.deepEqual(
    next.readers.map((r) => [r.email, r.fingerprint]),
    [AUTHOR, LATER, ME].map((r) => [r.email, proven]),
  );
  // The person confirmed another key for LATER than the one the worker would encrypt to.
  const readers = next.readers.map((r) => ({ accountId: r.accountId, fingerprint: r.email === LATER.email ? "00".repeat(32) : r.fingerprint }));
  let cancelled = false;
  const source = new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) });
  let said = "";
  try {
    await files.newVersion({ id: documentId, confirmed: { latestVersion: next.latestVersion, readers }, title: "t", filename: "f.txt", mediaType: "text/plain", source });
  } catch (error) {
    said = (error as Error).message;
  }
  assert.match(said, /the readers or their keys changed since you checked them: nothing was encrypted/);
  assert.equal(cancelled, true);
  assert.deepEqual(posted, []);
});
