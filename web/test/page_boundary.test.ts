/**
 * What the page may ask of the application's worker (WorkerService, the one worker.ts
 * runs). A script running in the page (a hostile extension, an injection) must not get
 * from it what the keystore alone proves: PROTOCOL 16.2 and 16.4 require a change of
 * password or of second factors to be signed with the keystore's key precisely so that
 * whoever holds a session (a copied token) cannot make one. The worker makes those
 * signatures only for an operation of its own that builds the digest; a digest the page
 * chose is refused. The shipped worker answers no key operation from the page at all.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, utf8 } from "../src/protocol/bytes.js";
import { sha256 } from "../src/protocol/primitives.js";
import { WorkerService } from "../src/worker/session.js";
import { loadVectors, outcome } from "./vectors.js";

const v = loadVectors("keystore.json").vectors[0];

/** A server that answers nothing: these operations must not need one. */
const NO_SERVER = async (): Promise<Response> => {
  throw new Error("no request is expected");
};

test("shipped worker: the page gets none of the key operations, only the client's", async () => {
  const service = new WorkerService("https://sante.example.fr", { fetch: NO_SERVER });
  const digest = await sha256(utf8("a request the page made up"));
  const source = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  const sink = new WritableStream<Uint8Array>();
  const asked = {
    unlockWithPassword: { keystore: fromHex(v.keystore), password: v.password },
    unlockWithRecoveryWords: { keystore: fromHex(v.keystore), words: v.recovery_words },
    lock: {},
    publicBundle: {},
    sign: { purpose: "document", digest },
    seal: { source, sink, recipients: [] },
    open: { source, sink, wrappedKey: new Uint8Array(32) },
  } as const;
  for (const [op, args] of Object.entries(asked)) {
    assert.equal(await outcome(() => service.handle(op as "lock", args as never)), "not_for_the_page", op);
  }
  for (const purpose of ["document", "request", "message"] as const) {
    assert.equal(await outcome(() => service.handle("sign", { purpose, digest })), "not_for_the_page", purpose);
  }
  // A client operation is answered: a fresh worker holds no account.
  assert.deepEqual(await service.handle("account", {}), { account: null });
});

test("app-tests worker: a factor-change or keystore-change signature over a digest the page chose is refused", async () => {
  const service = new WorkerService("https://sante.example.fr", { fetch: NO_SERVER, exposeKeyOperations: true });
  // As finishSignIn leaves it: the keystore unlocked in the worker.
  await service.handle("unlockWithPassword", { keystore: fromHex(v.keystore), password: v.password });
  const digest = await sha256(utf8("uhealthsec/v1/factor-change: add-totp for an attacker's secret"));
  for (const purpose of ["factor-change", "keystore-change"] as const) {
    const refused = await outcome(() => service.handle("sign", { purpose, digest }));
    assert.notEqual(refused, null, `the application's worker signed a ${purpose} digest the page gave it`);
  }
});

test("page: a document's media type shows it inline only as a raster image or plain text, never as markup", async () => {
  const { isShownInline, safeMediaType } = await import("../src/app/api.js");
  // What a sender may claim for a file that would run as a page of this origin, or script an image.
  for (const hostile of ["image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "text/html; x=image/png", " IMAGE/SVG+XML ", ""]) {
    assert.equal(safeMediaType(hostile), "application/octet-stream", hostile);
    assert.equal(isShownInline(hostile), null, hostile);
  }
  // A PDF is drawn by pdf.js into canvases (app/pdf_viewer.ts), never given to the
  // browser's own viewer: its bytes are typed as bytes to save.
  assert.equal(safeMediaType("application/pdf"), "application/octet-stream");
  assert.equal(isShownInline("Application/PDF; name=x.pdf"), "pdf");
  assert.equal(safeMediaType("Image/PNG; name=scan.png"), "image/png");
  assert.equal(isShownInline("text/plain; charset=utf-8"), "text");
});
