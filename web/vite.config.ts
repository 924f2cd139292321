/**
 * The web application (index.html, src/main.ts and the crypto worker) built into
 * content-hashed files inside the server package, which serves them at /app/
 * (uhealthsec/server/web_app.py) and ships them in its wheel. After the build,
 * `release()` adds Subresource Integrity to index.html, completes the service worker
 * copied from public/ with its release and files, and writes release.json.
 *
 * `--mode app-tests` (npm run build:app-tests) builds the same application into
 * build/app/ instead, with the crypto worker's client on `window.uhealthsec` for the
 * browser tests and benchmarks that drive it (tests/web/browser_app.py); the
 * application as shipped exposes nothing on `window`.
 */

import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

import { defineConfig, type Plugin } from "vite";

export const APP_TESTS_MODE = "app-tests";
const BASE = "/app/";
/** From web/public/, completed with the release's files by `release()`. */
const SERVICE_WORKER = "sw.js";
/** Every file of the release with its SHA-256 (for the server's web release log) and
 * its Subresource Integrity value: the crypto worker's too, which no tag can carry. */
const RELEASE_MANIFEST = "release.json";

export interface ReleaseFile {
  path: string;
  sha256: string;
  integrity: string;
}

function integrity(bytes: Uint8Array): string {
  return `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
}

/** The page with an `integrity` on each script and style it names (Vite sets none),
 * so that a file changed on the server or on the way is refused by the browser. */
export function withIntegrity(html: string, read: (path: string) => Uint8Array): string {
  return html.replace(/<(?:script|link)\b[^>]*>/g, (tag) => {
    const rel = /\srel="([^"]*)"/.exec(tag)?.[1];
    if (!tag.startsWith("<script") && rel !== "stylesheet" && rel !== "modulepreload") return tag;
    const url = /\s(?:src|href)="([^"]*)"/.exec(tag)?.[1];
    if (url === undefined) return tag;
    if (!url.startsWith(BASE) || url.includes("..")) {
      throw new Error(`index.html names ${url}, which is not one of the application's files`);
    }
    return tag.replace(/\s*\/?>$/, ` integrity="${integrity(read(url.slice(BASE.length)))}">`);
  });
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join("/"))
    .sort();
}

/** After the build: integrity values in index.html, the service worker given its
 * release and its files, and the release manifest of every file served. */
function release(): Plugin {
  return {
    name: "uhealthsec-release",
    apply: "build",
    writeBundle: {
      order: "post",
      sequential: true,
      async handler(options) {
        const root = options.dir!;
        const read = async (path: string) => new Uint8Array(await readFile(join(root, path)));
        const contents = new Map<string, Uint8Array>();
        for (const path of await filesUnder(root)) contents.set(path, await read(path));
        const page = new TextDecoder().decode(contents.get("index.html"));
        const checked = withIntegrity(page, (path) => {
          const bytes = contents.get(path);
          if (bytes === undefined) throw new Error(`index.html names ${path}, which was not built`);
          return bytes;
        });
        contents.set("index.html", new TextEncoder().encode(checked));
        contents.delete(RELEASE_MANIFEST);
        // The release is named by its files, the service worker's own code aside.
        const shell = [...contents.keys()].filter((p) => p === "index.html" || p.startsWith("assets/"));
        const named = createHash("sha256");
        for (const [path, bytes] of contents) {
          if (path !== SERVICE_WORKER) named.update(`${path} ${createHash("sha256").update(bytes).digest("hex")}\n`);
        }
        const id = named.digest("hex").slice(0, 20);
        const worker = new TextDecoder().decode(contents.get(SERVICE_WORKER));
        const completed = worker.replace('"__UHS_RELEASE__"', JSON.stringify(id)).replace("__UHS_SHELL__", JSON.stringify(shell));
        if (completed.includes("__UHS_")) throw new Error(`${SERVICE_WORKER} was not completed`);
        contents.set(SERVICE_WORKER, new TextEncoder().encode(completed));
        const files: ReleaseFile[] = [...contents].map(([path, bytes]) => ({
          path,
          sha256: createHash("sha256").update(bytes).digest("hex"),
          integrity: integrity(bytes),
        }));
        await writeFile(join(root, "index.html"), checked);
        await writeFile(join(root, SERVICE_WORKER), completed);
        await writeFile(join(root, RELEASE_MANIFEST), `${JSON.stringify({ release: id, files }, null, 1)}\n`);
      },
    },
  };
}

export default defineConfig(({ mode }) => {
  const forTests = mode === APP_TESTS_MODE;
  return {
    base: BASE,
    logLevel: "warn",
    // The build for tests is served by a loopback site without the server's logs
    // (tests/web/browser_app.py): it does not check itself against the web release log.
    define: { __UHS_EXPOSE_WORKER__: JSON.stringify(forTests), __UHS_CHECK_RELEASE__: JSON.stringify(!forTests) },
    build: {
      outDir: forTests
        ? fileURLToPath(new URL("./build/app", import.meta.url))
        : fileURLToPath(new URL("../src/uhealthsec/server/web_assets", import.meta.url)),
      emptyOutDir: true,
      target: "es2022",
      assetsDir: "assets",
      // Every file but index.html is named by its content's hash and cached for good.
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
    },
    // The leaked-password list is bundled from the Python package (client/breached_source.ts).
    resolve: {
      alias: [{ find: /^\.\/breached_source\.js$/, replacement: fileURLToPath(new URL("./src/client/breached_source.browser.ts", import.meta.url)) }],
    },
    worker: { format: "es" },
    plugins: [release()],
  };
});
