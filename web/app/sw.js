// sw.js: offline support. Precaches the app shell and the engine (list and version written by
// scripts/build-web.sh into precache.js) and serves them cache-first, so the app starts with no
// network after the first visit; the converted model is in its own Cache Storage entry
// (lib/model-cache.js), which this worker never deletes. Anything else goes to the network.
/* global MOEBIUS_PRECACHE */
importScripts('precache.js');

const PRECACHE = /** @type {{version: string, files: string[]}} */ (self.MOEBIUS_PRECACHE);
const APP_CACHE = `moebius-app-${PRECACHE.version}`;
const scopeUrl = new URL(self.registration.scope);
const FILES = new Set(PRECACHE.files.map((f) => new URL(f, scopeUrl).href));

self.addEventListener('install', (event) => {
    event.waitUntil((async () => {
        const cache = await caches.open(APP_CACHE);
        await cache.addAll([...FILES].map((u) => new Request(u, {cache: 'reload'})));
        await self.skipWaiting();
    })());
});

self.addEventListener('activate', (event) => {
    event.waitUntil((async () => {
        for (const name of await caches.keys()) {
            if (name.startsWith('moebius-app-') && name !== APP_CACHE) await caches.delete(name);
        }
        await self.clients.claim();
    })());
});

self.addEventListener('fetch', (event) => {
    const req = event.request;
    if (req.method !== 'GET' || req.headers.has('range')) return;
    const url = new URL(req.url);
    if (url.origin !== scopeUrl.origin) return;
    url.search = '';
    url.hash = '';
    let key = url.href;
    if (req.mode === 'navigate' && url.href.startsWith(scopeUrl.href) && !FILES.has(key)) key = new URL('index.html', scopeUrl).href;
    if (url.href === scopeUrl.href) key = new URL('index.html', scopeUrl).href;
    if (!FILES.has(key)) return;
    event.respondWith((async () => {
        const cache = await caches.open(APP_CACHE);
        const hit = await cache.match(key);
        if (hit) return hit;
        return fetch(req);
    })());
});
