// model-cache.js: the converted models kept in Cache Storage (DOM-free: it takes a CacheStorage,
// so the worker, the page and Node tests use the same code). One entry per source, keyed by its
// stable URL (model-source.js cacheKey); the body is our f16 model file and the headers carry what
// the cache panel shows plus the SHA-256 that is checked on every load.

export const CACHE_NAME = 'moebius-models-v1';

export class CacheError extends Error {
    /** @param {'quota' | 'corrupt' | 'unavailable'} code @param {string} message */
    constructor(code, message) {
        super(message);
        this.name = 'CacheError';
        this.code = code;
    }
}

/** Hex SHA-256 of bytes. @param {Uint8Array} bytes @param {SubtleCrypto} [subtle] */
export async function sha256Hex(bytes, subtle = globalThis.crypto.subtle) {
    const d = new Uint8Array(await subtle.digest('SHA-256', bytes));
    return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * @typedef {object} CacheEntry
 * @property {string} key
 * @property {string} label
 * @property {number} size    bytes
 * @property {string} sha256
 * @property {string} created ISO date
 */

export class ModelCache {
    /** @param {CacheStorage | undefined} storage  (globalThis.caches) @param {string} [name] */
    constructor(storage, name = CACHE_NAME) {
        this.storage = storage;
        this.name = name;
    }

    get available() { return !!this.storage; }

    async open() {
        if (!this.storage) throw new CacheError('unavailable', 'this browser offers no Cache Storage here (private window or an insecure http page?)');
        return this.storage.open(this.name);
    }

    /**
     * Stores a converted model under `key`.
     * @param {string} key @param {Uint8Array} bytes @param {{label?: string}} [meta]
     * @returns {Promise<CacheEntry>}
     */
    async put(key, bytes, meta = {}) {
        const cache = await this.open();
        const sha256 = await sha256Hex(bytes);
        const entry = {key, label: meta.label ?? key, size: bytes.byteLength, sha256, created: new Date().toISOString()};
        const headers = new Headers({
            'content-type': 'application/octet-stream',
            'content-length': String(bytes.byteLength),
            'x-moebius-size': String(bytes.byteLength),
            'x-moebius-sha256': sha256,
            'x-moebius-label': encodeURIComponent(entry.label),
            'x-moebius-created': entry.created,
        });
        try {
            await cache.put(new Request(key), new Response(bytes, {headers}));
        } catch (e) {
            const name = e instanceof Error ? e.name : '';
            if (name === 'QuotaExceededError') {
                throw new CacheError('quota', `not enough storage to keep the model (${bytes.byteLength} bytes); it works for this visit but will download again next time`);
            }
            throw e;
        }
        return entry;
    }

    /** Entry metadata without reading the body, or null. @param {string} key @returns {Promise<CacheEntry | null>} */
    async info(key) {
        if (!this.storage) return null;
        const cache = await this.open();
        const r = await cache.match(key);
        if (!r) return null;
        const e = entryOf(key, r);
        await r.body?.cancel();
        return e;
    }

    /**
     * The model bytes, checked against their SHA-256. A mismatch deletes the entry and throws
     * CacheError('corrupt'); a missing entry gives null.
     * @param {string} key @returns {Promise<{bytes: Uint8Array, entry: CacheEntry} | null>}
     */
    async get(key) {
        if (!this.storage) return null;
        const cache = await this.open();
        const r = await cache.match(key);
        if (!r) return null;
        const entry = entryOf(key, r);
        const bytes = new Uint8Array(await r.arrayBuffer());
        const got = await sha256Hex(bytes);
        if (got !== entry.sha256 || bytes.byteLength !== entry.size) {
            await cache.delete(key);
            throw new CacheError('corrupt', `the stored model failed its integrity check (SHA-256 ${got.slice(0, 12)}… ` +
                                 `expected ${entry.sha256.slice(0, 12)}…); it was removed and will be downloaded again`);
        }
        return {bytes, entry};
    }

    /** Every stored model. @returns {Promise<CacheEntry[]>} */
    async list() {
        if (!this.storage) return [];
        const cache = await this.open();
        const out = [];
        for (const req of await cache.keys()) {
            const r = await cache.match(req);
            if (!r) continue;
            out.push(entryOf(req.url, r));
            await r.body?.cancel();
        }
        return out;
    }

    /** @param {string} key */
    async delete(key) {
        if (!this.storage) return false;
        return (await this.open()).delete(key);
    }

    /** Removes every stored model. */
    async clear() {
        if (!this.storage) return false;
        return this.storage.delete(this.name);
    }
}

/** @param {string} key @param {Response} r @returns {CacheEntry} */
function entryOf(key, r) {
    const h = r.headers;
    let label = key;
    try { label = decodeURIComponent(h.get('x-moebius-label') ?? key); } catch { /* keep the key */ }
    return {key, label, size: Number(h.get('x-moebius-size') ?? h.get('content-length') ?? 0), sha256: h.get('x-moebius-sha256') ?? '',
            created: h.get('x-moebius-created') ?? ''};
}
