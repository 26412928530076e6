// bridge.js: the JavaScript side of moebius.cpp's WebGPU backend.
//
// The C++ WebGPU backend (a `Backend` whose methods forward to JS through EM_JS / --js-library)
// never touches WebGPU itself. This module owns the GPUDevice, the buffers (named by small integer
// ids that live in C++ `Tensor`s), the compute pipelines (compiled lazily, cached per kernel, entry
// point, storage type, override constants and `defines`), bind groups (cached) and one command
// encoder per batch of dispatches. The op launchers in ops.js turn backend.h calls (shapes +
// buffer ids) into dispatches of the WGSL kernels in ./kernels. The same module runs in browsers
// (navigator.gpu) and in Node (npm `webgpu`, Dawn).
//
// Setup (JS driver, before the wasm module runs):
//   const g = await GpuBridge.create(navigator.gpu, {preferF16: true});   // or npm webgpu's create([...])
//   Module.moebiusGpu = {g, ops};   // what the EM_JS functions of the C++ backend reach
// GpuBridge.create keeps the GPU object alive (npm webgpu tears devices down when it is collected).
//
// Bridge API, as the C++ backend calls it (all numbers; ids are uint32 in C++ Tensors):
//
// | C++ Backend                     | JS call                                                         | sync |
// |---------------------------------|-----------------------------------------------------------------|------|
// | construction, name()            | g.describe() -> {adapter, features, limits, dtype}              | yes  |
// | zeros(shape), any op's output   | id = g.createTensor(count, zero)   (zero-filled if `zero`)      | yes  |
// | upload(shape, data)             | id = g.createTensor(count, false); g.writeF32(id, HEAPF32.subarray(p>>2, (p>>2)+count)) | yes |
// | download(t)                     | not from C++ (no ASYNCIFY): the JS driver awaits g.readF32(id)  | no   |
// |                                 | after the wasm call that produced `id` returned                 |      |
// | ~Tensor                         | g.destroyBuffer(id)  (a buffer: after the pending batch; an arena range: at once) | yes |
// | conv2d                          | ops.conv2d(g, {x, w, b, y, B, Cin, H, W, Cout, kh, kw, stride, pad: [t, l, b, r], groups, act}) -> {Ho, Wo} | yes |
// | linear                          | ops.linear(g, {x, w, b, y, rows, K, N, act})                    | yes  |
// | matmul                          | ops.matmul(g, {a, b, y, Ba, Bb, M, K, N, ta, tb, alpha})        | yes  |
// | group_norm                      | ops.group_norm(g, {x, gamma, beta, y, B, C, S, groups, eps, act}) | yes |
// | layer_norm_channels             | ops.layer_norm_channels(g, {x, gamma, beta, y, B, C, S, eps})   | yes  |
// | softmax                         | ops.softmax(g, {x, y, rows, L})                                 | yes  |
// | act / add / axpby               | ops.act(g, {x, y, n, act}); ops.add(g, {a, b, y, B, C, S, bCount}); ops.axpby(g, {alpha, a, beta, b, y, n}) | yes |
// | glu_silu / cfg_combine          | ops.glu_silu(g, {x, y, B, C, S}); ops.cfg_combine(g, {x, y, n, guidance}) | yes |
// | concat_channels / concat_batch  | ops.concat_channels(g, {a, b, y, B, Ca, Cb, S}); ops.concat_batch(g, {a, b, y, na, nb}) | yes |
// | slice_batch / transpose12       | ops.slice_batch(g, {x, y, start, count, per}); ops.transpose12(g, {x, y, B, M, N}) | yes |
// | upsample_nearest2x / resize_nearest | ops.upsample_nearest2x(g, {x, y, BC, H, W}); ops.resize_nearest(g, {x, y, BC, H, W, OH, OW}) | yes |
// | lambda_local_position           | ops.lambda_local_position(g, {q, v, w, bias, y, B, heads, kdim, vdim, H, W, r}) | yes |
// | lambda_global_position          | ops.lambda_global_position(g, {q, v, e, y, B, heads, kdim, vdim, N, L}) | yes |
// | sync()                          | g.flush()  (submit); the JS driver then awaits g.sync()         | yes  |
//
// `act` is the C++ Act ordinal (0 None, 1 SiLU, 2 ReLU); `b` may be null (no bias). Errors thrown
// by a sync call cross EM_JS as JS exceptions; the C++ side turns them into moebius::Error.
//
// Everything that is sync only records commands: dispatches go into the current batch (one
// GPUCommandEncoder + compute pass) that is submitted at flush points: g.flush(), g.sync(), a read,
// a write into a buffer the batch uses, a full uniform arena, or every maxBatchDispatches (128; the
// first batch after a flush() after 8) dispatches so that the GPU starts while JS keeps recording.
// Each dispatch's uniforms live in their own 256-byte slot of one uniform arena buffer, written
// once per batch just before the submit (queue order keeps earlier batches' slots intact); the slots
// start over at g.flush() only, so a step's dispatch i always takes slot i. Bind groups are cached
// by (pipeline, buffers, uniform slot) and evicted with their buffers.
//
// Tensors: with the tensor arena on (g.setArena(true), which the engine does once the weights are
// loaded), a tensor is a range of one of the arena's two buffers (its "space", chosen by whoever makes
// it: the engine puts convs', linears' and matmuls' outputs in the other space than their input's,
// everything else in space 0; webgpu_backend.cpp, kMatrixOutputs) at an
// offset planned from an earlier run of the same work (class Arena), else a GPUBuffer of its own. A
// dispatch may then read and write ranges of one buffer, and WebGPU forbids read-only and writable
// uses of a buffer in one dispatch: an input in the same space as one of the dispatch's outputs is
// declared read_write, the others stay read-only (NVIDIA loads read-only storage faster: H100, UNet
// step 20.8 ms read-only, 22.2 with every input read_write). Two writable bindings of one dispatch
// that overlap (axpby(a, a)) are split by a copy of the read one, and optional inputs that are off
// each get their own placeholder.
//
// Errors are typed (GpuError.kind): 'no-adapter' (NoAdapterError), 'device-lost'
// (DeviceLostError), 'out-of-memory' (OutOfMemoryError), 'limit' (LimitError: a buffer, binding,
// grid, workgroup size or workgroup memory beyond the device's limits, caught before WebGPU sees
// it), 'validation' (ValidationError: shader compile errors, invalid commands), 'unsupported'
// (f16 kernels without shader-f16), 'usage' (a wrong kernel, binding, uniform or override name).
// WebGPU reports errors asynchronously: each batch runs inside 'validation' and 'out-of-memory'
// error scopes that are checked at the next async point (read*, sync); a lost device or an
// out-of-memory error poisons the bridge and every later call throws it.

/** @typedef {'f32' | 'f16'} DType */
/** @typedef {number | {id: number, offset?: number, size?: number}} Binding */
/**
 * @typedef {object} DispatchArgs
 * @property {string} [entry]                        entry point, default 'main'
 * @property {Record<string, Binding>} bindings      storage bindings by WGSL variable name
 * @property {Record<string, number>} [uniforms]     fields of the kernel's `struct Params` (missing = 0)
 * @property {Record<string, number|boolean>} [constants]  override constants (e.g. ACT, BIAS)
 * @property {Record<string, number>} [defines]      new values for the kernel's `const` lines (tile sizes)
 * @property {number | number[]} workgroups          a count (1-D logical grid, folded into x/y/z
 *                                                   when it exceeds the per-dimension limit) or [x, y, z]
 * @property {DType} [dtype]                         storage type variant, default the bridge's dtype
 */

export class GpuError extends Error {
    /** @param {string} kind @param {string} message @param {unknown} [cause] */
    constructor(kind, message, cause) {
        super(message, cause === undefined ? undefined : {cause});
        this.name = 'GpuError';
        this.kind = kind;
    }
}
export class NoAdapterError extends GpuError {
    /** @param {string} message */
    constructor(message) { super('no-adapter', message); this.name = 'NoAdapterError'; }
}
export class DeviceLostError extends GpuError {
    /** @param {string} reason @param {string} message */
    constructor(reason, message) {
        super('device-lost', `WebGPU device lost (${reason}): ${message}`);
        this.name = 'DeviceLostError';
        this.reason = reason;
    }
}
export class OutOfMemoryError extends GpuError {
    /** @param {string} message */
    constructor(message) { super('out-of-memory', message); this.name = 'OutOfMemoryError'; }
}
export class LimitError extends GpuError {
    /** @param {string} message */
    constructor(message) { super('limit', message); this.name = 'LimitError'; }
}
export class ValidationError extends GpuError {
    /** @param {string} message */
    constructor(message) { super('validation', message); this.name = 'ValidationError'; }
}

// GPUBufferUsage / GPUMapMode values (spelled out so the module works where the globals are absent).
const USAGE_MAP_READ = 0x1, USAGE_COPY_SRC = 0x4, USAGE_COPY_DST = 0x8, USAGE_UNIFORM = 0x40,
      USAGE_STORAGE = 0x80;
const MAP_MODE_READ = 0x1;

/** Kernels in ./kernels (common.wgsl is the prelude prepended to each). */
export const KERNEL_NAMES = [
    'gemm_tiled', 'conv2d_implicit_gemm', 'conv_depthwise', 'group_norm', 'layer_norm_channels',
    'softmax_lastdim', 'elementwise', 'concat_channels', 'transpose12', 'upsample_nearest2x',
    'resize_nearest', 'lambda_local_position', 'lambda_global_position',
    'gemm_subgroup_matrix', 'conv2d_subgroup_matrix', 'gemm_reduce_k', 'gemm_subgroup_matrix_direct',
    'conv2d_subgroup_matrix_direct', 'pad_nhwc', 'lambda_local_weights',
    'conv2d_few_outputs', 'gemm_split_k_reduce', 'convert', 'conv2d_subgroup_matrix_staged',
    'gemm_subgroup_matrix_staged',
];
/** f16 uploads / readbacks of at least `convertOnGpuMin` values convert on the GPU (kernels/convert.wgsl);
 *  benchmarks set Infinity to compare with the conversion in JS (MOEBIUS_CONVERT_ON_GPU=off). */
export const bridgeTuning = {convertOnGpuMin: 65536};
/** Their f32 staging buffers are kept for the next one up to this size (a 512x512 RGB image's 3 MB),
 *  larger ones (the weights, once) freed after use: they would raise the inpaint's peak. */
const CONVERT_STAGING_KEEP = 4 << 20;

// Limits that matter to the kernels; the device is requested with the adapter's maxima.
const WANTED_LIMITS = [
    'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
];
const WANTED_FEATURES = ['subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'];

/** Workgroup memory of the subgroup-matrix kernels at their largest (128 x 128) tile: f16 A and B tiles
 *  + one f32 result matrix per subgroup (kernels/subgroup_matrix_tile.wgsl). */
const SUBGROUP_MATRIX_WORKGROUP_BYTES = 2 * (128 * 32 * 2) + 8 * 16 * 16 * 4;

/**
 * The subgroup-matrix configuration the matrix kernels use, or null: f16 operands with f32
 * results, shapes dividing the 32 x 32 per-subgroup tile and the 32-wide K step, subgroups of
 * exactly 32 invocations (4 per 128-invocation workgroup), and room for their workgroup memory.
 * Largest M*N*K first.
 * @param {any} device @param {any} adapter
 * @returns {{M: number, N: number, K: number} | null}
 */
export function pickSubgroupMatrixConfig(device, adapter) {
    if (!device.features.has('chromium-experimental-subgroup-matrix') || !device.features.has('shader-f16')) return null;
    const info = adapter?.info;
    if (!info || info.subgroupMinSize !== 32 || info.subgroupMaxSize !== 32) return null;
    if (device.limits.maxComputeWorkgroupStorageSize < SUBGROUP_MATRIX_WORKGROUP_BYTES) return null;
    const fits = (/** @type {number} */ v) => v >= 8 && 32 % v === 0;
    const configs = [...(info.subgroupMatrixConfigs ?? [])].filter((c) =>
        c.componentType === 'f16' && c.resultComponentType === 'f32' && fits(c.M) && fits(c.N) && fits(c.K));
    configs.sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K);
    return configs.length ? {M: configs[0].M, N: configs[0].N, K: configs[0].K} : null;
}

const UNIFORM_ARENA_BYTES = 256 * 1024;  // 1024 dispatches per batch at 256-byte slots
const FIRST_BATCH_DISPATCHES = 8;  // dispatches in the first batch after a flush()

/** `// include: NAME` on a line of its own: replaced by kernels/NAME.wgsl (a shared part, not a kernel). */
const INCLUDE_LINE = /^[ \t]*\/\/ include: (\w+)[ \t]*$/gm;

/**
 * Reads common.wgsl and every kernel: from disk in Node (file: URLs), with fetch() elsewhere.
 * A kernel's `// include: NAME` lines are replaced by the text of NAME.wgsl (one level: WGSL has
 * no includes, and kernels that share their bindings or a loop keep them in one file).
 * @param {URL} [baseUrl]
 * @returns {Promise<Record<string, string>>}
 */
export async function loadKernelSources(baseUrl = new URL('./kernels/', import.meta.url)) {
    /** @type {(u: URL) => Promise<string>} */
    let read;
    if (baseUrl.protocol === 'file:') {
        const fs = await import('node:fs/promises');
        read = (u) => fs.readFile(u, 'utf8');
    } else {
        read = async (u) => {
            const r = await fetch(u);
            if (!r.ok) throw new GpuError('io', `${u}: HTTP ${r.status}`);
            return r.text();
        };
    }
    const names = ['common', ...KERNEL_NAMES];
    const texts = await Promise.all(names.map((n) => read(new URL(`${n}.wgsl`, baseUrl))));
    const parts = [...new Set(texts.flatMap((t) => [...t.matchAll(INCLUDE_LINE)].map((m) => m[1])))];
    const partTexts = await Promise.all(parts.map((n) => read(new URL(`${n}.wgsl`, baseUrl))));
    const part = Object.fromEntries(parts.map((n, i) => [n, partTexts[i]]));
    for (const [n, t] of Object.entries(part)) {
        if (INCLUDE_LINE.test(t)) throw new GpuError('io', `${n}.wgsl: an included file cannot include another`);
        INCLUDE_LINE.lastIndex = 0;
    }
    return Object.fromEntries(names.map((n, i) => [n, texts[i].replace(INCLUDE_LINE, (_, inc) => part[inc])]));
}

/**
 * What bridge.js needs to know about a kernel, read from its WGSL: bindings by name, the layout of
 * `struct Params`, override constants, entry points with their workgroup sizes, and the workgroup
 * memory it declares.
 * @param {string} name @param {string} src
 */
export function parseKernel(name, src) {
    const code = src.replace(/\/\/[^\n]*/g, '');
    /** @type {Record<string, {binding: number, kind: string}>} */
    const bindings = {};
    let uniformName = null;
    const bindRe = /@group\(0\)\s*@binding\((\d+)\)\s*var<(storage|uniform)(?:\s*,\s*(read|read_write))?>\s*(\w+)/g;
    for (const m of code.matchAll(bindRe)) {
        if (m[2] === 'uniform') uniformName = m[4];
        bindings[m[4]] = {binding: Number(m[1]), kind: m[2] === 'uniform' ? 'uniform' : m[3]};
    }
    /** @type {{name: string, type: string, offset: number}[]} */
    const params = [];
    const sm = /struct\s+Params\s*\{([^}]*)\}/.exec(code);
    if (sm) {
        for (const f of sm[1].split(',').map((s) => s.trim()).filter(Boolean)) {
            const fm = /^(\w+)\s*:\s*(u32|i32|f32)$/.exec(f);
            if (!fm) throw new ValidationError(`${name}.wgsl: Params field '${f}' must be a u32/i32/f32 scalar`);
            params.push({name: fm[1], type: fm[2], offset: 4 * params.length});
        }
    }
    if (uniformName && !sm) throw new ValidationError(`${name}.wgsl: uniform without struct Params`);
    /** @type {Record<string, string>} */
    const overrides = {};
    for (const m of code.matchAll(/override\s+(\w+)\s*:\s*(\w+)/g)) overrides[m[1]] = m[2];
    /** @type {Record<string, number>} */
    const consts = {};
    for (const m of code.matchAll(/const\s+(\w+)\s*:\s*u32\s*=\s*(\d+)u?\s*;/g)) consts[m[1]] = Number(m[2]);
    // Sizes are sums of products of integer literals and u32 consts (`TK * TM`); evaluated here
    // without eval() so the module also runs under a strict Content-Security-Policy.
    const evalSize = (/** @type {string} */ e) => e.split('+').reduce((sum, term) => sum + term.split('*').reduce((prod, f) => {
        const t = f.trim().replace(/^(\d+)u$/, '$1');
        const v = /^\d+$/.test(t) ? Number(t) : consts[t];
        if (v === undefined) throw new ValidationError(`${name}.wgsl: cannot evaluate size '${e}'`);
        return prod * v;
    }, 1), 0);
    let workgroupBytes = 0;
    const storage = /^alias T = (f16|f32);$/m.exec(code)?.[1] ?? 'f32';  // the storage type, as the variant has it
    for (const m of code.matchAll(/var<workgroup>\s+\w+\s*:\s*array<\s*(f32|u32|i32|f16|T)\s*,\s*([^>]+)>/g)) {
        workgroupBytes += ((m[1] === 'T' ? storage : m[1]) === 'f16' ? 2 : 4) * evalSize(m[2]);
    }
    /** @type {Record<string, number[]>} */
    const entries = {};
    for (const m of code.matchAll(/@compute\s*@workgroup_size\(([^)]*)\)\s*fn\s+(\w+)/g)) {
        entries[m[2]] = m[1].split(',').map((s) => s.trim()).filter(Boolean).map(evalSize);
    }
    return {name, source: src, bindings, uniformName, params, paramNames: new Set(params.map((f) => f.name)),
            overrides, consts, workgroupBytes, entries,
            hasTypeAlias: /^alias T = f32;$/m.test(src)};
}

/**
 * Cache key of a pipeline variant (cheap: built on every dispatch).
 * @param {string} kernel @param {string} entry @param {string} dtype
 * @param {Record<string, number|boolean>} constants @param {Record<string, number>} defines
 */
function variantKey(kernel, entry, dtype, constants, defines) {
    let key = `${kernel}.${entry}:${dtype}:`;
    for (const c in constants) key += `${c}=${Number(constants[c])},`;
    key += ':';
    for (const d in defines) key += `${d}=${defines[d]},`;
    return key;
}

const BIND_GROUP_CACHE_MAX = 8192;
/** Default of a dispatch's uniforms / constants / defines (never written). */
const NO_VALUES = Object.freeze({});
const DEFERRED_DESTROY_FLUSH_BYTES = 64 * 1024 * 1024;

/** @param {number} n @param {number} a */
const alignUp = (n, a) => Math.ceil(n / a) * a;

/**
 * Where tensors live while the arena is on (GpuBridge.setArena): ranges of one GPU buffer, at offsets
 * planned from an earlier run of the same work. The engine starts a "segment" at every inpaint
 * (begin()). The first segment runs in buffers of their own, as with the arena off, while its
 * requests and frees are traced; at the next begin(), pack() lays the traced tensors out in one
 * address space (largest first, each at the lowest offset free during its lifetime), and that
 * segment replays the plan (the very first segment is not planned from: see `unplanned`): its k-th request gets the k-th planned range. The same requests get the
 * same ranges, so a replayed inpaint makes no GPU buffers and finds the bind groups of the one
 * before (keyed by buffer, offset and size). One buffer per tensor instead made ~200 buffers and
 * ~1000 bind groups an inpaint and destroyed them at the stage ends (H100: ~70 ms of createBuffer /
 * destroy / createBindGroup, half of it while the GPU waited). Packing by lifetimes holds the full
 * model's inpaint in its largest live set (452.5 MiB, f16), where online first fit over chunks of
 * 16-512 MiB needed 610-900 MiB.
 * Tensors still alive when their segment ends (the model's caches, made once) are left out of the
 * plan, and a replay skips planned requests it does not make (the temporaries of those caches): the
 * next inpaint does not make them again. A request that no planned one matches, or whose planned range
 * is still taken (frees in another order), is a stray: it goes as high in the buffer as it fits (the
 * plan fills it from the bottom), else into a buffer of its own (offset null), the replay goes on, and
 * the segment's trace becomes the next plan. Ranges start at multiples of `align`
 * (minStorageBufferOffsetAlignment).
 */
export class Arena {
    /** Ids of arena buffers (bind group keys): unique across the bridge's arenas. */
    static nextBufferId = 1;

    /**
     * @param {(bytes: number) => any} makeBuffer  a storage buffer of `bytes`
     * @param {number} maxBytes  largest buffer (maxBufferSize): a plan above it is not used
     * @param {number} align
     * @param {number} [unplanned]  first segments traced but not planned from (default 1: the first
     *   inpaint makes the model's caches and their temporaries, which the next does not; planned from,
     *   the second would stray off it from that point, in the plan's buffer and buffers of its own at once)
     */
    constructor(makeBuffer, maxBytes, align, unplanned = 1) {
        this.makeBuffer = makeBuffer;
        this.maxBytes = maxBytes;
        this.align = align;
        this.unplanned = unplanned;
        /** The buffer (made at the first replayed request); id names it for bind groups; batch: last use. */
        this.buffer = null;
        this.size = 0;
        this.id = 0;
        this.batch = 0;
        /** @type {{sizes: number[], offsets: number[], bytes: number} | null} */
        this.plan = null;
        /** @type {[number, number][]} ranges [offset, end) of the buffer in use, any segment's */
        this.taken = [];
        // The current segment (0: none yet).
        this.segment = 0;
        this.cursor = 0;           // its requests so far
        this.next = 0;             // the plan's next request
        this.strays = 0;           // its requests that the plan does not have
        /** @type {number[]} sizes of its requests, in order */
        this.sizes = [];
        /** @type {number[]} its events: k >= 0 request k made, ~k request k freed */
        this.events = [];
        this.stats = {segments: 0, replayed: 0, plans: 0, misses: 0};
    }

    /** The range size of a request. @param {number} bytes */
    span(bytes) { return alignUp(Math.max(bytes, 4), this.align); }

    /** Ends the current segment (its trace may become the plan) and starts the next one. */
    begin() {
        this.end();
        this.segment++;
        this.cursor = 0;
        this.next = 0;
        this.strays = 0;
        this.sizes = [];
        this.events = [];
        this.stats.segments++;
    }

    /**
     * A request of `bytes` -> {k, segment, offset}: offset null where it needs a buffer of its own (no
     * segment, no plan yet, or a stray that does not fit); (k, segment) name it for free(). @param {number} bytes
     */
    alloc(bytes) {
        const len = this.span(bytes);
        if (this.segment === 0) return {k: 0, segment: 0, offset: null};
        const k = this.cursor++;
        if (k < MAX_TRACE) { this.sizes.push(len); this.events.push(k); }
        let offset = null;
        const plan = this.plan;
        if (plan) {
            // The next planned request of this size within a few (requests the plan has and this run
            // skips: the first inpaint's temporaries of the caches it made), its range free.
            for (let j = this.next; j < Math.min(this.next + PLAN_LOOKAHEAD, plan.sizes.length); j++) {
                if (plan.sizes[j] === len && this.isClear(plan.offsets[j], len)) {
                    offset = plan.offsets[j];
                    this.next = j + 1;
                    break;
                }
            }
            if (offset === null) {
                this.strays++;  // not in the plan: the next plan comes from this segment
                this.stats.misses++;
            } else if (!this.buffer) {
                this.buffer = this.makeBuffer(plan.bytes);
                this.size = plan.bytes;
                this.id = Arena.nextBufferId++;
            }
        }
        // A stray: as high in the buffer as it fits (the plan fills it from the bottom), else a buffer of its own.
        if (offset === null && this.buffer) offset = this.lastFit(len);
        if (offset !== null) this.taken.push([offset, offset + len]);
        return {k, segment: this.segment, offset};
    }

    /** Whether [o, o + len) is clear of the ranges in use. @param {number} o @param {number} len */
    isClear(o, len) { return !this.taken.some(([a, b]) => o < b && a < o + len); }

    /** The highest offset of the buffer where `len` bytes are free, or null. @param {number} len */
    lastFit(len) {
        const used = this.taken.slice().sort((x, y) => y[1] - x[1]);
        let end = this.size;
        for (const [a, b] of used) {
            if (b <= end - len) break;
            end = Math.min(end, a);
        }
        return end - len >= 0 ? end - len : null;
    }

    /**
     * A request freed: its range (if it has one) is free at once.
     * @param {number} k @param {number} segment @param {number | null} offset
     */
    free(k, segment, offset) {
        if (offset !== null) {
            const i = this.taken.findIndex(([a]) => a === offset);
            if (i < 0) throw new GpuError('internal', `arena: range at ${offset} freed twice`);
            this.taken.splice(i, 1);
        }
        if (segment === this.segment && segment !== 0 && this.events.length < 2 * MAX_TRACE) this.events.push(~k);
    }

    /**
     * The segment's end: unless it replayed the plan whole, its trace (without the tensors still
     * alive, which later segments do not make again) becomes the plan, around the ranges still taken.
     */
    end() {
        if (this.segment <= this.unplanned || this.cursor === 0) return;
        if (this.plan && !this.strays && this.next === this.plan.sizes.length) { this.stats.replayed++; return; }
        if (this.cursor > MAX_TRACE) return;
        const freed = new Set(this.events.filter((e) => e < 0).map((e) => ~e));
        const keep = new Map();  // request -> its index in the plan
        this.sizes.forEach((_, k) => { if (freed.has(k)) keep.set(k, keep.size); });
        const sizes = [...keep.keys()].map((k) => this.sizes[k]);
        const events = this.events.filter((e) => keep.has(e >= 0 ? e : ~e)).map((e) => (e >= 0 ? keep.get(e) : ~keep.get(~e)));
        const plan = Arena.pack(sizes, events, this.taken);
        if (!sizes.length || plan.bytes > this.maxBytes) { this.plan = null; return; }
        if (this.buffer && plan.bytes > this.size) {
            if (this.taken.length) { this.plan = null; return; }  // cannot grow under live tensors
            this.buffer = null;  // too small for the new plan: its owner destroys it
            this.size = 0;
        }
        this.plan = plan;
        this.stats.plans++;
    }

    /**
     * Lays a traced segment out in one address space: each request's lifetime (from its event to its
     * free), largest first, at the lowest offset clear of the `pinned` ranges and of the requests
     * placed so far that are alive at the same time.
     * @param {number[]} sizes @param {number[]} events @param {[number, number][]} [pinned]
     * @returns {{sizes: number[], offsets: number[], bytes: number}}
     */
    static pack(sizes, events, pinned = []) {
        const n = sizes.length;
        const start = new Array(n).fill(0), stop = new Array(n).fill(events.length);
        events.forEach((e, t) => { if (e >= 0) start[e] = t; else stop[~e] = t; });
        const order = [...sizes.keys()].sort((a, b) => sizes[b] - sizes[a] || start[a] - start[b]);
        const offsets = new Array(n).fill(0);
        /** @type {number[]} */
        const placed = [];
        let bytes = pinned.reduce((m, r) => Math.max(m, r[1]), 0);
        for (const k of order) {
            const clash = placed.filter((j) => start[j] < stop[k] && start[k] < stop[j])
                                .map((j) => [offsets[j], offsets[j] + sizes[j]]).concat(pinned).sort((a, b) => a[0] - b[0]);
            let o = 0;
            for (const [a, b] of clash) {
                if (o + sizes[k] <= a) break;
                o = Math.max(o, b);
            }
            offsets[k] = o;
            placed.push(k);
            bytes = Math.max(bytes, o + sizes[k]);
        }
        return {sizes: sizes.slice(), offsets, bytes};
    }

    /** Gives the buffer back while no tensor is in it (the plan stays: the next replay makes it again); returns it or null. */
    release() {
        if (this.taken.length || !this.buffer) return null;
        const b = this.buffer;
        this.buffer = null;
        this.size = 0;
        return b;
    }
}
/** The tensor arena's spaces, a buffer each: the ops that gain from read-only inputs write the other
 *  space than their inputs' (the engine chooses; space 0 for everything else). */
export const ARENA_SPACES = 2;
/** Requests traced per segment at most (beyond: no plan from it). */
const MAX_TRACE = 1 << 16;
/** Planned requests a replay may skip to find the next one of a request's size. */
const PLAN_LOOKAHEAD = 64;

export class GpuBridge {
    /**
     * Creates the device and loads the kernels.
     * @param {any} source  a GPU (navigator.gpu or npm webgpu's create()), a GPUAdapter, or a GPUDevice
     * @param {{preferF16?: boolean, kernelSources?: Record<string, string>, powerPreference?: string,
     *          maxBatchDispatches?: number, firstBatchDispatches?: number, maxWorkgroupsPerDim?: number,
     *          maxStorageBindingBytes?: number}} [opts]
     *   maxBatchDispatches: dispatches per submitted batch (default 128); firstBatchDispatches: in the
     *   first batch after a flush() (default 8).
     *   maxWorkgroupsPerDim / maxStorageBindingBytes lower the device's limits (tests use this to
     *   exercise grid folding and the binding-size checks on small shapes).
     * @returns {Promise<GpuBridge>}
     */
    static async create(source, opts = {}) {
        const align = opts.arenaAlign;
        if (align !== undefined && !(Number.isInteger(align) && align >= 256 && (align & (align - 1)) === 0)) {
            throw new GpuError('usage', `bridge option arenaAlign: expected a power of two >= 256, got ${align}`);
        }
        if (opts.readWrite !== undefined && opts.readWrite !== 'arena' && opts.readWrite !== 'all') {
            throw new GpuError('usage', `bridge option readWrite: expected 'arena' or 'all', got ${opts.readWrite}`);
        }
        for (const name of ['maxBatchDispatches', 'firstBatchDispatches']) {
            const v = opts[name];
            if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
                throw new GpuError('usage', `bridge option ${name}: expected a whole number of dispatches >= 1, got ${v}`);
            }
        }
        if (!source) throw new NoAdapterError('WebGPU is not available (no navigator.gpu / GPU object)');
        let adapter = null, device = null, gpu = null;
        if (typeof source.requestAdapter === 'function') {
            gpu = source;
            adapter = await source.requestAdapter({powerPreference: opts.powerPreference ?? 'high-performance'});
            if (!adapter) throw new NoAdapterError('requestAdapter() returned null: no WebGPU adapter on this system');
        } else if (typeof source.requestDevice === 'function') {
            adapter = source;
        } else if (source.queue && typeof source.createBuffer === 'function') {
            device = source;
        } else {
            throw new GpuError('usage', 'GpuBridge.create: expected a GPU, GPUAdapter or GPUDevice');
        }
        if (!device) {
            const wanted = [...WANTED_FEATURES, ...(opts.preferF16 ? ['shader-f16'] : [])];
            const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
            /** @type {Record<string, number>} */
            const requiredLimits = {};
            for (const k of WANTED_LIMITS) if (adapter.limits[k] !== undefined) requiredLimits[k] = adapter.limits[k];
            try {
                device = await adapter.requestDevice({requiredFeatures, requiredLimits});
            } catch (e) {
                throw new GpuError('no-device', `requestDevice failed: ${e instanceof Error ? e.message : e}`, e);
            }
            if (!device) throw new GpuError('no-device', 'requestDevice() returned null');
        }
        const sources = opts.kernelSources ?? await loadKernelSources();
        const bridge = new GpuBridge(device, adapter, sources, opts);
        // Keep the GPU object alive as long as the bridge: with npm webgpu, a collected GPU
        // (Dawn instance) tears down its devices under us (seen as a crash in the next submit).
        bridge.gpu = gpu;
        return bridge;
    }

    /**
     * @param {any} device @param {any} adapter @param {Record<string, string>} sources
     * @param {{preferF16?: boolean, maxBatchDispatches?: number, firstBatchDispatches?: number,
     *          maxWorkgroupsPerDim?: number, maxStorageBindingBytes?: number}} opts
     */
    constructor(device, adapter, sources, opts) {
        this.device = device;
        this.adapter = adapter;
        /** @type {any} the GPU the device came from, if create() was given one (kept alive) */
        this.gpu = null;
        const has = (/** @type {string} */ f) => device.features.has(f);
        this.features = {f16: has('shader-f16'), subgroups: has('subgroups'), timestampQuery: has('timestamp-query'),
                         subgroupMatrix: has('chromium-experimental-subgroup-matrix')};
        /** @type {{M: number, N: number, K: number} | null} matrix-unit config used on the f16 path (ops.js) */
        this.subgroupMatrix = opts.subgroupMatrix === false ? null : pickSubgroupMatrixConfig(device, adapter);
        const L = device.limits;
        this.limits = {
            maxBufferSize: L.maxBufferSize,
            maxStorageBufferBindingSize: Math.min(L.maxStorageBufferBindingSize, opts.maxStorageBindingBytes ?? Infinity),
            maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
            maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
            maxComputeWorkgroupsPerDimension: Math.min(L.maxComputeWorkgroupsPerDimension, opts.maxWorkgroupsPerDim ?? Infinity),
            maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
            minStorageBufferOffsetAlignment: L.minStorageBufferOffsetAlignment,
            minUniformBufferOffsetAlignment: L.minUniformBufferOffsetAlignment,
        };
        /** @type {DType} */
        this.dtype = opts.preferF16 && this.features.f16 ? 'f16' : 'f32';

        this.prelude = sources.common ?? '';
        /** @type {Record<string, ReturnType<typeof parseKernel>>} */
        this.kernels = {};
        for (const name of KERNEL_NAMES) {
            if (sources[name] === undefined) throw new GpuError('io', `kernel source ${name}.wgsl missing`);
            this.kernels[name] = parseKernel(name, sources[name]);
        }

        /** A buffer of its own (base 0) or a range of an arena's buffer (arena set); key names the
         *  memory (bind group cache), owner is what its bind groups are registered under (the id, or minus
         *  the arena buffer's id); arenaK, arenaSegment: its request in the trace of arena `space` (set
         *  for tensors made while the arena is on, in the arena's buffer or not).
         * @type {Map<number, {buffer: any, base: number, size: number, dtype: DType | null, count?: number,
         *                     batch: number, key: string, owner: number, arena?: Arena, arenaK?: number,
         *                     arenaSegment?: number, space?: number}>} */
        this.buffers = new Map();
        this.nextId = 1;
        /** @type {Map<string, any>} */
        this.modules = new Map();
        /** @type {Map<string, {key: string, pipeline: any, layout: any}>} */
        this.pipelines = new Map();
        /** @type {Map<string, any>} bind groups by pipeline + bindings + uniform slot */
        this.bindGroups = new Map();
        /** @type {Map<number, string[]>} bind group keys that use a buffer (evicted with it) */
        this.bindGroupsByBuffer = new Map();
        this.maxBatchDispatches = opts.maxBatchDispatches ?? 128;
        // The first batch after a flush() goes after firstBatchDispatches: the GPU may be idle then
        // (an inpaint's first dispatches, a step whose recording is slow), and starts on it while the
        // rest is recorded.
        this.firstBatchDispatches = Math.min(opts.firstBatchDispatches ?? FIRST_BATCH_DISPATCHES, this.maxBatchDispatches);
        this.batchLimit = this.firstBatchDispatches;
        /** @type {Map<string, number>} */
        this.scratchIds = new Map();
        // The arena may be used (it is off until setArena(true)). A space's ranges share one buffer, so
        // inputs in the space of one of a dispatch's outputs are declared read_write (WebGPU forbids
        // read-only and writable uses of a buffer in one dispatch): readWrite 'arena' (default) does so
        // for those bindings only (a pipeline variant per set), 'all' for every storage binding of every
        // kernel (A/B: all inputs lose the read-only path).
        this.arenaAllowed = opts.arena !== false;
        this.readWrite = opts.readWrite ?? 'arena';
        const makeArenaBuffer = (/** @type {number} */ size) => {
            this.stats.buffersCreated++;
            this.device.pushErrorScope('out-of-memory');
            const buffer = this.device.createBuffer({size, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST});
            this.pendingChecks.push(this.device.popErrorScope().then((/** @type {any} */ err) => {
                if (!err) return null;
                this.fatal ??= new OutOfMemoryError(`creating the tensor arena's buffer of ${size} bytes: ${err.message}`);
                return this.fatal;
            }));
            return buffer;
        };
        const arenaAlign = Math.max(opts.arenaAlign ?? 256, this.limits.minStorageBufferOffsetAlignment);
        /** The arena's spaces (createTensor's `space`), a buffer each. */
        this.arenas = Array.from({length: ARENA_SPACES}, () => new Arena(makeArenaBuffer, this.limits.maxBufferSize, arenaAlign));
        this.arenaOn = false;
        /** dispatch()'s resolved storage bindings (reused objects: dispatch is the hot path) */
        this.bindingEntries = /** @type {any[]} */ ([]);
        /** @type {Map<number, number>} placeholder buffer per binding number (readWrite 'all') */
        this.dummies = new Map();
        /** @type {Map<number, number>} splitOverlaps' copies, per binding number */
        this.aliasIds = new Map();

        this.uniformSlot = Math.max(256, this.limits.minUniformBufferOffsetAlignment);
        this.uniformBuffer = device.createBuffer({size: UNIFORM_ARENA_BYTES, usage: USAGE_UNIFORM | USAGE_COPY_DST});
        this.uniformStaging = new ArrayBuffer(UNIFORM_ARENA_BYTES);
        // Typed views of it (host byte order: little-endian on every platform with WebGPU).
        this.uniformF32 = new Float32Array(this.uniformStaging);
        this.uniformI32 = new Int32Array(this.uniformStaging);
        this.uniformU32 = new Uint32Array(this.uniformStaging);
        this.uniformUsed = 0;
        this.uniformBatchStart = 0;  // the pending batch's first slot (flush() starts the arena over)

        // Current batch.
        this.encoder = null;
        this.pass = null;
        // Buffers the pending batch uses: those whose record's `batch` is this serial (a stamp
        // instead of a Set, since every binding of every dispatch is marked).
        this.batchSerial = 1;
        this.batchDispatches = 0;
        /** @type {any[]} */
        this.deferredDestroy = [];
        this.deferredBytes = 0;
        /** @type {Promise<GpuError | null>[]} */
        this.pendingChecks = [];
        /** @type {GpuError | null} */
        this.fatal = null;
        this.stats = {dispatches: 0, submits: 0, buffersCreated: 0, aliasCopies: 0};
        // A 16-byte buffer bound where a kernel declares an optional input that is switched off
        // (e.g. bias with BIAS = 0): 'auto' layouts still list every statically used binding.
        this.dummyId = this.createBuffer(16);

        this.lost = device.lost.then((/** @type {any} */ info) => {
            this.fatal ??= new DeviceLostError(info?.reason ?? 'unknown', info?.message ?? '');
            return this.fatal;
        });
        if (typeof device.addEventListener === 'function') {
            device.addEventListener('uncapturederror', (/** @type {any} */ ev) => {
                // Errors outside our scopes: reported at the next async point (OOM poisons).
                const msg = ev?.error?.message ?? String(ev?.error);
                const err = /out of memory/i.test(msg) ? new OutOfMemoryError(msg) : new ValidationError(msg);
                if (err instanceof OutOfMemoryError) this.fatal ??= err;
                this.pendingChecks.push(Promise.resolve(err));
                ev?.preventDefault?.();
            });
        }
    }

    /** Adapter, features, limits and storage dtype, for logs and for the C++ side. */
    describe() {
        const info = this.adapter?.info ?? {};
        return {
            adapter: {vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
                      description: info.description ?? ''},
            features: {...this.features}, limits: {...this.limits}, dtype: this.dtype,
            subgroupMatrix: this.subgroupMatrix,
        };
    }

    /** Bytes per element of a storage dtype. @param {DType} [dtype] */
    elemBytes(dtype = this.dtype) { return dtype === 'f16' ? 2 : 4; }

    // ------------------------------------------------------------------ buffers

    /** Throws the error that poisoned the bridge, if any. */
    check() { if (this.fatal) throw this.fatal; }

    /**
     * A zero-filled storage buffer of `bytes` (rounded up to 4) -> id.
     * @param {number} bytes @param {DType | null} [dtype]  element type, for writeF32/readF32
     */
    createBuffer(bytes, dtype = null) {
        this.check();
        const size = alignUp(Math.max(bytes, 4), 4);
        if (size > this.limits.maxBufferSize) {
            throw new LimitError(`buffer of ${size} bytes exceeds maxBufferSize ${this.limits.maxBufferSize}`);
        }
        this.device.pushErrorScope('out-of-memory');
        const buffer = this.device.createBuffer({size, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST});
        const scope = this.device.popErrorScope().then((/** @type {any} */ err) => {
            if (!err) return null;
            this.fatal ??= new OutOfMemoryError(`creating a buffer of ${size} bytes: ${err.message}`);
            return this.fatal;
        });
        this.pendingChecks.push(scope);
        const id = this.nextId++;
        this.buffers.set(id, {buffer, base: 0, size, dtype, batch: 0, key: '#' + id, owner: id});
        this.stats.buffersCreated++;
        return id;
    }

    /**
     * Tensor memory of `bytes`: while the arena is on, a range of the buffer of arena `space` where its
     * plan has one (zero-filled in the current batch if `zero`), else a buffer of its own (zero-filled
     * by WebGPU), traced either way. @param {number} bytes @param {DType | null} dtype @param {boolean} zero
     * @param {number} [space]
     */
    allocate(bytes, dtype, zero, space = 0) {
        if (!Number.isInteger(space) || space < 0 || space >= ARENA_SPACES) {
            throw new GpuError('usage', `tensor arena space ${space}: expected 0 to ${ARENA_SPACES - 1}`);
        }
        if (!this.arenaOn) return this.createBuffer(bytes, dtype);
        this.check();
        const size = alignUp(Math.max(bytes, 4), 4);
        if (size > this.limits.maxStorageBufferBindingSize) {
            throw new LimitError(`tensor of ${size} bytes exceeds maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}`);
        }
        const a = this.arenas[space];
        const {k, segment, offset} = a.alloc(size);
        if (offset === null) {
            const id = this.createBuffer(size, dtype);
            Object.assign(this.buf(id), {arenaK: k, arenaSegment: segment, space});
            return id;
        }
        const id = this.nextId++;
        this.buffers.set(id, {buffer: a.buffer, base: offset, size, dtype, batch: 0, arena: a, arenaK: k, arenaSegment: segment, space,
                              key: a.id + '@' + offset + '+' + size, owner: -a.id});
        if (zero) {
            this.copyEncoder().clearBuffer(a.buffer, offset, size);
            a.batch = this.batchSerial;
        }
        return id;
    }

    /**
     * Tensor memory (createTensor, scratch) from the tensor arena while `on` (see class Arena; needs a
     * bridge made with the arena option); off: a buffer per tensor. Tensors made before stay where they are.
     * @param {boolean} on
     */
    setArena(on) {
        if (on && !this.arenaAllowed) throw new GpuError('usage', 'setArena: the bridge was made with {arena: false}');
        this.arenaOn = on;
    }

    /** Gives back the arena's buffers that no tensor uses (an idle page's memory); the next inpaint makes them again. */
    releaseArena() {
        for (const a of this.arenas) {
            const id = a.id, b = a.release();
            if (b) this.retireArenaBuffer(a, b, id);
        }
    }

    /**
     * Destroys a buffer of arena `a` (after the pending batch, if it uses the arena) and evicts its bind
     * groups. @param {Arena} a @param {any} b @param {number} id
     */
    retireArenaBuffer(a, b, id) {
        if (a.batch === this.batchSerial && !this.fatal) this.submit();
        for (const key of this.bindGroupsByBuffer.get(-id) ?? []) this.bindGroups.delete(key);
        this.bindGroupsByBuffer.delete(-id);
        b.destroy();
    }

    /**
     * createBuffer, then wait for WebGPU's verdict: throws OutOfMemoryError instead of poisoning later.
     * @param {number} bytes @param {DType | null} [dtype]
     */
    async createBufferChecked(bytes, dtype = null) {
        const id = this.createBuffer(bytes, dtype);
        await this.collectErrors();
        return id;
    }

    /**
     * A tensor of `count` elements of the bridge's dtype -> id: zero-filled, or of unspecified contents
     * with `zero` false; in arena `space` while the arena is on (ARENA_SPACES).
     * @param {number} count @param {boolean} [zero] @param {number} [space]
     */
    createTensor(count, zero = true, space = 0) {
        const id = this.allocate(count * this.elemBytes(), this.dtype, zero, space);
        this.buf(id).count = count;
        return id;
    }

    /** @param {number} id */
    buf(id) {
        const rec = this.buffers.get(id);
        if (!rec) throw new GpuError('usage', `unknown buffer id ${id}`);
        return rec;
    }

    /** @param {number} id */
    size(id) { return this.buf(id).size; }

    /** Releases a buffer; if the pending batch uses it, after that batch is submitted. @param {number} id */
    destroyBuffer(id) {
        const rec = this.buf(id);
        this.buffers.delete(id);
        if (rec.arena) {
            // The range is free at once: later dispatches and copies of the pending batch run after the
            // ones that read it, and write() submits first when the batch uses the arena. Its bind
            // groups stay cached (keyed by the range): the next tensor there finds them.
            rec.arena.free(rec.arenaK ?? 0, rec.arenaSegment ?? 0, rec.base);
            return;
        }
        if (rec.arenaK !== undefined) this.arenas[rec.space ?? 0].free(rec.arenaK, rec.arenaSegment ?? 0, null);
        for (const key of this.bindGroupsByBuffer.get(id) ?? []) this.bindGroups.delete(key);
        this.bindGroupsByBuffer.delete(id);
        if (rec.batch !== this.batchSerial) { rec.buffer.destroy(); return; }
        this.deferredDestroy.push(rec.buffer);
        this.deferredBytes += rec.size;
        // A buffer the pending batch uses can only go once the batch is submitted: submit early when
        // much waits, or a stage's intermediates all stay alive to its end (+0.5 GB at the f32 VAE's
        // peak; a flush between ops costs one submit).
        if (this.deferredBytes >= DEFERRED_DESTROY_FLUSH_BYTES && !this.fatal) this.submit();
    }

    /**
     * Starts an arena segment (the engine does at every inpaint): the previous one's trace may become
     * the plan that this one replays (class Arena), in every space. A buffer too small for a new plan goes.
     */
    beginArenaSegment() {
        for (const a of this.arenas) {
            const before = a.buffer, id = a.id;
            a.begin();
            if (before && a.buffer !== before) this.retireArenaBuffer(a, before, id);
        }
    }

    /**
     * Writes raw bytes at `byteOffset`. Submits the pending batch first if it uses this buffer, so
     * the write lands after the work recorded before it.
     * @param {number} id @param {ArrayBufferView | ArrayBuffer} data @param {number} [byteOffset]
     */
    write(id, data, byteOffset = 0) {
        this.check();
        const rec = this.buf(id);
        let bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
                                                : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        if (byteOffset % 4 !== 0) throw new GpuError('usage', `write offset ${byteOffset} is not a multiple of 4`);
        if (byteOffset + bytes.byteLength > rec.size) {
            throw new GpuError('usage', `write of ${bytes.byteLength} bytes at ${byteOffset} overflows buffer ${id} (${rec.size} bytes)`);
        }
        if (bytes.byteLength % 4 !== 0) {  // writeBuffer wants whole words: pad (an f16 tensor of odd length)
            const padded = new Uint8Array(alignUp(bytes.byteLength, 4));
            padded.set(bytes);
            bytes = padded;
        }
        if ((rec.arena ?? rec).batch === this.batchSerial) this.submit();
        this.device.queue.writeBuffer(rec.buffer, rec.base + byteOffset, bytes, 0, bytes.byteLength);
    }

    /**
     * Writes floats, converting to the buffer's dtype (f16 buffers get round-to-nearest-even halves).
     * @param {number} id @param {Float32Array | number[]} values @param {number} [elemOffset]
     */
    writeF32(id, values, elemOffset = 0) {
        const dtype = this.buf(id).dtype ?? 'f32';
        const f = values instanceof Float32Array ? values : Float32Array.from(values);
        if (dtype !== 'f16') {
            this.write(id, f, elemOffset * 4);
        } else if (this.convertOnGpu(f.length)) {
            // f32 into a staging buffer, converted there: no per-value work in JS.
            const staging = this.scratch('convert.upload', f.length * 4, 'f32');
            this.write(staging, f, 0);
            this.dispatch('convert', {entry: 'to_storage_main', bindings: {src32: staging, dst: id},
                                      uniforms: {n: f.length, off: elemOffset}, workgroups: Math.ceil(f.length / 256)});
            // (an arena range goes at once: a kept one would keep the arena from emptying between inpaints)
            if (this.arenaOn || f.length * 4 > CONVERT_STAGING_KEEP) this.releaseScratch('convert.upload');
        } else {
            this.write(id, f32ToF16Array(f), elemOffset * 2);
        }
    }

    /** Whether an f16 upload / readback of n values converts on the GPU: large ones, within the binding limit. */
    convertOnGpu(n) {
        return n >= bridgeTuning.convertOnGpuMin && n * 4 <= this.limits.maxStorageBufferBindingSize;
    }

    /**
     * Copies `byteLength` bytes from `byteOffset` back to the CPU (submits the pending batch).
     * @param {number} id @param {number} [byteOffset] @param {number} [byteLength]
     * @returns {Promise<ArrayBuffer>}
     */
    async read(id, byteOffset = 0, byteLength) {
        this.check();
        const rec = this.buf(id);
        const len = byteLength ?? rec.size - byteOffset;
        if (byteOffset % 4 !== 0) throw new GpuError('usage', `read offset ${byteOffset} is not a multiple of 4`);
        if (byteOffset + len > rec.size) throw new GpuError('usage', `read past the end of buffer ${id}`);
        const copyLen = Math.min(alignUp(len, 4), rec.size - byteOffset);
        const staging = this.device.createBuffer({size: alignUp(copyLen, 4), usage: USAGE_MAP_READ | USAGE_COPY_DST});
        this.copyEncoder().copyBufferToBuffer(rec.buffer, rec.base + byteOffset, staging, 0, copyLen);
        (rec.arena ?? rec).batch = this.batchSerial;
        this.submit();
        try {
            await Promise.race([staging.mapAsync(MAP_MODE_READ), this.lost.then((e) => { throw e; })]);
        } catch (e) {
            await this.collectErrors();
            this.check();
            throw e instanceof GpuError ? e : new GpuError('read', `mapAsync failed: ${e instanceof Error ? e.message : e}`, e);
        }
        const out = staging.getMappedRange(0, alignUp(copyLen, 4)).slice(0, len);
        staging.unmap();
        staging.destroy();
        await this.collectErrors();
        return out;
    }

    /**
     * Reads a tensor as float32 (converting from f16 buffers).
     * @param {number} id @param {number} [count] elements, default the tensor's (or the whole buffer)
     * @returns {Promise<Float32Array>}
     */
    async readF32(id, count) {
        const rec = this.buf(id);
        const dtype = rec.dtype ?? 'f32';
        const eb = dtype === 'f16' ? 2 : 4;
        const n = count ?? rec.count ?? Math.floor(rec.size / eb);
        if (dtype === 'f16' && this.convertOnGpu(n)) {
            // Converted into an f32 staging buffer on the GPU, read from there.
            const staging = this.scratch('convert.readback', n * 4, 'f32');
            this.dispatch('convert', {entry: 'to_f32_main', bindings: {src: id, dst32: staging},
                                      uniforms: {n, off: 0}, workgroups: Math.ceil(n / 256)});
            const out = this.read(staging, 0, n * 4);  // the copy is recorded and submitted here
            if (this.arenaOn || n * 4 > CONVERT_STAGING_KEEP) this.releaseScratch('convert.readback');
            return new Float32Array(await out);
        }
        const raw = await this.read(id, 0, n * eb);
        return dtype === 'f16' ? f16ToF32Array(new Uint16Array(raw)) : new Float32Array(raw);
    }

    /**
     * A buffer reused across calls for temporaries (group-norm statistics, the lambda QW product),
     * grown when too small, one per tag and arena space. Safe to reuse right away: WebGPU orders
     * dispatches that share a buffer.
     * @param {string} tag @param {number} bytes @param {DType | null} [dtype] @param {number} [space]
     */
    scratch(tag, bytes, dtype = null, space = 0) {
        if (space !== 0) tag += '@' + space;
        const id = this.scratchIds.get(tag);
        if (id !== undefined && this.buf(id).size >= bytes) return id;
        if (id !== undefined) {
            // Growing (a larger conv at a new level): submit, so the old one goes before the new one is
            // made instead of lingering to the next flush (34 MB at the f16 VAE encoder's peak).
            this.destroyBuffer(id);
            if (!this.fatal) this.submit();
        }
        const nid = this.allocate(bytes, dtype, false, space);
        this.scratchIds.set(tag, nid);
        return nid;
    }

    /** The arena space a tensor (an id or a binding) was made for (0 outside the arena). @param {number | {id: number}} b */
    spaceOf(b) { return this.buf(typeof b === 'number' ? b : b.id).space ?? 0; }

    /**
     * Frees the scratch buffer of `tag`, or every one (between pipeline stages: a VAE conv's padded
     * input is 135 MB). @param {string} [tag]
     */
    releaseScratch(tag) {
        for (const [t, id] of this.scratchIds) {
            if (tag !== undefined && t !== tag && !t.startsWith(tag + '@')) continue;
            this.destroyBuffer(id);
            this.scratchIds.delete(t);
        }
    }

    /**
     * Records a buffer-to-buffer copy (offsets and size multiples of 4) in the current batch.
     * @param {number} dst @param {number} dstOffset @param {number} src @param {number} srcOffset @param {number} bytes
     */
    copy(dst, dstOffset, src, srcOffset, bytes) {
        this.check();
        if ((dstOffset | srcOffset | bytes) % 4 !== 0) throw new GpuError('usage', 'copy offsets and size must be multiples of 4');
        const s = this.buf(src), d = this.buf(dst);
        if (s.buffer === d.buffer) throw new GpuError('usage', `copy: buffers ${src} and ${dst} share GPU memory (arena ranges): use the copy kernel`);
        this.copyEncoder().copyBufferToBuffer(s.buffer, s.base + srcOffset, d.buffer, d.base + dstOffset, bytes);
        (s.arena ?? s).batch = (d.arena ?? d).batch = this.batchSerial;
    }

    // ------------------------------------------------------------------ pipelines and dispatch

    /**
     * The WGSL actually compiled for a kernel variant: prelude + kernel, with `alias T = f16;` and
     * `enable f16;` for the f16 variant, and each `const NAME: type = value;` named in `defines`
     * given the new value (tile sizes: the JS-side "preprocessor"), and the read-only storage bindings
     * named in `rw` (comma-terminated names, or '*' for all) declared read_write (arena ranges).
     * @param {string} kernel @param {DType} dtype @param {Record<string, number>} [defines] @param {string} [rw]
     */
    shaderCode(kernel, dtype, defines = {}, rw = '') {
        const k = this.kernels[kernel];
        if (!k) throw new GpuError('usage', `unknown kernel '${kernel}'`);
        let src = k.source;
        for (const [name, v] of Object.entries(defines)) {
            const re = new RegExp(`^const ${name}: (u32|i32|f32) = [^;]+;`, 'm');
            const m = re.exec(src);
            if (!m) throw new GpuError('usage', `${kernel}.wgsl has no 'const ${name}' to define`);
            const lit = m[1] === 'u32' ? `${v}u` : m[1] === 'i32' ? `${v}i` : `${v}f`;
            src = src.replace(re, `const ${name}: ${m[1]} = ${lit};`);
        }
        // Global directives (enable, diagnostic) must precede the prelude's declarations.
        const directives = [];
        src = src.replace(/^(enable|diagnostic)\b[^;]*;$/gm, (d) => { directives.push(d); return ''; });
        if (dtype === 'f16') {
            if (!k.hasTypeAlias) throw new GpuError('unsupported', `${kernel}.wgsl has no f16 variant (no 'alias T = f32;')`);
            src = src.replace(/^alias T = f32;$/m, 'alias T = f16;');
        }
        if (dtype === 'f16' || /\bf16\b/.test(src.replace(/\/\/[^\n]*/g, ''))) directives.unshift('enable f16;');
        if (rw === '*') src = src.replace(/var<storage,\s*read>/g, 'var<storage, read_write>');
        else for (const name of rw.split(',')) if (name) src = src.replace(new RegExp(`var<storage,\\s*read>(\\s*${name}\\b)`), 'var<storage, read_write>$1');
        return `${directives.join('\n')}\n${this.prelude}\n${src}`;
    }

    /** @param {string} kernel @param {DType} dtype @param {Record<string, number>} defines @param {string} [rw] */
    module(kernel, dtype, defines, rw = '') {
        const key = `${kernel}:${dtype}:${JSON.stringify(Object.entries(defines).sort())}:${rw}`;
        let m = this.modules.get(key);
        if (!m) {
            if (dtype === 'f16' && !this.features.f16) {
                throw new GpuError('unsupported', `${kernel}: f16 variant needs the shader-f16 feature`);
            }
            const code = this.shaderCode(kernel, dtype, defines, rw);
            // Limits that depend on the variant: workgroup memory (re-read from the final source).
            const wgBytes = parseKernel(kernel, code).workgroupBytes;
            if (wgBytes > this.limits.maxComputeWorkgroupStorageSize) {
                throw new LimitError(`${key}: ${wgBytes} bytes of workgroup memory > ${this.limits.maxComputeWorkgroupStorageSize}`);
            }
            m = this.device.createShaderModule({label: key, code});
            this.modules.set(key, m);
        }
        return m;
    }

    /**
     * Cache key and descriptor of one pipeline variant.
     * @param {string} kernel @param {string} entry @param {DType} dtype
     * @param {Record<string, number|boolean>} constants @param {Record<string, number>} defines
     * @param {string} [rw]  read-only bindings declared read_write (shaderCode)
     */
    pipelineDesc(kernel, entry, dtype, constants, defines, rw = '') {
        const k = this.kernels[kernel];
        if (!k) throw new GpuError('usage', `unknown kernel '${kernel}'`);
        const wg = k.entries[entry];
        if (!wg) throw new GpuError('usage', `${kernel}.wgsl has no entry point '${entry}'`);
        const invocations = wg.reduce((a, b) => a * b, 1);
        if (invocations > this.limits.maxComputeInvocationsPerWorkgroup) {
            throw new LimitError(`${kernel}.${entry}: ${invocations} invocations per workgroup > ${this.limits.maxComputeInvocationsPerWorkgroup}`);
        }
        /** @type {Record<string, number>} */
        const c = {};
        for (const [name, v] of Object.entries(constants)) {
            if (!(name in k.overrides)) throw new GpuError('usage', `${kernel}.wgsl has no override '${name}'`);
            c[name] = typeof v === 'boolean' ? Number(v) : v;
        }
        const key = variantKey(kernel, entry, dtype, constants, defines) + rw;
        return {key, desc: {
            label: key,
            layout: 'auto',
            compute: {module: this.module(kernel, dtype, defines, rw), entryPoint: entry, constants: c},
        }};
    }

    /**
     * @param {string} kernel @param {string} entry @param {DType} dtype
     * @param {Record<string, number|boolean>} constants @param {Record<string, number>} defines
     * @param {string} [rw]  read-only bindings declared read_write (shaderCode)
     */
    pipeline(kernel, entry, dtype, constants, defines, rw = '') {
        const key = variantKey(kernel, entry, dtype, constants, defines) + rw;
        let p = this.pipelines.get(key);
        if (!p) {
            const pipeline = this.device.createComputePipeline(this.pipelineDesc(kernel, entry, dtype, constants, defines, rw).desc);
            p = {key, pipeline, layout: pipeline.getBindGroupLayout(0)};
            this.pipelines.set(key, p);
        }
        return p;
    }

    /**
     * Compiles pipelines ahead of use and reports shader errors with the compiler's messages
     * (dispatch() compiles lazily and WebGPU would report them only at the next sync point).
     * @param {{kernel: string, entry?: string, dtype?: DType, constants?: Record<string, number|boolean>,
     *          defines?: Record<string, number>}[]} list
     */
    async compile(list) {
        this.check();
        for (const {kernel, entry = 'main', dtype = this.dtype, constants = {}, defines = {}} of list) {
            this.device.pushErrorScope('validation');
            const {key, desc} = this.pipelineDesc(kernel, entry, dtype, constants, defines, this.readWrite === 'all' ? '*' : '');
            const scoped = await this.device.popErrorScope();
            const info = await desc.compute.module.getCompilationInfo();
            const errors = info.messages.filter((/** @type {any} */ m) => m.type === 'error');
            if (errors.length || scoped) {
                this.modules.delete(desc.compute.module.label);
                throw new ValidationError(`${kernel}.wgsl (${dtype}) does not compile:\n` + (errors.length ? errors.map(
                    (/** @type {any} */ m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n') : scoped.message));
            }
            try {
                const pipeline = await this.device.createComputePipelineAsync(desc);
                this.pipelines.set(key, {key, pipeline, layout: pipeline.getBindGroupLayout(0)});
            } catch (e) {
                throw new ValidationError(`${key}: ${e instanceof Error ? e.message : e}`);
            }
        }
    }

    /**
     * Folds a 1-D count of workgroups into (x, y, z) within maxComputeWorkgroupsPerDimension; the
     * kernel recovers the linear index with wg_index() and skips the few extra workgroups.
     * @param {number} n
     */
    foldGrid(n) {
        const max = this.limits.maxComputeWorkgroupsPerDimension;
        if (n <= max) return [Math.max(n, 1), 1, 1];
        const rows = Math.ceil(n / max);
        const z = Math.ceil(rows / max);
        const y = Math.ceil(rows / z);
        if (z > max) throw new LimitError(`${n} workgroups exceed ${max}^3`);
        return [Math.ceil(n / (y * z)), y, z];
    }

    /**
     * Records one dispatch of `kernel` in the current batch.
     * @param {string} kernel @param {DispatchArgs} args
     */
    dispatch(kernel, args) {
        this.check();
        const {entry = 'main', bindings, uniforms = NO_VALUES, constants = NO_VALUES, defines = NO_VALUES,
               dtype = this.dtype} = args;
        const k = this.kernels[kernel];
        if (!k) throw new GpuError('usage', `unknown kernel '${kernel}'`);
        // A full uniform arena submits the batch before this dispatch touches the batch state.
        if (k.uniformName && this.uniformUsed + this.uniformSlot > UNIFORM_ARENA_BYTES) this.flush();

        // Grid.
        const max = this.limits.maxComputeWorkgroupsPerDimension;
        const w = args.workgroups;
        let gx, gy = 1, gz = 1;
        if (typeof w === 'number') {
            if (w <= max) gx = Math.max(w, 1);
            else [gx, gy, gz] = this.foldGrid(w);
        } else {
            gx = w.length > 0 ? w[0] : 1;
            if (w.length > 1) gy = w[1];
            if (w.length > 2) gz = w[2];
            if (gx > max || gy > max || gz > max) {
                throw new LimitError(`${kernel}.${entry}: grid [${gx},${gy},${gz}] exceeds maxComputeWorkgroupsPerDimension ${max}`);
            }
        }
        if (gx === 0 || gy === 0 || gz === 0) return;  // nothing to compute (an empty tensor)

        // Storage bindings, checked against the binding limits, as (binding, record, offset, size) in
        // `ents`; the bind group cache key on the way (a plain id binds its whole buffer or arena range:
        // rec.key names the memory, not the id, so a later tensor in the same range finds the group).
        // Inputs bound to arena tensors of a space that the dispatch writes are declared read_write in
        // the pipeline variant (`rw`: their names), since they may share its output's buffer; the
        // others (weights, the other space) stay read-only. By space, not by where the tensors landed:
        // the traced run (buffers of their own) and its replays then use the same pipeline variants.
        const allRw = this.readWrite === 'all';
        let bgKey = '';
        let rw = allRw ? '*' : '';
        let written = 0;  // bit s: an output in arena space s
        const ents = this.bindingEntries;
        let n = 0;
        for (const name in bindings) {
            const b = bindings[name];
            const decl = k.bindings[name];
            if (!decl || decl.kind === 'uniform') throw new GpuError('usage', `${kernel}.wgsl has no storage binding '${name}'`);
            const e = ents[n] ??= {binding: 0, name: '', kind: '', rec: null, offset: 0, size: 0, rw: false};
            n++;
            e.name = name;
            e.binding = decl.binding;
            e.kind = decl.kind;
            if (typeof b === 'number') {
                e.rec = allRw && b === this.dummyId ? this.buf(this.dummyFor(decl.binding)) : this.buf(b);
                e.offset = 0;
                e.size = e.rec.size;
                if (e.size > this.limits.maxStorageBufferBindingSize) this.bindingTooLarge(kernel, entry, name, e.size);
                bgKey += '|' + decl.binding + ':' + e.rec.key;
            } else {
                e.rec = this.buf(b.id);
                e.offset = b.offset ?? 0;
                e.size = b.size ?? e.rec.size - e.offset;
                if (e.size > this.limits.maxStorageBufferBindingSize) this.bindingTooLarge(kernel, entry, name, e.size);
                if (e.offset % this.limits.minStorageBufferOffsetAlignment !== 0) {
                    throw new LimitError(`${kernel}.${entry}: binding '${name}' offset ${e.offset} is not a multiple of ${this.limits.minStorageBufferOffsetAlignment}`);
                }
                bgKey += '|' + decl.binding + ':' + e.rec.key + ':' + e.offset + ':' + e.size;
            }
            if (e.kind === 'read_write' && e.rec.space !== undefined) written |= 1 << e.rec.space;
        }
        for (let i = 0; i < n; i++) {
            const e = ents[i];
            e.rw = e.kind === 'read_write' || allRw || (e.rec.space !== undefined && (written & (1 << e.rec.space)) !== 0);
            if (e.rw && !allRw && e.kind === 'read') rw += e.name + ',';
        }
        const p = this.pipeline(kernel, entry, dtype, constants, defines, rw);
        if (rw !== '' && this.splitOverlaps(kernel, ents, n)) {
            bgKey = '';
            for (let i = 0; i < n; i++) bgKey += '|' + ents[i].binding + ':' + ents[i].rec.key + ':' + ents[i].offset + ':' + ents[i].size;
        }
        bgKey = p.key + bgKey;
        for (let i = 0; i < n; i++) (ents[i].rec.arena ?? ents[i].rec).batch = this.batchSerial;

        // Uniforms into this dispatch's arena slot.
        let off = -1;
        if (k.uniformName) {
            for (const key in uniforms) {
                if (!k.paramNames.has(key)) throw new GpuError('usage', `${kernel}.wgsl Params has no field '${key}'`);
            }
            off = this.uniformUsed;
            const base = off >> 2, f32 = this.uniformF32, i32 = this.uniformI32, u32 = this.uniformU32;
            for (const f of k.params) {
                const v = uniforms[f.name] ?? 0;
                const i = base + (f.offset >> 2);
                if (f.type === 'f32') f32[i] = v;
                else if (f.type === 'i32') i32[i] = v;
                else {
                    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
                        throw new LimitError(`${kernel}.${entry}: uniform ${f.name} = ${v} does not fit u32`);
                    }
                    u32[i] = v;
                }
            }
            this.uniformUsed += this.uniformSlot;
            bgKey += '|u' + off;
        }

        // Bind groups are immutable and cheap to keep: a loop that repeats its ops on the same
        // buffers (and hence the same uniform slots) reuses them instead of creating one per dispatch.
        let bindGroup = this.bindGroups.get(bgKey);
        if (!bindGroup) bindGroup = this.createBindGroup(k, p, bgKey, ents, n, off);
        const pass = this.computePass();
        pass.setPipeline(p.pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(gx, gy, gz);
        this.batchDispatches++;
        this.stats.dispatches++;
        // Submit every maxBatchDispatches (the first batch after a flush sooner) so the GPU starts
        // while JS keeps recording.
        if (this.batchDispatches >= this.batchLimit) this.submit();
    }

    /** @param {string} kernel @param {string} entry @param {string} name @param {number} size */
    bindingTooLarge(kernel, entry, name, size) {
        throw new LimitError(`${kernel}.${entry}: binding '${name}' of ${size} bytes exceeds maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}`);
    }

    /**
     * The placeholder bound for a switched-off optional input at `binding`: one per binding number, since
     * two writable bindings of one dispatch may not share memory. @param {number} binding
     */
    dummyFor(binding) {
        let id = this.dummies.get(binding);
        if (id === undefined) {
            id = this.createBuffer(16);  // a buffer of its own (createBuffer never takes the arena)
            this.dummies.set(binding, id);
        }
        return id;
    }

    /**
     * A buffer of its own (copyBufferToBuffer cannot copy within one buffer, so not an arena range)
     * for splitOverlaps' copy at `binding`, grown when too small. @param {number} binding @param {number} bytes
     */
    aliasBuffer(binding, bytes) {
        let id = this.aliasIds.get(binding);
        if (id !== undefined && this.buf(id).size >= bytes) return id;
        if (id !== undefined) this.destroyBuffer(id);
        id = this.createBuffer(bytes);
        this.aliasIds.set(binding, id);
        return id;
    }

    /**
     * With every binding writable, two bindings of one dispatch may not overlap (WebGPU's aliasing
     * rule), which ops like axpby(a, a) or two halves bound over each other would break: the later
     * read-only one (as the kernel declares it) is copied into a scratch range and bound there.
     * Returns whether it changed a binding. @param {string} kernel @param {any[]} ents @param {number} n
     */
    splitOverlaps(kernel, ents, n) {
        let changed = false;
        for (let i = 1; i < n; i++) {
            for (let j = 0; j < i; j++) {
                const a = ents[j], b = ents[i];
                if (!a.rw || !b.rw || a.rec.buffer !== b.rec.buffer) continue;
                const a0 = a.rec.base + a.offset, b0 = b.rec.base + b.offset;
                if (a0 >= b0 + b.size || b0 >= a0 + a.size) continue;
                const e = b.kind === 'read' ? b : a.kind === 'read' ? a : null;
                if (!e) throw new GpuError('usage', `${kernel}: bindings ${a.binding} and ${b.binding} are both written and overlap`);
                const t = this.buf(this.aliasBuffer(e.binding, e.size));
                this.copyEncoder().copyBufferToBuffer(e.rec.buffer, e.rec.base + e.offset, t.buffer, t.base, alignUp(e.size, 4));
                (e.rec.arena ?? e.rec).batch = this.batchSerial;
                e.rec = t;
                e.offset = 0;
                this.stats.aliasCopies++;
                changed = true;
            }
        }
        return changed;
    }

    /**
     * A bind group cache miss of dispatch(): creates the group (bindings already checked there) and
     * registers it with its buffers (an arena range: the arena's buffer), so that destroying one evicts it.
     * @param {ReturnType<typeof parseKernel>} k @param {{layout: any}} p @param {string} key
     * @param {{binding: number, rec: any, offset: number, size: number}[]} ents @param {number} n
     * @param {number} uniformOffset  -1: no uniforms
     */
    createBindGroup(k, p, key, ents, n, uniformOffset) {
        const entries = [];
        const ids = [];
        for (let i = 0; i < n; i++) {
            const {binding, rec, offset, size} = ents[i];
            entries.push({binding, resource: {buffer: rec.buffer, offset: rec.base + offset, size}});
            ids.push(rec.owner);  // a buffer's id, or minus the arena buffer's
        }
        if (uniformOffset >= 0) {
            entries.push({binding: k.bindings[k.uniformName].binding,
                          resource: {buffer: this.uniformBuffer, offset: uniformOffset, size: alignUp(4 * k.params.length, 16)}});
        }
        if (this.bindGroups.size >= BIND_GROUP_CACHE_MAX) this.clearBindGroupCache();
        const bindGroup = this.device.createBindGroup({layout: p.layout, entries});
        this.bindGroups.set(key, bindGroup);
        for (const id of ids) {
            let keys = this.bindGroupsByBuffer.get(id);
            if (!keys) this.bindGroupsByBuffer.set(id, keys = []);
            keys.push(key);
        }
        return bindGroup;
    }

    clearBindGroupCache() {
        this.bindGroups.clear();
        this.bindGroupsByBuffer.clear();
    }

    // ------------------------------------------------------------------ batching

    beginBatch() {
        if (this.encoder) return;
        this.device.pushErrorScope('out-of-memory');
        this.device.pushErrorScope('validation');
        this.encoder = this.device.createCommandEncoder();
    }

    computePass() {
        this.beginBatch();
        this.pass ??= this.encoder.beginComputePass();
        return this.pass;
    }

    copyEncoder() {
        this.beginBatch();
        if (this.pass) { this.pass.end(); this.pass = null; }
        return this.encoder;
    }

    /**
     * Submits the pending batch and starts the uniform arena over: the drivers call it between steps
     * (and the C++ backend's sync()), so every step's dispatch i takes uniform slot i and finds the
     * bind groups of the step before. Submits within a stage (a full batch, a read, a write into a
     * buffer in use, a grown scratch) keep the arena's position instead (submit()): where they fall
     * differs between the first step, which makes buffers, and the next, and restarting the slots
     * there missed ~650 of a full-size step's ~690 bind groups in step 2 (~25 ms on an H100).
     */
    flush() {
        this.submit();
        this.uniformUsed = this.uniformBatchStart = 0;
        this.batchLimit = this.firstBatchDispatches;
    }

    /** Submits the pending batch (no-op when empty); the uniform slots go on from where they are. */
    submit() {
        this.check();
        if (!this.encoder) return;
        if (this.pass) { this.pass.end(); this.pass = null; }
        if (this.uniformUsed > this.uniformBatchStart) {
            this.device.queue.writeBuffer(this.uniformBuffer, this.uniformBatchStart, this.uniformStaging,
                                          this.uniformBatchStart, this.uniformUsed - this.uniformBatchStart);
        }
        this.device.queue.submit([this.encoder.finish()]);
        this.stats.submits++;
        this.encoder = null;
        this.batchLimit = this.maxBatchDispatches;
        this.uniformBatchStart = this.uniformUsed;
        this.batchSerial++;
        this.batchDispatches = 0;
        for (const b of this.deferredDestroy) b.destroy();
        this.deferredDestroy = [];
        this.deferredBytes = 0;
        const validation = this.device.popErrorScope();
        const oom = this.device.popErrorScope();
        this.pendingChecks.push(
            validation.then((/** @type {any} */ e) => (e ? new ValidationError(e.message) : null)),
            oom.then((/** @type {any} */ e) => {
                if (!e) return null;
                this.fatal ??= new OutOfMemoryError(e.message);
                return this.fatal;
            }));
    }

    /** Awaits the error scopes of everything submitted so far; throws the first error found. */
    async collectErrors() {
        const checks = this.pendingChecks;
        this.pendingChecks = [];
        const errs = await Promise.all(checks.map((p) => p.catch((e) => (e instanceof GpuError ? e : new GpuError('internal', String(e))))));
        const first = errs.find((e) => e);
        if (first) throw first;
        this.check();
    }

    /** Submits pending work and waits until the GPU has finished it; throws any error it caused. */
    async sync() {
        this.flush();
        await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lost]);
        this.check();
        await this.collectErrors();
    }

    /** Releases every buffer and the device. */
    destroy() {
        if (this.pass) { this.pass.end(); this.pass = null; }
        this.encoder = null;
        for (const rec of this.buffers.values()) if (!rec.arena) rec.buffer.destroy();
        this.buffers.clear();
        for (const a of this.arenas) {
            a.buffer?.destroy();
            a.buffer = null;
        }
        this.uniformBuffer.destroy();
        this.device.destroy();
    }
}

// ------------------------------------------------------------------ f16 conversion

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 -> IEEE half bits, round to nearest even (as WGSL's f16() conversion). @param {number} v */
export function f32ToF16Bits(v) {
    f32Scratch[0] = v;
    const x = u32Scratch[0];
    const sign = (x >>> 16) & 0x8000;
    const e = (x >>> 23) & 0xff;
    let m = x & 0x7fffff;
    if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
    const he = e - 127 + 15;
    if (he >= 0x1f) return sign | 0x7c00;
    if (he <= 0) {  // subnormal half (or zero)
        if (he < -10) return sign;
        m |= 0x800000;
        const shift = 14 - he;
        let hm = m >>> shift;
        const rem = m & ((1 << shift) - 1);
        const half = 1 << (shift - 1);
        if (rem > half || (rem === half && (hm & 1))) hm++;
        return sign | hm;
    }
    let h = sign | (he << 10) | (m >>> 13);
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;  // a carry rounds up into the exponent
    return h;
}

/** IEEE half bits -> number. @param {number} h */
export function f16BitsToF32(h) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) return s * m * 2 ** -24;
    if (e === 31) return m ? NaN : s * Infinity;
    return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** @param {Float32Array} f */
/**
 * f32ToF16Bits over an array. Values whose half is normal (the usual case) take an inlined path on the
 * float's bits: a per-call f32ToF16Bits cost ~16 ns a value, 26 ms for the encoder's two 512x512
 * images (it ran before the GPU got any work); the rest (zero, subnormal, overflow, NaN) take
 * f32ToF16Bits. Same bits either way. @param {Float32Array} f
 */
export function f32ToF16Array(f) {
    const out = new Uint16Array(f.length);
    const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
    for (let i = 0; i < u.length; i++) {
        const x = u[i];
        const e = (x >>> 23) & 0xff;
        if (e > 112 && e < 143) {  // half exponent 1..30
            let h = ((x >>> 16) & 0x8000) | ((e - 112) << 10) | ((x >>> 13) & 0x3ff);
            const rem = x & 0x1fff;
            if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;  // nearest even; a carry rounds into the exponent
            out[i] = h;
        } else {
            out[i] = f32ToF16Bits(f[i]);
        }
    }
    return out;
}

/** @param {Uint16Array} h */
/**
 * f16BitsToF32 over an array. Normal halves (the usual case) become float bits directly (the exponent
 * rebiased, the mantissa shifted); the rest (zero, subnormal, infinity, NaN) take f16BitsToF32. Value
 * by value through f16BitsToF32 the decoded 512x512 image took ~45 ms, after the GPU had finished.
 * @param {Uint16Array} h
 */
export function f16ToF32Array(h) {
    const out = new Float32Array(h.length);
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < h.length; i++) {
        const x = h[i];
        const e = (x >>> 10) & 0x1f;
        if (e !== 0 && e !== 31) u[i] = ((x & 0x8000) << 16) | ((e + 112) << 23) | ((x & 0x3ff) << 13);
        else out[i] = f16BitsToF32(x);
    }
    return out;
}
