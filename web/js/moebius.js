// moebius.js: the public JavaScript API of moebius.cpp — Moebius image inpainting on WebGPU (or on
// the CPU), the engine compiled to WebAssembly. One ES module that runs unchanged in browsers
// (navigator.gpu) and in Node (npm `webgpu`, i.e. Dawn):
//
//   import {createEngine} from './moebius.js';
//   const engine = await createEngine({model: new URL('moebius.safetensors', location.href)});
//   const {image} = await engine.inpaint(imageData, maskData, {steps: 20, signal, preview: true,
//                                                               onProgress: (e) => e.preview && show(e.preview)});
//   engine.dispose();
//
// How it runs: the C++ pipeline (InpaintJob, stage by stage) records GPU work through the WebGPU
// backend (src/backend/webgpu), whose ops forward to the JS GpuBridge (bridge.js). Nothing in WASM
// waits for the GPU; this module awaits it between stages (after each denoising step: progress and
// cancellation), reads the decoded image back asynchronously and hands it to the CPU post-processing.
// With {backend: 'cpu'} the same job loop drives the WebAssembly CPU backend (each stage computes
// when called; the loop yields to events between them so that a cancel gets in); {threads: true}
// picks the pthreads build where SharedArrayBuffer exists.
//
// Previews ({preview: true}): each 'step' event carries a 64×64 RGB picture of the step's predicted
// clean latents (DDIM's pred_original_sample; preview.js maps the 4 latent channels to RGB) and the
// crop window it covers — on WebGPU one readback of 4×64×64 values per step, queued right behind the step.
//
// Errors are MoebiusError with a `code`: 'no-adapter' (no WebGPU), 'device-lost', 'out-of-memory',
// 'bad-model', 'bad-image', 'bad-option', 'io' (a model URL/file that cannot be read), 'cancelled'
// (AbortSignal; `name` is 'AbortError' then), 'internal'.

import {GpuBridge, GpuError} from '../../src/backend/webgpu/bridge.js';
import * as ops from '../../src/backend/webgpu/ops.js';
import {latentToRgba, SDXL_LATENT_RGB} from './preview.js';

export {latentToRgba, SDXL_LATENT_RGB};

/** Error codes of MoebiusError. */
export const ErrorCode = Object.freeze({
    NO_ADAPTER: 'no-adapter', DEVICE_LOST: 'device-lost', OUT_OF_MEMORY: 'out-of-memory', BAD_MODEL: 'bad-model',
    BAD_IMAGE: 'bad-image', BAD_OPTION: 'bad-option', IO: 'io', CANCELLED: 'cancelled', INTERNAL: 'internal',
});

export class MoebiusError extends Error {
    /** @param {string} code @param {string} message @param {unknown} [cause] */
    constructor(code, message, cause) {
        super(message, cause === undefined ? undefined : {cause});
        this.name = code === 'cancelled' ? 'AbortError' : 'MoebiusError';
        this.code = code;
    }
}

// moebius_status (include/moebius.h) -> code.
const STATUS_CODES = ['ok', 'bad-option', 'io', 'bad-model', 'bad-image', 'cancelled', 'out-of-memory', 'internal'];

// GpuError.kind (bridge.js) -> code.
/** @param {GpuError} e */
function gpuCode(e) {
    switch (e.kind) {
        case 'no-adapter': case 'no-device': return 'no-adapter';
        case 'device-lost': return 'device-lost';
        case 'out-of-memory': case 'limit': return 'out-of-memory';
        case 'io': return 'io';
        default: return 'internal';
    }
}

/** Wraps anything thrown into a MoebiusError (keeps MoebiusErrors as they are). @param {unknown} e */
function toMoebiusError(e, fallback = 'internal') {
    if (e instanceof MoebiusError) return e;
    if (e instanceof GpuError) return new MoebiusError(gpuCode(e), e.message, e);
    if (e && typeof e === 'object' && /** @type {any} */ (e).name === 'AbortError') {
        return new MoebiusError('cancelled', 'cancelled', e);
    }
    return new MoebiusError(fallback, e instanceof Error ? e.message : String(e), e);
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

// ------------------------------------------------------------------ byte sources

/**
 * A model file or other input: bytes, a URL (http(s), file: in Node, or a path string in Node),
 * a fetch Response, a ReadableStream of Uint8Array chunks, or a Blob.
 * @typedef {Uint8Array | ArrayBuffer | URL | string | Response | ReadableStream<Uint8Array> | Blob} Source
 */

/**
 * Opens a source as {total (bytes, or null when unknown), chunks (async iterator of Uint8Array)}.
 * @param {Source} src @param {string} what
 * @returns {Promise<{total: number | null, chunks: AsyncIterable<Uint8Array>}>}
 */
async function openSource(src, what) {
    if (src instanceof Uint8Array) return {total: src.byteLength, chunks: (async function* () { yield src; })()};
    if (src instanceof ArrayBuffer) return openSource(new Uint8Array(src), what);
    if (ArrayBuffer.isView(src)) return openSource(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), what);
    if (typeof Blob !== 'undefined' && src instanceof Blob) return {total: src.size, chunks: streamChunks(src.stream())};
    if (typeof Response !== 'undefined' && src instanceof Response) return openResponse(src, what);
    if (src && typeof (/** @type {any} */ (src)).getReader === 'function') {
        return {total: null, chunks: streamChunks(/** @type {ReadableStream<Uint8Array>} */ (src))};
    }
    if (typeof src === 'string' || src instanceof URL) {
        let url;
        try {
            url = src instanceof URL ? src : new URL(src, isNode ? undefined : globalThis.location?.href);
        } catch {
            url = null;  // Node: a plain path
        }
        if (isNode && (!url || url.protocol === 'file:' || /^[a-zA-Z]:[\\/]/.test(String(src)))) {
            const fs = await import('node:fs');
            const path = url && url.protocol === 'file:' ? url : String(src);
            let st;
            try {
                st = await fs.promises.stat(path);
            } catch (e) {
                throw new MoebiusError('io', `${what}: cannot read ${src}: ${/** @type {Error} */ (e).message}`, e);
            }
            if (!st.isFile()) throw new MoebiusError('io', `${what}: ${src} is not a file`);
            return {total: st.size, chunks: nodeFileChunks(fs, path, what)};
        }
        if (!url) throw new MoebiusError('io', `${what}: '${src}' is not a URL`);
        let r;
        try {
            r = await fetch(url);
        } catch (e) {
            throw new MoebiusError('io', `${what}: fetching ${url}: ${/** @type {Error} */ (e).message}`, e);
        }
        if (!r.ok) throw new MoebiusError('io', `${what}: ${url}: HTTP ${r.status}`);
        return openResponse(r, what);
    }
    throw new MoebiusError('bad-option', `${what}: expected bytes, a URL, a Response, a Blob or a ReadableStream`);
}

/** @param {Response} r @param {string} what */
function openResponse(r, what) {
    if (!r.body) throw new MoebiusError('io', `${what}: response has no body`);
    const len = Number(r.headers.get('content-length'));
    // A compressed transfer reports the compressed length: only trust it without content-encoding.
    const total = Number.isFinite(len) && len > 0 && !r.headers.get('content-encoding') ? len : null;
    return {total, chunks: streamChunks(r.body)};
}

/** @param {ReadableStream<Uint8Array>} stream */
async function* streamChunks(stream) {
    const reader = stream.getReader();
    try {
        for (;;) {
            const {done, value} = await reader.read();
            if (done) return;
            yield value;
        }
    } finally {
        reader.releaseLock();
    }
}

/** @param {any} fs @param {string | URL} path @param {string} what */
async function* nodeFileChunks(fs, path, what) {
    const fh = await fs.promises.open(path, 'r');
    try {
        const chunk = 8 << 20;
        for (;;) {
            const buf = new Uint8Array(chunk);
            const {bytesRead} = await fh.read(buf, 0, chunk, null);
            if (bytesRead === 0) return;
            yield bytesRead === chunk ? buf : buf.subarray(0, bytesRead);
        }
    } catch (e) {
        throw new MoebiusError('io', `${what}: reading ${path}: ${/** @type {Error} */ (e).message}`, e);
    } finally {
        await fh.close();
    }
}

/** Reads a whole source into one Uint8Array. @param {Source} src @param {string} what */
async function readAll(src, what) {
    if (src instanceof Uint8Array) return src;
    const {total, chunks} = await openSource(src, what);
    /** @type {Uint8Array[]} */
    const parts = [];
    let n = 0;
    for await (const c of chunks) { parts.push(c); n += c.byteLength; }
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(total && total === n ? total : n);
    let o = 0;
    for (const c of parts) { out.set(c, o); o += c.byteLength; }
    return out;
}

// ------------------------------------------------------------------ images

/**
 * An image as ImageData has it, or with 1/3/4 channels.
 * @typedef {{width: number, height: number, data: Uint8ClampedArray | Uint8Array, channels?: number}} ImageLike
 */

/** Checks an image and tells its channel count. @param {ImageLike} img @param {string} what @param {number[]} allowed */
function imageChannels(img, what, allowed) {
    if (!img || typeof img !== 'object') throw new MoebiusError('bad-image', `${what}: expected {width, height, data}`);
    const {width, height, data} = img;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
        throw new MoebiusError('bad-image', `${what}: width and height must be positive integers, got ${width}x${height}`);
    }
    if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) {
        throw new MoebiusError('bad-image', `${what}: data must be a Uint8ClampedArray or Uint8Array`);
    }
    const px = width * height;
    const c = img.channels ?? data.length / px;
    if (!allowed.includes(c) || data.length !== c * px) {
        throw new MoebiusError('bad-image', `${what}: ${data.length} bytes for ${width}x${height} is not ` +
                               `${allowed.map((k) => `${k} channel${k > 1 ? 's' : ''}`).join(' / ')}`);
    }
    return c;
}

/** 1/3/4-channel pixels -> RGBA (ImageData layout). @param {Uint8Array} px @param {number} c @param {number} n */
function toRgba(px, c, n) {
    const out = new Uint8ClampedArray(4 * n);
    for (let i = 0; i < n; i++) {
        if (c === 4) {
            out[4 * i] = px[4 * i]; out[4 * i + 1] = px[4 * i + 1]; out[4 * i + 2] = px[4 * i + 2]; out[4 * i + 3] = px[4 * i + 3];
        } else if (c === 3) {
            out[4 * i] = px[3 * i]; out[4 * i + 1] = px[3 * i + 1]; out[4 * i + 2] = px[3 * i + 2]; out[4 * i + 3] = 255;
        } else {
            const v = px[c * i];
            out[4 * i] = v; out[4 * i + 1] = v; out[4 * i + 2] = v; out[4 * i + 3] = c === 2 ? px[2 * i + 1] : 255;
        }
    }
    return out;
}

// ------------------------------------------------------------------ engine

/**
 * @typedef {object} ProgressEvent
 * @property {'load' | 'encode' | 'step' | 'decode'} stage
 * @property {number} [step]    denoising step done (1-based) of this crop
 * @property {number} [steps]   denoising steps per crop
 * @property {number} [crop]    crop window (1-based)
 * @property {number} [crops]   crop windows of this image
 * @property {number} [loaded]  'load': bytes read so far
 * @property {number | null} [total]  'load': bytes in all, when known
 * @property {Preview} [preview]  'step' with the `preview` option: the step's estimate of the crop
 */

/**
 * A rough picture of the result so far: the step's predicted clean latents mapped to RGB (preview.js),
 * S/8 × S/8 pixels (64 × 64) covering `window`, the crop's square in the image (the whole image in
 * whole mode, which the model sees stretched to S × S: draw it stretched back onto the window).
 * @typedef {{width: number, height: number, data: Uint8ClampedArray,
 *            window: {x: number, y: number, width: number, height: number}}} Preview
 */

/** @param {AbortSignal | undefined} signal */
function throwIfAborted(signal) {
    if (signal?.aborted) {
        const reason = signal.reason;
        throw new MoebiusError('cancelled', `cancelled${reason instanceof Error && reason.name !== 'AbortError'
            ? `: ${reason.message}` : ''}`, reason);
    }
}

/**
 * Awaits `p`, or rejects as cancelled as soon as `signal` aborts: a cancel does not wait for the GPU
 * work in flight (its buffers are released once WebGPU is done with them).
 * @template T @param {Promise<T>} p @param {AbortSignal | undefined} signal @returns {Promise<T>}
 */
function untilDone(p, signal) {
    if (!signal) return p;
    return new Promise((resolve, reject) => {
        const onAbort = () => {
            try { throwIfAborted(signal); } catch (e) { reject(e); }
        };
        if (signal.aborted) {
            p.catch(() => {});  // settles later, unobserved
            onAbort();
            return;
        }
        signal.addEventListener('abort', onAbort, {once: true});
        p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
               (e) => { signal.removeEventListener('abort', onAbort); reject(e); });
    });
}

/** Default location of the WebAssembly builds next to this file in the repository layout. */
const DEFAULT_GLUE = new URL('../../build/wasm/moebius.js', import.meta.url);
/** The pthreads build: the CPU backend's GEMMs on all cores (needs SharedArrayBuffer). */
const DEFAULT_GLUE_MT = new URL('../../build/wasm/moebius-mt.js', import.meta.url);

/**
 * Loads the emscripten module (MODULARIZE + EXPORT_ES6 glue). In Node the glue of emscripten 3.1.x
 * expects CommonJS globals (require, __dirname): they are provided for the call, and the wasm bytes
 * are handed over directly so that the glue's own fetch/fs paths are never taken.
 * @param {{glueUrl?: URL | string, wasmUrl?: URL | string, wasmBinary?: Uint8Array | ArrayBuffer,
 *          moduleFactory?: (m: object) => Promise<any>}} o
 * @param {object} moduleArg  properties for the Module object (moebiusGpu, print, ...)
 * @param {(mod: any) => void} [whileGlobals]  runs on the new module while those globals exist
 */
async function loadWasm(o, moduleArg, whileGlobals) {
    let factory = o.moduleFactory;
    const glueUrl = o.glueUrl ? new URL(o.glueUrl, isNode ? `file://${process.cwd()}/` : globalThis.location?.href)
        : o.wasmUrl ? new URL(String(o.wasmUrl).replace(/\.wasm(\?.*)?$/, '.js'), isNode ? `file://${process.cwd()}/` : globalThis.location?.href)
        : DEFAULT_GLUE;
    if (!factory) {
        try {
            factory = (await import(/* @vite-ignore */ glueUrl.href)).default;
        } catch (e) {
            throw new MoebiusError('io', `cannot load the WebAssembly glue ${glueUrl}: ${/** @type {Error} */ (e).message}`, e);
        }
        if (typeof factory !== 'function') throw new MoebiusError('io', `${glueUrl}: no default export (build with -sMODULARIZE -sEXPORT_ES6)`);
    }
    const wasmUrl = o.wasmUrl ? new URL(o.wasmUrl, glueUrl) : null;
    let wasmBinary = o.wasmBinary;
    // Node's fetch cannot read files: hand the bytes over. Browsers let the glue fetch and compile
    // the module while it streams in (instantiateStreaming), from wasmUrl or next to the glue.
    if (!wasmBinary && isNode) {
        wasmBinary = await readAll(wasmUrl ?? new URL(glueUrl.href.replace(/\.js(\?.*)?$/, '.wasm')), 'WebAssembly module');
    }
    // Node: file paths (worker_threads takes no file: URL strings), and the pthreads build's CommonJS
    // worker script under the .cjs name the build also writes (our package.json says "type": "module").
    const fileUrlToPath = isNode ? (await import('node:url')).fileURLToPath : null;
    const locateFile = (/** @type {string} */ p) => {
        const u = wasmUrl && p.endsWith('.wasm') ? wasmUrl : new URL(isNode ? p.replace(/\.worker\.js$/, '.worker.cjs') : p, glueUrl);
        return fileUrlToPath && u.protocol === 'file:' ? fileUrlToPath(u) : u.href;
    };
    const arg = {...moduleArg, ...(wasmBinary ? {wasmBinary} : {}), locateFile};
    const restore = isNode ? await provideCommonJsGlobals(glueUrl) : () => {};
    try {
        const mod = await factory(arg);
        whileGlobals?.(mod);
        return mod;
    } catch (e) {
        throw new MoebiusError('internal', `WebAssembly module failed to start: ${/** @type {Error} */ (e).message}`, e);
    } finally {
        restore();
    }
}

/** Node: `require` and `__dirname` for the duration of the emscripten factory call. @param {URL} glueUrl */
async function provideCommonJsGlobals(glueUrl) {
    const g = /** @type {any} */ (globalThis);
    const saved = {require: g.require, __dirname: g.__dirname, __filename: g.__filename};
    const {createRequire} = await import('node:module');
    const {fileURLToPath} = await import('node:url');
    const path = await import('node:path');
    const file = glueUrl.protocol === 'file:' ? fileURLToPath(glueUrl) : path.join(process.cwd(), 'moebius.js');
    g.require ??= createRequire(file);
    g.__dirname ??= path.dirname(file);
    g.__filename ??= file;
    return () => {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete g[k]; else g[k] = v;
    };
}

/**
 * @typedef {object} EngineOptions
 * @property {'webgpu' | 'cpu'} [backend]  'webgpu' (default) or 'cpu': the engine on the WebAssembly
 *   CPU backend (no GPU needed; slow), behind the same inpaint()
 * @property {boolean} [threads]      'cpu': the pthreads build (build/wasm/moebius-mt.js) where threads
 *   are possible (Node, or a cross-origin-isolated page); otherwise, and by default, the single-threaded one
 * @property {any} [gpu]              navigator.gpu (default) or npm webgpu's create([...]); or a GPUAdapter / GPUDevice
 * @property {Source | {unet: Source, vae: {config: Source, weights: Source}, config?: Source} |
 *            {synth: string | object, unetSeed?: number, vaeSeed?: number}} model
 *   our single-file model (moebius.safetensors, see `moebius convert`), or upstream files: the
 *   RemovalModel state dict (.bin / .safetensors), the diffusers VAE's config.json + weights, and an
 *   optional model_config.json for non-standard sizes; or {synth: 'tiny' | 'full' | config}: the
 *   reference fixtures' synthetic weights (seeds 1 and 2 by default), made in memory
 * @property {boolean} [preferF16]    store tensors as float16 where the adapter has shader-f16 (default true)
 * @property {URL | string} [wasmUrl] where moebius.wasm is (the glue moebius.js is looked up next to it)
 * @property {URL | string} [glueUrl] the emscripten glue (default: build/wasm/moebius.js of the repository)
 * @property {Uint8Array | ArrayBuffer} [wasmBinary]
 * @property {(e: ProgressEvent) => void} [onProgress]
 * @property {AbortSignal} [signal]   cancels loading
 * @property {object} [bridgeOptions] GpuBridge.create options (bridge.js): lower device limits, batch size
 */

/**
 * Creates an engine: the WebAssembly module, the compute backend (a WebGPU device, or the CPU), the model.
 * @param {EngineOptions} opts
 * @returns {Promise<Engine>}
 */
export async function createEngine(opts) {
    if (!opts || typeof opts !== 'object') throw new MoebiusError('bad-option', 'createEngine: options object required');
    if (opts.model === undefined || opts.model === null) throw new MoebiusError('bad-option', 'createEngine: `model` is required');
    const kind = opts.backend ?? 'webgpu';
    if (kind !== 'webgpu' && kind !== 'cpu') throw new MoebiusError('bad-option', `backend must be 'webgpu' or 'cpu', got '${kind}'`);
    /** @type {GpuDevice | CpuDevice | null} */
    let device = null;
    /** @type {Engine | null} */
    let engine = null;
    try {
        throwIfAborted(opts.signal);
        const print = opts.print ?? (() => {}), printErr = opts.printErr ?? ((/** @type {string} */ s) => console.warn(s));
        let mod, api, backend;
        if (kind === 'cpu') {
            // Threads need SharedArrayBuffer: Node, or a cross-origin-isolated page.
            const mt = !!opts.threads && (isNode || globalThis.crossOriginIsolated === true);
            const glue = !opts.glueUrl && !opts.wasmUrl && !opts.moduleFactory && mt ? {glueUrl: DEFAULT_GLUE_MT} : {};
            // The pthreads build sizes its GEMM pool on first use, from os.cpus() through `require` in
            // Node: done here, while loadWasm provides it.
            let threads = 1;
            mod = await loadWasm({...opts, ...glue}, {print, printErr}, (m) => { threads = m._mw_gemm_threads?.() ?? 1; });
            device = new CpuDevice(mod, threads);
            api = new WasmApi(mod, {lastError: null});
            backend = api.handle('mw_backend_cpu', 0);
        } else {
            const gpu = opts.gpu ?? globalThis.navigator?.gpu;
            if (!gpu) throw new MoebiusError('no-adapter', 'WebGPU is not available (no navigator.gpu; in Node pass {gpu: create([...])} from npm webgpu)');
            const g = await GpuBridge.create(gpu, {...opts.bridgeOptions, preferF16: opts.preferF16 ?? true, kernelSources: opts.kernelSources});
            device = new GpuDevice(g);
            const gpuCtx = {g, ops, lastError: null};
            mod = await loadWasm(opts, {moebiusGpu: gpuCtx, print, printErr});
            api = new WasmApi(mod, gpuCtx);
            backend = api.fn('mw_backend_webgpu')(g.dtype === 'f16' ? 1 : 0);
            if (!backend) {
                const e = gpuCtx.lastError;
                throw new MoebiusError('internal', `WebGPU backend: ${e instanceof Error ? e.message : 'failed'}`, e ?? undefined);
            }
        }
        engine = new Engine(mod, api, device, backend);
        await engine.loadModel(opts.model, opts.onProgress, opts.signal);
        return engine;
    } catch (e) {
        if (engine) await engine.dispose();
        else device?.destroy();
        throw toMoebiusError(e);
    }
}

/**
 * How the engine waits for the backend's work and reads its tensors, on WebGPU: C++ only records
 * GPU work, which this awaits between stages (and reads back asynchronously).
 */
class GpuDevice {
    /** @param {GpuBridge} g */
    constructor(g) {
        this.g = g;
        /** Steps are recorded one ahead of the GPU (see Engine.runInpaint). */
        this.pipelined = true;
        const d = g.describe();
        this.info = {backend: /** @type {const} */ ('webgpu'), adapter: d.adapter, features: d.features, dtype: d.dtype, threads: 1};
    }
    /** Submits what was recorded (the GPU starts on it). */
    flush() { this.g.flush(); }
    /** Resolves once all submitted work has finished; surfaces WebGPU errors. */
    sync() { return this.g.sync(); }
    /** Resolves once the GPU has finished the work submitted so far; rejects if the device is lost. */
    workDone() {
        const g = this.g;
        const p = Promise.race([g.device.queue.onSubmittedWorkDone(), g.lost.then((e) => { throw e; })]);
        p.catch(() => {});  // observed by whoever awaits it; a cancelled run may never do so
        return p;
    }
    /**
     * A tensor's values, read back once the work before it is done (the copy is queued now).
     * @param {any} M @param {number} tensor  mw_tensor handle @returns {Promise<Float32Array>}
     */
    read(M, tensor) {
        const id = M._mw_tensor_gpu_buffer(tensor);
        if (!id) throw new MoebiusError('internal', 'expected a WebGPU tensor');
        const p = this.g.readF32(id, M._mw_tensor_numel(tensor));
        p.catch(() => {});
        return p;
    }
    /**
     * Tensors in the bridge's arena (kept between inpaints: no buffers or bind groups made anew) while
     * `on`; the engine turns it off while it loads weights, which get buffers of their own.
     * @param {boolean} on
     */
    useArena(on) { if (this.g.arenaAllowed) this.g.setArena(on); }
    /** Gives back the arena memory no tensor uses. */
    releaseMemory() { this.g.releaseArena(); }
    /** An inpaint starts: the arena replays the layout of the one before (or traces this one). */
    beginRun() { if (this.g.arenaOn) this.g.beginArenaSegment(); }
    check() { this.g.check(); }
    destroy() { this.g.destroy(); }
}

/** The same contract on the WebAssembly CPU backend: each call has finished its work when it returns. */
class CpuDevice {
    /** @param {any} mod @param {number} threads  the GEMMs' (mw_gemm_threads) */
    constructor(mod, threads) {
        this.mod = mod;
        this.pipelined = false;
        /** @type {{backend: 'cpu', adapter: null, features: {f16: boolean, subgroups: boolean, timestampQuery: boolean}, dtype: 'f32', threads: number}} */
        this.info = {backend: 'cpu', adapter: null, features: {f16: false, subgroups: false, timestampQuery: false}, dtype: 'f32', threads};
    }
    flush() {}
    /** Nothing to wait for; lets queued events (a cancel) in between the synchronous stages. */
    sync() { return yieldToEvents(); }
    workDone() { return yieldToEvents(); }
    /**
     * A copy of the tensor's values now, handed over after a turn of the event loop (as workDone:
     * every step lets a cancel in). @param {any} M @param {number} tensor @returns {Promise<Float32Array>}
     */
    read(M, tensor) {
        const p = M._mw_tensor_data(tensor);
        const values = M.HEAPF32.slice(p >> 2, (p >> 2) + M._mw_tensor_numel(tensor));
        return yieldToEvents().then(() => values);
    }
    useArena() {}
    releaseMemory() {}
    beginRun() {}
    check() {}
    /** Stops the pthreads build's workers (they would keep a Node process alive). */
    destroy() { this.mod.PThread?.terminateAllThreads?.(); }
}

const yieldToEvents = () => new Promise((r) => setTimeout(r, 0));

/**
 * The raw C exports (src/api/wasm_api.cpp, src/backend/webgpu/webgpu_backend.cpp) with failures
 * turned into MoebiusErrors. Pointers are offsets into the wasm heap.
 */
class WasmApi {
    /** @param {any} mod @param {{lastError: any}} gpuCtx */
    constructor(mod, gpuCtx) {
        this.m = mod;
        this.gpuCtx = gpuCtx;
    }

    /** Throws the last failure, typed from its status or from the GPU error behind it. @param {string} what */
    fail(what) {
        const status = this.m._mw_last_status();
        const msg = this.m.UTF8ToString(this.m._mw_last_error());
        const gpuErr = this.gpuCtx.lastError;
        this.gpuCtx.lastError = null;
        let code = STATUS_CODES[status] ?? 'internal';
        // A GPU failure inside an op reaches C++ as Internal / OutOfMemory: the JS error is more precise.
        if (gpuErr instanceof GpuError && (code === 'internal' || code === 'out-of-memory')) code = gpuCode(gpuErr);
        throw new MoebiusError(code, msg ? `${what}: ${msg}` : what, gpuErr ?? undefined);
    }

    /** @param {string} name */
    fn(name) {
        const f = this.m[`_${name}`];
        if (typeof f !== 'function') throw new MoebiusError('internal', `the WebAssembly module does not export ${name}`);
        return f;
    }
    /** A call returning a handle (0 = failure). @param {string} name @param {...number} args */
    handle(name, ...args) {
        const r = this.fn(name)(...args);
        if (!r) this.fail(name);
        return r;
    }
    /** A call returning a moebius_status. @param {string} name @param {...number} args */
    status(name, ...args) {
        if (this.fn(name)(...args) !== 0) this.fail(name);
    }
    /** A call returning a count (-1 = failure). @param {string} name @param {...number} args */
    count(name, ...args) {
        const r = this.fn(name)(...args);
        if (r < 0) this.fail(name);
        return r;
    }

    /** malloc that throws (the 4 GB heap is full). @param {number} n */
    malloc(n) {
        const p = this.m._malloc(Math.max(n, 1));
        if (!p) throw new MoebiusError('out-of-memory', `cannot allocate ${n} bytes in WebAssembly memory (4 GB at most)`);
        return p;
    }
    /** A NUL-terminated copy of `s` (free it). @param {string} s */
    cstring(s) {
        const n = this.m.lengthBytesUTF8(s) + 1;
        const p = this.malloc(n);
        this.m.stringToUTF8(s, p, n);
        return p;
    }
    /** Bytes copied into a new heap buffer. @param {Uint8Array} b */
    bytes(b) {
        const p = this.malloc(b.byteLength);
        this.m.HEAPU8.set(b, p);
        return p;
    }
}

/**
 * Streams a source into one malloc'ed heap buffer: straight into it when the length is known
 * (no second copy on the JS side), else collected first.
 * @param {WasmApi} api @param {Source} src @param {string} what
 * @param {(n: number) => void} onBytes  progress: bytes so far
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<{ptr: number, n: number}>}
 */
async function streamIntoHeap(api, src, what, onBytes, signal) {
    const {total, chunks} = await openSource(src, what);
    if (total !== null) {
        const ptr = api.malloc(total);
        let n = 0;
        try {
            for await (const c of chunks) {
                throwIfAborted(signal);
                if (n + c.byteLength > total) throw new MoebiusError('io', `${what}: more bytes than the announced ${total}`);
                api.m.HEAPU8.set(c, ptr + n);  // HEAPU8 re-read: memory may have grown meanwhile
                n += c.byteLength;
                onBytes(c.byteLength);
            }
            if (n !== total) throw new MoebiusError('io', `${what}: ${n} bytes read, ${total} announced`);
            return {ptr, n};
        } catch (e) {
            api.m._free(ptr);
            throw e;
        }
    }
    /** @type {Uint8Array[]} */
    const parts = [];
    let n = 0;
    for await (const c of chunks) {
        throwIfAborted(signal);
        parts.push(c);
        n += c.byteLength;
        onBytes(c.byteLength);
    }
    const ptr = api.malloc(n);
    let o = 0;
    for (const c of parts) { api.m.HEAPU8.set(c, ptr + o); o += c.byteLength; }
    return {ptr, n};
}

const MODES = {auto: 0, whole: 1, crop: 2};

/**
 * @typedef {object} InpaintOptions
 * @property {number} [steps]        DDIM steps before strength (upstream 20)
 * @property {number} [guidance]     classifier-free guidance scale (upstream 2.5)
 * @property {number} [strength]     denoising strength (upstream 0.99)
 * @property {number | bigint} [seed] seed of the initial noise (integer < 2^53)
 * @property {Float32Array} [noise]  initial latent noise (1,4,64,64), offset included (overrides seed)
 * @property {number} [noiseOffset]  upstream 0.0357
 * @property {'auto' | 'whole' | 'crop'} [mode]
 * @property {boolean} [paste]       blend into the input with the blurred mask (default true)
 * @property {boolean} [compensate]  upstream colour compensation (implies paste)
 * @property {boolean} [preview]    'step' events carry a preview (models with 4 latent channels)
 * @property {boolean} [sampleLatents] sample the VAE posterior like upstream (CPU backend only)
 * @property {AbortSignal} [signal]  cancels between stages (rejects with code 'cancelled', name 'AbortError')
 * @property {(e: ProgressEvent) => void} [onProgress]
 */

export class Engine {
    /**
     * @param {any} mod @param {WasmApi} api @param {GpuDevice | CpuDevice} device @param {number} backend
     */
    constructor(mod, api, device, backend) {
        this.mod = mod;
        this.api = api;
        this.device = device;
        /** The WebGPU bridge (null on the CPU backend). */
        this.gpu = device instanceof GpuDevice ? device.g : null;
        this.backend = backend;
        this.model = 0;
        this.disposed = false;
        /** @type {Promise<unknown>} one job at a time */
        this.queue = Promise.resolve();
        /** Backend, adapter, storage dtype, threads, model summary. */
        this.info = {...device.info, model: '', nativeSize: 0, noiseCount: 0, latentChannels: 0};
    }

    /**
     * @param {EngineOptions['model']} model
     * @param {((e: ProgressEvent) => void) | undefined} onProgress @param {AbortSignal | undefined} signal
     */
    async loadModel(model, onProgress, signal) {
        const api = this.api;
        this.device.useArena(false);  // weights: buffers of their own
        const isSource = (/** @type {any} */ x) => x instanceof Uint8Array || x instanceof ArrayBuffer || ArrayBuffer.isView(x) ||
            typeof x === 'string' || x instanceof URL || (typeof Response !== 'undefined' && x instanceof Response) ||
            (typeof Blob !== 'undefined' && x instanceof Blob) || typeof x?.getReader === 'function';
        let loaded = 0;
        const progress = (/** @type {number} */ n) => {
            loaded += n;
            onProgress?.({stage: 'load', loaded, total: null});
        };
        if (isSource(model)) {
            const {ptr, n} = await streamIntoHeap(api, /** @type {Source} */ (model), 'model', progress, signal);
            throwIfAborted(signal);
            this.model = api.handle('mw_model_load', this.backend, ptr, n);  // takes ownership of ptr
        } else if (model && typeof model === 'object' && 'synth' in model) {
            // The reference fixtures' synthetic weights, made in wasm memory (benchmarks, full-size checks).
            const m = /** @type {{synth: string | object, unetSeed?: number, vaeSeed?: number}} */ (model);
            const pc = api.cstring(typeof m.synth === 'string' ? m.synth : JSON.stringify(m.synth));
            try {
                onProgress?.({stage: 'load', loaded: 0, total: null});
                this.model = api.handle('mw_model_synth', this.backend, pc, m.unetSeed ?? 1, m.vaeSeed ?? 2);
            } finally {
                api.m._free(pc);
            }
        } else if (model && typeof model === 'object' && 'unet' in model && model.vae?.config !== undefined &&
                   model.vae?.weights !== undefined) {
            const m = /** @type {{unet: Source, vae: {config: Source, weights: Source}, config?: Source}} */ (model);
            const text = async (/** @type {Source} */ s, /** @type {string} */ what) =>
                typeof s === 'object' && !(s instanceof URL) && !isSource(s) ? JSON.stringify(s)
                    : new TextDecoder().decode(await readAll(s, what));
            const vaeConfig = await text(m.vae.config, 'VAE config.json');
            const modelConfig = m.config !== undefined ? await text(m.config, 'model_config.json') : null;
            const unet = await streamIntoHeap(api, m.unet, 'UNet weights', progress, signal);
            let vae;
            try {
                vae = await streamIntoHeap(api, m.vae.weights, 'VAE weights', progress, signal);
            } catch (e) {
                api.m._free(unet.ptr);
                throw e;
            }
            const pv = api.cstring(vaeConfig), pm = modelConfig === null ? 0 : api.cstring(modelConfig);
            try {
                throwIfAborted(signal);
                // Takes ownership of both weight buffers (freed as soon as parsed, also on failure).
                this.model = api.handle('mw_model_load_upstream', this.backend, unet.ptr, unet.n, pv, vae.ptr, vae.n, pm);
            } finally {
                api.m._free(pv);
                if (pm) api.m._free(pm);
            }
        } else {
            throw new MoebiusError('bad-option', 'model: expected our model file (bytes, URL, Response, Blob or stream), ' +
                                   'upstream files {unet, vae: {config, weights}, config?} or {synth: "tiny" | "full"}');
        }
        await this.device.sync();  // weight uploads done (and any GPU error surfaces here)
        this.device.useArena(true);
        this.info.model = api.m.UTF8ToString(api.m._mw_model_describe(this.model));
        this.info.nativeSize = api.count('mw_model_native_size', this.model);
        this.info.noiseCount = api.count('mw_model_noise_count', this.model);
        this.info.latentChannels = this.info.noiseCount / (this.info.nativeSize / 8) ** 2;
    }

    /**
     * Inpaints `image` where `mask` is white (or, without a mask, where the image is transparent).
     * @param {ImageLike} image  ImageData-like: RGBA (or 1/3-channel with `channels`)
     * @param {ImageLike | null | undefined} mask  gray (1 byte per pixel) or RGBA, same size; null: image alpha
     * @param {InpaintOptions} [opts]
     * @returns {Promise<{image: {width: number, height: number, data: Uint8ClampedArray}, timings: Timings}>}
     *   the result as RGBA (ImageData layout), input size
     */
    inpaint(image, mask, opts = {}) {
        const run = this.queue.then(() => this.runInpaint(image, mask, opts));
        this.queue = run.catch(() => {});
        return run;
    }

    /** @param {ImageLike} image @param {ImageLike | null | undefined} mask @param {InpaintOptions} o */
    async runInpaint(image, mask, o) {
        const t0 = now();
        if (this.disposed) throw new MoebiusError('internal', 'engine disposed');
        const api = this.api, M = api.m, dev = this.device, signal = o.signal;
        throwIfAborted(signal);
        const ic = imageChannels(image, 'image', [1, 2, 3, 4]);
        const mc = mask ? imageChannels(mask, 'mask', [1, 2, 3, 4]) : 0;
        if (mask && (mask.width !== image.width || mask.height !== image.height)) {
            throw new MoebiusError('bad-image', `mask is ${mask.width}x${mask.height} but the image is ${image.width}x${image.height}`);
        }
        /** @type {number[]} */
        const ptrs = [];
        let opt = 0, job = 0, tensor = 0;
        const timings = {encode: 0, denoise: 0, record: 0, decode: 0, post: 0, total: 0, steps: 0, crops: 0};
        this.beginRun();
        try {
            opt = api.handle('mw_options_new');
            const set = (/** @type {string} */ name, /** @type {number} */ v) => {
                const pn = api.cstring(name);
                try { api.status('mw_options_set', opt, pn, v); } finally { M._free(pn); }
            };
            for (const [key, name] of [['steps', 'steps'], ['guidance', 'guidance'], ['strength', 'strength'],
                                       ['noiseOffset', 'noise_offset']]) {
                const v = /** @type {any} */ (o)[key];
                if (v === undefined) continue;
                if (typeof v !== 'number' || !Number.isFinite(v)) throw new MoebiusError('bad-option', `${key} must be a finite number`);
                set(name, v);
            }
            if (o.seed !== undefined) set('seed', Number(o.seed));
            if (o.paste !== undefined) set('paste', o.paste ? 1 : 0);
            if (o.compensate !== undefined) set('compensate', o.compensate ? 1 : 0);
            if (o.mode !== undefined) {
                const mode = typeof o.mode === 'number' ? o.mode : MODES[/** @type {keyof typeof MODES} */ (o.mode)];
                if (mode === undefined) throw new MoebiusError('bad-option', `mode must be 'auto', 'whole' or 'crop', got '${o.mode}'`);
                set('mode', mode);
            }
            if (/** @type {any} */ (o).sampleLatents) {
                if (this.gpu) throw new MoebiusError('bad-option', 'sampleLatents is not available on WebGPU (it reads the VAE moments back mid-pipeline)');
                set('sample_latents', 1);
            }
            // Previews need the predicted clean latents of each step, and a map of their channels to RGB.
            const preview = !!o.preview && this.info.latentChannels === SDXL_LATENT_RGB.factors.length;
            if (preview) set('preview', 1);
            if (o.noise !== undefined && o.noise !== null) {
                if (!(o.noise instanceof Float32Array)) throw new MoebiusError('bad-option', 'noise must be a Float32Array');
                if (o.noise.length !== this.info.noiseCount) {
                    throw new MoebiusError('bad-option', `noise: expected ${this.info.noiseCount} values (1,4,S/8,S/8), got ${o.noise.length}`);
                }
                const pn = api.malloc(4 * o.noise.length);
                ptrs.push(pn);
                M.HEAPF32.set(o.noise, pn >> 2);
                api.status('mw_options_set_noise', opt, pn, o.noise.length);
            }

            const pi = api.bytes(image.data instanceof Uint8Array ? image.data
                : new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength));
            ptrs.push(pi);
            let pm = 0;
            if (mask) {
                pm = api.bytes(mask.data instanceof Uint8Array ? mask.data
                    : new Uint8Array(mask.data.buffer, mask.data.byteOffset, mask.data.byteLength));
                ptrs.push(pm);
            }
            job = api.handle('mw_job_new', this.model, pi, image.width, image.height, ic, pm, mc, opt);
            for (const p of ptrs.splice(0)) M._free(p);  // the job copied the pixels and the noise

            const crops = api.count('mw_job_crops', job);
            timings.crops = crops;
            const report = (/** @type {ProgressEvent} */ e) => o.onProgress?.(e);
            for (let k = 0; k < crops; k++) {
                const window = preview ? this.cropWindow(job, k) : null;
                let t = now();
                // The encode event: on WebGPU once the encoder is recorded (the GPU runs it meanwhile);
                // on the CPU before begin_crop, which runs the encoder there and then (the event and a
                // cancel must get through first).
                let steps = dev.pipelined ? api.count('mw_job_begin_crop', job, k) : 0;
                report({stage: 'encode', step: 0, steps, crop: k + 1, crops});
                if (!dev.pipelined) {
                    await untilDone(yieldToEvents(), signal);
                    this.checkLive(signal);
                    steps = api.count('mw_job_begin_crop', job, k);
                }
                this.checkLive(signal);
                // WebGPU: step 1 is recorded while the GPU runs the encode, whose end (the start of the
                // denoising) is awaited after that. CPU: the encode is done.
                /** @type {Promise<number> | null} */
                let encoded = null;
                if (dev.pipelined) {
                    dev.flush();
                    const t0e = t;
                    encoded = dev.workDone().then(() => { const end = now(); timings.encode += end - t0e; return end; });
                    encoded.catch(() => {});  // awaited below unless the run is cancelled first
                } else {
                    await untilDone(dev.sync(), signal);
                    this.checkLive(signal);
                    timings.encode += now() - t;
                    t = now();
                }
                const encodeDone = async () => {
                    if (!encoded) return;
                    t = await untilDone(encoded, signal);
                    encoded = null;
                    this.checkLive(signal);
                };
                /** Step i's event, once its work is done (`done`), with its preview if asked for. */
                const stepEvent = async (/** @type {Promise<unknown>} */ done, /** @type {number} */ i) => {
                    const latent = await untilDone(done, signal);
                    /** @type {ProgressEvent} */
                    const e = {stage: 'step', step: i, steps, crop: k + 1, crops};
                    if (preview && window) {
                        const S = this.info.nativeSize / 8;
                        e.preview = {...latentToRgba(/** @type {Float32Array} */ (latent), this.info.latentChannels, S, S), window};
                    }
                    return e;
                };
                // Each step's completion: its preview latents read back (the copy is queued right after
                // the step: one 4×64×64 readback per step), or just the work done.
                const afterStep = () => {
                    if (!preview) return dev.workDone();
                    const p = api.handle('mw_job_preview', job);
                    try {
                        return dev.read(M, p);
                    } finally {
                        M._mw_tensor_free(p);  // the job holds the tensor until the next step; the copy is queued
                    }
                };
                // WebGPU: step i is recorded and submitted while the GPU still runs step i-1, then step
                // i-1's completion is awaited (progress, cancellation); a cancel leaves at most one step
                // of GPU work behind, which finishes on its own. CPU: each step is done when its call returns.
                /** @type {Promise<unknown> | null} */
                let previous = null;
                for (let i = 0; i < steps; i++) {
                    const tr = now();
                    api.status('mw_job_step', job, i);  // records (WebGPU) or computes (CPU) the step
                    dev.flush();
                    const done = afterStep();  // after the flush: it waits for the step's last batch
                    timings.record += now() - tr;
                    await encodeDone();
                    if (!dev.pipelined) {
                        report(await stepEvent(done, i + 1));
                        this.checkLive(signal);
                        continue;
                    }
                    if (previous !== null) {
                        report(await stepEvent(previous, i));
                        this.checkLive(signal);
                    }
                    previous = done;
                }
                await encodeDone();  // no steps
                if (previous !== null) {
                    // WebGPU: the decode is recorded while the GPU runs the last step.
                    tensor = api.handle('mw_job_decode', job);
                    dev.flush();
                    report(await stepEvent(previous, steps));
                    this.checkLive(signal);
                }
                timings.denoise += now() - t;
                timings.steps += steps;
                t = now();
                report({stage: 'decode', step: steps, steps, crop: k + 1, crops});
                if (!dev.pipelined) await untilDone(yieldToEvents(), signal);
                this.checkLive(signal);
                if (!tensor) tensor = api.handle('mw_job_decode', job);
                const n = M._mw_tensor_numel(tensor);
                const data = M._mw_tensor_data(tensor);  // CPU: the floats are in wasm memory already
                let pd = 0;
                if (!data) {
                    const decoded = await untilDone(dev.read(M, tensor), signal);
                    await untilDone(dev.sync(), signal);  // and any error WebGPU reported for the steps or the decode
                    this.checkLive(signal);
                    pd = api.malloc(4 * n);
                    M.HEAPF32.set(decoded, pd >> 2);
                }
                timings.decode += now() - t;
                t = now();
                try {
                    api.status('mw_job_finish_crop', job, data || pd, n);
                } finally {
                    if (pd) M._free(pd);
                }
                M._mw_tensor_free(tensor);
                tensor = 0;
                timings.post += now() - t;
            }
            const t = now();
            const img = api.handle('mw_job_result', job);
            let out;
            try {
                const w = M._mw_image_width(img), h = M._mw_image_height(img), c = M._mw_image_channels(img);
                const px = M.HEAPU8.subarray(M._mw_image_data(img), M._mw_image_data(img) + w * h * c);
                out = {width: w, height: h, data: toRgba(px, c, w * h)};
            } finally {
                M._mw_image_free(img);
            }
            timings.post += now() - t;
            timings.total = now() - t0;
            return {image: out, timings};
        } catch (e) {
            throw toMoebiusError(e);
        } finally {
            if (tensor) M._mw_tensor_free(tensor);
            if (job) M._mw_job_free(job);
            if (opt) M._mw_options_free(opt);
            for (const p of ptrs) M._free(p);
        }
    }

    /** Crop k's window in the image. @param {number} job @param {number} k */
    cropWindow(job, k) {
        const p = this.api.malloc(16);
        try {
            this.api.status('mw_job_window', job, k, p);
            const [x, y, width, height] = this.api.m.HEAP32.subarray(p >> 2, (p >> 2) + 4);
            return {x, y, width, height};
        } finally {
            this.api.m._free(p);
        }
    }

    /**
     * Before an inpaint's first GPU work: the backend's cached buffers go (the previous inpaint's last
     * ones among them, so its trace in the tensor arena is whole) and the arena starts a segment, in
     * which it replays the layout of the inpaint before.
     */
    beginRun() {
        if (!this.gpu) return;
        this.mod._mw_backend_webgpu_trim(this.backend);
        this.device.beginRun();
    }

    /** Throws on cancellation, disposal or a lost device. @param {AbortSignal | undefined} signal */
    checkLive(signal) {
        throwIfAborted(signal);
        if (this.disposed) throw new MoebiusError('cancelled', 'engine disposed');
        this.device.check();
    }

    /**
     * Frees the GPU memory kept for reuse between steps and calls (the model's weights stay): the
     * backend's cached buffers and the bridge's tensor arena (~0.4 GB for the full model in f16).
     * For an idle page that wants its GPU memory back; the next inpaint allocates them again.
     * Nothing to do on the CPU backend.
     */
    trim() {
        const run = this.queue.then(() => {
            if (this.backend && this.gpu) {
                this.mod._mw_backend_webgpu_trim(this.backend);
                this.device.releaseMemory();
            }
        });
        this.queue = run.catch(() => {});
        return run;
    }

    /** Frees the model, the backend and the GPU device (after a running inpaint has stopped). */
    dispose() {
        if (this.disposed) return this.queue;
        this.disposed = true;
        this.queue = this.queue.then(() => {
            const M = this.mod;
            if (this.model) M._mw_model_free(this.model);
            if (this.backend) M._mw_backend_free(this.backend);
            this.model = this.backend = 0;
            this.device.destroy();
        });
        return this.queue;
    }
}

/**
 * @typedef {object} Timings  milliseconds (sums over crop windows). On WebGPU the stages overlap a
 *   little: step 1 is recorded while the GPU runs the encode, the decode while it runs the last step;
 *   each stage ends when its GPU work is done.
 * @property {number} encode   VAE encode of the crops (recorded + GPU)
 * @property {number} denoise  all denoising steps
 * @property {number} record   of which in the step calls: recording them (WebGPU: WASM + JS, overlapped with
 *                             the GPU), or computing them (CPU)
 * @property {number} decode   VAE decode + readback
 * @property {number} post     CPU post-processing (resize back, paste, compensation)
 * @property {number} total
 * @property {number} steps    denoising steps run
 * @property {number} crops    crop windows
 */

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
