/**
 * The web application's service worker, so that it opens without a network and
 * installs as an application on a phone. It keeps the application's own files only:
 * index.html and the content-hashed files under assets/ of this release, which the
 * build writes below (vite.config.ts). Every other request (the API: /documents,
 * /auth, /oauth, /keys, /journal...) is left to the browser, untouched and never
 * stored: health data, keys and tokens never reach a cache.
 *
 * One cache per release; activating a release deletes the caches of the others.
 */

const RELEASE = "__UHS_RELEASE__";
/** index.html and every file under assets/, relative to the application's scope. */
const SHELL = __UHS_SHELL__;
const CACHE_PREFIX = "uhealthsec-app-";
const CACHE = CACHE_PREFIX + RELEASE;

const SCOPE = new URL("./", self.location.href).href;
const PAGE = new URL("index.html", SCOPE).href;
const ASSETS = new URL("assets/", SCOPE).href;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((path) => new URL(path, SCOPE).href)))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith(CACHE_PREFIX) && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.search !== "") return;
  const href = url.origin + url.pathname;
  if (href.startsWith(ASSETS)) {
    // Named by their content: the cached copy is the right one for good.
    event.respondWith(caches.match(href, { cacheName: CACHE }).then((kept) => kept ?? fetch(request)));
  } else if (href === SCOPE || href === PAGE) {
    // The page names the release's files: the network's when there is one, so that a
    // new release is seen at once, else this release's own.
    event.respondWith(
      fetch(request).catch(() =>
        caches.match(PAGE, { cacheName: CACHE }).then((kept) => kept ?? Response.error()),
      ),
    );
  }
  // Anything else is not answered here.
});
