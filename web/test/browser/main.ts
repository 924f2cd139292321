/**
 * The vector tests in a browser: the same test files as under Node, with
 * `node:test`, `node:assert/strict` and the vector source swapped for browser
 * versions (vite.browser-tests.config.ts). The page loads the vector files into
 * `globalThis.__UHS_VECTORS__`, then imports this module and calls `run()`.
 */

import { registered } from "./node_test.js";

export interface TestResult {
  name: string;
  passed: boolean;
  error?: string;
  ms: number;
}

export async function run(): Promise<TestResult[]> {
  // Imported here, after the page has loaded the vectors: test files read them at import.
  await import("./all_tests.js");
  const results: TestResult[] = [];
  for (const { name, fn } of registered) {
    const started = performance.now();
    try {
      await fn();
      results.push({ name, passed: true, ms: performance.now() - started });
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      results.push({ name, passed: false, error: text, ms: performance.now() - started });
    }
  }
  return results;
}
