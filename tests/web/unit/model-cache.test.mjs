// Unit tests of web/app/lib/model-cache.js against an in-memory CacheStorage (node --test).
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {test} from 'node:test';

import {CacheError, ModelCache, sha256Hex} from '../../../web/app/lib/model-cache.js';

/** The part of the Cache Storage API that ModelCache uses, in memory (bodies stored as bytes). */
class MemoryCaches {
    constructor() { this.caches = new Map(); this.failPut = null; }
    async open(name) {
        if (!this.caches.has(name)) this.caches.set(name, new MemoryCache(this));
        return this.caches.get(name);
    }
    async delete(name) { return this.caches.delete(name); }
}
class MemoryCache {
    constructor(owner) { this.owner = owner; this.entries = new Map(); }
    async put(req, res) {
        if (this.owner.failPut) throw this.owner.failPut;
        this.entries.set(req.url, {headers: [...res.headers], body: new Uint8Array(await res.arrayBuffer())});
    }
    async match(key) {
        const e = this.entries.get(typeof key === 'string' ? key : key.url);
        return e ? new Response(e.body.slice(), {headers: e.headers}) : undefined;
    }
    async keys() { return [...this.entries.keys()].map((u) => new Request(u)); }
    async delete(key) { return this.entries.delete(typeof key === 'string' ? key : key.url); }
}

const KEY = 'https://huggingface.co/hustvl/Moebius/resolve/main/ft_places2/diffusion_pytorch_model.bin?moebius-converted=f16';
const bytes = Uint8Array.from({length: 1000}, (_, i) => (i * 7) & 255);

test('sha256Hex matches node:crypto', async () => {
    assert.equal(await sha256Hex(bytes), createHash('sha256').update(bytes).digest('hex'));
});

test('put, info, get (checked), list, delete, clear', async () => {
    const storage = new MemoryCaches();
    const c = new ModelCache(/** @type {any} */ (storage));
    assert.equal(await c.get(KEY), null);
    const e = await c.put(KEY, bytes, {label: 'ft_places2 (hf) — ü'});
    assert.equal(e.size, 1000);
    assert.equal(e.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(await c.info(KEY), e);
    const got = await c.get(KEY);
    assert.deepEqual(got.bytes, bytes);
    assert.equal(got.entry.label, 'ft_places2 (hf) — ü');
    await c.put(`${KEY}&vae=2`, bytes.subarray(0, 10), {label: 'second'});
    assert.deepEqual((await c.list()).map((x) => [x.label, x.size]), [['ft_places2 (hf) — ü', 1000], ['second', 10]]);
    assert.equal(await c.delete(`${KEY}&vae=2`), true);
    assert.equal((await c.list()).length, 1);
    await c.clear();
    assert.deepEqual(await c.list(), []);
});

test('a damaged entry fails its SHA-256 check, is removed, and says so', async () => {
    const storage = new MemoryCaches();
    const c = new ModelCache(/** @type {any} */ (storage));
    await c.put(KEY, bytes);
    const entry = (await storage.open('moebius-models-v1')).entries.get(KEY);
    entry.body[500] ^= 1;
    await assert.rejects(c.get(KEY), (e) => e instanceof CacheError && e.code === 'corrupt' && /integrity/.test(e.message));
    assert.equal(await c.info(KEY), null);
});

test('a full disk is a quota error; no Cache Storage is "unavailable"', async () => {
    const storage = new MemoryCaches();
    storage.failPut = new DOMException('quota', 'QuotaExceededError');
    const c = new ModelCache(/** @type {any} */ (storage));
    await assert.rejects(c.put(KEY, bytes), (e) => e instanceof CacheError && e.code === 'quota');
    const none = new ModelCache(undefined);
    assert.equal(none.available, false);
    assert.equal(await none.get(KEY), null);
    assert.deepEqual(await none.list(), []);
    await assert.rejects(none.put(KEY, bytes), (e) => e.code === 'unavailable');
});
