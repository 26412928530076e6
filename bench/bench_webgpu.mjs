// bench_webgpu.mjs: the WebGPU engine (WebAssembly + web/js/moebius.js, Dawn in Node) on the FULL
// model at 512×512 — per-step UNet time, VAE encode ×2, decode, whole inpaint, peak GPU memory, the
// weights' download size and achieved TFLOP/s against upstream's FLOP counts, with the ratios to
// upstream PyTorch eager on an H100 (../shared/notes/toolchain.md).
//
//   node bench/bench_webgpu.mjs [--dtype f16,f32] [--runs 3] [--profile] [--timeline] [--model-bytes N | --model-file F]
//                               [--config full|tiny|FILE.json] [--steps 20] [--json FILE] [--fixtures DIR]
//   node bench/bench_webgpu.mjs --memory-only | --record-only [--dtype ...] [--config ...]   (any adapter)
//   node bench/bench_webgpu.mjs --from-json FILE   (the report of an earlier run's --json again)
//
// Weights: the fixtures' synthetic rule made in wasm memory (speed does not depend on the values; the
// full model's files need not travel to the GPU machine). The weights' download size is that of the
// f16 model file (`moebius synth --config full --dtype f16`, or `moebius convert`): give it with
// --model-file (stat) or --model-bytes (measured elsewhere).
// Input: a synthetic 512×512 picture with a rectangular hole, whole mode, upstream's defaults
// (20 steps × strength 0.99 = 19 DDIM steps, CFG 2.5, batch 2).
// --fixtures DIR (a fixture model folder, e.g. ../shared/fixtures/full; give the matching --config):
// the input is the fixture's image.png / mask.png with its noise.npy (the peer benchmark's work,
// bench/peers), and one more, untimed run reads the latents back after every step and the decoded image:
// max |diff| of the last step's latents vs latents_steps.npy[-1] and of the decoded image vs decoded.npy
// (per dtype, `check` in the JSON).
//
// Timings:
//   - "API" rows: engine.inpaint() as an application calls it (the GPU is awaited after the encode and
//     after every step, for progress and cancellation; decode includes the readback); median over
//     --runs after two warm-up runs: the first compiles the pipelines, the second is traced for the
//     tensor arena (bridge.js), which the timed runs replay.
//   - "pipelined": the same job with no wait between steps (all 19 recorded back to back, one wait at
//     the end): what the GPU needs when JS recording overlaps GPU work.
//   - CPU recording time per step: wasm + JS time to record one step's dispatches.
//   - --timeline: one more engine.inpaint with each batch's GPU start / end beside the CPU's recording
//     (where the GPU waits for the CPU; timestamp-query as for --profile).
//   - --profile: GPU time per backend.h op from timestamp queries (one pass per op; needs the
//     'timestamp-query' feature, and Dawn's timestamp quantization off:
//     MOEBIUS_DAWN_ARGS="backend=vulkan disable-dawn-features=timestamp_quantization").
// Memory: bytes of the GPUBuffers alive on the device (tracked at device.createBuffer: tensors,
// scratch, uniforms, readback staging), peak over the timed runs; and nvidia-smi's memory.used where
// it exists (whole GPU: includes the Vulkan/Dawn context).
// --memory-only / --record-only: allocations, or the CPU cost of recording (with the buffers created and
// the peak GPU buffer memory per stage), with the GPU's work dropped (see their code below). In f16 on an
// adapter without shader-f16 they simulate the H100's f16 + subgroup-matrix plan (simulateF16): on
// SwiftShader the f16 figures (dispatches, buffers made, peaks) match the H100's. Note: --memory-only also drops the batching that defers buffer
// destruction, so it can read lower than a real run.
// Environment: MOEBIUS_DAWN_ARGS, MOEBIUS_DAWN_FEATURES, MOEBIUS_WASM, MOEBIUS_MATRIX_GEMM / _CONV (see
// bench/webgpu_harness.mjs).

import {readFileSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';

import {parseCli} from './cli.mjs';
import {BatchTimeline, createGpu, hookOps, maxAbsDiff, mib, nvidiaSmiSampler, OpProfiler, summarize, synthEngine} from './webgpu_harness.mjs';
import {parseNpy} from '../web/js/npy.js';

const USAGE =
    'usage: node bench/bench_webgpu.mjs [--dtype f16,f32] [--runs 3] [--profile] [--timeline] [--model-bytes N | --model-file F]\n' +
    '                                   [--config full|tiny|FILE.json] [--steps 20] [--json FILE] [--fixtures DIR]\n' +
    '       node bench/bench_webgpu.mjs --memory-only | --record-only [--dtype ...] [--config ...]   (any adapter)\n' +
    '       node bench/bench_webgpu.mjs --from-json FILE   (the report of an earlier run\'s --json again)';
const opt = parseCli(USAGE, {
    dtype: {type: 'string', default: 'f16,f32'},
    runs: {type: 'string', default: '3'},
    profile: {type: 'boolean', default: false},
    timeline: {type: 'boolean', default: false},
    'model-bytes': {type: 'string'},
    'model-file': {type: 'string'},
    config: {type: 'string', default: 'full'},
    steps: {type: 'string', default: '20'},
    json: {type: 'string'},
    'from-json': {type: 'string'},
    'memory-only': {type: 'boolean', default: false},
    'record-only': {type: 'boolean', default: false},
    fixtures: {type: 'string'},
});
const steps = Number(opt.steps);  // upstream's 20 (x strength 0.99 = 19 DDIM steps); fewer for smoke runs
const runs = Math.max(1, Number(opt.runs));

// Upstream cost at 512×512 and PyTorch 2.11 eager on the H100 (../shared/notes/toolchain.md).
const GFLOP = {step: 632, encode2: 2 * 1117, decode: 2515};
const STEPS = 19;
GFLOP.whole = STEPS * GFLOP.step + GFLOP.encode2 + GFLOP.decode;
const PYTORCH_MS = {
    f16: {step: 58.7, encode2: 24, decode: 23, whole: 1160},
    f32: {step: 58.4, encode2: 90, decode: 100, whole: null},  // no whole fp32 figure in the notes
};
const TARGETS = {wholeMs: 400, speedup: 3, peakBytes: {f16: 1.2e9, f32: 2e9}, modelBytes: 0.65e9};

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const ms = (v) => (v === null || v === undefined ? '—' : v < 10 ? v.toFixed(2) : v.toFixed(1));

/** A 512×512 RGBA test picture (smooth gradients + stripes) and a hole in the middle. */
function testInput(S = 512) {
    const image = {width: S, height: S, data: new Uint8ClampedArray(4 * S * S)};
    const mask = {width: S, height: S, data: new Uint8ClampedArray(S * S), channels: 1};
    for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
            const i = y * S + x;
            image.data[4 * i] = (x * 255) / S;
            image.data[4 * i + 1] = (y * 255) / S;
            image.data[4 * i + 2] = ((x >> 4) + (y >> 4)) % 2 ? 200 : 60;
            image.data[4 * i + 3] = 255;
            mask.data[i] = x >= S / 4 && x < (3 * S) / 4 && y >= S / 3 && y < (2 * S) / 3 ? 255 : 0;
        }
    }
    return {image, mask};
}

/**
 * The fixture's inputs and references (--fixtures): image and mask as RGBA, noise, the last step's latents
 * and the decoded image.
 */
async function fixtureInput(dir) {
    const {PNG} = await import('pngjs');
    const png = (name) => {
        const p = PNG.sync.read(readFileSync(`${dir}/${name}`));
        return {width: p.width, height: p.height, data: new Uint8ClampedArray(p.data.buffer, p.data.byteOffset, p.data.length), channels: 4};
    };
    const npy = (name) => parseNpy(readFileSync(`${dir}/${name}`));
    const steps = npy('latents_steps.npy');
    const per = steps.data.length / steps.shape[0];
    return {image: png('image.png'), mask: png('mask.png'), noise: npy('noise.npy').data,
            ref: {latents: steps.data.slice(steps.data.length - per), decoded: npy('decoded.npy').data}};
}
const fixtures = opt.fixtures ? await fixtureInput(opt.fixtures) : null;
const makeInput = (S) => fixtures ?? testInput(S);

/** One engine.inpaint with per-step times from the progress events. */
async function apiRun(engine, input, onEvent) {
    const stepTimes = [];
    let last = 0;
    const t0 = performance.now();
    const {timings} = await engine.inpaint(input.image, input.mask, {mode: 'whole', steps, noise: input.noise, onProgress: (e) => {
        const t = performance.now();
        if (e.stage === 'step' && e.step > 1) stepTimes.push(t - last);
        last = t;
        onEvent?.(e, t);
    }});
    return {wall: performance.now() - t0, timings, stepTimes};
}

/**
 * The same job driven here with no wait between steps: begin_crop, 19 steps, decode, one readback.
 * Returns wall times and the CPU time spent recording each stage.
 * @param {(stage: string) => Promise<void>} [between]  awaited after each stage (the profiler collects there)
 */
async function pipelinedRun(engine, input, between, keepDecoded = false) {
    const api = engine.api, M = engine.mod, g = engine.gpu;
    const opts = api.handle('mw_options_new');
    const setOpt = (name, v) => { const p = api.cstring(name); try { api.status('mw_options_set', opts, p, v); } finally { M._free(p); } };
    setOpt('mode', 1);
    setOpt('steps', steps);
    if (input.noise) {
        const pn = api.malloc(4 * input.noise.length);
        M.HEAPF32.set(input.noise, pn >> 2);
        try { api.status('mw_options_set_noise', opts, pn, input.noise.length); } finally { M._free(pn); }
    }
    const bytes = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const pi = api.bytes(bytes(input.image.data)), pm = api.bytes(bytes(input.mask.data));
    const job = api.handle('mw_job_new', engine.model, pi, input.image.width, input.image.height, 4, pm, input.mask.channels ?? 1, opts);
    M._free(pi);
    M._free(pm);
    const rec = {encode: 0, steps: [], decode: 0};
    engine.beginRun();  // as engine.inpaint does (cached buffers go; the tensor arena's segment)
    try {
        const t0 = performance.now();
        let t = performance.now();
        const n = api.count('mw_job_begin_crop', job, 0);
        rec.encode = performance.now() - t;
        await between?.('encode');
        for (let i = 0; i < n; i++) {
            t = performance.now();
            api.status('mw_job_step', job, i);
            g.flush();
            rec.steps.push(performance.now() - t);
            await between?.(`step ${i + 1}`);
        }
        t = performance.now();
        const dec = api.handle('mw_job_decode', job);
        rec.decode = performance.now() - t;
        const id = M._mw_tensor_gpu_buffer(dec);
        const decoded = await g.readF32(id, M._mw_tensor_numel(dec));
        M._mw_tensor_free(dec);
        await between?.('decode');
        return {wall: performance.now() - t0, rec, decoded: keepDecoded ? decoded : undefined};
    } finally {
        M._mw_job_free(job);
        M._mw_options_free(opts);
    }
}

/**
 * --fixtures: one more run, untimed, with the latents read back after every step (the DDIM update, a
 * step's last op, is an axpby: its output is the new latents) -> max |diff| vs the fixture references.
 */
async function checkRun(engine, gpuCtx, input) {
    let latentsId = 0, latents = null;
    const n = input.ref.latents.length;
    hookOps(gpuCtx, (name, a) => { if (name === 'axpby') latentsId = a.y; });
    try {
        const res = await pipelinedRun(engine, input, async (stage) => {
            if (stage.startsWith('step')) latents = await engine.gpu.readF32(latentsId, n);
        }, true);
        const l = maxAbsDiff(latents, input.ref.latents), d = maxAbsDiff(res.decoded, input.ref.decoded);
        const fin = (v) => (Number.isFinite(v) ? v : String(v));  // NaN in the output: "Infinity" survives JSON
        return {maxAbsDiffLatents: fin(l.err), maxAbsRefLatents: l.ref, maxAbsDiffDecoded: fin(d.err), maxAbsRefDecoded: d.ref};
    } finally {
        hookOps(gpuCtx);
    }
}

/**
 * --timeline: one engine.inpaint with every batch's GPU start and end (timestamp queries) on the CPU's
 * clock, beside the CPU times at which each batch began recording and was submitted. Per stage (the
 * wasm call that recorded it: encode, step, decode): the CPU's recording span, the GPU's span and busy
 * time, and the GPU's idle time inside its span (it waited for the CPU). null without timestamp-query.
 */
async function timelineRun(engine, input) {
    const tl = new BatchTimeline(engine.gpu);
    if (!tl.available) return null;
    await tl.calibrate();
    const api = engine.api, orig = {count: api.count, status: api.status, handle: api.handle};
    const label = (name, args) => {
        if (name === 'mw_job_begin_crop') tl.label = 'encode';
        else if (name === 'mw_job_step') tl.label = `step ${args[1] + 1}`;
        else if (name === 'mw_job_decode') tl.label = 'decode';
    };
    // CPU spans of the wasm calls and of the bridge's waits (read, readF32, sync, collectErrors).
    const spans = [];
    const span = (name, f) => {
        const s = performance.now();
        const r = f();
        if (r instanceof Promise) return r.finally(() => spans.push({name, start: s, end: performance.now()}));
        spans.push({name, start: s, end: performance.now()});
        return r;
    };
    for (const k of Object.keys(orig)) {
        api[k] = (name, ...args) => { label(name, args); return span(name, () => orig[k].call(api, name, ...args)); };
    }
    const g = engine.gpu, gOrig = {read: g.read, readF32: g.readF32, sync: g.sync, collectErrors: g.collectErrors};
    for (const k of Object.keys(gOrig)) g[k] = (...args) => span(k, () => gOrig[k].apply(g, args));
    const events = [];
    let recs, t0;
    try {
        tl.enabled = true;
        tl.label = 'other';
        t0 = performance.now();
        await apiRun(engine, input, (e, t) => events.push({stage: e.stage, step: e.step, t: t - t0}));
        recs = await tl.collect();
    } finally {
        tl.enabled = false;
        Object.assign(api, orig);
        for (const k of Object.keys(gOrig)) delete g[k];  // back to the prototype's methods
    }
    const rel = recs.map((r) => ({...r, cpuBegin: r.cpuBegin - t0, cpuSubmit: r.cpuSubmit - t0, gpuBegin: r.gpuBegin - t0, gpuEnd: r.gpuEnd - t0}));
    const stages = {};
    for (const r of rel) (stages[r.label.startsWith('step') ? 'steps' : r.label] ??= []).push(r);
    const summary = {};
    for (const [k, rs] of Object.entries(stages)) {
        const busy = rs.reduce((s, r) => s + r.gpuEnd - r.gpuBegin, 0);
        const gpuBegin = Math.min(...rs.map((r) => r.gpuBegin)), gpuEnd = Math.max(...rs.map((r) => r.gpuEnd));
        summary[k] = {batches: rs.length, dispatches: rs.reduce((s, r) => s + r.dispatches, 0),
                      cpuBegin: rs[0].cpuBegin, cpuLastSubmit: Math.max(...rs.map((r) => r.cpuSubmit)),
                      gpuBegin, gpuEnd, gpuBusy: busy, gpuIdle: gpuEnd - gpuBegin - busy};
    }
    return {events, summary, batches: rel,
            spans: spans.map((s) => ({name: s.name, start: s.start - t0, end: s.end - t0})).sort((a, b) => a.start - b.start)};
}

const out = [];
const print = (s = '') => { console.log(s); out.push(s); };

// --memory-only: the GPU buffers an inpaint allocates, without computing anything — every dispatch is
// dropped, buffers are created, written and read as usual — so it runs in seconds on any adapter
// (SwiftShader included; f16 storage is then simulated: the bridge's dtype is set to f16, no shader is
// compiled). Peak device-buffer bytes per stage (after one warm-up inpaint, as in the benchmark), as
// the engine runs, and with the backend's buffer pool trimmed (mw_backend_webgpu_trim) between stages.
if (opt['memory-only']) {
    const config = opt.config.endsWith('.json') ? readFileSync(opt.config, 'utf8') : opt.config;
    const gpu = createGpu();
    const gbs = (b) => (b / 1e9).toFixed(3);
    print(`# GPU memory of one 512×512 inpaint (${opt.config} model; dispatches dropped: allocations only)`);
    print();
    print('| storage | weights | peak: encode | steps | decode | whole inpaint | whole, pool trimmed between stages |');
    print('|---|---:|---:|---:|---:|---:|---:|');
    for (const dtype of opt.dtype.split(',').map((s) => s.trim()).filter(Boolean)) {
        const f16 = dtype === 'f16';
        const {engine, mem, g} = await synthEngine({gpu, f16, config, beforeBackend: (ctx) => {
            if (f16) simulateF16(ctx.g);
            ctx.g.dispatch = () => ctx.g.check();
        }});
        const input = makeInput(engine.info.nativeSize);
        const weights = mem.live;
        const trim = () => engine.mod._mw_backend_webgpu_trim?.(engine.backend);
        const peaks = async (trimBetween) => {
            const p = {};
            mem.resetPeak();
            let whole = 0;
            await pipelinedRun(engine, input, async (stage) => {
                const key = stage.startsWith('step') ? 'steps' : stage;
                p[key] = Math.max(p[key] ?? 0, mem.peak);
                whole = Math.max(whole, mem.peak);
                if (trimBetween) trim();
                mem.resetPeak();
            });
            return {...p, whole};
        };
        await peaks(false);  // warm-up, as the benchmark
        const plain = await peaks(false);
        trim();
        const trimmed = await peaks(true);
        print(`| ${dtype} | ${gbs(weights)} | ${gbs(plain.encode)} | ${gbs(plain.steps)} | ${gbs(plain.decode)} | ${gbs(plain.whole)} | ${gbs(trimmed.whole)} |`);
        await engine.dispose();
    }
    process.exit(0);
}

/** The bridge's tensor arena, per space: its buffer, segments traced / replayed, plans made, requests off the plan. */
function arenaLine(g) {
    if (!g.arenaAllowed) return `tensor arena: off (a GPU buffer per tensor${g.readWrite === 'all' ? ', every binding read_write' : ''})`;
    const mib = (/** @type {number} */ b) => (b / 2 ** 20).toFixed(1);
    return `tensor arena: ${mib(g.arenas.reduce((s, a) => s + a.size, 0))} MiB in ${g.arenas.length} buffers; ` + g.arenas.map((a, i) => {
        const st = a.stats;
        return `space ${i}: ${mib(a.size)} MiB buffer (plan ${a.plan ? mib(a.plan.bytes) : '—'} MiB, ` +
               `${a.plan?.sizes.length ?? 0} tensors), segments ${st.segments}, replayed ${st.replayed}, plans ${st.plans}, ` +
               `off-plan ${st.misses}, ${a.taken.length} tensors in it now`;
    }).join('; ');
}

/**
 * --memory-only / --record-only in f16 on an adapter without shader-f16 (SwiftShader): the bridge acts
 * as an f16 one with the H100's 16 x 16 x 16 subgroup matrices, so ops.js plans and allocates as it does
 * there (the direct matrix conv's padded-input scratch included: the f16 peaks match the H100's).
 * Shaders are not compiled (pipelines and bind groups are placeholders), which these modes allow
 * because they drop the GPU's work. Returns whether it simulates.
 * @param {any} g  the GpuBridge
 */
function simulateF16(g) {
    if (g.dtype === 'f16') return false;
    g.dtype = 'f16';
    g.features.f16 = true;
    g.subgroupMatrix = {M: 16, N: 16, K: 16};
    const pipeline = {getBindGroupLayout: () => ({})};
    g.device.createShaderModule = () => ({});
    g.device.createComputePipeline = () => pipeline;
    g.device.createComputePipelineAsync = async () => pipeline;
    g.device.createBindGroup = () => ({});
    return true;
}

/**
 * CPU time spent in the WebGPU calls that can be costly while recording (--record-only): buffer
 * creation (a driver allocation for large ones), bind group creation, queue submits and writes.
 * take() returns the sums since the last take() and starts new ones.
 */
const apiTime = {sums: /** @type {Record<string, number>} */ ({}),
                 reset() { this.sums = {}; },
                 take() { const s = this.sums; this.sums = {}; return s; }};
/** @param {any} device */
function timeApiCalls(device) {
    const wrap = (obj, name, label) => {
        const f = obj[name].bind(obj);
        obj[name] = (...args) => {
            const t = performance.now();
            try { return f(...args); } finally { apiTime.sums[label] = (apiTime.sums[label] ?? 0) + performance.now() - t; }
        };
    };
    wrap(device, 'createBuffer', 'createBuffer');
    wrap(device, 'createBindGroup', 'createBindGroup');
    wrap(device.queue, 'submit', 'submit');
    wrap(device.queue, 'writeBuffer', 'writeBuffer');
}

// --record-only: the CPU cost of recording an inpaint (wasm + JS + the WebGPU API calls), with the
// GPU's work dropped (every dispatchWorkgroups is skipped; pipelines, bind groups, uniforms and
// submits are real), so it runs on any adapter. The layer structure, hence the dispatch count, is the
// same for every config; per-dispatch costs are what this shows.
if (opt['record-only']) {
    const config = opt.config.endsWith('.json') ? readFileSync(opt.config, 'utf8') : opt.config;
    const gpu = createGpu();
    for (const dtype of opt.dtype.split(',').map((s) => s.trim()).filter(Boolean)) {
        const f16 = dtype === 'f16';
        const {engine, g, mem} = await synthEngine({gpu, f16, config, beforeBackend: (ctx) => {
            const simulated = f16 && simulateF16(ctx.g);
            const computePass = ctx.g.computePass.bind(ctx.g);
            ctx.g.computePass = () => {
                const pass = computePass();
                if (!pass.moebiusDropped) {
                    pass.dispatchWorkgroups = () => {};
                    if (simulated) pass.setPipeline = pass.setBindGroup = () => {};
                    pass.moebiusDropped = true;
                }
                return pass;
            };
            timeApiCalls(ctx.g.device);
        }});
        const input = makeInput(engine.info.nativeSize);
        const runs = [];
        // Two warm-up runs, as the benchmark: the first compiles, the second is traced for the tensor arena.
        for (let i = 0; i < Number(opt.runs) + 2; i++) {
            const d0 = g.stats.dispatches, p0 = g.pipelines.size;
            // Per stage: GPU buffers created (pool misses and scratch growth: each is a driver
            // allocation) and the time spent in the timed WebGPU calls (see timeApiCalls).
            // (step 1 on its own: it makes the steps' buffers and bind groups, which later steps reuse)
            const made = {encode: 0, step1: 0, steps: 0, decode: 0};
            const api = {encode: {}, step1: {}, steps: {}, decode: {}};
            // Peak bytes of live GPU buffers per stage: the same allocations as a real run (submits and
            // deferred destroys are real), so pool settings can be compared on any adapter.
            const peak = {encode: 0, step1: 0, steps: 0, decode: 0};
            let b0 = g.stats.buffersCreated;
            apiTime.reset();
            mem.resetPeak();
            const r = await pipelinedRun(engine, input, async (stage) => {
                const key = stage === 'step 1' ? 'step1' : stage.startsWith('step') ? 'steps' : stage;
                for (const [name, v] of Object.entries(apiTime.take())) api[key][name] = (api[key][name] ?? 0) + v;
                await g.sync();
                apiTime.take();  // the wait itself is not recording
                made[key] += g.stats.buffersCreated - b0;
                b0 = g.stats.buffersCreated;
                peak[key] = Math.max(peak[key], mem.peak);
                mem.resetPeak();
            });
            runs.push({...r.rec, dispatches: g.stats.dispatches - d0, made, api, peak});
            if (i > 0 && g.pipelines.size !== p0) print(`note: run ${i} created ${g.pipelines.size - p0} pipelines`);
        }
        runs.splice(0, 2);
        const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
        const stepMs = med(runs.flatMap((r) => r.steps));
        print(`${dtype} (${opt.config}): recording CPU time, median of ${runs.length}: encode ${med(runs.map((r) => r.encode)).toFixed(1)} ms, ` +
              `step ${stepMs.toFixed(1)} ms (step 1 ${med(runs.map((r) => r.steps[0])).toFixed(1)}), decode ${med(runs.map((r) => r.decode)).toFixed(1)} ms; ` +
              `${runs[0].dispatches} dispatches per inpaint, GPU buffers created: encode ${runs[0].made.encode}, step 1 ${runs[0].made.step1}, ` +
              `steps 2-${runs[0].steps.length} ${runs[0].made.steps}, decode ${runs[0].made.decode}`);
        const calls = (a) => Object.entries(a).map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ') || 'none';
        print(`  WebGPU calls within the recording (ms, run 1 of ${runs.length}): encode: ${calls(runs[0].api.encode)}; ` +
              `step 1: ${calls(runs[0].api.step1)}; steps 2-${runs[0].steps.length}: ${calls(runs[0].api.steps)}; decode: ${calls(runs[0].api.decode)}`);
        const gb = (b) => (b / 1e9).toFixed(3);
        print(`  peak GPU buffer memory, weights included (GB, run 1 of ${runs.length}): encode ${gb(runs[0].peak.encode)}, ` +
              `steps ${gb(Math.max(runs[0].peak.step1, runs[0].peak.steps))}, decode ${gb(runs[0].peak.decode)}`);
        print(`  ${arenaLine(g)}`);
        await engine.dispose();
    }
    process.exit(0);
}

// 'full', 'tiny', or a model_config.json (smoke runs of this script on small models; the FLOP and
// PyTorch columns are the full model's).
const config = opt.config.endsWith('.json') ? readFileSync(opt.config, 'utf8') : opt.config;
// --from-json: print the report of an earlier run's --json output again (no measuring).
const saved = opt['from-json'] ? JSON.parse(readFileSync(opt['from-json'], 'utf8')) : null;
const gpu = saved ? null : createGpu();
const smi = saved ? {stop: async () => saved.smiAll ?? null} : await nvidiaSmiSampler();
const results = {date: new Date().toISOString(), host: os.hostname(), cpus: os.cpus().length, cpu: os.cpus()[0]?.model,
                 node: process.version, dawnArgs: process.env.MOEBIUS_DAWN_ARGS ?? 'backend=vulkan',
                 dawnFeatures: process.env.MOEBIUS_DAWN_FEATURES ?? '', input: opt.fixtures ?? 'synthetic', dtypes: {}};

let modelBytes = null, modelBytesHow = '';
if (saved) { modelBytes = saved.modelBytes; modelBytesHow = saved.modelBytesHow ?? 'given (--model-bytes)'; }
else if (opt['model-file']) { modelBytes = statSync(opt['model-file']).size; modelBytesHow = `size of ${opt['model-file']}`; }
else if (opt['model-bytes']) { modelBytes = Number(opt['model-bytes']); modelBytesHow = 'given (--model-bytes)'; }

/** Everything measured for one storage dtype; null where the adapter cannot run it. */
async function benchDtype(dtype) {
    const smiStart = smi.mark?.() ?? 0;
    let t = performance.now();
    const {engine, gpuCtx, mem, g} = await synthEngine({gpu, f16: dtype === 'f16', config});
    current = engine;
    const input = makeInput(engine.info.nativeSize);
    const loadMs = performance.now() - t;
    if (dtype === 'f16' && engine.info.dtype !== 'f16') {
        print(`skip f16: the adapter has no shader-f16 (NVIDIA: MOEBIUS_DAWN_FEATURES=allow_unsafe_apis,vulkan_enable_f16_on_nvidia)`);
        await engine.dispose();
        return null;
    }
    const a = engine.info.adapter;
    results.adapter = `${a.description || a.device || a.vendor} (${a.vendor} ${a.architecture})`;
    const weightsLive = mem.live;
    const r = {loadMs, weightsLiveBytes: weightsLive};

    // Warm-up: the first run compiles every pipeline; the second is the one the tensor arena lays out
    // the next ones by (class Arena in bridge.js; the first is not planned from). Its time: the 'second run'.
    t = performance.now();
    await apiRun(engine, input);
    r.firstRunMs = performance.now() - t;
    t = performance.now();
    await apiRun(engine, input);
    r.secondRunMs = performance.now() - t;

    mem.resetPeak();
    const smiRuns = smi.mark?.() ?? 0;
    const api = [];
    for (let i = 0; i < runs; i++) api.push(await apiRun(engine, input));
    const pipe = [];
    for (let i = 0; i < runs; i++) pipe.push(await pipelinedRun(engine, input));
    r.peakLiveBytes = mem.peak;
    r.smiPeakMiB = smi.peakSince?.(smiRuns) ?? null;
    r.smiBaseMiB = smi.base?.() ?? null;

    const T = (f) => median(api.map(f));
    r.stepsRun = api[0].timings.steps;
    r.api = {
        encode2: T((x) => x.timings.encode), step: T((x) => x.timings.denoise / x.timings.steps),
        stepMin: Math.min(...api.flatMap((x) => x.stepTimes)), stepMedian: median(api.flatMap((x) => x.stepTimes)),
        decode: T((x) => x.timings.decode), post: T((x) => x.timings.post), whole: T((x) => x.wall),
        recordStep: T((x) => (x.timings.record ?? NaN) / x.timings.steps),
        wholeAll: api.map((x) => x.wall),
    };
    r.pipelined = {whole: median(pipe.map((x) => x.wall)), wholeAll: pipe.map((x) => x.wall),
                   recordStep: median(pipe.flatMap((x) => x.rec.steps)), recordEncode: median(pipe.map((x) => x.rec.encode)),
                   recordDecode: median(pipe.map((x) => x.rec.decode))};

    if (fixtures) r.check = await checkRun(engine, gpuCtx, input);
    if (opt.timeline) {
        try {
            r.timeline = await timelineRun(engine, input);
        } catch (e) {
            print(`${dtype}: timeline failed: ${e.stack ?? e}`);
        }
    }

    // Per-op GPU time.
    if (opt.profile) {
        const prof = new OpProfiler(g);
        if (!prof.available) {
            r.profile = null;
            print(`${dtype}: no timestamp-query on this device: no per-op profile`);
        } else {
            hookOps(gpuCtx, (n, x) => prof.before(n, x), (n, x) => prof.after(n, x));
            const stages = {};
            prof.enabled = true;
            await pipelinedRun(engine, input, async (stage) => {
                const recs = await prof.collect();
                const key = stage.startsWith('step') ? 'step' : stage;
                (stages[key] ??= []).push(...recs);
            });
            prof.enabled = false;
            hookOps(gpuCtx);
            r.profile = {};
            for (const [stage, recs] of Object.entries(stages)) {
                const per = stage === 'step' ? r.stepsRun : 1;
                r.profile[stage] = {gpuMs: recs.reduce((s, x) => s + x.ms, 0) / per,
                                    byKind: summarize(recs, 'name').map((e) => ({...e, ms: e.ms / per, n: e.n / per, flops: e.flops / per})),
                                    byLabel: summarize(recs, 'label').map((e) => ({...e, ms: e.ms / per, n: e.n / per, flops: e.flops / per}))};
            }
        }
    }
    await engine.dispose();
    r.smiSectionPeakMiB = smi.peakSince?.(smiStart) ?? null;
    return r;
}

let current = null;  // the engine of the dtype being measured (disposed on failure)
const failures = {};
if (saved) Object.assign(results, saved, {report: undefined});
for (const dtype of saved ? [] : opt.dtype.split(',').map((s) => s.trim()).filter(Boolean)) {
    try {
        const r = await benchDtype(dtype);
        if (r) results.dtypes[dtype] = r;
    } catch (e) {
        failures[dtype] = `${e.code ?? e.name}: ${e.message}`;
        print(`${dtype}: FAILED: ${failures[dtype]}`);
        await current?.dispose().catch(() => {});
    }
    current = null;
}
if (!saved) results.failures = failures;
const smiAll = await smi.stop();
results.smiAll = smiAll;

// ------------------------------------------------------------------ report

const gb = (b) => (b / 1e9).toFixed(3);
print(`# WebGPU benchmark — moebius.cpp, full model, 512×512, ${STEPS} DDIM steps (CFG batch 2)`);
print();
print(`- date: ${results.date}; host ${results.host} (${results.cpus}× ${results.cpu}); Node ${results.node}`);
print(`- adapter: ${results.adapter}; Dawn args: ${results.dawnArgs}${results.dawnFeatures ? `; features ${results.dawnFeatures}` : ''}`);
print(`- weights: fixtures' synthetic rule made in wasm memory; input: ${fixtures ? `the fixture's image.png, mask.png and noise.npy (${opt.fixtures})` : 'synthetic 512×512 picture, rectangular hole'}, whole mode`);
print(`- API rows: engine.inpaint(), GPU awaited after the encode and after every step; median of ${runs} runs after two warm-up runs`);
print(`- PyTorch: upstream eager on an H100, fp16 / fp32 (../shared/notes/toolchain.md); speed-up = PyTorch ms / ours`);
print();
for (const [dtype, r] of Object.entries(results.dtypes)) {
    const pt = PYTORCH_MS[dtype];
    const tf = (gflop, t) => (gflop / t).toFixed(1);  // GFLOP / ms = TFLOP/s
    const sp = (p, t) => (p ? `${(p / t).toFixed(2)}×` : '—');
    print(`## ${dtype} storage`);
    print();
    print('| stage | ms | GFLOP | TFLOP/s | PyTorch ms | speed-up |');
    print('|---|---:|---:|---:|---:|---:|');
    print(`| UNet CFG step (API: denoise / ${r.stepsRun}) | ${ms(r.api.step)} | ${GFLOP.step} | ${tf(GFLOP.step, r.api.step)} | ${ms(pt.step)} | ${sp(pt.step, r.api.step)} |`);
    print(`| UNet CFG step (median of step-to-step times) | ${ms(r.api.stepMedian)} | ${GFLOP.step} | ${tf(GFLOP.step, r.api.stepMedian)} | ${ms(pt.step)} | ${sp(pt.step, r.api.stepMedian)} |`);
    print(`| VAE encode ×2 (API, incl. CPU preprocessing + uploads) | ${ms(r.api.encode2)} | ${GFLOP.encode2} | ${tf(GFLOP.encode2, r.api.encode2)} | ${ms(pt.encode2)} | ${sp(pt.encode2, r.api.encode2)} |`);
    print(`| VAE decode (API, incl. readback) | ${ms(r.api.decode)} | ${GFLOP.decode} | ${tf(GFLOP.decode, r.api.decode)} | ${ms(pt.decode)} | ${sp(pt.decode, r.api.decode)} |`);
    print(`| CPU post-processing (API) | ${ms(r.api.post)} | | | | |`);
    print(`| **whole inpaint (API)** | **${ms(r.api.whole)}** | ${GFLOP.whole} | ${tf(GFLOP.whole, r.api.whole)} | ${ms(pt.whole)} | ${sp(pt.whole, r.api.whole)} |`);
    print(`| whole inpaint, pipelined (no wait between steps; no post-processing) | ${ms(r.pipelined.whole)} | ${GFLOP.whole} | ${tf(GFLOP.whole, r.pipelined.whole)} | ${ms(pt.whole)} | ${sp(pt.whole, r.pipelined.whole)} |`);
    print();
    print(`- runs (API): ${r.api.wholeAll.map(ms).join(', ')} ms; pipelined: ${r.pipelined.wholeAll.map(ms).join(', ')} ms; first run (compiles pipelines): ${ms(r.firstRunMs)} ms, second (traced for the tensor arena): ${ms(r.secondRunMs)} ms; engine creation incl. synthetic weights: ${(r.loadMs / 1000).toFixed(1)} s`);
    print(`- CPU time to record (wasm + JS): one step ${ms(r.pipelined.recordStep)} ms (in engine.inpaint: ${ms(r.api.recordStep)} ms, overlapped with the GPU's previous step), encode ${ms(r.pipelined.recordEncode)} ms, decode ${ms(r.pipelined.recordDecode)} ms`);
    print(`- GPU memory, device buffers: weights + resident ${gb(r.weightsLiveBytes)} GB; peak during inpaints ${gb(r.peakLiveBytes)} GB ` +
          `(target < ${gb(TARGETS.peakBytes[dtype])} GB: ${r.peakLiveBytes < TARGETS.peakBytes[dtype] ? 'met' : 'NOT met'})`);
    if (r.check) {
        const e = (v) => (typeof v === 'number' ? v.toExponential(2) : v);
        print(`- vs the fixtures (untimed run): max |diff| latents after the last step ${e(r.check.maxAbsDiffLatents)} ` +
              `(max |ref| ${r.check.maxAbsRefLatents.toFixed(2)}), decoded ${e(r.check.maxAbsDiffDecoded)} (max |ref| ${r.check.maxAbsRefDecoded.toFixed(2)})`);
    }
    if (r.smiPeakMiB !== null) print(`- nvidia-smi memory.used: peak ${r.smiPeakMiB} MiB during the timed runs (${r.smiBaseMiB} MiB before the first engine; includes the Vulkan/Dawn context)`);
    if (r.timeline) {
        print();
        print(`### GPU timeline of one engine.inpaint (${dtype}; ms from its start; GPU times mapped to the CPU's clock)`);
        print();
        print('| stage | batches | dispatches | CPU records | last submit | GPU span | GPU busy | GPU idle in span |');
        print('|---|---:|---:|---:|---:|---:|---:|---:|');
        for (const [k, s] of Object.entries(r.timeline.summary)) {
            print(`| ${k} | ${s.batches} | ${s.dispatches} | ${ms(s.cpuBegin)} | ${ms(s.cpuLastSubmit)} | ${ms(s.gpuBegin)}–${ms(s.gpuEnd)} | ${ms(s.gpuBusy)} | ${ms(s.gpuIdle)} |`);
        }
        print();
        print(`events: ${r.timeline.events.map((e) => `${e.stage}${e.stage === 'step' ? ' ' + e.step : ''} ${ms(e.t)}`).join(', ')}`);
        print();
        const long = r.timeline.spans.filter((s) => s.end - s.start >= 0.5 && !s.name.startsWith('mw_job_step'));
        print(`CPU spans ≥ 0.5 ms but the steps' (wasm calls, bridge waits): ${long.map((s) => `${s.name} ${ms(s.start)}–${ms(s.end)}`).join(', ')}`);
        print();
        print('batches of the encode and the decode (CPU begin / submit → GPU begin–end, dispatches):');
        print();
        for (const b of r.timeline.batches.filter((x) => !x.label.startsWith('step'))) {
            print(`- ${b.label}: ${ms(b.cpuBegin)} / ${ms(b.cpuSubmit)} → ${ms(b.gpuBegin)}–${ms(b.gpuEnd)} (${b.dispatches})`);
        }
    }
    if (r.profile) {
        print();
        print(`### GPU time per op (${dtype}, timestamp queries, one pass per op)`);
        print();
        for (const [stage, p] of Object.entries(r.profile)) {
            const label = stage === 'step' ? `UNet CFG step (mean of ${r.stepsRun})` : stage === 'encode' ? 'VAE encode ×2' : 'VAE decode';
            print(`${label}: ${ms(p.gpuMs)} ms of GPU time in op passes`);
            print();
            print('| op | calls | ms | share | TFLOP/s |');
            print('|---|---:|---:|---:|---:|');
            for (const e of p.byKind) print(`| ${e.key} | ${+e.n.toFixed(1)} | ${ms(e.ms)} | ${(100 * e.ms / p.gpuMs).toFixed(1)}% | ${e.flops ? (e.flops / e.ms / 1e9).toFixed(1) : ''} |`);
            print();
            print('top shapes:');
            print();
            print('| op, shape | calls | ms | share | TFLOP/s |');
            print('|---|---:|---:|---:|---:|');
            for (const e of p.byLabel.slice(0, 12)) print(`| ${e.key} | ${+e.n.toFixed(1)} | ${ms(e.ms)} | ${(100 * e.ms / p.gpuMs).toFixed(1)}% | ${e.flops ? (e.flops / e.ms / 1e9).toFixed(1) : ''} |`);
            print();
        }
    }
    print();
}
print('## Targets');
print();
for (const [dtype, r] of Object.entries(results.dtypes)) {
    const pt = PYTORCH_MS[dtype].whole;
    print(`- ${dtype}: whole inpaint ${ms(r.api.whole)} ms (API) / ${ms(r.pipelined.whole)} ms (pipelined) vs < ${TARGETS.wholeMs} ms: ` +
          `${r.api.whole < TARGETS.wholeMs ? 'met' : 'NOT met'}${pt ? `; ${(pt / r.api.whole).toFixed(2)}× PyTorch fp16 (target ≥ ${TARGETS.speedup}×: ${pt / r.api.whole >= TARGETS.speedup ? 'met' : 'NOT met'})` : ''}; ` +
          `peak GPU memory ${gb(r.peakLiveBytes)} GB vs < ${gb(TARGETS.peakBytes[dtype])} GB: ${r.peakLiveBytes < TARGETS.peakBytes[dtype] ? 'met' : 'NOT met'}`);
}
if (modelBytes !== null) {
    print(`- weights download (f16 model file, UNet + VAE): ${modelBytes} bytes = ${gb(modelBytes)} GB (${modelBytesHow}) vs < ${gb(TARGETS.modelBytes)} GB: ${modelBytes < TARGETS.modelBytes ? 'met' : 'NOT met'}`);
} else {
    print('- weights download: not measured (give --model-file or --model-bytes)');
}
if (smiAll) print(`- nvidia-smi over the whole benchmark: peak ${smiAll.peakMiB} MiB, first sample ${smiAll.baseMiB} MiB (${smiAll.n} samples)`);
results.modelBytes = modelBytes;
results.modelBytesHow = modelBytesHow;
results.report = out.join('\n');
if (opt.json) writeFileSync(opt.json, JSON.stringify(results, null, 1));
