// test_webgpu_backend.mjs: the WebAssembly engine on its WebGPU backend, in Node through npm
// `webgpu` (Dawn), driven through the public API (web/js/moebius.js) — the path a browser takes.
//
//   npm run test:gpu              (or: node tests/gpu/test_webgpu_backend.mjs [filter])
//
//  (a) the tiny model's UNet call at t = 900 (tiny/unet_in.npy, unet_ids.npy) through WASM + WebGPU
//      against tiny/unet_out.npy;
//  (b) a whole tiny inpaint (image.png, mask.png, noise.npy, 19 steps) through engine.inpaint against
//      tiny/result.png — on SwiftShader this takes hours (one UNet call is minutes there), so it runs
//      only on a real GPU or with MOEBIUS_GPU_SLOW=1;
//  (b') MOEBIUS_GPU_FULL=1 (real GPUs): the full-size model with the fixtures' synthetic weights (made
//      in wasm memory): UNet call vs full/unet_out.npy, whole inpaint vs full/result.png;
//  (c) error paths: no adapter, a model file of the wrong kind, a mask of the wrong size, bad
//      options, an AbortSignal aborted mid-run (and the GPU buffers it held are released);
//  (e) the Node CLI (bin/moebius-gpu.mjs): exit codes of bad usage, files and images, no partial
//      output; on a real GPU a whole inpaint against result.png;
//  (d) the browser: tests/gpu/test_browser.mjs (headless Chromium), run after this file by npm run test:gpu;
//  (f) per-step previews ({preview: true}): one preview per step, read back from the GPU while the
//      next step runs, against the same run on the CPU backend — with a 64 px synthetic model, as a
//      whole run at 512 px takes hours on SwiftShader (this one ~1.5 min); on a real GPU (b) also
//      checks the previews of the tiny run against latents_steps.npy.
//
// Needs build/wasm/moebius.{js,wasm} (scripts/build-wasm.sh; or $MOEBIUS_WASM = the glue .js) and the
// fixtures ($MOEBIUS_FIXTURES, else ../shared/fixtures next to the repository). Without a GPU set
// VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json and XDG_RUNTIME_DIR=/tmp (npm run test:gpu
// does). MOEBIUS_DAWN_ARGS: space-separated Dawn options (default backend=vulkan). MOEBIUS_WEBGPU_F16=1
// also runs (a) and (b') with f16 storage where the adapter has shader-f16.
//
// Tolerances. The reference is float64; the fixtures README gives how far upstream's own float32 run
// lands: UNet output 5.5e-6, result.png 1 level. The WebGPU kernels compute in float32 like the CPU
// backend but sum in other orders (tiled GEMMs, tree reductions), so a small multiple of that spread:
//   UNet f32: 4 x that spread (tiny 2.2e-5, full 3.6e-5), as the native parity tests.
//   UNet f16: storage rounding (2^-11 relative per stored activation, ~20 in a row through the net)
//             on outputs of magnitude ~1: 2e-2.
//   result.png: 1 level (upstream's own float32 run is 1 level off its float64 one).
// Exit code 1 on any failure; the last line is "N passed, N failed".

import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

import {PNG} from 'pngjs';
import {create, globals} from 'webgpu';

import {createEngine, latentToRgba, MoebiusError} from '../../web/js/moebius.js';
import {parseNpy} from '../../web/js/npy.js';

Object.assign(globalThis, globals);

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const glue = path.resolve(process.env.MOEBIUS_WASM ?? path.join(root, 'build/wasm/moebius.js'));
const filter = process.argv[2] ?? '';

// 4 x the float32-vs-float64 spread of the UNet output (README: tiny 5.5e-6, full 9.1e-6), as the
// native parity tests (tests/unet_parity.h).
const TOL_UNET_F32 = {tiny: 4 * 5.5e-6, full: 4 * 9.1e-6};
const TOL_UNET_F16 = 2e-2;   // f16 storage roundings, see the header
const TOL_RESULT_LEVELS = 1; // result.png: upstream's float32 run is 1 level off its float64 one
// f16 storage: the decoded image (values in [-1, 1], 127.5 levels per unit) comes out of ~10 stored
// f16 roundings of 2^-11 relative in the VAE decoder: ~0.6 level, on top of the float32 spread's 1.
const TOL_RESULT_LEVELS_F16 = 2;

let passed = 0, failed = 0;
function report(name, ok, detail = '') {
    if (ok) passed++; else failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name.padEnd(52)} ${detail}`);
}
const want = (name) => name.includes(filter);

function fixture(rel) {
    const p = path.join(fixtures, rel);
    if (!existsSync(p)) throw new Error(`fixture ${p} is missing (set MOEBIUS_FIXTURES)`);
    return p;
}
const npy = (rel) => parseNpy(readFileSync(fixture(rel)));
function png(rel) {
    const p = PNG.sync.read(readFileSync(fixture(rel)));
    return {width: p.width, height: p.height, data: new Uint8ClampedArray(p.data.buffer, p.data.byteOffset, p.data.length)};
}

if (!existsSync(glue)) {
    console.error(`${glue} not found: build it with scripts/build-wasm.sh (or set MOEBIUS_WASM)`);
    process.exit(2);
}
const wasmBinary = readFileSync(glue.replace(/\.js$/, '.wasm'));
const dawnArgs = (process.env.MOEBIUS_DAWN_ARGS ?? 'backend=vulkan').split(/[\s;]+/).filter(Boolean);
const gpu = create(dawnArgs);

const tinyModel = () => ({
    unet: fixture('tiny/removal_model.bin'),
    vae: {config: fixture('tiny/vae/config.json'), weights: fixture('tiny/vae/diffusion_pytorch_model.safetensors')},
    config: fixture('tiny/model_config.json'),
});
const engineOpts = (extra = {}) => ({gpu, glueUrl: pathToFileURL(glue), wasmBinary, preferF16: false, ...extra});

/** Runs fn and checks that it rejects with MoebiusError `code`; returns the error. */
async function expectError(name, code, fn) {
    try {
        await fn();
        report(name, false, `resolved, expected code '${code}'`);
    } catch (e) {
        const ok = e instanceof MoebiusError && e.code === code;
        report(name, ok, ok ? `${e.code}: ${e.message.slice(0, 90)}` : `got ${e?.name} ${e?.code}: ${e?.message}`);
        return e;
    }
    return null;
}

const t0 = performance.now();
const engine = await createEngine(engineOpts({model: tinyModel()}));
const swiftshader = /swiftshader/i.test(`${engine.info.adapter.architecture} ${engine.info.adapter.description}`);
const slow = !swiftshader || process.env.MOEBIUS_GPU_SLOW === '1';
console.log(`adapter: ${engine.info.adapter.description || engine.info.adapter.vendor} (${engine.info.adapter.architecture}); ` +
            `${engine.info.model}; loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// ------------------------------------------------------------------ (a) UNet at t = 900

/**
 * One UNet call through mw_debug_unet on `eng`'s backend, with the weights of fixture `model`: tiny
 * from its removal_model.bin, full from the synthetic-weight rule (made in wasm memory). rows: which
 * batch rows of the fixture (on SwiftShader only the conditional row 1: one row costs minutes there).
 */
async function unetCall(eng, model, rows) {
    const M = eng.mod, g = eng.gpu;
    const inp = npy(`${model}/unet_in.npy`), ids = npy(`${model}/unet_ids.npy`), ref = npy(`${model}/unet_out.npy`);
    const [B, C, S] = [inp.shape[0], inp.shape[1], inp.shape[2]];
    const nIds = ids.shape[1], per = C * S * S, perOut = ref.data.length / B;
    const sample = new Float32Array(rows.length * per), idRows = new Int32Array(rows.length * nIds);
    rows.forEach((r, i) => {
        sample.set(inp.data.subarray(r * per, (r + 1) * per), i * per);
        idRows.set(ids.data.subarray(r * nIds, (r + 1) * nIds), i * nIds);
    });
    const unetBytes = model === 'tiny' ? readFileSync(fixture('tiny/removal_model.bin')) : null;
    const cfg = model === 'tiny' ? readFileSync(fixture('tiny/model_config.json'), 'utf8') : model;
    const pu = unetBytes ? M._malloc(unetBytes.length) : 0;
    const ps = M._malloc(4 * sample.length), pi = M._malloc(4 * idRows.length), pc = M._malloc(cfg.length * 3 + 1);
    if (unetBytes) M.HEAPU8.set(unetBytes, pu);
    M.HEAPF32.set(sample, ps >> 2);
    M.HEAP32.set(idRows, pi >> 2);
    M.stringToUTF8(cfg, pc, cfg.length * 3 + 1);
    const t = performance.now();
    const out = M._mw_debug_unet(eng.backend, pu, unetBytes?.length ?? 0, pc, ps, rows.length, 900, pi, nIds);
    for (const p of [pu, ps, pi, pc]) if (p) M._free(p);
    if (!out) throw new Error(`mw_debug_unet: ${M.UTF8ToString(M._mw_debug_error())}`);
    const got = await g.readF32(M._mw_tensor_gpu_buffer(out));
    const ms = performance.now() - t;
    M._mw_tensor_free(out);
    let maxErr = 0, maxRef = 0;
    rows.forEach((r, i) => {
        for (let j = 0; j < perOut; j++) {
            maxErr = Math.max(maxErr, Math.abs(got[i * perOut + j] - ref.data[r * perOut + j]));
            maxRef = Math.max(maxRef, Math.abs(ref.data[r * perOut + j]));
        }
    });
    return {maxErr, maxRef, ms, n: got.length};
}

/** Max |difference| over the RGB values of two RGBA images, and how many differ. */
function rgbDiff(a, b) {
    let max = 0, differ = 0;
    for (let i = 0; i < b.data.length; i++) {
        if (i % 4 === 3) continue;
        const d = Math.abs(a.data[i] - b.data[i]);
        if (d) differ++;
        max = Math.max(max, d);
    }
    return {max, differ};
}

/** Inpaints fixture `model`'s image.png / mask.png with its noise.npy and compares with result.png. */
async function inpaintVsResult(eng, model, label, tol = TOL_RESULT_LEVELS, opts = {}) {
    const image = png(`${model}/image.png`), mask = png(`${model}/mask.png`), ref = png(`${model}/result.png`);
    const events = [];
    const {image: out, timings} = await eng.inpaint(image, mask, {noise: npy(`${model}/noise.npy`).data, ...opts,
                                                                 onProgress: (e) => events.push(e)});
    const {max: maxDiff, differ} = rgbDiff(out, ref);
    report(`${label} vs ${model}/result.png`, maxDiff <= tol && out.width === ref.width,
           `max diff ${maxDiff} level(s) (tol ${tol}), ${differ} of ${ref.width * ref.height * 3} values differ; ` +
           `${(timings.total / 1000).toFixed(1)} s (${(timings.denoise / timings.steps).toFixed(0)} ms/step)`);
    return events;
}

async function unetCheck(eng, model, rows, dtype) {
    const r = await unetCall(eng, model, rows);
    const tol = dtype === 'f16' ? TOL_UNET_F16 : TOL_UNET_F32[model];
    report(`unet ${model} t=900 rows [${rows}] ${dtype} vs unet_out.npy`, r.maxErr <= tol,
           `max |err| ${r.maxErr.toExponential(2)} (tol ${tol.toExponential(2)}, max |ref| ${r.maxRef.toFixed(2)}; ` +
           `${(r.ms / 1000).toFixed(1)} s)`);
}

/** An f16 engine on `model`, or null (with a note) where the adapter has no shader-f16. */
async function f16Engine(model) {
    const e = await createEngine(engineOpts({model, preferF16: true}));
    if (e.info.dtype === 'f16') return e;
    console.log('skip f16: the adapter has no shader-f16 (NVIDIA: MOEBIUS_DAWN_ARGS="backend=vulkan ' +
                'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia")');
    await e.dispose();
    return null;
}

if (want('unet')) {
    const rows = slow ? [0, 1] : [1];
    await unetCheck(engine, 'tiny', rows, 'f32');
    if (process.env.MOEBIUS_WEBGPU_F16 === '1') {
        const e16 = await f16Engine(tinyModel());
        if (e16) await unetCheck(e16, 'tiny', rows, 'f16');
        await e16?.dispose();
    }
}

// ------------------------------------------------------------------ (b) whole tiny inpaint

if (want('inpaint')) {
    if (!slow) {
        console.log('skip inpaint vs result.png: 19 UNet calls take hours on SwiftShader (MOEBIUS_GPU_SLOW=1 runs it)');
    } else {
        const events = await inpaintVsResult(engine, 'tiny', 'inpaint tiny (noise.npy, 19 steps, previews)', TOL_RESULT_LEVELS,
                                             {preview: true});
        const steps = events.filter((e) => e.stage === 'step');
        report('progress events: encode, 19 steps, decode', events[0]?.stage === 'encode' && steps.length === 19 &&
               steps.every((e, i) => e.step === i + 1 && e.steps === 19 && e.crop === 1 && e.crops === 1) &&
               events.at(-1)?.stage === 'decode', events.map((e) => e.stage[0]).join(''));
        // The last step's prediction is the final latents (a_prev = 1): the fixture's, through the map.
        const last = npy('tiny/latents_steps.npy').data.subarray(18 * 4 * 64 * 64);
        const d = steps.length === 19 && steps[18].preview ? rgbDiff(steps[18].preview, latentToRgba(last, 4, 64, 64)) : null;
        report('previews: 64x64 with every step; the last = latents_steps[18] in RGB (1 level)',
               steps.every((e) => e.preview?.width === 64 && e.preview.window.width === 512) && d !== null && d.max <= 1,
               d ? `max ${d.max} level(s), ${d.differ} values differ` : 'missing previews');
    }
}

// ------------------------------------------------------------------ (b') full size (real GPUs)

// The real Moebius configuration with the synthetic weights (made in wasm memory, ~310M parameters):
// MOEBIUS_GPU_FULL=1 (one full UNet call is ~630 GFLOP: out of reach on SwiftShader).
if (want('full') && process.env.MOEBIUS_GPU_FULL === '1') {
    const t = performance.now();
    const full = await createEngine(engineOpts({model: {synth: 'full'}}));
    console.log(`full model: ${full.info.model}, made and uploaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await unetCheck(full, 'full', [0, 1], 'f32');
    await inpaintVsResult(full, 'full', 'inpaint full f32 (noise.npy, 19 steps)');
    await full.dispose();
    if (process.env.MOEBIUS_WEBGPU_F16 === '1') {
        const f16 = await f16Engine({synth: 'full'});
        if (f16) {
            await unetCheck(f16, 'full', [0, 1], 'f16');
            await inpaintVsResult(f16, 'full', 'inpaint full f16 (noise.npy, 19 steps)', TOL_RESULT_LEVELS_F16);
            await f16.dispose();
        }
    }
}

// ------------------------------------------------------------------ (f) per-step previews

// The tiny configuration at 64 px (UNet sample_size 8; VAE of width 32, one layer per block) with
// synthetic weights: 2 steps, so that step 1's preview is read back while step 2 runs on the GPU.
// Reference: the same run on the WebAssembly CPU backend. Both compute in float32 (sums in other
// orders): latents agree to ~1e-5, far below one level of the preview (1 / 127.5 / sum|factors|).
// Before (c): after its lost and limited devices, the same run took 18x longer on SwiftShader (999 s
// instead of 55 s).
if (want('preview')) {
    const cfg = JSON.parse(readFileSync(fixture('tiny/model_config.json'), 'utf8'));
    cfg.unet.sample_size = 8;
    cfg.vae.block_out_channels = [32, 32, 32, 32];
    cfg.vae.layers_per_block = 1;
    const S = 64;
    const image = {width: S, height: S, data: new Uint8ClampedArray(S * S * 4)};
    for (let i = 0; i < S * S; i++) image.data.set([(i % S) * 4, (i / S) * 4, 128, 255], 4 * i);
    const mask = {width: S, height: S, channels: 1, data: new Uint8Array(S * S)};
    for (let y = 20; y < 44; y++) mask.data.fill(255, y * S + 16, y * S + 48);
    const run = async (eng) => {
        const events = [];
        const t = performance.now();
        const r = await eng.inpaint(image, mask, {steps: 2, strength: 1, seed: 3, preview: true, onProgress: (e) => events.push(e)});
        return {r, steps: events.filter((e) => e.stage === 'step'), ms: performance.now() - t};
    };
    const gpuEng = await createEngine(engineOpts({model: {synth: cfg}}));
    const g = await run(gpuEng);
    await gpuEng.dispose();
    const cpuEng = await createEngine({backend: 'cpu', model: {synth: cfg}, glueUrl: pathToFileURL(glue), wasmBinary});
    const c = await run(cpuEng);
    await cpuEng.dispose();
    report('preview (WebGPU): one 8x8 preview per step, in order, over the image',
           g.steps.length === 2 && g.steps.every((e, i) => e.step === i + 1 && e.preview?.width === 8 && e.preview.height === 8 &&
                                                        e.preview.data.length === 8 * 8 * 4 &&
                                                        JSON.stringify(e.preview.window) === JSON.stringify({x: 0, y: 0, width: S, height: S})),
           `${g.steps.map((e) => `${e.step}:${e.preview?.width}`).join(' ')}; ${(g.ms / 1000).toFixed(0)} s`);
    const dp = c.steps.length === 2 && g.steps.length === 2 ? g.steps.map((e, i) => rgbDiff(e.preview, c.steps[i].preview).max) : [];
    report('preview (WebGPU) = preview (CPU backend), each step (1 level)', dp.length === 2 && dp.every((d) => d <= 1), `max ${dp}`);
    const dr = rgbDiff(g.r.image, c.r.image);
    report('64 px run (WebGPU) = CPU backend (1 level)', dr.max <= TOL_RESULT_LEVELS, `max ${dr.max}, ${dr.differ} values differ`);
}

// ------------------------------------------------------------------ (c) error paths

if (want('error')) {
    await expectError('no adapter (requestAdapter -> null)', 'no-adapter',
                      () => createEngine(engineOpts({gpu: {requestAdapter: async () => null}, model: new Uint8Array(8)})));
    const navigatorGpu = globalThis.navigator?.gpu;
    if (!navigatorGpu) {
        await expectError('no adapter (no gpu, no navigator.gpu)', 'no-adapter',
                          () => createEngine(engineOpts({gpu: undefined, model: new Uint8Array(8)})));
    }
    await expectError('model: a PNG given as the model file', 'bad-model',
                      () => createEngine(engineOpts({model: fixture('tiny/image.png')})));
    await expectError('model: upstream UNet with the full config', 'bad-model',
                      () => createEngine(engineOpts({model: {...tinyModel(), config: undefined}})));
    await expectError('model: missing file', 'io', () => createEngine(engineOpts({model: '/nonexistent/model.safetensors'})));

    const image = png('tiny/image.png');
    const small = {width: 8, height: 8, data: new Uint8ClampedArray(8 * 8 * 4)};
    await expectError('mask of another size', 'bad-image', () => engine.inpaint(image, small));
    await expectError('image data of the wrong length', 'bad-image',
                      () => engine.inpaint({width: 512, height: 512, data: new Uint8ClampedArray(10)}, null));
    await expectError('no mask and no alpha', 'bad-image',
                      () => engine.inpaint({width: 8, height: 8, data: new Uint8ClampedArray(8 * 8 * 3), channels: 3}, null));
    await expectError('steps = 0', 'bad-option', () => engine.inpaint(image, png('tiny/mask.png'), {steps: 0}));
    await expectError('mode = "sideways"', 'bad-option', () => engine.inpaint(image, png('tiny/mask.png'), {mode: 'sideways'}));
    await expectError('noise of the wrong length', 'bad-option',
                      () => engine.inpaint(image, png('tiny/mask.png'), {noise: new Float32Array(7)}));

    // Empty mask: the input comes back without running the model.
    const empty = {width: 512, height: 512, data: new Uint8ClampedArray(512 * 512)};
    const r = await engine.inpaint(image, empty);
    report('empty mask returns the input', r.image.data.every((v, i) => v === image.data[i]) && r.timings.crops === 0);

    // Cancelled mid-run: aborted when the encode stage reports, i.e. with GPU work in flight.
    // Buffers other than the bridge's reusable scratch (created on first use, kept on purpose), with
    // the backend's recycled buffers released (trim).
    const live = async () => {
        await engine.trim();
        return engine.gpu.buffers.size - engine.gpu.scratchIds.size;
    };
    const buffersBefore = await live();
    const ac = new AbortController();
    const stages = [];
    const err = await expectError('AbortSignal aborted mid-run', 'cancelled', () => engine.inpaint(image, png('tiny/mask.png'), {
        signal: ac.signal, onProgress: (e) => { stages.push(e.stage); if (e.stage === 'encode') ac.abort(); },
    }));
    const buffersAfter = await live();
    report('cancel: AbortError name, stopped after encode, buffers released',
           err?.name === 'AbortError' && stages.join() === 'encode' && buffersAfter === buffersBefore,
           `stages [${stages}], buffers ${buffersBefore} -> ${buffersAfter}`);
    // A binding beyond a (lowered) device limit: caught before WebGPU, reported as out of memory.
    const limited = await createEngine(engineOpts({model: tinyModel(), bridgeOptions: {maxStorageBindingBytes: 1 << 16}}));
    await expectError('binding beyond a device limit', 'out-of-memory', () => limited.inpaint(image, png('tiny/mask.png')));
    await limited.dispose();
    // A lost device (destroyed under the engine): every later call says so.
    const lost = await createEngine(engineOpts({model: tinyModel()}));
    lost.gpu.device.destroy();
    await lost.gpu.lost;
    await expectError('device lost before an inpaint', 'device-lost', () => lost.inpaint(image, png('tiny/mask.png')));
    await lost.dispose();

    await expectError('already aborted signal', 'cancelled',
                      () => engine.inpaint(image, png('tiny/mask.png'), {signal: AbortSignal.abort()}));
}

await engine.dispose();

// ------------------------------------------------------------------ (e) the Node CLI

if (want('cli')) {
    const {spawnSync} = await import('node:child_process');
    const {mkdtempSync, rmSync, readdirSync} = await import('node:fs');
    const {tmpdir} = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'moebius-gpu-cli-'));
    const cli = (...args) => spawnSync(process.execPath, [path.join(root, 'bin/moebius-gpu.mjs'), ...args],
                                       {encoding: 'utf8', env: {...process.env, MOEBIUS_WASM: glue}});
    const tiny = ['-m', fixture('tiny/removal_model.bin'), '--vae', path.dirname(fixture('tiny/vae/config.json')),
                  '--config', fixture('tiny/model_config.json')];
    const io = ['-i', fixture('tiny/image.png'), '--mask', fixture('tiny/mask.png')];
    const out = path.join(dir, 'out.png');
    const small = path.join(tmpdir(), `moebius-gpu-mask-${process.pid}.png`);  // 8x8, outside `dir`
    const {writeFileSync} = await import('node:fs');
    writeFileSync(small, PNG.sync.write(Object.assign(new PNG({width: 8, height: 8}), {data: Buffer.alloc(256, 255)})));
    const cases = [
        ['no arguments', [], 2],
        ['unknown flag', ['inpaint', '--bogus'], 2],
        ['--steps 0', ['inpaint', ...tiny, ...io, '-o', out, '--steps', '0'], 2],
        ['--mode sideways', ['inpaint', ...tiny, ...io, '-o', out, '--mode', 'sideways'], 2],
        ['synth is native-only', ['synth', '-o', out], 2],
        ['missing model file', ['inpaint', '-m', path.join(dir, 'none.safetensors'), ...io, '-o', out], 3],
        ['a PNG as the model', ['inpaint', '-m', fixture('tiny/image.png'), ...io, '-o', out], 4],
        ['mask of another size', ['inpaint', ...tiny, '-i', fixture('tiny/image.png'), '--mask', small, '-o', out], 5],
        ['mask not an image', ['inpaint', ...tiny, '-i', fixture('tiny/image.png'), '--mask',
                               fixture('tiny/vae/config.json'), '-o', out], 5],
        ['output format .bmp', ['inpaint', ...tiny, ...io, '-o', path.join(dir, 'out.bmp')], 2],
    ];
    for (const [name, args, code] of cases) {
        const r = cli(...args);
        const msg = (r.stderr.trim().split('\n').at(-1) ?? '').slice(0, 80);
        report(`cli: ${name} -> exit ${code}`, r.status === code, `exit ${r.status}: ${msg}`);
    }
    report('cli: failures leave no output file', readdirSync(dir).length === 0, readdirSync(dir).join(', '));
    // Dawn options: the CLI's defaults (shader-f16 on NVIDIA, subgroup matrices, no robustness pass), or
    // MOEBIUS_DAWN_ARGS in their place; `info` says which.
    const info = (dawn) => {
        const env = {...process.env, MOEBIUS_WASM: glue};
        delete env.MOEBIUS_DAWN_ARGS;
        if (dawn !== undefined) env.MOEBIUS_DAWN_ARGS = dawn;
        const r = spawnSync(process.execPath, [path.join(root, 'bin/moebius-gpu.mjs'), 'info'], {encoding: 'utf8', env});
        return {status: r.status, line: r.stdout.split('\n').find((l) => l.startsWith('dawn: ')) ?? r.stderr.trim()};
    };
    const d = info(), e = info('backend=vulkan');
    report('cli: info, default Dawn options', d.status === 0 &&
           /^dawn: .*enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,disable_robustness \(defaults\)$/.test(d.line), d.line);
    report('cli: info, MOEBIUS_DAWN_ARGS replaces them', e.status === 0 && e.line === 'dawn: backend=vulkan (MOEBIUS_DAWN_ARGS)', e.line);
    if (slow) {
        const r = cli('inpaint', ...tiny, ...io, '--noise', fixture('tiny/noise.npy'), '--f32', '-q', '-o', out);
        let detail = `exit ${r.status} ${r.stderr.trim().slice(0, 120)}`;
        let ok = r.status === 0 && existsSync(out);
        if (ok) {
            const a = PNG.sync.read(readFileSync(out)), b = PNG.sync.read(readFileSync(fixture('tiny/result.png')));
            let maxDiff = 0;
            for (let i = 0; i < b.data.length; i++) if (i % 4 !== 3) maxDiff = Math.max(maxDiff, Math.abs(a.data[i] - b.data[i]));
            ok = maxDiff <= TOL_RESULT_LEVELS && a.width === 512 && a.height === 512;
            detail = `max diff ${maxDiff} level(s)`;
        }
        report('cli: inpaint tiny --noise --f32 vs result.png', ok, detail);
    }
    rmSync(dir, {recursive: true, force: true});
    rmSync(small, {force: true});
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
