/** The part of `node:test` the vector tests use, for the browser: tests are collected, then run in order. */

type TestFunction = () => unknown;

export const registered: { name: string; fn: TestFunction }[] = [];

export function test(name: string, fn: TestFunction): void {
  registered.push({ name, fn });
}

export default test;
