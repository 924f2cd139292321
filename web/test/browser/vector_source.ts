/** The vector files in the browser: fetched by the page before the tests are imported. */

declare global {
  var __UHS_VECTORS__: Record<string, string> | undefined;
}

export function readVectorText(name: string): string {
  const text = globalThis.__UHS_VECTORS__?.[name];
  if (text === undefined) throw new Error(`vector file ${name} was not loaded by the page`);
  return text;
}
