// webgpu_harness.mjs: what bench/bench_webgpu.mjs and tests/gpu/full_model.mjs share — a Dawn GPU
// object from the environment, an engine (web/js/moebius.js) on the fixtures' synthetic weights made
// in wasm memory (the full model's 1.2 GB of weights need not travel to the GPU machine), and three
// instruments hooked into the engine's GpuBridge without changing it:
//   - MemTracker: bytes of every GPUBuffer alive on the device (the bridge's tensors, scratch, uniform
//     arena, readback staging), with the peak;
//   - op hooks: the bridge reaches the op launchers through Module.moebiusGpu.ops, so a wrapper sees each
//     backend.h op with its buffer ids and shapes (the latents of a DDIM step = the output of its axpby);
//   - OpProfiler: GPU time per backend.h op from timestamp queries (one compute pass per op, each pass
//     with timestampWrites), where the device has 'timestamp-query'.
//
// Environment: MOEBIUS_DAWN_ARGS (space-separated Dawn options, default backend=vulkan),
// MOEBIUS_DAWN_FEATURES (comma list for enable-dawn-features, e.g. allow_unsafe_apis,vulkan_enable_f16_on_nvidia),
// MOEBIUS_WASM (the engine's glue .js, default build/wasm/moebius.js).

import {readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

import {create, globals} from 'webgpu';

import {bridgeTuning} from '../src/backend/webgpu/bridge.js';
import * as ops from '../src/backend/webgpu/ops.js';
import {createEngine, Engine} from '../web/js/moebius.js';

Object.assign(globalThis, globals);

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Dawn options from the environment; `extra` appended (e.g. disable-dawn-features=timestamp_quantization). */
export function dawnArgs(extra = []) {
    const args = (process.env.MOEBIUS_DAWN_ARGS ?? 'backend=vulkan').split(/[\s;]+/).filter(Boolean);
    const features = process.env.MOEBIUS_DAWN_FEATURES;
    if (features) args.push(`enable-dawn-features=${features}`);
    return [...args, ...extra];
}

/** npm webgpu's GPU object. */
export function createGpu(extra = []) { return create(dawnArgs(extra)); }

// ------------------------------------------------------------------ memory

const MIB = 1 << 20;

/** Bytes of the device's live GPUBuffers, and their peak since the last resetPeak(). */
export class MemTracker {
    constructor() {
        this.live = 0;
        this.peak = 0;
        this.count = 0;
    }

    /** Hooks device.createBuffer (and each buffer's destroy); call before anything is allocated. */
    attach(device) {
        const create = device.createBuffer.bind(device);
        device.createBuffer = (desc) => {
            const buf = create(desc);
            const size = desc.size;
            this.live += size;
            this.count++;
            this.peak = Math.max(this.peak, this.live);
            const destroy = buf.destroy.bind(buf);
            let gone = false;
            buf.destroy = () => {
                if (!gone) { gone = true; this.live -= size; this.count--; }
                destroy();
            };
            return buf;
        };
    }

    resetPeak() { this.peak = this.live; }
}

/**
 * Wraps a GPU object so that every device made from it is tracked by `mem` from its first buffer on.
 * The wrapper keeps the real GPU object alive (npm webgpu tears devices down when it is collected).
 */
function trackedGpu(gpu, mem) {
    return {
        gpu,
        async requestAdapter(opts) {
            const adapter = await gpu.requestAdapter(opts);
            if (!adapter) return adapter;
            const requestDevice = adapter.requestDevice.bind(adapter);
            adapter.requestDevice = async (desc) => {
                const device = await requestDevice(desc);
                if (device) mem.attach(device);
                return device;
            };
            return adapter;
        },
    };
}

/**
 * Starts `nvidia-smi` sampling the GPU's memory.used every 50 ms (where it exists); stop() returns
 * {peakMiB, baseMiB} (base: the first sample) or null.
 */
export async function nvidiaSmiSampler() {
    const {spawn, spawnSync} = await import('node:child_process');
    if (spawnSync('nvidia-smi', ['-L'], {encoding: 'utf8'}).status !== 0) return {stop: async () => null};
    const p = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '50'],
                    {stdio: ['ignore', 'pipe', 'ignore']});
    const samples = [];
    p.stdout.setEncoding('utf8');
    let buf = '';
    p.stdout.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop();
        for (const l of lines) if (/^\s*\d+/.test(l)) samples.push(Number(l));
    });
    return {
        /** @param {number} [from] index of the first sample to consider */
        mark: () => samples.length,
        peakSince: (from) => (samples.length > from ? Math.max(...samples.slice(from)) : null),
        base: () => samples[0] ?? null,
        async stop() {
            p.kill('SIGTERM');
            await new Promise((r) => p.once('exit', r));
            return samples.length ? {peakMiB: Math.max(...samples), baseMiB: samples[0], n: samples.length} : null;
        },
    };
}

// ------------------------------------------------------------------ op hooks

/** FLOPs of one backend.h op call (multiply-adds count 2), 0 for memory-bound ops. */
export function opFlops(name, a) {
    switch (name) {
        case 'conv2d': {
            const stride = a.stride ?? 1, [pt, pl, pb, pr] = a.pad ?? [0, 0, 0, 0], groups = a.groups ?? 1;
            const Ho = Math.floor((a.H + pt + pb - a.kh) / stride) + 1, Wo = Math.floor((a.W + pl + pr - a.kw) / stride) + 1;
            return 2 * a.B * a.Cout * Ho * Wo * (a.Cin / groups) * a.kh * a.kw;
        }
        case 'linear': return 2 * a.rows * a.K * a.N;
        case 'matmul': return 2 * Math.max(a.Ba, a.Bb) * a.M * a.N * a.K;
        case 'lambda_local_position': {
            const N = a.H * a.W, rr = a.r * a.r, z = a.B * a.heads;
            return 2 * z * rr * N * a.kdim + 2 * z * a.vdim * N * rr;  // Q·W GEMM + the r×r gather
        }
        case 'lambda_global_position': return 2 * a.B * a.heads * a.N * a.L * (a.kdim + a.vdim);
        default: return 0;
    }
}

/** A short label of an op call: its kind and the shape numbers that tell its instances apart. */
export function opLabel(name, a) {
    switch (name) {
        case 'conv2d': {
            const kind = (a.groups ?? 1) > 1 && a.groups === a.Cin ? 'dw' : a.kh === 1 && a.kw === 1 ? '1x1' : `${a.kh}x${a.kw}`;
            return `conv2d ${kind} ${a.Cin}->${a.Cout} @${a.H}x${a.W} B${a.B}${(a.stride ?? 1) > 1 ? ' s2' : ''}`;
        }
        case 'linear': return `linear ${a.rows}x${a.K}->${a.N}`;
        case 'matmul': return `matmul B${Math.max(a.Ba, a.Bb)} ${a.M}x${a.K}x${a.N}${a.ta ? ' ta' : ''}${a.tb ? ' tb' : ''}`;
        case 'group_norm': return `group_norm C${a.C} S${a.S} B${a.B}`;
        case 'layer_norm_channels': return `layer_norm C${a.C} S${a.S} B${a.B}`;
        case 'lambda_local_position': return `lambda_local h${a.heads} k${a.kdim} v${a.vdim} @${a.H}x${a.W} r${a.r} B${a.B}`;
        case 'lambda_global_position': return `lambda_global h${a.heads} k${a.kdim} v${a.vdim} N${a.N} L${a.L} B${a.B}`;
        case 'softmax': return `softmax ${a.rows}x${a.L}`;
        default: return name;
    }
}

/**
 * Replaces gpuCtx.ops (what the wasm backend calls) by wrappers: before(name, args) and
 * after(name, args) run around each op launcher. hookOps(gpuCtx) puts the plain launchers back.
 */
export function hookOps(gpuCtx, before, after) {
    if (!before && !after) {
        gpuCtx.ops = ops;
        return;
    }
    const wrapped = {};
    for (const [name, fn] of Object.entries(ops)) {
        if (typeof fn !== 'function') { wrapped[name] = fn; continue; }
        wrapped[name] = (g, a) => {
            before?.(name, a);
            try {
                return fn(g, a);
            } finally {
                after?.(name, a);
            }
        };
    }
    gpuCtx.ops = wrapped;
}

// ------------------------------------------------------------------ timestamp profiler

const QUERY_RESOLVE = 0x200, COPY_SRC = 0x4, COPY_DST = 0x8, MAP_READ = 0x1;

/**
 * GPU time per op: while `enabled`, each op gets compute passes of its own with timestampWrites, and
 * each submitted batch resolves its queries. Passes are split per op only while profiling: a
 * profiled run is slower than a plain one (more passes), so its per-op times are for where the time
 * goes, not for the totals. Query sets hold 4096 queries at most (WebGPU): more are chained.
 */
export class OpProfiler {
    /** @param {import('../src/backend/webgpu/bridge.js').GpuBridge} g */
    constructor(g) {
        this.g = g;
        this.available = g.features.timestampQuery;
        this.enabled = false;
        /** @type {{label: string, name: string, flops: number, call: number, set: number, q: number}[]} */
        this.records = [];
        this.current = null;
        this.calls = 0;
        /** @type {{qs: any, buf: any, next: number, batchStart: number}[]} */
        this.sets = [];
        if (!this.available) return;
        const computePass = g.computePass.bind(g), flush = g.flush.bind(g);
        g.computePass = () => {
            if (!this.enabled || !this.current) return computePass();
            g.beginBatch();
            if (!g.pass) {
                let s = this.sets.at(-1);
                if (!s || s.next + 2 > QUERIES_PER_SET) {
                    if (s) this.resolvePending(s);
                    s = this.newSet();
                }
                const q = s.next;
                s.next += 2;
                g.pass = g.encoder.beginComputePass({timestampWrites: {querySet: s.qs, beginningOfPassWriteIndex: q,
                                                                       endOfPassWriteIndex: q + 1}});
                this.records.push({...this.current, set: this.sets.length - 1, q});
            }
            return g.pass;
        };
        g.flush = () => {
            if (g.encoder && this.sets.some((s) => s.next > s.batchStart)) {
                if (g.pass) { g.pass.end(); g.pass = null; }  // resolves go between passes
                for (const s of this.sets) this.resolvePending(s);
            }
            flush();
        };
    }

    newSet() {
        const dev = this.g.device;
        // Reuse the sets of earlier collect()s.
        const s = this.spare?.pop() ?? {qs: dev.createQuerySet({type: 'timestamp', count: QUERIES_PER_SET}),
                                         buf: dev.createBuffer({size: QUERIES_PER_SET * 8, usage: QUERY_RESOLVE | COPY_SRC})};
        Object.assign(s, {next: 0, batchStart: 0});
        this.sets.push(s);
        return s;
    }

    /** Resolves the queries written since the last resolve into the set's buffer (in the current encoder). */
    resolvePending(s) {
        if (s.next <= s.batchStart) return;
        this.g.encoder.resolveQuerySet(s.qs, s.batchStart, s.next - s.batchStart, s.buf, s.batchStart * 8);
        // resolveQuerySet's destination offset must be a multiple of 256 bytes (32 queries).
        s.next = Math.min(Math.ceil(s.next / 32) * 32, QUERIES_PER_SET);
        s.batchStart = s.next;
    }

    /** The op hooks (for hookOps). */
    before(name, a) {
        if (!this.enabled) return;
        const g = this.g;
        if (g.pass) { g.pass.end(); g.pass = null; }
        this.current = {label: opLabel(name, a), name, flops: opFlops(name, a), call: ++this.calls};
    }
    after() {
        if (!this.enabled) return;
        const g = this.g;
        if (g.pass) { g.pass.end(); g.pass = null; }
        this.current = null;
    }

    /** Reads the timestamps of everything recorded since the last collect(): [{label, name, flops, call, ms}] per pass. */
    async collect() {
        if (!this.available || !this.records.length) return [];
        await this.g.sync();
        const dev = this.g.device;
        const times = [];
        for (const s of this.sets) times.push(await readTimestamps(dev, s.buf, s.next));
        const out = this.records.map((r) => {
            const t = times[r.set];
            return {label: r.label, name: r.name, flops: r.flops, call: r.call, ms: Number(t[r.q + 1] - t[r.q]) / 1e6};
        });
        this.records = [];
        this.spare = [...(this.spare ?? []), ...this.sets];
        this.sets = [];
        return out;
    }
}

const QUERIES_PER_SET = 4096;

/**
 * The first `count` resolved timestamps of a query-resolve buffer, read back (ns, BigUint64Array).
 * @param {any} dev @param {any} buf @param {number} count
 */
async function readTimestamps(dev, buf, count) {
    const bytes = count * 8;
    const staging = dev.createBuffer({size: Math.max(bytes, 8), usage: MAP_READ | COPY_DST});
    const enc = dev.createCommandEncoder();
    if (bytes) enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
    dev.queue.submit([enc.finish()]);
    await staging.mapAsync(MAP_READ);
    const t = new BigUint64Array(staging.getMappedRange().slice(0, bytes));
    staging.unmap();
    staging.destroy();
    return t;
}

/**
 * The GPU's timeline of whole batches, against the CPU's: each compute pass (one per submitted batch,
 * unless a copy splits it) gets timestampWrites, and its record keeps the CPU times at which it began
 * recording and was submitted, and the stage that `label` names then. GPU times are mapped onto the
 * CPU's clock (performance.now) by one timestamped pass submitted while the GPU is idle (its start is
 * taken as its submit time, so mapped times are late by the submit latency, tens of µs). Up to 2048
 * passes between collect()s.
 */
export class BatchTimeline {
    /** @param {import('../src/backend/webgpu/bridge.js').GpuBridge} g */
    constructor(g) {
        this.g = g;
        this.available = g.features.timestampQuery;
        this.enabled = false;
        this.label = '';
        /** @type {{label: string, q: number, cpuBegin: number, cpuSubmit: number, dispatches: number}[]} */
        this.records = [];
        if (!this.available) return;
        const dev = g.device;
        this.qs = dev.createQuerySet({type: 'timestamp', count: QUERIES_PER_SET});
        this.buf = dev.createBuffer({size: QUERIES_PER_SET * 8, usage: QUERY_RESOLVE | COPY_SRC});
        this.next = 0;
        const computePass = g.computePass.bind(g), flush = g.flush.bind(g);
        g.computePass = () => {
            if (!this.enabled || g.pass) return computePass();
            if (this.next + 2 > QUERIES_PER_SET) throw new Error('BatchTimeline: more than 2048 passes; collect() sooner');
            g.beginBatch();
            const q = this.next;
            this.next += 2;
            g.pass = g.encoder.beginComputePass({timestampWrites: {querySet: this.qs, beginningOfPassWriteIndex: q,
                                                                   endOfPassWriteIndex: q + 1}});
            this.records.push({label: this.label, q, cpuBegin: performance.now(), cpuSubmit: NaN, dispatches: g.stats.dispatches});
            return g.pass;
        };
        // The queries are resolved once, in collect(): a query set keeps its values, and resolving at
        // each flush would need 256-byte aligned offsets (32 queries a batch).
        g.flush = () => {
            flush();
            const t = performance.now();
            for (let i = this.records.length - 1; i >= 0 && Number.isNaN(this.records[i].cpuSubmit); i--) this.records[i].cpuSubmit = t;
        };
    }

    /**
     * GPU time (ns, BigInt) minus CPU time (ms): timestamped empty passes on an idle GPU, each taken as
     * starting when it was submitted; the smallest of 5 (a later start only overstates the offset).
     */
    async calibrate() {
        const g = this.g, dev = g.device;
        await g.sync();
        for (let i = 0; i < 5; i++) {
            const enc = dev.createCommandEncoder();
            enc.beginComputePass({timestampWrites: {querySet: this.qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1}}).end();
            enc.resolveQuerySet(this.qs, 0, 2, this.buf, 0);
            const c0 = performance.now();
            dev.queue.submit([enc.finish()]);
            await dev.queue.onSubmittedWorkDone();
            const off = (await readTimestamps(dev, this.buf, 2))[0] - BigInt(Math.round(c0 * 1e6));
            if (i === 0 || off < this.offsetNs) this.offsetNs = off;
        }
        this.next = 0;
    }

    /**
     * The passes recorded since calibrate() / the last collect(), GPU work awaited:
     * [{label, cpuBegin, cpuSubmit, gpuBegin, gpuEnd, dispatches}] (ms on the CPU's clock).
     */
    async collect() {
        await this.g.sync();
        const dev = this.g.device;
        if (this.next > 0) {
            const enc = dev.createCommandEncoder();
            enc.resolveQuerySet(this.qs, 0, this.next, this.buf, 0);
            dev.queue.submit([enc.finish()]);
        }
        const t = await readTimestamps(dev, this.buf, this.next);
        const cpu = (/** @type {bigint} */ ns) => Number(ns - this.offsetNs) / 1e6;
        const recs = this.records;
        const end = this.g.stats.dispatches;
        const out = recs.map((r, i) => ({label: r.label, cpuBegin: r.cpuBegin, cpuSubmit: r.cpuSubmit,
                                         gpuBegin: cpu(t[r.q]), gpuEnd: cpu(t[r.q + 1]),
                                         dispatches: (recs[i + 1]?.dispatches ?? end) - r.dispatches}));
        this.records = [];
        this.next = 0;
        return out;
    }
}

/**
 * Sums profiler records by a key: [{key, n, ms, flops}], largest time first. A pass split by a batch
 * flush counts its op once (n counts op calls, not passes).
 * @param {{label: string, name: string, flops: number, ms: number}[]} recs @param {'label' | 'name'} by
 */
export function summarize(recs, by = 'label') {
    const m = new Map();
    const seen = new Set();
    for (const r of recs) {
        const k = r[by];
        const e = m.get(k) ?? {key: k, n: 0, ms: 0, flops: 0};
        e.ms += r.ms;
        if (!seen.has(r.call)) {  // the first pass of this op call
            seen.add(r.call);
            e.n++;
            e.flops += r.flops;
        }
        m.set(k, e);
    }
    return [...m.values()].sort((a, b) => b.ms - a.ms);
}

// ------------------------------------------------------------------ engine on synthetic weights

/**
 * An engine on the fixtures' synthetic weights for `config` ('full' | 'tiny'), made in wasm memory.
 * Returns {engine, gpuCtx, mem, g}: gpuCtx is Module.moebiusGpu (hook ops there), mem tracks every
 * GPUBuffer of the engine's device. beforeBackend(gpuCtx) runs once the bridge exists, before the
 * wasm backend is made on it.
 * MOEBIUS_SUBGROUP_MATRIX=0 in the environment turns the matrix-unit kernels off.
 * @param {{gpu: any, f16: boolean, config?: string, glue?: string, beforeBackend?: (ctx: any) => void}} o
 */
// MOEBIUS_MATRIX_GEMM=auto|direct|direct-64x64|staged: which matrix-unit GEMM takes whole tiles (ops.matrixTuning).
if (process.env.MOEBIUS_MATRIX_GEMM) ops.matrixTuning.gemm = /** @type {any} */ (process.env.MOEBIUS_MATRIX_GEMM);
// MOEBIUS_MATRIX_CONV=auto|direct|direct-wide|staged: which matrix-unit kernel takes the convs that are not 1x1.
if (process.env.MOEBIUS_MATRIX_CONV) ops.matrixTuning.conv = /** @type {any} */ (process.env.MOEBIUS_MATRIX_CONV);
// MOEBIUS_STAGED_CONV_TK=auto|32|64: conv2d_subgroup_matrix_staged's K step.
if (process.env.MOEBIUS_STAGED_CONV_TK) {
    const tk = process.env.MOEBIUS_STAGED_CONV_TK;
    if (!['auto', '32', '64'].includes(tk)) throw new Error(`MOEBIUS_STAGED_CONV_TK: expected auto, 32 or 64, got '${tk}'`);
    ops.matrixTuning.stagedConvTK = tk === 'auto' ? tk : /** @type {32 | 64} */ (Number(tk));
}
// MOEBIUS_CONVERT_ON_GPU=on|off: f16 uploads and readbacks of large tensors converted on the GPU (the
// default) or in JS (bridgeTuning.convertOnGpuMin).
const convertOnGpu = process.env.MOEBIUS_CONVERT_ON_GPU;
if (convertOnGpu !== undefined && convertOnGpu !== 'on' && convertOnGpu !== 'off') {
    throw new Error(`MOEBIUS_CONVERT_ON_GPU: expected on or off, got '${convertOnGpu}'`);
}
if (convertOnGpu === 'off') bridgeTuning.convertOnGpuMin = Infinity;
// MOEBIUS_SPLIT_K=auto|off|N: the direct GEMM's split-K where its grid is small (ops.matrixTuning.splitK).
if (process.env.MOEBIUS_SPLIT_K) ops.matrixTuning.splitK = ops.parseSplitK(process.env.MOEBIUS_SPLIT_K, 'MOEBIUS_SPLIT_K');
// MOEBIUS_CONV_SPLIT_K=auto|off|N: the per-tap matrix convs' split-K where their grid is small (ops.matrixTuning.convSplitK).
if (process.env.MOEBIUS_CONV_SPLIT_K) ops.matrixTuning.convSplitK = ops.parseSplitK(process.env.MOEBIUS_CONV_SPLIT_K, 'MOEBIUS_CONV_SPLIT_K');

// MOEBIUS_ARENA=on|off|all-rw|rw-only: tensors in the bridge's tensor arena (on, the default: inputs
// bound to its ranges declared read_write), or a GPU buffer per tensor (off); A/B of what read_write
// declarations cost: all-rw (the arena, every storage binding read_write), rw-only (no arena, every
// binding read_write).
const arenaEnv = process.env.MOEBIUS_ARENA;
const ARENA_MODES = {on: {}, off: {arena: false}, 'all-rw': {readWrite: 'all'}, 'rw-only': {arena: false, readWrite: 'all'}};
if (arenaEnv !== undefined && !(arenaEnv in ARENA_MODES)) {
    throw new Error(`MOEBIUS_ARENA: expected ${Object.keys(ARENA_MODES).join(', ')}, got '${arenaEnv}'`);
}

// MOEBIUS_ARENA_ALIGN=N: where the arena's tensors may start (bytes, a power of two >= 256; default 256).
const arenaAlign = process.env.MOEBIUS_ARENA_ALIGN;
if (arenaAlign !== undefined && !(/^\d+$/.test(arenaAlign) && Number(arenaAlign) >= 256 && (Number(arenaAlign) & (Number(arenaAlign) - 1)) === 0)) {
    throw new Error(`MOEBIUS_ARENA_ALIGN: expected a power of two >= 256, got '${arenaAlign}'`);
}

/** A dispatch count from the environment variable `name`: a whole number >= 1, else a usage error naming it. */
function dispatchCount(name) {
    const raw = process.env[name];
    if (!/^[1-9]\d*$/.test(raw ?? '')) throw new Error(`${name}: expected a whole number of dispatches >= 1, got '${raw}'`);
    return Number(raw);
}

export async function synthEngine({gpu, f16, config = 'full', glue, beforeBackend}) {
    const gluePath = path.resolve(glue ?? process.env.MOEBIUS_WASM ?? path.join(root, 'build/wasm/moebius.js'));
    const wasmBinary = readFileSync(gluePath.replace(/\.js$/, '.wasm'));
    const mem = new MemTracker();
    const factory = (await import(pathToFileURL(gluePath).href)).default;
    let gpuCtx = null;
    // createEngine loads the glue through `moduleFactory` when given one: this one also keeps the
    // Module.moebiusGpu object (for the op hooks) and, where the engine predates {synth} models, maps
    // the model load to mw_model_synth.
    const hasSynth = Engine.prototype.loadModel.toString().includes('mw_model_synth');
    const moduleFactory = async (arg) => {
        gpuCtx = arg.moebiusGpu;
        beforeBackend?.(gpuCtx);
        const m = await factory(arg);
        if (!hasSynth) {
            m._mw_model_load = (be, ptr) => {
                m._free(ptr);
                const n = m.lengthBytesUTF8(config) + 1, pc = m._malloc(n);
                m.stringToUTF8(config, pc, n);
                try { return m._mw_model_synth(be, pc, 1, 2); } finally { m._free(pc); }
            };
        }
        return m;
    };
    const engine = await createEngine({
        gpu: trackedGpu(gpu, mem), model: hasSynth ? {synth: config} : new Uint8Array(1), preferF16: f16,
        // MOEBIUS_SUBGROUP_MATRIX=0 keeps the f16 path on the plain kernels (A/B against the matrix units).
        // MOEBIUS_MAX_BATCH=N: dispatches per submitted batch (the bridge's maxBatchDispatches, default 128);
        // MOEBIUS_FIRST_BATCH=N: in the first batch after a flush (firstBatchDispatches, default 8).
        bridgeOptions: {...(process.env.MOEBIUS_SUBGROUP_MATRIX === '0' ? {subgroupMatrix: false} : {}),
                        ...ARENA_MODES[arenaEnv ?? 'on'],
                        ...(arenaAlign ? {arenaAlign: Number(arenaAlign)} : {}),
                        ...(process.env.MOEBIUS_MAX_BATCH ? {maxBatchDispatches: dispatchCount('MOEBIUS_MAX_BATCH')} : {}),
                        ...(process.env.MOEBIUS_FIRST_BATCH ? {firstBatchDispatches: dispatchCount('MOEBIUS_FIRST_BATCH')} : {})},
        glueUrl: pathToFileURL(gluePath), wasmBinary, moduleFactory,
    });
    return {engine, gpuCtx, mem, g: engine.gpu};
}

/** A C string in the module's heap (free it with M._free). */
export function cstring(M, s) {
    const n = M.lengthBytesUTF8(s) + 1, p = M._malloc(n);
    M.stringToUTF8(s, p, n);
    return p;
}

/** max |a - b| and max |b| over equal-length arrays (NaN in `a` gives Infinity). */
export function maxAbsDiff(a, b) {
    if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
    let err = 0, ref = 0, nan = 0;
    for (let i = 0; i < b.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (!(d <= Infinity)) nan++;
        else if (d > err) err = d;
        ref = Math.max(ref, Math.abs(b[i]));
    }
    return {err: nan ? Infinity : err, ref, nan};
}

export const mib = (b) => b / MIB;
