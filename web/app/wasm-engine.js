// wasm-engine.js: what the worker needs from the WebAssembly build besides web/js/moebius.js:
//   - loading the emscripten module once (compiled WebAssembly.Module reused for every instance);
//   - a download sink that writes straight into WebAssembly memory (no second copy of 1 GB files);
//   - converting upstream files to our f16 model file in memory (mw_convert_to_model_file);
//   - CpuEngine: the same inpaint() contract as moebius.js's Engine on the WASM CPU backend
//     (mw_backend_cpu), for browsers without WebGPU. moebius.js only drives the WebGPU backend, so
//     this wraps the stage-by-stage job API (src/api/wasm_api.cpp) the same way it does.
// Runs in the worker (no DOM).

import {MoebiusError} from './engine.js';

/** moebius_status (include/moebius.h) -> MoebiusError code, as in moebius.js. */
const STATUS_CODES = ['ok', 'bad-option', 'io', 'bad-model', 'bad-image', 'cancelled', 'out-of-memory', 'internal'];
const MODES = {auto: 0, whole: 1, crop: 2};

/**
 * The glue's factory and the compiled module, fetched once.
 * @param {URL} glueUrl  build/wasm/moebius.js (ES module, default export = factory)
 */
export async function loadWasmModule(glueUrl) {
    let factory;
    try {
        factory = (await import(glueUrl.href)).default;
    } catch (e) {
        throw new MoebiusError('io', `cannot load the engine (${glueUrl.pathname}): ${e instanceof Error ? e.message : e}`, e);
    }
    const wasmUrl = new URL(glueUrl.href.replace(/\.js$/, '.wasm'));
    let r;
    try {
        r = await fetch(wasmUrl);
    } catch (e) {
        throw new MoebiusError('io', `cannot load the engine (${wasmUrl.pathname}): ${e instanceof Error ? e.message : e}`, e);
    }
    if (!r.ok) throw new MoebiusError('io', `cannot load the engine: ${wasmUrl.pathname} answered HTTP ${r.status}`);
    const wasmBinary = new Uint8Array(await r.arrayBuffer());
    const compiled = await WebAssembly.compile(wasmBinary);
    /**
     * A new module instance; `extra` carries what moebius.js adds (moebiusGpu, print, ...).
     * @param {object} [extra]
     */
    const instantiate = (extra = {}) => factory({
        print: () => {},
        printErr: (/** @type {string} */ s) => console.warn(s),
        ...extra,
        wasmBinary,
        locateFile: (/** @type {string} */ p) => new URL(p, glueUrl).href,
        instantiateWasm: (/** @type {any} */ imports, /** @type {(i: WebAssembly.Instance, m: WebAssembly.Module) => void} */ ok) => {
            WebAssembly.instantiate(compiled, imports).then((inst) => ok(inst, compiled));
            return {};
        },
    });
    return {factory, wasmBinary, compiled, instantiate};
}

/** Turns the module's last failure into a MoebiusError. @param {any} M @param {string} what */
function fail(M, what) {
    const status = M._mw_last_status();
    const msg = M.UTF8ToString(M._mw_last_error());
    throw new MoebiusError(STATUS_CODES[status] ?? 'internal', msg ? `${what}: ${msg}` : what);
}
/** @param {any} M @param {number} n */
function malloc(M, n) {
    const p = M._malloc(Math.max(1, n));
    if (!p) throw new MoebiusError('out-of-memory', `cannot allocate ${n} bytes in WebAssembly memory (4 GB at most)`);
    return p;
}
/** @param {any} M @param {string} s */
function cstring(M, s) {
    const n = M.lengthBytesUTF8(s) + 1, p = malloc(M, n);
    M.stringToUTF8(s, p, n);
    return p;
}
/** @param {any} M @param {Uint8Array} b */
function toHeap(M, b) {
    const p = malloc(M, b.byteLength);
    M.HEAPU8.set(b, p);
    return p;
}

/**
 * A download sink (lib/download.js) writing into one malloc'ed buffer of module M. finish() gives
 * {ptr, n}; the caller hands ptr to a call that takes ownership, or frees it with release().
 * @param {any} M
 */
export function heapSink(M) {
    let ptr = 0, cap = 0, n = 0;
    /** @type {Uint8Array[] | null} */
    let parts = null;
    return {
        begin(/** @type {number | null} */ total) {
            if (ptr) M._free(ptr);
            ptr = 0; cap = 0; n = 0;
            if (total !== null) { ptr = malloc(M, total); cap = total; parts = null; } else parts = [];
        },
        write(/** @type {Uint8Array} */ chunk, /** @type {number} */ offset) {
            if (parts) { parts.push(chunk.slice()); n = offset + chunk.byteLength; return; }
            if (offset + chunk.byteLength > cap) throw new MoebiusError('io', `more bytes than the announced ${cap}`);
            M.HEAPU8.set(chunk, ptr + offset);  // HEAPU8 re-read: memory may have grown
            n = Math.max(n, offset + chunk.byteLength);
        },
        finish() {
            if (parts) {
                ptr = malloc(M, n);
                let o = 0;
                for (const c of parts) { M.HEAPU8.set(c, ptr + o); o += c.byteLength; }
                parts = null;
            }
            return {ptr, n};
        },
        release() { if (ptr) M._free(ptr); ptr = 0; },
    };
}

/**
 * Upstream files -> our model file (f16 unless float32), in memory. `unet` and `vae` are heap
 * buffers of M (ownership passes: the module frees each once parsed, also on failure).
 * @param {any} M @param {{unet: {ptr: number, n: number}, vae: {ptr: number, n: number}, vaeConfig: string,
 *                         modelConfig: string | null, float32?: boolean}} f
 * @returns {Uint8Array} a copy outside the heap
 */
export function convertToModelFile(M, f) {
    const pv = cstring(M, f.vaeConfig), pm = f.modelConfig ? cstring(M, f.modelConfig) : 0;
    try {
        const blob = M._mw_convert_to_model_file(f.unet.ptr, f.unet.n, pv, f.vae.ptr, f.vae.n, pm, f.float32 ? 1 : 0);
        if (!blob) fail(M, 'converting the model');
        try {
            const p = M._mw_blob_data(blob), n = M._mw_blob_size(blob);
            return M.HEAPU8.slice(p, p + n);
        } finally {
            M._mw_blob_free(blob);
        }
    } finally {
        M._free(pv);
        if (pm) M._free(pm);
    }
}

/** Lets queued messages (cancel) in between synchronous WASM stages. */
const yieldToEvents = () => new Promise((r) => setTimeout(r, 0));

/** The engine on the WASM CPU backend: same inpaint() / info / dispose() as moebius.js's Engine. */
export class CpuEngine {
    /**
     * @param {any} M  a fresh module instance
     * @param {Uint8Array} modelBytes  our model file
     */
    static async create(M, modelBytes) {
        const backend = M._mw_backend_cpu(0);
        if (!backend) fail(M, 'CPU backend');
        const p = toHeap(M, modelBytes);
        const model = M._mw_model_load(backend, p, modelBytes.byteLength);  // takes ownership of p
        if (!model) {
            M._mw_backend_free(backend);
            fail(M, 'loading the model');
        }
        return new CpuEngine(M, backend, model);
    }

    /** @param {any} M @param {number} backend @param {number} model */
    constructor(M, backend, model) {
        this.M = M;
        this.backend = backend;
        this.model = model;
        this.disposed = false;
        this.info = {adapter: 'WebAssembly CPU', features: {}, dtype: 'f32', model: M.UTF8ToString(M._mw_model_describe(model)),
                     nativeSize: M._mw_model_native_size(model), noiseCount: M._mw_model_noise_count(model)};
        /** @type {Promise<unknown>} */
        this.queue = Promise.resolve();
    }

    /**
     * @param {{width: number, height: number, data: Uint8Array | Uint8ClampedArray, channels?: number}} image
     * @param {{width: number, height: number, data: Uint8Array, channels?: number} | null} mask
     * @param {any} [o]  moebius.js InpaintOptions (steps, guidance, strength, seed, mode, paste, compensate, signal, onProgress)
     */
    inpaint(image, mask, o = {}) {
        const run = this.queue.then(() => this.run(image, mask, o));
        this.queue = run.catch(() => {});
        return run;
    }

    /** @param {any} image @param {any} mask @param {any} o */
    async run(image, mask, o) {
        const M = this.M, signal = o.signal;
        const t0 = performance.now();
        const check = () => {
            if (signal?.aborted) throw new MoebiusError('cancelled', 'cancelled');
            if (this.disposed) throw new MoebiusError('cancelled', 'engine disposed');
        };
        check();
        const ic = image.channels ?? image.data.length / (image.width * image.height);
        const mc = mask ? (mask.channels ?? mask.data.length / (mask.width * mask.height)) : 0;
        if (mask && (mask.width !== image.width || mask.height !== image.height)) {
            throw new MoebiusError('bad-image', `mask is ${mask.width}x${mask.height} but the image is ${image.width}x${image.height}`);
        }
        let opt = 0, job = 0, tensor = 0;
        /** @type {number[]} */
        const ptrs = [];
        const timings = {encode: 0, denoise: 0, decode: 0, post: 0, total: 0, steps: 0, crops: 0};
        try {
            opt = M._mw_options_new();
            const set = (/** @type {string} */ name, /** @type {number} */ v) => {
                const pn = cstring(M, name);
                try { if (M._mw_options_set(opt, pn, v) !== 0) fail(M, `option ${name}`); } finally { M._free(pn); }
            };
            for (const [key, name] of [['steps', 'steps'], ['guidance', 'guidance'], ['strength', 'strength'], ['noiseOffset', 'noise_offset']]) {
                const v = o[key];
                if (v === undefined) continue;
                if (typeof v !== 'number' || !Number.isFinite(v)) throw new MoebiusError('bad-option', `${key} must be a finite number`);
                set(name, v);
            }
            if (o.seed !== undefined) set('seed', Number(o.seed));
            if (o.paste !== undefined) set('paste', o.paste ? 1 : 0);
            if (o.compensate !== undefined) set('compensate', o.compensate ? 1 : 0);
            if (o.mode !== undefined) {
                const mode = MODES[/** @type {keyof typeof MODES} */ (o.mode)];
                if (mode === undefined) throw new MoebiusError('bad-option', `mode must be 'auto', 'whole' or 'crop', got '${o.mode}'`);
                set('mode', mode);
            }
            const bytes = (/** @type {any} */ d) => (d instanceof Uint8Array ? d : new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
            const pi = toHeap(M, bytes(image.data));
            ptrs.push(pi);
            const pm = mask ? toHeap(M, bytes(mask.data)) : 0;
            if (pm) ptrs.push(pm);
            job = M._mw_job_new(this.model, pi, image.width, image.height, ic, pm, mc, opt);
            if (!job) fail(M, 'mw_job_new');
            for (const p of ptrs.splice(0)) M._free(p);

            const crops = M._mw_job_crops(job);
            if (crops < 0) fail(M, 'mw_job_crops');
            timings.crops = crops;
            for (let k = 0; k < crops; k++) {
                let t = performance.now();
                // begin_crop runs the VAE encoder here (synchronously): say so before, not after
                o.onProgress?.({stage: 'encode', step: 0, steps: 0, crop: k + 1, crops});
                await yieldToEvents();
                const steps = M._mw_job_begin_crop(job, k);
                if (steps < 0) fail(M, 'mw_job_begin_crop');
                timings.encode += performance.now() - t;
                await yieldToEvents();
                check();
                t = performance.now();
                for (let i = 0; i < steps; i++) {
                    if (M._mw_job_step(job, i) !== 0) fail(M, 'mw_job_step');
                    o.onProgress?.({stage: 'step', step: i + 1, steps, crop: k + 1, crops});
                    await yieldToEvents();
                    check();
                }
                timings.denoise += performance.now() - t;
                timings.steps += steps;
                t = performance.now();
                o.onProgress?.({stage: 'decode', step: steps, steps, crop: k + 1, crops});
                await yieldToEvents();
                tensor = M._mw_job_decode(job);
                if (!tensor) fail(M, 'mw_job_decode');
                const data = M._mw_tensor_data(tensor), n = M._mw_tensor_numel(tensor);
                timings.decode += performance.now() - t;
                t = performance.now();
                if (M._mw_job_finish_crop(job, data, n) !== 0) fail(M, 'mw_job_finish_crop');
                M._mw_tensor_free(tensor);
                tensor = 0;
                timings.post += performance.now() - t;
                check();
            }
            const t = performance.now();
            const img = M._mw_job_result(job);
            if (!img) fail(M, 'mw_job_result');
            let out;
            try {
                const w = M._mw_image_width(img), h = M._mw_image_height(img), c = M._mw_image_channels(img);
                const p = M._mw_image_data(img);
                out = {width: w, height: h, data: toRgba(M.HEAPU8.subarray(p, p + w * h * c), c, w * h)};
            } finally {
                M._mw_image_free(img);
            }
            timings.post += performance.now() - t;
            timings.total = performance.now() - t0;
            return {image: out, timings};
        } catch (e) {
            if (e instanceof MoebiusError) throw e;
            throw new MoebiusError('internal', e instanceof Error ? e.message : String(e), e);
        } finally {
            if (tensor) M._mw_tensor_free(tensor);
            if (job) M._mw_job_free(job);
            if (opt) M._mw_options_free(opt);
            for (const p of ptrs) M._free(p);
        }
    }

    dispose() {
        if (this.disposed) return this.queue;
        this.disposed = true;
        this.queue = this.queue.then(() => {
            if (this.model) this.M._mw_model_free(this.model);
            if (this.backend) this.M._mw_backend_free(this.backend);
            this.model = this.backend = 0;
        });
        return this.queue;
    }
}

/** 1/3/4-channel pixels -> RGBA. @param {Uint8Array} px @param {number} c @param {number} n */
function toRgba(px, c, n) {
    const out = new Uint8ClampedArray(4 * n);
    for (let i = 0; i < n; i++) {
        if (c === 4) {
            out[4 * i] = px[4 * i]; out[4 * i + 1] = px[4 * i + 1]; out[4 * i + 2] = px[4 * i + 2]; out[4 * i + 3] = px[4 * i + 3];
        } else if (c === 3) {
            out[4 * i] = px[3 * i]; out[4 * i + 1] = px[3 * i + 1]; out[4 * i + 2] = px[3 * i + 2]; out[4 * i + 3] = 255;
        } else {
            const v = px[c * i];
            out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = v; out[4 * i + 3] = c === 2 ? px[2 * i + 1] : 255;
        }
    }
    return out;
}
