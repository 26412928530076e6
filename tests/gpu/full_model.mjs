// full_model.mjs: the FULL-size model on a real GPU through the WebAssembly engine + WebGPU (Dawn in
// Node), against ../shared/fixtures/full, in f32 and f16 storage:
//   (1) one UNet call at t = 900 (unet_in.npy, unet_ids.npy; both CFG rows) vs unet_out.npy;
//   (2) an inpaint of image.png / mask.png from noise.npy, driven stage by stage through the mw_job_*
//       API as web/js/moebius.js drives it, with the latents read back after each of the 19 DDIM steps
//       vs latents_steps.npy, the decoded image vs decoded.npy and the final picture vs result.png.
// The weights are the fixtures' synthetic rule (seeds 1 and 2), made in wasm memory (mw_model_synth):
// the 1.2 GB weight files need not travel to the GPU machine.
//
//   node tests/gpu/full_model.mjs [--config full|tiny] [--dtype f32,f16] [--steps N] [--json FILE]
//
// --steps N runs only the first N DDIM steps (the decoded image and result.png are then not compared).
// --config FILE.json (a model_config.json, e.g. a very small model): a smoke run of this script on
// SwiftShader — same stages on generated inputs, nothing compared (there are no references for it). Needs build/wasm/moebius.{js,wasm}
// ($MOEBIUS_WASM), the fixtures ($MOEBIUS_FIXTURES, else ../shared/fixtures next to the repository),
// and Dawn options in MOEBIUS_DAWN_ARGS / MOEBIUS_DAWN_FEATURES (NVIDIA: MOEBIUS_DAWN_FEATURES=
// allow_unsafe_apis,vulkan_enable_f16_on_nvidia gives shader-f16). Without a GPU adapter: exit 2 with a
// message. f16 without shader-f16: skipped with a message (not a failure). Exit 1 when any error is
// beyond its tolerance; the last line says how many checks passed and failed.
//
// Tolerances.
//   f32: the GPU computes in float32 like upstream's float32 run, but sums in other orders (tiled GEMMs,
//   tree reductions, split passes) and its exp/tanh are not correctly rounded (Vulkan allows a few
//   ulp), so 8x the fixtures' float32-vs-float64 spread (meta.json, README table; full: UNet 9.1e-6,
//   last latents 7.3e-5, decoded 1.0e-5) — the top of the "small multiple" the native tests use (4x),
//   for the GPU's extra rounding differences. Every step's latents are held to the last step's figure
//   (errors grow over the steps). result.png: 1 level, as upstream's own float32 run.
//   f16 (weights and activations stored as float16, accumulation and norms in float32): each stored
//   value carries a relative rounding of up to u = 2^-11; a value is the end of a chain of such
//   roundings, which add up (worst case linearly). The bound is N * u * max|ref| with N the allowed
//   number of roundings in a row: N = 32 for one UNet call (about the f16 stores along its main path:
//   conv_in, 3 down blocks, the middle, 3 up blocks, conv_out, a few per block), N = 128 for the
//   latents after 19 steps and the decoded image (errors carried from step to step, with the CFG
//   combine amplifying branch differences 2.5x). result.png: the decoded bound in 8-bit levels
//   (x 255/2) + 1. These are bounds against gross errors (NaN, overflow, a wrong kernel), not a model of
//   the rounding; the observed figures are what to read.

import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';

import {PNG} from 'pngjs';

import {createGpu, cstring, hookOps, maxAbsDiff, root, synthEngine} from '../../bench/webgpu_harness.mjs';
import {parseNpy} from '../../web/js/npy.js';

const {values: opt} = parseArgs({options: {
    config: {type: 'string', default: 'full'},
    dtype: {type: 'string', default: 'f32,f16'},
    steps: {type: 'string'},
    json: {type: 'string'},
}});
const smoke = opt.config.endsWith('.json');
const config = smoke ? readFileSync(opt.config, 'utf8') : opt.config;
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const dir = path.join(fixtures, smoke ? 'full' : config);  // smoke: image.png, mask.png, meta.json only
const U = 2 ** -11;  // float16 unit roundoff

function fixture(name) {
    const p = path.join(dir, name);
    if (!existsSync(p)) {
        console.error(`fixture ${p} is missing (set MOEBIUS_FIXTURES)`);
        process.exit(2);
    }
    return p;
}
const npy = (name) => parseNpy(readFileSync(fixture(name)));
const png = (name) => {
    const p = PNG.sync.read(readFileSync(fixture(name)));
    return {width: p.width, height: p.height, data: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.length), channels: 4};
};
const meta = JSON.parse(readFileSync(fixture('meta.json'), 'utf8'));
const spread = meta.float32_vs_float64_max_abs_diff;  // upstream float32 vs float64 (README table)

/** Tolerances of one dtype, from the header's reasoning. */
function tolerances(dtype) {
    if (dtype === 'f32') {
        return {unet: 8 * spread.unet_out, latents: 8 * spread.latents_last_step, decoded: 8 * spread.decoded,
                levels: spread.result_png_max_abs_uint8, rule: '8x float32-vs-float64 spread'};
    }
    const decoded = 128 * U * meta.max_abs.decoded;
    return {unet: 32 * U * meta.max_abs.unet_out, latents: 128 * U * meta.max_abs.latents_steps, decoded,
            levels: Math.ceil(decoded * 255 / 2) + 1, rule: 'N*2^-11*max|ref|, N = 32 (UNet), 128 (19 steps, decode)'};
}

let passed = 0, failed = 0;
const results = [];
function check(dtype, name, got, tol, detail = '') {
    if (smoke) {
        console.log(`     ${dtype} ${name}: not compared (smoke run)${Number.isFinite(got) ? '' : ' NON-FINITE'} ${detail}`);
        return;
    }
    const ok = got <= tol;  // NaN fails
    if (ok) passed++; else failed++;
    results.push({dtype, name, got, tol, ok, detail});
    const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toExponential(2));
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${dtype} ${name.padEnd(34)} ${fmt(got).padStart(9)}  tol ${fmt(tol).padEnd(9)} ${detail}`);
}

const secs = (t) => `${((performance.now() - t) / 1000).toFixed(1)} s`;

/** (1) One UNet call at t = 900 through mw_debug_unet (its own copy of the UNet's synthetic weights). */
async function unetCall(engine, tol, dtype) {
    const M = engine.mod, g = engine.gpu;
    let inp, ids, ref;
    if (smoke) {  // generated input of the smoke model's size; the reference is the input (nothing compared)
        const c = JSON.parse(config).unet, S = c.sample_size;
        inp = {shape: [2, c.in_channels, S, S], data: Float32Array.from({length: 2 * c.in_channels * S * S}, (_, i) => Math.sin(i))};
        ids = {shape: [2, 10], data: Int32Array.from({length: 20}, (_, i) => (i + 10) % 20)};
        ref = {data: new Float32Array(2 * c.out_channels * S * S)};
    } else {
        inp = npy('unet_in.npy'); ids = npy('unet_ids.npy'); ref = npy('unet_out.npy');
    }
    const B = inp.shape[0], nIds = ids.shape[1];
    const ps = M._malloc(4 * inp.data.length), pi = M._malloc(4 * ids.data.length);
    const pc = cstring(M, config);
    M.HEAPF32.set(inp.data, ps >> 2);
    M.HEAP32.set(Int32Array.from(ids.data, Number), pi >> 2);
    const t = performance.now();
    const out = M._mw_debug_unet(engine.backend, 0, 0, pc, ps, B, meta.timestep_unet, pi, nIds);
    for (const p of [ps, pi, pc]) M._free(p);
    if (!out) throw new Error(`mw_debug_unet: ${M.UTF8ToString(M._mw_debug_error())}`);
    const got = await g.readF32(M._mw_tensor_gpu_buffer(out));
    M._mw_tensor_free(out);
    const d = maxAbsDiff(got, ref.data);
    check(dtype, `unet t=${meta.timestep_unet} (${B} rows)`, d.err, tol.unet,
          `max|ref| ${d.ref.toFixed(3)}${d.nan ? `, ${d.nan} NaN` : ''}; ${secs(t)} incl. weights`);
    return d;
}

/** (2) Inpaint stage by stage, reading the latents after every step. */
async function inpaint(engine, gpuCtx, tol, dtype, stepLimit) {
    const api = engine.api, M = engine.mod, g = engine.gpu;
    let latentsId = 0;
    hookOps(gpuCtx, (name, a) => { if (name === 'axpby') latentsId = a.y; });  // the DDIM update is a step's last op
    const image = png('image.png'), mask = png('mask.png');
    const noise = smoke ? null : npy('noise.npy').data;  // smoke: noise from the default seed
    const n0 = engine.info.noiseCount;
    const steps = smoke ? {shape: [19], data: new Float32Array(19 * n0)} : npy('latents_steps.npy');
    const per = steps.data.length / steps.shape[0];
    const ptrs = [];
    let job = 0, opts = 0;
    const out = {steps: []};
    try {
        opts = api.handle('mw_options_new');
        const pmode = cstring(M, 'mode');
        try { api.status('mw_options_set', opts, pmode, 1); } finally { M._free(pmode); }  // whole (upstream's path)
        if (noise) {
            const pn = api.malloc(4 * noise.length);
            ptrs.push(pn);
            M.HEAPF32.set(noise, pn >> 2);
            api.status('mw_options_set_noise', opts, pn, noise.length);
        }
        const pimg = api.bytes(image.data), pmask = api.bytes(mask.data);
        ptrs.push(pimg, pmask);
        job = api.handle('mw_job_new', engine.model, pimg, image.width, image.height, 4, pmask, 4, opts);
        if (api.count('mw_job_crops', job) !== 1) throw new Error('expected one crop window (whole mode)');
        let t = performance.now();
        const n = api.count('mw_job_begin_crop', job, 0);
        await g.sync();
        console.log(`     ${dtype} encode: ${secs(t)}`);
        if (n !== steps.shape[0]) throw new Error(`${n} steps, fixtures have ${steps.shape[0]}`);
        const run = Math.min(n, stepLimit ?? n);
        t = performance.now();
        let last = null;
        for (let i = 0; i < run; i++) {
            latentsId = 0;
            api.status('mw_job_step', job, i);
            if (!latentsId || g.buf(latentsId).count !== per) throw new Error(`step ${i}: no latents tensor of ${per} values seen`);
            const got = await g.readF32(latentsId);
            last = maxAbsDiff(got, steps.data.subarray(i * per, (i + 1) * per));
            out.steps.push(last.err);
        }
        console.log(`     ${dtype} ${run} steps: ${secs(t)}; max|err| per step: ${out.steps.map((e) => e.toExponential(1)).join(' ')}`);
        check(dtype, `latents after step ${run} of ${n}`, last.err, tol.latents,
              `max|ref| ${last.ref.toFixed(2)}${last.nan ? `, ${last.nan} NaN` : ''}; worst step ${Math.max(...out.steps).toExponential(2)}`);
        check(dtype, 'latents, worst of all steps', Math.max(...out.steps), tol.latents);
        t = performance.now();
        const dec = api.handle('mw_job_decode', job);
        const decoded = await g.readF32(M._mw_tensor_gpu_buffer(dec), M._mw_tensor_numel(dec));
        M._mw_tensor_free(dec);
        console.log(`     ${dtype} decode: ${secs(t)}`);
        if (run < n) {
            console.log(`     ${dtype} decoded / result.png not compared: only ${run} of ${n} steps ran (--steps)`);
            return out;
        }
        const d = maxAbsDiff(decoded, smoke ? new Float32Array(decoded.length) : npy('decoded.npy').data);
        check(dtype, 'decoded (before (x+1)/2)', d.err, tol.decoded, `max|ref| ${d.ref.toFixed(3)}${d.nan ? `, ${d.nan} NaN` : ''}`);
        const pd = api.malloc(4 * decoded.length);
        try {
            M.HEAPF32.set(decoded, pd >> 2);
            api.status('mw_job_finish_crop', job, pd, decoded.length);
        } finally {
            M._free(pd);
        }
        const img = api.handle('mw_job_result', job);
        const w = M._mw_image_width(img), h = M._mw_image_height(img), c = M._mw_image_channels(img);
        const px = M.HEAPU8.slice(M._mw_image_data(img), M._mw_image_data(img) + w * h * c);
        M._mw_image_free(img);
        const ref = smoke ? {data: new Uint8Array(4 * w * h)} : png('result.png');
        let maxDiff = 0, differ = 0;
        for (let i = 0; i < w * h; i++) {
            for (let k = 0; k < 3; k++) {
                const dv = Math.abs(px[c * i + k] - ref.data[4 * i + k]);
                if (dv) differ++;
                maxDiff = Math.max(maxDiff, dv);
            }
        }
        check(dtype, 'result.png (8-bit levels)', maxDiff, tol.levels, `${differ} of ${w * h * 3} values differ`);
        Object.assign(out, {decoded: d.err, resultLevels: maxDiff, resultDiffer: differ});
        return out;
    } finally {
        if (job) M._mw_job_free(job);
        if (opts) M._mw_options_free(opts);
        for (const p of ptrs) M._free(p);
        hookOps(gpuCtx);
    }
}

const gpu = createGpu();
const stepLimit = opt.steps ? Number(opt.steps) : undefined;
const summary = {config, date: new Date().toISOString(), adapter: null, dtypes: {}};
for (const dtype of opt.dtype.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`--dtype: f32 or f16, got ${dtype}`);
    const t0 = performance.now();
    let eng;
    try {
        eng = await synthEngine({gpu, f16: dtype === 'f16', config});
    } catch (e) {
        if (e.code === 'no-adapter') {
            console.error(`no WebGPU adapter: ${e.message}`);
            process.exit(2);
        }
        throw e;
    }
    const {engine, gpuCtx} = eng;
    const a = engine.info.adapter;
    summary.adapter = `${a.description || a.device || a.vendor} (${a.architecture})`;
    if (dtype === 'f16' && engine.info.dtype !== 'f16') {
        console.log('skip f16: the adapter has no shader-f16 (NVIDIA through Dawn: MOEBIUS_DAWN_FEATURES=' +
                    'allow_unsafe_apis,vulkan_enable_f16_on_nvidia)');
        await engine.dispose();
        continue;
    }
    console.log(`${dtype}: ${summary.adapter}; ${engine.info.model}; engine ready in ${secs(t0)}`);
    const tol = tolerances(dtype);
    console.log(`     tolerances (${tol.rule}): unet ${tol.unet.toExponential(2)}, latents ${tol.latents.toExponential(2)}, ` +
                `decoded ${tol.decoded.toExponential(2)}, result.png ${tol.levels} level(s)`);
    const r = {tolerances: tol};
    try {
        r.unet = (await unetCall(engine, tol, dtype)).err;
        Object.assign(r, await inpaint(engine, gpuCtx, tol, dtype, stepLimit));
    } catch (e) {
        failed++;
        console.log(`FAIL ${dtype} ${e.code ?? ''} ${e.message}`);
        r.error = e.message;
    }
    summary.dtypes[dtype] = r;
    await engine.dispose();
}
summary.checks = results;
if (opt.json) writeFileSync(opt.json, JSON.stringify(summary, null, 1));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
