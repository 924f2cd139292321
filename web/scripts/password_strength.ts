/**
 * The browser's judgement of new passwords (src/app/password_strength.ts) for
 * tests/web/test_password_strength.py, which puts it beside the CLI's: each job is
 * { password, identity: [...], language }, each value "accepted" or the problem and
 * zxcvbn's feedback, separated by " | ".
 */

import { readFileSync, writeFileSync } from "node:fs";

import { judgePassword } from "../src/app/password_strength.js";

type Job = { password: string; identity: string[]; language: "fr" | "en" };

const [jobsPath, resultsPath] = process.argv.slice(2);
if (!jobsPath || !resultsPath) throw new Error("usage: password_strength.js JOBS RESULTS");
const results = [];
for (const job of JSON.parse(readFileSync(jobsPath, "utf8")) as Job[]) {
  const verdict = await judgePassword(job.password, job.identity, job.language);
  results.push({ ok: true, value: verdict.problem === null ? "accepted" : [verdict.problem, ...verdict.feedback].join(" | ") });
}
writeFileSync(resultsPath, JSON.stringify(results));
