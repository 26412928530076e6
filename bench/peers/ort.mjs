// ort.mjs: the ONNX Runtime peers of the peer benchmark (bench/peers/README.md) — upstream's three
// graphs exported to ONNX (bench/peers/export_onnx.py: unet.onnx, vae_encoder.onnx, vae_decoder.onnx)
// run on the fixtures' 512×512 inpaint, driven here the way upstream's pipeline drives its modules:
//
//   node bench/peers/ort.mjs --ep cpu|webgpu [--onnx DIR] [--model tiny|full] [--fixtures DIR]
//                            [--threads N] [--repeat N] [--no-warmup] [--json FILE]
//
//   --ep cpu      onnxruntime-node, CPU execution provider; intraOpNumThreads = --threads (default: all
//                 cores, as our CPU engine), inter-op 1, sequential, graph optimisation 'all' -> peer ort_cpu
//   --ep webgpu   onnxruntime-web's WebGPU execution provider in Node, on Dawn (npm `webgpu`): navigator.gpu is
//                 Dawn's GPU object, so ORT picks the adapter and makes its device as it does in a browser
//                 (the way the existing browser port, simonw/moebius-web, runs it) -> peer ort_web_webgpu.
//                 Dawn options: MOEBIUS_DAWN_ARGS / MOEBIUS_DAWN_FEATURES (bench/webgpu_harness.mjs).
//                 --threads sets ort.env.wasm.numThreads for ops left on the CPU (default 1).
//   --onnx DIR    folder of the three .onnx files (default /tmp/peers/onnx-<model>)
//   --model       which fixture folder (tiny | full, default full); the ONNX weights must be that
//                 model's synthetic weights (export_onnx.py makes them from the fixture rule)
//
// The pipeline (upstream RemovalSDXLPipeline at 512², strength 0.99, as the fixtures and our engine):
// image.png -> [-1, 1] NCHW; mask = gray / 255 >= 0.5; masked = image * (1 - mask); one batch-2 VAE
// encode of [image; masked] -> moments, mean = channels 0-3, × 0.13025; mask_latent = nearest resize to
// 64²; latents = add_noise(mean_image, noise.npy, t = 900); 19 DDIM steps (meta.json's timesteps; 20
// before strength), each one UNet call on the batch [uncond; cond] (input_ids 10..19 / 0..9, the 9-channel
// input cat(latents, mask_latent, mean_masked) twice), CFG u + 2.5 (c - u), eta-0 DDIM update; decode of
// latents / 0.13025. Scalar maths in float32 as diffusers (common.mjs).
//
// Timings (ms): one untimed warm-up (one call of each graph: sessions allocate, WebGPU compiles its
// pipelines), then --repeat timed inpaints (default 3), medians: encode = preprocessing + the encode call +
// add_noise; UNet step = one denoising step (input assembly, the UNet call, CFG, DDIM update; the median
// over all steps of all runs); decode = the decode call; inpaint = image to decoded tensor (PNG
// post-processing excluded: not part of every peer). Inputs and outputs are CPU tensors on every call (on
// WebGPU: an upload and a readback per call), as the browser port does.
// Memory: CPU: the process's peak RSS (process.resourceUsage().maxRSS; includes Node and the ONNX files'
// bytes as ORT holds them). WebGPU: the peak bytes of the GPUBuffers alive on ORT's device (device.createBuffer
// hooked; destroy() counted), and nvidia-smi's memory.used peak where it exists.
// Correctness: the latents after the last step vs latents_steps.npy[-1], the decoded image vs decoded.npy
// (max |diff|); also the initial latents vs latents_init.npy (encode + add_noise alone).

import {existsSync, readFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

import {parseCli} from '../cli.mjs';
import {addNoise, alphasCumprod, cfgCombine, ddimStep, fixtureDir, fixturesRoot, loadFixtures, machineInfo,
        maskToLatent, maxAbsDiff, median, preprocess, writePeer} from './common.mjs';

const USAGE = 'usage: node bench/peers/ort.mjs --ep cpu|webgpu [--onnx DIR] [--model tiny|full] [--fixtures DIR] ' +
              '[--threads N] [--repeat N] [--no-warmup] [--json FILE]';
const opt = parseCli(USAGE, {
    ep: {type: 'string', default: 'cpu'},
    onnx: {type: 'string'},
    model: {type: 'string', default: 'full'},
    fixtures: {type: 'string'},
    threads: {type: 'string'},
    repeat: {type: 'string', default: '3'},
    'no-warmup': {type: 'boolean', default: false},
    json: {type: 'string'},
});
if (opt.ep !== 'cpu' && opt.ep !== 'webgpu') { console.error(`ort.mjs: --ep must be cpu or webgpu, not '${opt.ep}'\n${USAGE}`); process.exit(2); }

const SF = 0.13025, GUIDANCE = 2.5, HALF_IDS = 10, TRAIN_STEPS_PER_INFERENCE = 20;
const peerName = opt.ep === 'cpu' ? 'ort_cpu' : 'ort_web_webgpu';
const repeat = Math.max(1, Number(opt.repeat));
const onnxDir = path.resolve(opt.onnx ?? `/tmp/peers/onnx-${opt.model}`);
const dir = fixtureDir(fixturesRoot(opt.fixtures), opt.model);
const require = createRequire(import.meta.url);

/** Fails with a peer record saying why (report.mjs shows 'n/a (reason)'). */
function giveUp(reason, code = 3) {
    console.error(`${peerName}: ${reason}`);
    writePeer(opt.json, {peer: peerName, ep: opt.ep, model: opt.model, error: reason});
    process.exit(code);
}

for (const f of ['unet.onnx', 'vae_encoder.onnx', 'vae_decoder.onnx']) {
    if (!existsSync(path.join(onnxDir, f))) giveUp(`${path.join(onnxDir, f)} is missing (bench/peers/export_onnx.py makes it)`);
}

// ------------------------------------------------------------------ runtime

let ort, sessionOptions, threads, version, gpuInfo = null, mem = null, smi = null;
if (opt.ep === 'cpu') {
    ort = require('onnxruntime-node');
    threads = Number(opt.threads ?? (os.availableParallelism?.() ?? os.cpus().length));
    sessionOptions = {executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
                      executionMode: 'sequential', graphOptimizationLevel: 'all'};
    version = require('onnxruntime-node/package.json').version;
} else {
    const {create, globals} = await import('webgpu');
    const {dawnArgs, MemTracker, nvidiaSmiSampler} = await import('../webgpu_harness.mjs');
    Object.assign(globalThis, globals);
    // ORT's WebAssembly memory is a SharedArrayBuffer (its threaded build), and Dawn in Node (npm webgpu)
    // refuses views of shared memory in queue.writeBuffer ("Invalid argument"): those go through a copy.
    const writeBuffer = GPUQueue.prototype.writeBuffer;
    GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset = 0, size = undefined) {
        if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
            const bpe = data.BYTES_PER_ELEMENT ?? 1;
            const n = (size ?? (data.byteLength / bpe - dataOffset)) * bpe;
            return writeBuffer.call(this, buffer, offset, new Uint8Array(data.buffer, data.byteOffset + dataOffset * bpe, n).slice());
        }
        return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
    };
    const gpu = create(dawnArgs());
    mem = new MemTracker();
    // navigator.gpu = Dawn, with every device made from it tracked (the wrapper keeps `gpu` alive).
    const tracked = {
        gpu,
        wgslLanguageFeatures: gpu.wgslLanguageFeatures,
        getPreferredCanvasFormat: () => 'rgba8unorm',
        async requestAdapter(o) {
            const adapter = await gpu.requestAdapter(o);
            if (!adapter) return adapter;
            gpuInfo ??= {vendor: adapter.info?.vendor, architecture: adapter.info?.architecture, device: adapter.info?.device,
                         description: adapter.info?.description, features: [...adapter.features]};
            const requestDevice = adapter.requestDevice.bind(adapter);
            adapter.requestDevice = async (desc) => {
                const device = await requestDevice(desc);
                if (device) {
                    mem.attach(device);
                    gpuInfo.deviceFeatures = [...device.features];
                }
                return device;
            };
            return adapter;
        },
    };
    if (typeof globalThis.navigator === 'undefined') Object.defineProperty(globalThis, 'navigator', {value: {}, configurable: true, writable: true});
    Object.defineProperty(globalThis.navigator, 'gpu', {value: tracked, configurable: true});
    ort = await import('onnxruntime-web/webgpu');
    ort = ort.default ?? ort;
    threads = Number(opt.threads ?? 1);
    ort.env.wasm.numThreads = threads;
    ort.env.webgpu.powerPreference = 'high-performance';
    sessionOptions = {executionProviders: ['webgpu'], graphOptimizationLevel: 'all'};
    version = ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown';
    smi = await nvidiaSmiSampler();
}

// ------------------------------------------------------------------ sessions, fixtures

const fx = await loadFixtures(dir);
const meta = fx.meta;
const timesteps = meta.timesteps;
const setup = {};
const sessions = {};
try {
    for (const [key, file] of [['enc', 'vae_encoder.onnx'], ['unet', 'unet.onnx'], ['dec', 'vae_decoder.onnx']]) {
        const t = performance.now();
        sessions[key] = await ort.InferenceSession.create(opt.ep === 'cpu' ? path.join(onnxDir, file) : readFileSync(path.join(onnxDir, file)),
                                                           sessionOptions);
        setup[`${key}_session_ms`] = performance.now() - t;
    }
} catch (e) {
    giveUp(`session creation failed: ${e.message}`);
}
for (const [key, names] of [['enc', ['image']], ['unet', ['latent', 'timesteps', 'input_ids']], ['dec', ['latent']]]) {
    const got = sessions[key].inputNames;
    if (names.some((n) => !got.includes(n))) giveUp(`${key}: inputs ${got.join(',')}, expected ${names.join(',')}`);
}

let ac = alphasCumprod();
let acNote = 'alphas_cumprod computed (bit-exact with the fixture)';
try {
    const ref = fx.npy('alphas_cumprod.npy').data;
    if (ref.some((v, i) => v !== ac[i])) { ac = ref; acNote = 'alphas_cumprod from the fixture (the computed table differs)'; }
} catch { acNote = 'alphas_cumprod computed (no fixture table to check)'; }

const N = fx.image.width, S = N / 8, plane = S * S, L = 4 * plane;
const refSteps = fx.npy('latents_steps.npy').data;
const refLast = refSteps.subarray(refSteps.length - L);
const refDecoded = fx.npy('decoded.npy').data;
const refInit = (() => { try { return fx.npy('latents_init.npy').data; } catch { return null; } })();  // optional

const T = (type, data, dims) => new ort.Tensor(type, data, dims);
const ids = new BigInt64Array(2 * HALF_IDS);
for (let i = 0; i < HALF_IDS; i++) { ids[i] = BigInt(HALF_IDS + i); ids[HALF_IDS + i] = BigInt(i); }  // [uncond; cond]

async function encode(pair) {
    const {moments} = await sessions.enc.run({image: T('float32', pair, [2, 3, N, N])});
    return moments.data;  // (2, 8, S, S)
}

async function unet(x9, t) {
    const out = await sessions.unet.run({latent: T('float32', x9, [2, 9, S, S]),
                                         timesteps: T('int64', new BigInt64Array([BigInt(t), BigInt(t)]), [2]),
                                         input_ids: T('int64', ids, [2, HALF_IDS])});
    return out.noise.data;
}

async function decode(latents) {
    const z = new Float32Array(L);
    const inv = Math.fround(SF);
    for (let i = 0; i < L; i++) z[i] = Math.fround(latents[i] / inv);
    const out = await sessions.dec.run({latent: T('float32', z, [1, 4, S, S])});
    return out.image.data;
}

/** One inpaint; returns the stage times and the outputs. */
async function inpaint() {
    const t0 = performance.now();
    const {pair, maskFull} = preprocess(fx.image, fx.mask);
    const moments = await encode(pair);
    const sf = Math.fround(SF);
    const meanImage = new Float32Array(L), meanMasked = new Float32Array(L);
    for (let i = 0; i < L; i++) {
        meanImage[i] = Math.fround(moments[i] * sf);
        meanMasked[i] = Math.fround(moments[8 * plane + i] * sf);
    }
    const maskLatent = maskToLatent(maskFull, N, S);
    let latents = addNoise(ac, timesteps[0], meanImage, fx.noise);
    const init = latents.slice();
    const tEnc = performance.now() - t0;
    const steps = [], history = [];
    const x9 = new Float32Array(2 * 9 * plane);
    for (const t of timesteps) {
        const ts = performance.now();
        x9.set(latents, 0);
        x9.set(maskLatent, 4 * plane);
        x9.set(meanMasked, 5 * plane);
        x9.copyWithin(9 * plane, 0, 9 * plane);
        const eps = cfgCombine(await unet(x9, t), GUIDANCE);
        latents = ddimStep(ac, t, TRAIN_STEPS_PER_INFERENCE, eps, latents);
        steps.push(performance.now() - ts);
        history.push(latents);  // ddimStep returns a new array: compared after the timing
    }
    const td = performance.now();
    const decoded = await decode(latents);
    const tDec = performance.now() - td;
    const whole = performance.now() - t0;
    const stepErr = history.map((x, k) => ((k + 1) * L <= refSteps.length ? maxAbsDiff(x, refSteps.subarray(k * L, (k + 1) * L)).err : null));
    return {encode: tEnc, steps, decode: tDec, whole, latents, decoded, init, stepErr};
}

// ------------------------------------------------------------------ run

console.log(`${peerName}: ONNX Runtime ${version} (${opt.ep}), ${opt.model} model, ${onnxDir}, threads ${threads}; sessions ` +
            `${Object.values(setup).map((v) => (v / 1000).toFixed(1)).join(' / ')} s`);
if (!opt['no-warmup']) {
    const t = performance.now();
    const {pair} = preprocess(fx.image, fx.mask);
    await encode(pair);
    await unet(new Float32Array(2 * 9 * plane), timesteps[0]);
    await decode(new Float32Array(L));
    setup.warmup_ms = performance.now() - t;
    console.log(`warm-up (one call of each graph): ${(setup.warmup_ms / 1000).toFixed(1)} s`);
}
mem?.resetPeak();
const smiMark = smi?.mark?.() ?? 0;
const runs = [];
let last;
const cpu0 = process.cpuUsage();
try {
    for (let r = 0; r < repeat; r++) {
        last = await inpaint();
        runs.push(last);
        console.log(`run ${r + 1}: encode ${last.encode.toFixed(1)} ms, step median ${median(last.steps).toFixed(1)} ms, ` +
                    `decode ${last.decode.toFixed(1)} ms, whole ${last.whole.toFixed(1)} ms`);
    }
} catch (e) {
    giveUp(`inference failed: ${e.message}`);
}
const cpu1 = process.cpuUsage(cpu0);
const smiPeak = smi?.peakSince?.(smiMark) ?? null;
await smi?.stop();

const dLat = maxAbsDiff(last.latents, refLast), dDec = maxAbsDiff(last.decoded, refDecoded);
const dInit = refInit ? maxAbsDiff(last.init, refInit) : {err: null};
const rec = {
    peer: peerName,
    ep: opt.ep === 'cpu' ? 'onnxruntime-node CPU' : 'onnxruntime-web WebGPU (Dawn, Node)',
    precision: 'f32',
    threads,
    ort_version: version,
    model: opt.model,
    unet_step_ms: median(runs.flatMap((r) => r.steps)),
    encode_ms: median(runs.map((r) => r.encode)),
    decode_ms: median(runs.map((r) => r.decode)),
    inpaint_ms: median(runs.map((r) => r.whole)),
    peak_mem_bytes: opt.ep === 'cpu' ? process.resourceUsage().maxRSS * 1024 : mem.peak,
    peak_mem_kind: opt.ep === 'cpu' ? 'rss' : 'gpu_buffers',
    smi_peak_mib: smiPeak,
    max_abs_diff_latents: dLat.err,
    max_abs_diff_decoded: dDec.err,
    max_abs_ref_latents: dLat.ref,
    max_abs_ref_decoded: dDec.ref,
    max_abs_diff_latents_init: dInit.err,
    max_abs_diff_latents_per_step: last.stepErr,
    repeat,
    cpu_ms_per_inpaint: (cpu1.user + cpu1.system) / 1000 / repeat,  // all threads: a shared machine's load shows in wall, less here
    runs_inpaint_ms: runs.map((r) => r.whole),
    setup,
    session_options: sessionOptions,
    adapter: gpuInfo,
    dawn_args: opt.ep === 'webgpu' ? (process.env.MOEBIUS_DAWN_ARGS ?? 'backend=vulkan') + (process.env.MOEBIUS_DAWN_FEATURES ? ` features=${process.env.MOEBIUS_DAWN_FEATURES}` : '') : null,
    onnx_dir: onnxDir,
    fixtures: dir,
    machine: machineInfo(),
    date: new Date().toISOString(),
    notes: `ONNX export of upstream's graphs (fp32, bench/peers/export_onnx.py); ${acNote}; inputs/outputs as CPU tensors on every call; ` +
           `warm-up ${opt['no-warmup'] ? 'none' : 'one call of each graph'}; inpaint = image to decoded tensor`,
};
if (opt.ep === 'webgpu') rec.notes += `; wasm threads ${threads}; peak_mem = GPUBuffers alive on ORT's device (destroy() tracked)`;
writePeer(opt.json, rec);
console.log(`median of ${repeat}: UNet step ${rec.unet_step_ms.toFixed(1)} ms, encode ${rec.encode_ms.toFixed(1)} ms, ` +
            `decode ${rec.decode_ms.toFixed(1)} ms, whole inpaint ${rec.inpaint_ms.toFixed(1)} ms; peak ${(rec.peak_mem_bytes / 1e9).toFixed(3)} GB (${rec.peak_mem_kind})`);
console.log(`max |diff| vs fixtures: latents_init ${dInit.err?.toExponential(2) ?? '(no latents_init.npy)'}, last latents ${dLat.err.toExponential(2)} (max |ref| ${dLat.ref.toFixed(2)}), ` +
            `decoded ${dDec.err.toExponential(2)} (max |ref| ${dDec.ref.toFixed(2)})`);
for (const s of Object.values(sessions)) await s.release?.();
process.exit(0);
