// Node tests of the WebAssembly build on its CPU backend (build/wasm/moebius.{js,wasm}; build it with
// scripts/build-wasm.sh). Exits non-zero on any failure.
//
//  - the tiny model's upstream files (removal_model.bin + vae/ + model_config.json) load from memory,
//    convert to our model file (f32 and f16) in wasm memory, and the model file loads back;
//  - a whole tiny inpaint of image.png with noise.npy through the stage-by-stage job API matches the
//    upstream result.png within 1 level (the fixtures' float32-vs-float64 spread is 1 level; the
//    native build lands within it too, NOTES.md), and the f32 model file gives the same pixels;
//  - errors: a model file of the wrong kind, truncated files, bad options and arguments come back as
//    statuses with messages that say what is wrong.
//
// Fixtures: $MOEBIUS_FIXTURES, else ../shared/fixtures next to the repository.
// Module: $MOEBIUS_WASM (the glue .js), else build/wasm/moebius.js; build/wasm/moebius-mt.js is the
// pthreads build (its GEMMs on all cores), which must give the same pixels (`npm run test:wasm-mt`).

import {readFileSync, existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {PNG} from 'pngjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const gluePath = path.resolve(process.env.MOEBIUS_WASM ?? path.join(root, 'build/wasm/moebius.js'));

// moebius_status (include/moebius.h)
const OK = 0, ERR_INVALID = 1, ERR_MODEL = 3, ERR_IMAGE = 4;

let failures = 0, passes = 0;
function check(cond, what, detail = '') {
    if (cond) {
        passes++;
    } else {
        failures++;
        console.error(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
    }
}

function fixture(rel) {
    const p = path.join(fixtures, rel);
    if (!existsSync(p)) throw new Error(`fixture ${p} is missing (set MOEBIUS_FIXTURES)`);
    return readFileSync(p);
}

// ---- the module ----

if (!existsSync(gluePath)) {
    console.error(`${gluePath} not found: build it with scripts/build-wasm.sh`);
    process.exit(2);
}
// emscripten 3.1.6's node glue wants CommonJS `require` and `__dirname` (this is an ES module); the
// wasm bytes are handed over so that it never fetches (Node 20's fetch cannot read file paths).
globalThis.require = createRequire(gluePath);
globalThis.__dirname = path.dirname(gluePath);
const {default: createMoebiusModule} = await import(pathToFileURL(gluePath).href);
const M = await createMoebiusModule({
    wasmBinary: readFileSync(gluePath.replace(/\.js$/, '.wasm')),
    // The pthreads build (moebius-mt.js): its CommonJS worker script under a name Node reads as such.
    locateFile: (p) => path.join(path.dirname(gluePath), p.replace(/\.worker\.js$/, '.worker.cjs')),
    print: (s) => console.log(s), printErr: (s) => console.error(s),
});

const lastError = () => M.UTF8ToString(M._mw_last_error());

/** Copies bytes into a fresh malloc'ed buffer; returns [ptr, length]. */
function toHeap(bytes) {
    const p = M._malloc(Math.max(1, bytes.length));
    if (!p) throw new Error('malloc failed');
    M.HEAPU8.set(bytes, p);  // HEAPU8 re-read after malloc: memory may have grown
    return [p, bytes.length];
}
/** A NUL-terminated copy of a string (free with M._free). */
function cstr(s) {
    if (s === null) return 0;
    const n = M.lengthBytesUTF8(s) + 1, p = M._malloc(n);
    M.stringToUTF8(s, p, n);
    return p;
}
/** Runs f with C strings of each argument, freed afterwards. */
function withStrings(strings, f) {
    const ps = strings.map(cstr);
    try {
        return f(...ps);
    } finally {
        ps.forEach((p) => p && M._free(p));
    }
}

function readPng(rel) {
    const png = PNG.sync.read(fixture(rel));  // always RGBA
    return {width: png.width, height: png.height, data: new Uint8Array(png.data)};
}

// A float32 .npy (C order, little-endian) as a Float32Array.
function readNpyF32(rel) {
    const b = fixture(rel);
    const hlen = b.readUInt16LE(8), header = b.subarray(10, 10 + hlen).toString('latin1');
    if (!header.includes("'descr': '<f4'") || header.includes("'fortran_order': True")) {
        throw new Error(`${rel}: expected a C-order float32 .npy, header ${header}`);
    }
    const data = b.subarray(10 + hlen);
    return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

// ---- model loading ----

const tiny = {
    unet: fixture('tiny/removal_model.bin'),
    vaeConfig: fixture('tiny/vae/config.json').toString('utf8'),
    vae: fixture('tiny/vae/diffusion_pytorch_model.safetensors'),
    modelConfig: fixture('tiny/model_config.json').toString('utf8'),
};

function loadUpstream(be, {unet = tiny.unet, vaeConfig = tiny.vaeConfig, vae = tiny.vae,
                           modelConfig = tiny.modelConfig} = {}) {
    const [u, n] = toHeap(unet), [v, n2] = toHeap(vae);  // ownership passes to the call
    return withStrings([vaeConfig, modelConfig], (vc, mc) => M._mw_model_load_upstream(be, u, n, vc, v, n2, mc));
}

function convert({float32}) {
    const [u, n] = toHeap(tiny.unet), [v, n2] = toHeap(tiny.vae);
    const blob = withStrings([tiny.vaeConfig, tiny.modelConfig],
                             (vc, mc) => M._mw_convert_to_model_file(u, n, vc, v, n2, mc, float32 ? 1 : 0));
    if (!blob) throw new Error(`convert failed: ${lastError()}`);
    const bytes = M.HEAPU8.slice(M._mw_blob_data(blob), M._mw_blob_data(blob) + M._mw_blob_size(blob));
    M._mw_blob_free(blob);
    return bytes;
}

function loadModelFile(be, bytes) {
    const [p, n] = toHeap(bytes);
    return M._mw_model_load(be, p, n);
}

// ---- one inpaint through the job API ----

function inpaint(model, image, mask, opts, noise) {
    const o = M._mw_options_new();
    for (const [k, v] of Object.entries(opts)) {
        const s = withStrings([k], (name) => M._mw_options_set(o, name, v));
        if (s !== OK) throw new Error(`option ${k}: ${lastError()}`);
    }
    if (noise) {
        const [p] = toHeap(new Uint8Array(noise.buffer, noise.byteOffset, noise.byteLength));
        const s = M._mw_options_set_noise(o, p, noise.length);
        M._free(p);
        if (s !== OK) throw new Error(`noise: ${lastError()}`);
    }
    const [ip] = toHeap(image.data), [mp] = mask ? toHeap(mask.data) : [0];
    const job = M._mw_job_new(model, ip, image.width, image.height, 4, mp, 4, o);
    M._free(ip);
    if (mp) M._free(mp);
    M._mw_options_free(o);
    if (!job) throw new Error(`mw_job_new: ${lastError()}`);
    try {
        const crops = M._mw_job_crops(job);
        for (let k = 0; k < crops; k++) {
            const steps = M._mw_job_begin_crop(job, k);
            if (steps < 0) throw new Error(`begin_crop: ${lastError()}`);
            for (let i = 0; i < steps; i++) {
                if (M._mw_job_step(job, i) !== OK) throw new Error(`step ${i}: ${lastError()}`);
            }
            const t = M._mw_job_decode(job);
            if (!t) throw new Error(`decode: ${lastError()}`);
            const shape = Array.from({length: M._mw_tensor_ndim(t)}, (_, d) => M._mw_tensor_dim(t, d));
            const s = M._mw_job_finish_crop(job, M._mw_tensor_data(t), M._mw_tensor_numel(t));
            M._mw_tensor_free(t);
            if (s !== OK) throw new Error(`finish_crop: ${lastError()}`);
            if (k === 0) inpaint.decodedShape = shape;
        }
        const img = M._mw_job_result(job);
        if (!img) throw new Error(`result: ${lastError()}`);
        const w = M._mw_image_width(img), h = M._mw_image_height(img), c = M._mw_image_channels(img);
        const data = M.HEAPU8.slice(M._mw_image_data(img), M._mw_image_data(img) + w * h * c);
        M._mw_image_free(img);
        return {width: w, height: h, channels: c, data, crops};
    } finally {
        M._mw_job_free(job);
    }
}

// Max |difference| of result (any channels) against an RGBA reference's RGB, and how many values differ.
function compareRgb(got, ref) {
    let max = 0, differ = 0;
    for (let i = 0; i < ref.width * ref.height; i++) {
        for (let c = 0; c < 3; c++) {
            const d = Math.abs(got.data[i * got.channels + c] - ref.data[i * 4 + c]);
            if (d) differ++;
            max = Math.max(max, d);
        }
    }
    return {max, differ};
}

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

const be = M._mw_backend_cpu(0);
check(be !== 0, 'mw_backend_cpu', lastError());
check(M.UTF8ToString(M._mw_backend_name(be)) === 'cpu', 'backend name');

// Upstream files -> model.
const upstream = loadUpstream(be);
check(upstream !== 0, 'load upstream tiny files', lastError());
console.log(`[wasm] upstream model: ${M.UTF8ToString(M._mw_model_describe(upstream))} (${elapsed()})`);
check(M._mw_model_native_size(upstream) === 512, 'native size 512');
check(M._mw_model_noise_count(upstream) === 4 * 64 * 64, 'noise count 4*64*64');

// The reference inpaint: upstream defaults (20 steps × strength 0.99, guidance 2.5, paste), the
// fixture's noise, latent means (the fixtures' deliberate deviation from sampling).
const image = readPng('tiny/image.png'), mask = readPng('tiny/mask.png'), ref = readPng('tiny/result.png');
const noise = readNpyF32('tiny/noise.npy');
check(noise.length === 4 * 64 * 64, 'noise.npy size');
const opts = {steps: 20, strength: 0.99, guidance: 2.5, paste: 1, mode: 1};
const result = inpaint(upstream, image, mask, opts, noise);
const cmp = compareRgb(result, ref);
console.log(`[wasm] tiny inpaint (upstream files): ${result.width}x${result.height}x${result.channels}, ` +
            `decoded ${JSON.stringify(inpaint.decodedShape)}, vs result.png max ${cmp.max} level(s), ` +
            `${cmp.differ} of ${ref.width * ref.height * 3} values differ (${elapsed()})`);
check(result.crops === 1 && result.width === 512 && result.height === 512, 'result size');
check(JSON.stringify(inpaint.decodedShape) === '[1,3,512,512]', 'decoded tensor shape');
// 1 level: the fixtures' own float32-vs-float64 spread on result.png (README table); the values that
// differ sit on truncation boundaries of uint8(x·255), as in the native build (≤ 40 of 786k there).
check(cmp.max <= 1, 'result.png within 1 level', `max ${cmp.max}`);
check(cmp.differ <= 0.001 * ref.width * ref.height * 3, 'result.png: < 0.1% of values off by 1', `${cmp.differ}`);
M._mw_model_free(upstream);

// Our model file, converted in wasm memory: f32 gives bit-identical weights, hence the same pixels.
const f32File = convert({float32: true});
const f16File = convert({float32: false});
console.log(`[wasm] converted model files: f32 ${f32File.length} bytes, f16 ${f16File.length} bytes (${elapsed()})`);
check(f16File.length < 0.55 * f32File.length, 'f16 file about half the f32 one');
const f32Model = loadModelFile(be, f32File);
check(f32Model !== 0, 'load f32 model file', lastError());
const f16Model = loadModelFile(be, f16File);
check(f16Model !== 0, 'load f16 model file', lastError());
if (f32Model) {
    const again = inpaint(f32Model, image, mask, opts, noise);
    let same = again.data.length === result.data.length;
    for (let i = 0; same && i < again.data.length; i++) same = again.data[i] === result.data[i];
    check(same, 'f32 model file gives the same pixels as the upstream files');
    console.log(`[wasm] tiny inpaint (f32 model file): identical = ${same} (${elapsed()})`);
    M._mw_model_free(f32Model);
}
if (f16Model) {
    check(M.UTF8ToString(M._mw_model_describe(f16Model)).includes('UNet widths 32 64 128'), 'f16 model describe');
    M._mw_model_free(f16Model);
}

// ---- error paths ----

function expectFail(handle, status, substrings, what) {
    const msg = lastError();
    check(handle === 0 || handle === -1, `${what}: fails`);
    check(M._mw_last_status() === status, `${what}: status ${status}`, `got ${M._mw_last_status()}: ${msg}`);
    for (const s of substrings) check(msg.includes(s), `${what}: message mentions '${s}'`, msg);
    console.log(`[error] ${what}: ${msg}`);
}

expectFail(loadModelFile(be, tiny.unet), ERR_MODEL, ['model file', 'not a moebius model file', 'zip'],
           'a .bin given as our model file');
expectFail(loadModelFile(be, tiny.vae), ERR_MODEL, ['not a moebius model file'], 'a VAE .safetensors as model file');
expectFail(loadModelFile(be, f16File.subarray(0, f16File.length >> 1)), ERR_MODEL, ['model file'],
           'truncated model file');
expectFail(loadModelFile(be, f16File.subarray(0, 5)), ERR_MODEL, ['model file'], 'model file of 5 bytes');
expectFail(loadUpstream(be, {unet: tiny.unet.subarray(0, tiny.unet.length - 100)}), ERR_MODEL,
           ['UNet weights', 'zip'], 'truncated upstream .bin');
{
    const corrupt = Buffer.from(tiny.unet);
    corrupt[corrupt.length >> 1] ^= 0x40;
    expectFail(loadUpstream(be, {unet: corrupt}), ERR_MODEL, ['UNet weights', 'CRC'], 'corrupt upstream .bin');
}
expectFail(loadUpstream(be, {modelConfig: null}), ERR_MODEL, ['UNet weights', 'built-in "full" config'],
           'tiny weights with the full config');
expectFail(loadUpstream(be, {vae: fixture('tiny/image.png')}), ERR_MODEL,
           ['VAE weights: not a PyTorch .bin or .safetensors file'], 'a PNG as VAE weights');
expectFail(M._mw_model_load(be, 0, 0), ERR_INVALID, ['no bytes'], 'model load without bytes');

const model = loadModelFile(be, f16File);
check(model !== 0, 'reload f16 model', lastError());
{
    const o = M._mw_options_new();
    expectFail(withStrings(['nonsense'], (n) => M._mw_options_set(o, n, 1)) === OK ? 1 : 0, ERR_INVALID,
               ["unknown option 'nonsense'"], 'unknown option');
    expectFail(withStrings(['steps'], (n) => M._mw_options_set(o, n, 2.5)) === OK ? 1 : 0, ERR_INVALID,
               ['option steps: expected an integer'], 'fractional steps');
    const [ip] = toHeap(image.data);
    expectFail(M._mw_job_new(model, ip, 512, 512, 5, 0, 0, o), ERR_INVALID, ['image: invalid image (512x512x5)'],
               'five channels');
    // RGBA with full alpha and no mask: nothing to inpaint is an error (the alpha is the mask, and
    // alpha 255 everywhere keeps every pixel).
    const job = M._mw_job_new(model, ip, 512, 512, 4, 0, 0, o);
    check(job !== 0, 'job with alpha as mask', lastError());
    if (job) {
        check(M._mw_job_crops(job) === 0, 'opaque alpha: no crop to inpaint');
        expectFail(M._mw_job_begin_crop(job, 0), ERR_INVALID, ['begin_crop: no crop 0'], 'begin_crop out of range');
        const img = M._mw_job_result(job);
        check(img !== 0, 'result of an empty job', lastError());
        if (img) {
            const px = M.HEAPU8.subarray(M._mw_image_data(img), M._mw_image_data(img) + 512 * 512 * 4);
            let same = true;
            for (let i = 0; same && i < px.length; i++) same = px[i] === image.data[i];
            check(same && M._mw_image_channels(img) === 4, 'empty mask returns the input unchanged');
            M._mw_image_free(img);
        }
        M._mw_job_free(job);
    }
    const rgb = new Uint8Array(512 * 512 * 3);
    const [rp] = toHeap(rgb);
    expectFail(M._mw_job_new(model, rp, 512, 512, 3, 0, 0, o), ERR_IMAGE, ['no mask given and the image has no alpha'],
               'RGB without a mask');
    M._free(rp);
    M._free(ip);
    M._mw_options_free(o);
}
M._mw_model_free(model);
M._mw_backend_free(be);

console.log(`[wasm] ${passes} checks passed, ${failures} failed (${elapsed()})`);
process.exit(failures ? 1 : 0);
