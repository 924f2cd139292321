/**
 * Runs a list of reader jobs from a JSON file through this implementation and
 * writes, for each, whether it was accepted and with what value or refusal
 * identifier: the web half of tests/web/test_differential.py, which feeds the same
 * mutated inputs to Python and compares the answers.
 *
 * Usage: node build/scripts/differential.js <jobs.json> <results.json>
 */

import { readFileSync, writeFileSync } from "node:fs";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import { noteCosignatures, openCheckpoint, parseVerifierKey } from "../src/protocol/checkpoint.js";
import { decodeEntry as decodeDirectoryEntry } from "../src/protocol/directory.js";
import { checkPublicKey } from "../src/protocol/ed25519.js";
import { open } from "../src/protocol/envelope.js";
import { decodeEntry as decodeJournalEntry } from "../src/protocol/journal.js";
import { decodeBundle, decodePrivateKeys } from "../src/protocol/keys.js";
import { decodeKeystore, decodeParams, recoveryKeyFromWords } from "../src/protocol/keystore.js";
import { type Purpose, verify } from "../src/protocol/signature.js";
import { unwrapDocumentKey } from "../src/protocol/wrap.js";

type Job = { op: string; [field: string]: string };
type Result = { ok: true; value: string } | { ok: false; error: string };

async function run(job: Job): Promise<string> {
  const hex = (name: string) => fromHex(job[name] ?? "");
  switch (job.op) {
    case "open_envelope":
      return toHex((await open(hex("key"), hex("envelope"))).contentDigest);
    case "unwrap":
      return toHex(await unwrapDocumentKey(hex("wrapped"), decodePrivateKeys(hex("private_keys")), hex("header")));
    case "ed25519_key":
      checkPublicKey(hex("key"));
      return "";
    case "verify":
      await verify(hex("key"), job.purpose as Purpose, hex("digest"), hex("signature"));
      return "";
    case "open_checkpoint": {
      const checkpoint = await openCheckpoint(job.note!, job.origin!, hex("key"));
      return `${checkpoint.origin} ${checkpoint.size} ${toHex(checkpoint.root)}`;
    }
    case "cosignatures":
      return (await noteCosignatures(job.note!, job.name!, hex("key")))
        .map(({ timestamp, signature }) => `${timestamp}:${toHex(signature)}`)
        .join(",");
    case "verifier_key": {
      const { name, key } = await parseVerifierKey(job.vkey!);
      return `${name} ${toHex(key)}`;
    }
    case "bundle":
      decodeBundle(hex("bundle"));
      return "";
    case "directory_entry": {
      const entry = decodeDirectoryEntry(hex("entry"));
      return `${entry.accountId} ${entry.keyVersion} ${entry.kind} ${entry.email}`;
    }
    case "journal_entry": {
      const entry = decodeJournalEntry(hex("entry"));
      return `${entry.version} ${entry.timestampMs} ${entry.action} ${entry.outcome} ${entry.objects.length} ${entry.chain.length}`;
    }
    case "keystore":
      decodeKeystore(hex("keystore"));
      return "";
    case "argon2_params": {
      const p = decodeParams(hex("params"));
      return `${p.memoryKib} ${p.iterations} ${p.parallelism}`;
    }
    case "recovery_words":
      return toHex(recoveryKeyFromWords(job.text!));
    default:
      throw new Error(`unknown job ${job.op}`);
  }
}

const [jobsPath, resultsPath] = process.argv.slice(2);
if (!jobsPath || !resultsPath) throw new Error("usage: differential.js <jobs.json> <results.json>");
const results: Result[] = [];
for (const job of JSON.parse(readFileSync(jobsPath, "utf8")) as Job[]) {
  try {
    results.push({ ok: true, value: await run(job) });
  } catch (error) {
    const identifier = (error as { identifier?: unknown }).identifier;
    results.push({ ok: false, error: typeof identifier === "string" ? identifier : `uncaught ${(error as Error).name}` });
  }
}
writeFileSync(resultsPath, JSON.stringify(results));
