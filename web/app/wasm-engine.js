// wasm-engine.js: what the worker needs from the WebAssembly build besides web/js/moebius.js (whose
// createEngine runs the engine itself, on WebGPU or — {backend: 'cpu'} — on the WASM CPU backend):
//   - loading the emscripten module once (compiled WebAssembly.Module reused for every instance);
//   - a download sink that writes straight into WebAssembly memory (no second copy of 1 GB files);
//   - converting upstream files to our f16 model file in memory (mw_convert_to_model_file).
// Runs in the worker (no DOM).

import {MoebiusError} from './engine.js';

/** moebius_status (include/moebius.h) -> MoebiusError code, as in moebius.js. */
const STATUS_CODES = ['ok', 'bad-option', 'io', 'bad-model', 'bad-image', 'cancelled', 'out-of-memory', 'internal'];

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
