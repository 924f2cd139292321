/**
 * The client side of a search in the browser's code (src/protocol/search.ts, as the
 * worker runs it), for benchmarks/web_search.py: for each job { updates, runs }, the
 * median milliseconds to derive the labels of one keyword updated `updates` times and
 * open the values the server would answer; and the analyser over a text of `words`.
 */

import { readFileSync, writeFileSync } from "node:fs";

import { Counters, Op, deriveIndexKeys, resolve } from "../src/protocol/search.js";
import { documentKeywords } from "../src/protocol/search_text.js";

type Job = { updates: number; runs: number } | { words: number; runs: number };

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const [jobsPath, resultsPath] = process.argv.slice(2);
if (!jobsPath || !resultsPath) throw new Error("usage: search_bench.js JOBS RESULTS");
const keys = await deriveIndexKeys(new Uint8Array(32).fill(1));
const results = [];
for (const job of JSON.parse(readFileSync(jobsPath, "utf8")) as Job[]) {
  const times: number[] = [];
  if ("updates" in job) {
    const counters = new Counters();
    const values: Uint8Array[] = [];
    for (let i = 0; i < job.updates; i++) values.push(counters.update(keys, Op.Add, "lombalg", `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`)[1]);
    for (let run = 0; run < job.runs; run++) {
      const start = performance.now();
      counters.searchLabels(keys, "lombalg");
      const found = resolve(keys, "lombalg", values);
      times.push(performance.now() - start);
      if (found.size !== job.updates) throw new Error("a value did not open");
    }
  } else {
    const text = Array.from({ length: job.words }, (_, i) => `lombalgies chroniques kinésithérapie séance${i % 500}`).join(" ");
    for (let run = 0; run < job.runs; run++) {
      const start = performance.now();
      documentKeywords({ title: "Compte rendu", patient: "Camille Petit", author: "Dr Claire Martin", day: "2026-11-27", text }, 20_000);
      times.push(performance.now() - start);
    }
  }
  results.push({ ok: true, value: String(median(times)) });
}
writeFileSync(resultsPath, JSON.stringify(results));
