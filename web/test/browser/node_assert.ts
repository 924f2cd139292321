/** The part of `node:assert/strict` the vector tests use, for the browser. */

export class AssertionError extends Error {
  override name = "AssertionError";
}

function fail(message: string | undefined, detail: string): never {
  throw new AssertionError(message ? `${message}: ${detail}` : detail);
}

function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v))?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}

function deepEqualValues(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!(ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) || a.constructor !== b.constructor) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqualValues((a as any)[k], (b as any)[k]))
  );
}

function equal(actual: unknown, expected: unknown, message?: string): void {
  if (!Object.is(actual, expected)) fail(message, `${show(actual)} !== ${show(expected)}`);
}

function notEqual(actual: unknown, expected: unknown, message?: string): void {
  if (Object.is(actual, expected)) fail(message, `${show(actual)} === ${show(expected)}`);
}

function ok(value: unknown, message?: string): void {
  if (!value) fail(message, `${show(value)} is not truthy`);
}

function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  if (!deepEqualValues(actual, expected)) fail(message, `${show(actual)} is not deeply equal to ${show(expected)}`);
}

function notDeepEqual(actual: unknown, expected: unknown, message?: string): void {
  if (deepEqualValues(actual, expected)) fail(message, `${show(actual)} is deeply equal to ${show(expected)}`);
}

/**
 * An error class, a pattern its message must match, a check returning true, or an
 * object whose every property the error must have, equal (as Node's assert takes).
 */
type Expected = (new (...args: any[]) => Error) | RegExp | ((error: any) => boolean) | Record<string, unknown>;

function matches(error: unknown, expected: Expected | undefined): boolean {
  if (expected === undefined) return true;
  if (typeof expected === "object" && !(expected instanceof RegExp)) {
    return typeof error === "object" && error !== null && Object.entries(expected).every(([key, value]) => deepEqualValues((error as any)[key], value));
  }
  if (expected instanceof RegExp) return expected.test(error instanceof Error ? error.message : String(error));
  if (expected.prototype instanceof Error || expected === Error) return error instanceof (expected as new (...args: any[]) => Error);
  return (expected as (error: unknown) => boolean)(error) === true;
}

async function rejects(promise: Promise<unknown> | (() => Promise<unknown>), expected?: Expected | string, message?: string): Promise<void> {
  // As Node's: a string in the place of the expected error is the message.
  if (typeof expected === "string") [expected, message] = [undefined, expected];
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (!matches(error, expected)) fail(message, `rejected with ${String(error)}`);
    return;
  }
  fail(message, "did not reject");
}

function throws(run: () => unknown, expected?: Expected | string, message?: string): void {
  if (typeof expected === "string") [expected, message] = [undefined, expected];
  try {
    run();
  } catch (error) {
    if (!matches(error, expected)) fail(message, `threw ${String(error)}`);
    return;
  }
  fail(message, "did not throw");
}

function match(value: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(value)) fail(message, `${show(value)} does not match ${pattern}`);
}

const assert = Object.assign((value: unknown, message?: string) => ok(value, message), {
  equal,
  notEqual,
  ok,
  deepEqual,
  notDeepEqual,
  fail: (message?: string): never => fail(message, "failed"),
  rejects,
  throws,
  match,
  AssertionError,
});

export default assert;
export { deepEqual, equal, match, notDeepEqual, notEqual, ok, rejects, throws };
