/**
 * Runs a list of protocol jobs from a JSON file through this implementation, with
 * real files and the streaming API, and writes each result: the other half of the
 * cross-implementation tests (tests/web/test_interop.py), in which Python produces
 * what this opens and opens what this produces.
 *
 * Usage: node build/scripts/interop.js <jobs.json> <results.json>
 */

import { createReadStream, createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { Readable, Writable } from "node:stream";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { openStream, sealStream } from "../src/protocol/envelope.js";
import { decodeBundle, decodePrivateKeys } from "../src/protocol/keys.js";
import { type SuiteName, unwrapDocumentKey, wrapDocumentKey } from "../src/protocol/wrap.js";

type Job =
  | { op: "seal"; key: string; input: string; output: string; chunk_log2: number }
  | { op: "open"; key: string; input: string; output: string }
  | { op: "wrap"; key: string; bundle: string; header: string; suite: SuiteName }
  | { op: "unwrap"; wrapped: string; private_keys: string; header: string };

type Result = { ok: true; value: string } | { ok: false; error: string };

const source = (path: string) => Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
const sink = (path: string) => Writable.toWeb(createWriteStream(path)) as WritableStream<Uint8Array>;

async function run(job: Job): Promise<string> {
  switch (job.op) {
    case "seal":
      return toHex(await sealStream(fromHex(job.key), source(job.input), sink(job.output), { chunkLog2: job.chunk_log2 }));
    case "open":
      return toHex(await openStream(fromHex(job.key), source(job.input), sink(job.output)));
    case "wrap":
      return toHex(await wrapDocumentKey(fromHex(job.key), decodeBundle(fromHex(job.bundle)), fromHex(job.header), job.suite));
    case "unwrap":
      return toHex(await unwrapDocumentKey(fromHex(job.wrapped), decodePrivateKeys(fromHex(job.private_keys)), fromHex(job.header)));
  }
}

const [jobsPath, resultsPath] = process.argv.slice(2);
if (!jobsPath || !resultsPath) throw new Error("usage: interop.js <jobs.json> <results.json>");
const results: Result[] = [];
for (const job of JSON.parse(readFileSync(jobsPath, "utf8")) as Job[]) {
  try {
    results.push({ ok: true, value: await run(job) });
  } catch (error) {
    const identifier = (error as { identifier?: unknown }).identifier;
    if (typeof identifier !== "string") throw error;
    results.push({ ok: false, error: identifier });
  }
}
writeFileSync(resultsPath, JSON.stringify(results));
