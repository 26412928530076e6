// worker.js: the engine's home (a module Web Worker), so that downloads, conversion and inference
// never block the page. Protocol: the page posts {id, type, ...}; the worker answers
// {id, type: 'progress' | 'done' | 'error', ...} (engine-client.js is the page side).
//
//   probe                       -> capabilities: WebGPU adapter, shader-f16, limits, storage quota
//   sizes {source}              -> bytes of each file to download (HEAD), and the cache entry if any
//   load {source | files, backend: 'auto'|'gpu'|'cpu', allowNetwork}
//                               -> model from the cache (SHA-256 checked), else downloaded/read,
//                                  converted to f16, cached, then loaded onto the chosen backend
//   run {image, mask, options}  -> per-stage progress, then {image, timings}
//   cancel {target}             -> aborts request `target` (a download, a conversion, a run)
//   cache-list / cache-delete {key} / cache-clear / persist

import {createEngine, GLUE_MT_URL, GLUE_URL, MoebiusError} from './engine.js';
import {convertToModelFile, heapSink, loadWasmModule} from './wasm-engine.js';
import {download, DownloadError, probeSize} from './lib/download.js';
import {idleRelease} from './lib/idle.js';
import {CacheError, ModelCache} from './lib/model-cache.js';
import {groupModelFiles, SNIFF_BYTES, sniffModelFile} from './lib/model-files.js';

/** After this long without an inpaint, the engine's kept GPU memory goes back (engine.trim()). */
const IDLE_TRIM_MS = 60_000;
const idleTrim = idleRelease(IDLE_TRIM_MS, () => { engine?.trim().catch(() => {}); });


const cache = new ModelCache(self.caches);
/** @type {Map<number, AbortController>} */
const running = new Map();
/** @type {ReturnType<typeof loadWasmModule> | null} */
let wasmPromise = null;
/** @type {any} engine (moebius.js Engine, on WebGPU or the CPU) */
let engine = null;
/** @type {{key: string, label: string, backend: string, fromCache: boolean} | null} */
let loaded = null;

const wasm = () => (wasmPromise ??= loadWasmModule(GLUE_URL).catch((e) => { wasmPromise = null; throw e; }));
/** @type {ReturnType<typeof loadWasmModule> | null} */
let wasmMtPromise = null;
/** The pthreads build where shared memory is allowed (cross-origin isolated page), else null. */
const wasmMt = () => (self.crossOriginIsolated && typeof SharedArrayBuffer !== 'undefined'
    ? (wasmMtPromise ??= loadWasmModule(GLUE_MT_URL).catch((e) => { wasmMtPromise = null; throw e; }))
    : null);

self.onmessage = async (ev) => {
    const msg = ev.data;
    if (msg.type === 'cancel') {
        running.get(msg.target)?.abort();
        return;
    }
    const ac = new AbortController();
    running.set(msg.id, ac);
    const progress = (/** @type {object} */ p) => self.postMessage({id: msg.id, type: 'progress', ...p});
    try {
        const handler = HANDLERS[msg.type];
        if (!handler) throw new MoebiusError('bad-option', `unknown request ${msg.type}`);
        const {result, transfer} = await handler(msg, progress, ac.signal);
        self.postMessage({id: msg.id, type: 'done', result}, transfer ?? []);
    } catch (e) {
        // A failed load keeps the model that was loaded before (if any): the page learns which.
        const model = msg.type === 'load' && engine && loaded ? {...loaded, info: {...engine.info}} : null;
        self.postMessage({id: msg.id, type: 'error', error: describeError(e), model});
    } finally {
        running.delete(msg.id);
    }
};

/** A plain-data error for the page: {code, message}. @param {unknown} e */
function describeError(e) {
    if (e instanceof MoebiusError || e instanceof DownloadError || e instanceof CacheError) {
        return {code: e.code, message: e.message, status: /** @type {any} */ (e).status};
    }
    const err = /** @type {any} */ (e);
    if (typeof err?.code === 'string') return {code: err.code, message: err.message};
    if (err?.name === 'AbortError') return {code: 'cancelled', message: 'cancelled'};
    if (err?.name === 'QuotaExceededError') return {code: 'quota', message: err.message};
    if (err instanceof RangeError && /memory|allocation/i.test(err.message)) return {code: 'out-of-memory', message: err.message};
    return {code: 'internal', message: err instanceof Error ? err.message : String(err)};
}

/** @type {Record<string, (msg: any, progress: (p: object) => void, signal: AbortSignal) => Promise<{result?: any, transfer?: Transferable[]}>>} */
const HANDLERS = {
    async probe() {
        return {result: await probe()};
    },

    async sizes(msg, _p, signal) {
        const s = msg.source;
        const entry = await cache.info(s.key).catch(() => null);
        const urls = s.kind === 'converted' ? [s.url] : [s.unet, s.vaeWeights, s.vaeConfig, ...(s.modelConfig ? [s.modelConfig] : [])];
        const sizes = await Promise.all(urls.map((u) => probeSize(u, {signal})));
        const known = sizes.every((n) => n !== null);
        return {result: {cached: entry, files: urls.map((u, i) => ({url: u, size: sizes[i]})),
                         total: known ? sizes.reduce((a, b) => a + (b ?? 0), 0) : null}};
    },

    async load(msg, progress, signal) {
        // The bytes first: a failed download or a bad file leaves the current model in place.
        const {bytes, key, label, fromCache, cacheWarning} = await modelBytes(msg, progress, signal);
        if (engine) {
            const old = engine;
            engine = null;
            loaded = null;
            idleTrim.busy();  // dispose() gives everything back
            await old.dispose();
        }
        progress({stage: 'engine'});
        const {engine: e, backend, notice} = await startEngine(bytes, msg.backend ?? 'auto', signal);
        engine = e;
        loaded = {key, label, backend, fromCache};
        return {result: {...loaded, info: {...e.info}, notice, cacheWarning}};
    },

    async run(msg, progress, signal) {
        if (!engine) throw new MoebiusError('bad-option', 'no model is loaded');
        const {image, mask, options} = msg;
        idleTrim.busy();
        const e = engine;
        try {
            const r = await e.inpaint(image, mask, {...options, signal, onProgress: (/** @type {any} */ ev) => progress(ev)});
            return {result: {image: r.image, timings: r.timings}, transfer: [r.image.data.buffer]};
        } finally {
            // The engine keeps the inpaint's GPU memory for the next one (WebGPU: its tensor arena);
            // an idle page gives it back.
            idleTrim.idle();
        }
    },

    async 'cache-list'() {
        const entries = await cache.list();
        const est = await storageEstimate();
        return {result: {entries, available: cache.available, estimate: est, current: loaded?.key ?? null}};
    },
    async 'cache-delete'(msg) {
        return {result: await cache.delete(msg.key)};
    },
    async 'cache-clear'() {
        return {result: await cache.clear()};
    },
};

/** What this browser can do. */
async function probe() {
    /** @type {any} */
    const out = {webgpu: false, adapter: null, f16: false, limits: null, reason: '', estimate: await storageEstimate(),
                 cacheStorage: !!self.caches, crossOriginIsolated: self.crossOriginIsolated === true,
                 memory: /** @type {any} */ (navigator).deviceMemory ?? null, cores: navigator.hardwareConcurrency ?? null};
    const gpu = /** @type {any} */ (navigator).gpu;
    if (!gpu) {
        out.reason = 'this browser has no WebGPU (navigator.gpu is missing)';
        return out;
    }
    try {
        const a = await gpu.requestAdapter({powerPreference: 'high-performance'});
        if (!a) {
            out.reason = 'WebGPU is present but offers no adapter (GPU blocklisted or disabled)';
            return out;
        }
        out.webgpu = true;
        out.f16 = a.features.has('shader-f16');
        const info = a.info ?? {};
        out.adapter = {vendor: info.vendor ?? '', architecture: info.architecture ?? '', description: info.description ?? '',
                       fallback: !!(a.isFallbackAdapter ?? info.isFallbackAdapter)};
        out.limits = {maxBufferSize: a.limits.maxBufferSize, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
                      maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize};
    } catch (e) {
        out.reason = `requesting a WebGPU adapter failed: ${e instanceof Error ? e.message : e}`;
    }
    return out;
}

async function storageEstimate() {
    try {
        const s = navigator.storage;
        if (!s?.estimate) return null;
        const {usage, quota} = await s.estimate();
        const persisted = s.persisted ? await s.persisted() : false;
        return {usage: usage ?? null, quota: quota ?? null, persisted};
    } catch {
        return null;
    }
}

/**
 * The converted model's bytes: from the cache, from files the user opened, or downloaded and
 * converted (then cached).
 * @param {any} msg @param {(p: object) => void} progress @param {AbortSignal} signal
 */
async function modelBytes(msg, progress, signal) {
    if (msg.files) return fromFiles(msg.files, progress, signal);
    const s = msg.source;
    /** @type {string | undefined} */
    let cacheWarning;
    progress({stage: 'cache-check'});
    try {
        const hit = await cache.get(s.key);
        if (hit) return {bytes: hit.bytes, key: s.key, label: hit.entry.label, fromCache: true};
    } catch (e) {
        if (!(e instanceof CacheError)) throw e;
        cacheWarning = e.message;  // corrupt (removed) or unavailable: download again
        progress({stage: 'cache-warning', message: e.message});
    }
    if (!msg.allowNetwork || s.kind === 'stored') {
        throw Object.assign(new Error('the model is not stored on this device'), {code: 'not-cached'});
    }
    let bytes;
    if (s.kind === 'converted') {
        bytes = await download(s.url, {signal, onProgress: (p) => progress({stage: 'download', file: 'model', ...p})});
    } else {
        bytes = await downloadAndConvert(s, progress, signal);
    }
    return {bytes, key: s.key, label: s.label, fromCache: false, cacheWarning: cacheWarning ?? await store(s.key, bytes, s.label, progress)};
}

/** Caches converted bytes; returns a warning instead of failing (the model still works this visit). */
async function store(/** @type {string} */ key, /** @type {Uint8Array} */ bytes, /** @type {string} */ label, /** @type {(p: object) => void} */ progress) {
    progress({stage: 'store', size: bytes.byteLength});
    try {
        await cache.put(key, bytes, {label});
        return undefined;
    } catch (e) {
        if (e instanceof CacheError) return e.message;
        // e.g. a private window, whose storage is in memory and refuses large entries
        return `The browser refused to store the model (${e instanceof Error ? e.message : e}). ` +
               'It works for this visit and will be downloaded again next time.';
    }
}

/** Upstream files from the network, straight into WebAssembly memory, converted to f16. */
async function downloadAndConvert(/** @type {any} */ s, /** @type {(p: object) => void} */ progress, /** @type {AbortSignal} */ signal) {
    const w = await wasm();
    const M = await w.instantiate();
    const text = async (/** @type {string} */ url, /** @type {string} */ file) =>
        new TextDecoder().decode(await download(url, {signal, onProgress: (p) => progress({stage: 'download', file, ...p})}));
    const vaeConfig = await text(s.vaeConfig, 'VAE config');
    const modelConfig = s.modelConfig ? await text(s.modelConfig, 'model config') : null;
    const us = heapSink(M), vs = heapSink(M);
    try {
        const unet = await download(s.unet, {signal, sink: us, onProgress: (p) => progress({stage: 'download', file: 'Moebius weights', ...p})});
        const vae = await download(s.vaeWeights, {signal, sink: vs, onProgress: (p) => progress({stage: 'download', file: 'VAE weights', ...p})});
        progress({stage: 'convert'});
        await new Promise((r) => setTimeout(r, 0));  // let the progress message go out first
        const out = convertToModelFile(M, {unet, vae, vaeConfig, modelConfig});  // takes both buffers
        return out;
    } catch (e) {
        us.release();
        vs.release();
        throw e;
    }
}

/** Files opened from disk: one converted model, or the upstream files (converted here). */
async function fromFiles(/** @type {File[]} */ files, /** @type {(p: object) => void} */ progress, /** @type {AbortSignal} */ signal) {
    progress({stage: 'read-files'});
    const sniffed = [];
    for (const file of files) {
        const head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
        sniffed.push({file, name: file.name, ...sniffModelFile(file.name, head)});
    }
    const g = groupModelFiles(sniffed);
    if (!g.ok) throw new MoebiusError('bad-model', g.message);
    const label = files.map((f) => f.name).join(' + ');
    const key = new URL(`local-model/${files.map((f) => `${encodeURIComponent(f.name)}-${f.size}-${f.lastModified}`).join('/')}`,
                        self.location.href).href;
    if ('converted' in g) {
        const bytes = new Uint8Array(await g.converted.arrayBuffer());
        return {bytes, key, label, fromCache: false, cacheWarning: await store(key, bytes, label, progress)};
    }
    const w = await wasm();
    const M = await w.instantiate();
    const read = async (/** @type {File} */ f) => {
        progress({stage: 'read', file: f.name, loaded: 0, total: f.size});
        const b = new Uint8Array(await f.arrayBuffer());
        if (signal.aborted) throw new MoebiusError('cancelled', 'cancelled');
        const p = M._malloc(Math.max(1, b.byteLength));
        if (!p) throw new MoebiusError('out-of-memory', `cannot allocate ${b.byteLength} bytes in WebAssembly memory`);
        M.HEAPU8.set(b, p);
        progress({stage: 'read', file: f.name, loaded: f.size, total: f.size});
        return {ptr: p, n: b.byteLength};
    };
    const vaeConfig = await g.vaeConfig.text();
    const modelConfig = g.modelConfig ? await g.modelConfig.text() : null;
    const unet = await read(g.unet);
    let vae;
    try {
        vae = await read(g.vae);
    } catch (e) {
        M._free(unet.ptr);
        throw e;
    }
    progress({stage: 'convert'});
    await new Promise((r) => setTimeout(r, 0));
    const bytes = convertToModelFile(M, {unet, vae, vaeConfig, modelConfig});
    return {bytes, key, label, fromCache: false, cacheWarning: await store(key, bytes, label, progress)};
}

/**
 * The engine on the best backend: WebGPU (f16 storage where the adapter has shader-f16, else f32),
 * else the WASM CPU backend with a notice that it is slow.
 * @param {Uint8Array} bytes @param {'auto' | 'gpu' | 'cpu'} want @param {AbortSignal} signal
 */
async function startEngine(bytes, want, signal) {
    const w = await wasm();
    let notice = '';
    if (want !== 'cpu') {
        const gpu = /** @type {any} */ (navigator).gpu;
        const adapter = gpu ? await gpu.requestAdapter({powerPreference: 'high-performance'}).catch(() => null) : null;
        // A software adapter (SwiftShader, WARP) is far slower than the WASM CPU engine: auto skips it.
        const software = !!adapter && !!(adapter.isFallbackAdapter ?? adapter.info?.isFallbackAdapter ??
                                          adapter.info?.architecture === 'swiftshader');
        if (adapter && (want === 'gpu' || !software)) {
            try {
                const e = await createEngine({gpu: adapter, model: bytes, preferF16: true, wasmBinary: w.wasmBinary, signal,
                                              moduleFactory: (/** @type {object} */ arg) => w.instantiate(arg)});
                return {engine: e, backend: `webgpu-${e.info.dtype}`, notice: software ? 'This GPU is emulated in software: expect it to be very slow.' : ''};
            } catch (e) {
                if (want === 'gpu' || !(e instanceof MoebiusError) || !['no-adapter', 'out-of-memory', 'device-lost', 'internal'].includes(e.code)) throw e;
                notice = `The GPU could not run the model (${e.message}). `;
            }
        } else if (want === 'gpu') {
            throw new MoebiusError('no-adapter', gpu ? 'WebGPU offers no adapter on this device' : 'this browser has no WebGPU');
        } else {
            notice = !gpu ? 'This browser has no WebGPU. ' : !adapter ? 'No usable GPU was found (WebGPU offers no adapter). '
                : 'Only a software-emulated GPU is available, which is slower than the CPU engine. ';
        }
    }
    // All cores where the page may share memory between threads (the pthreads build); one otherwise.
    const mt = wasmMt();
    let e = null;
    if (mt) {
        try {
            const m = await mt;
            e = await createEngine({backend: 'cpu', model: bytes, wasmBinary: m.wasmBinary, signal,
                                    moduleFactory: (/** @type {object} */ arg) => m.instantiate(arg)});
        } catch (err) {
            // the model or the user, not the build: one thread would fail the same way
            if (err instanceof MoebiusError && (err.code === 'bad-model' || err.code === 'cancelled')) throw err;
            console.warn('multi-threaded engine unavailable, using one thread:', err);
        }
    }
    e ??= await createEngine({backend: 'cpu', model: bytes, wasmBinary: w.wasmBinary, signal,
                              moduleFactory: (/** @type {object} */ arg) => w.instantiate(arg)});
    notice += 'Running on the CPU (WebAssembly): this will be slow — minutes per image with the full model.';
    return {engine: e, backend: 'cpu', notice: want === 'cpu' ? '' : notice};
}
