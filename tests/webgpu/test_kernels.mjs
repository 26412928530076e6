// test_kernels.mjs: every WGSL kernel (through ops.js, as the C++ backend will call it) against the
// double-precision references in reference.mjs, on small random shapes that are deliberately not
// multiples of the tiles; plus grid folding, limit checks and the typed error paths.
//
//   npm run test:webgpu          (or: node tests/webgpu/test_kernels.mjs [filter])
//
// Runs on any WebGPU adapter Dawn finds; on a machine without a GPU set
// VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (Debian package chromium) and
// XDG_RUNTIME_DIR=/tmp. MOEBIUS_WEBGPU_F16=1 also runs every case with f16 storage when the
// adapter has shader-f16 (not SwiftShader; on NVIDIA with
// MOEBIUS_DAWN_FEATURES=allow_unsafe_apis,vulkan_enable_f16_on_nvidia). Exit code 1 on any failure.
//
// Tolerance: float32 results are compared with the forward error bound of float32 accumulation,
//   |got - ref| <= (terms + SLACK) * u * mag + SLACK * u * |ref|,   u = 2^-24 (f32 unit roundoff),
// with terms / mag from the reference (longest sum, sum of |summands|); SLACK = 16 ulp covers the
// few non-summation roundings (alpha, bias, eps, division) and WGSL's exp / division accuracy
// (3 + 2|x| and 2.5 ulp) inside SiLU and softmax. Copies and gathers have mag = 0: bit-exact.
// With f16 storage, F16_ROUNDINGS * 2^-11 * (mag + |ref|) is added for the f16 roundings.

import v8 from 'node:v8';
import vm from 'node:vm';

import {create, globals} from 'webgpu';

import {DeviceLostError, GpuBridge, GpuError, LimitError, NoAdapterError, OutOfMemoryError, f16BitsToF32,
        f16ToF32Array, f32ToF16Array, f32ToF16Bits} from '../../src/backend/webgpu/bridge.js';
import * as ops from '../../src/backend/webgpu/ops.js';
import * as ref from './reference.mjs';

Object.assign(globalThis, globals);

const SLACK = 16;
// f16 storage: inputs are rounded to f16 before the reference sees them, so the extra error is the
// rounding of the output and of at most one f16 intermediate (the lambda QW scratch), 2^-11
// relative each, or 2^-25 absolute below f16's normal range (subnormal spacing 2^-24); 4 leaves room
// for the propagation of the intermediate through the remaining sum.
const F16_ROUNDINGS = 4;
const filter = process.argv[2] ?? '';
let failures = 0;
let count = 0;

// ------------------------------------------------------------------ helpers

/** Deterministic uniform floats in [lo, hi) (mulberry32), as float32. */
function rand(n, seed, lo = -1, hi = 1) {
    let s = seed >>> 0;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
    }
    return out;
}

/** Rounds through f16 when the bridge stores f16, so the reference sees what the GPU sees. */
function quant(g, a) {
    if (g.dtype !== 'f16') return a;
    return Float32Array.from(a, (v) => f16BitsToF32(f32ToF16Bits(v)));
}

function upload(g, a) {
    const id = g.createTensor(a.length);
    g.writeF32(id, a);
    return id;
}

const skipped = new Set();
/** Matrix-unit cases need an f16 bridge with subgroup matrices; elsewhere they are skipped (once per reason). */
function skipMatrix(g, tile) {
    if (!tile?.startsWith('matrix') || g.subgroupMatrix) return false;
    const why = `${g.dtype}: tile 'matrix-*' cases skipped: the adapter/bridge has no subgroup matrices ` +
        '(needs chromium-experimental-subgroup-matrix with an f16 x f16 -> f32 config, subgroup size 32, f16 storage)';
    if (!skipped.has(why)) { skipped.add(why); console.log(`skip ${why}`); }
    return true;
}

function report(name, ok, detail) {
    count++;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name.padEnd(58)} ${detail}`);
}

/** Compares a GPU result with a reference {out, mag, terms}. */
function compare(g, name, got, r) {
    const f16 = g.dtype === 'f16';
    if (f16) name = `[f16] ${name}`;
    const u = 2 ** -24;
    if (got.length !== r.out.length) {
        report(name, false, `length ${got.length} != ${r.out.length}`);
        return;
    }
    let maxErr = 0, maxRatio = 0, worst = -1, bad = 0;
    for (let i = 0; i < got.length; i++) {
        const err = Math.abs(got[i] - r.out[i]);
        let tol = (r.terms + SLACK) * u * r.mag[i] + SLACK * u * Math.abs(r.out[i]);
        if (f16) tol += F16_ROUNDINGS * (2 ** -11 * (r.mag[i] + Math.abs(r.out[i])) + 2 ** -25);
        if (!(err <= tol)) { bad++; if (worst < 0) worst = i; }
        maxErr = Math.max(maxErr, err);
        if (tol > 0) maxRatio = Math.max(maxRatio, err / tol);
        else if (err > 0) maxRatio = Infinity;
    }
    let detail = `max|err| ${maxErr.toExponential(2)}  err/tol ${maxRatio.toFixed(3)}`;
    if (bad) detail += `  ${bad} bad, first [${worst}] got ${got[worst]} want ${r.out[worst]}`;
    report(name, bad === 0, detail);
}

async function expectThrows(name, fn, cls, kind) {
    try {
        await fn();
        report(name, false, `no error thrown (wanted ${cls.name})`);
    } catch (e) {
        const ok = e instanceof cls && (!kind || e.kind === kind);
        report(name, ok, ok ? `${e.name} (${e.kind}): ${e.message.slice(0, 60)}` : `wrong error: ${e?.name}: ${e?.message}`);
    }
}

// ------------------------------------------------------------------ op cases

/** Each case: [name, async (g) => void]; names are filtered by argv[2]. */
const cases = [];
const kase = (name, fn) => cases.push([name, fn]);

// The array conversions (uploads and readbacks of f16 tensors) take an inlined path for normal values:
// the same bits as the scalar functions for every half, for each half's float neighbours (the rounding
// boundaries) and for random float bit patterns (subnormals, infinities, NaNs included).
kase('f16 conversions: array forms = scalar forms', async () => {
    const halves = Uint16Array.from({length: 65536}, (_, i) => i);
    const back = f16ToF32Array(halves);
    let bad = 0;
    for (let i = 0; i < 65536; i++) {
        const want = Math.fround(f16BitsToF32(i));
        if (!(Object.is(back[i], want) || (Number.isNaN(back[i]) && Number.isNaN(want)))) bad++;
    }
    const bits = [];
    for (let i = 0; i < 65536; i++) {
        const u = new Uint32Array(new Float32Array([f16BitsToF32(i)]).buffer)[0];
        for (const d of [0, 1, -1, 0xfff, 0x1000, 0x1001, -0x1000]) bits.push((u + d) >>> 0);
    }
    let seed = 12345;
    for (let i = 0; i < 200000; i++) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; bits.push(seed); }
    const f = new Float32Array(Uint32Array.from(bits).buffer);
    const h = f32ToF16Array(f);
    for (let i = 0; i < f.length; i++) if (h[i] !== f32ToF16Bits(f[i])) bad++;
    report('f16 conversions: array forms = scalar forms', bad === 0, `${bad} of ${65536 + f.length} differ`);
});

// writeF32 / readF32 of a large tensor (on an f16 bridge: converted on the GPU, kernels/convert.wgsl):
// the values that come back are the storage type's rounding of those written, as the JS conversion
// gives them (round to nearest, ties to even; halfway cases and random bits), at an element offset.
kase('convert: writeF32 / readF32 of a large tensor', async (g) => {
    const n = 100003, off = 6;
    const f = new Float32Array(n);
    let seed = 777;
    for (let i = 0; i < n; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        // i % 4 == 0: a value halfway between two halves (ties to even); else random in +-(2^-14 .. 2^10)
        const h = seed & 0x7bff;
        f[i] = i % 4 === 0 ? (f16BitsToF32(h) + f16BitsToF32(h + 1)) / 2 : (seed / 2 ** 32 - 0.5) * 2 ** ((seed >>> 3) % 24 - 13);
    }
    const want = g.dtype === 'f16' ? f16ToF32Array(f32ToF16Array(f)) : f;
    const t = g.createTensor(n + off);
    g.writeF32(t, f, off);
    const got = (await g.readF32(t)).subarray(off);
    let bad = 0, first = -1;
    for (let i = 0; i < n; i++) if (!Object.is(got[i], want[i])) { bad++; if (first < 0) first = i; }
    report(`${g.dtype} convert: writeF32 / readF32 of ${n} values at offset ${off}`, bad === 0,
           bad ? `${bad} differ, first at ${first}: wrote ${f[first]}, got ${got[first]}, want ${want[first]}` : '');
    if (g.dtype !== 'f32') return;
    // The f32 bridge converts nothing: run the kernel's f32 variant (a copy each way) for its indexing.
    const mid = g.createTensor(n + off), back = g.createTensor(n);
    const groups = Math.ceil(n / 256);
    g.dispatch('convert', {entry: 'to_storage_main', bindings: {src32: upload(g, f), dst: mid}, uniforms: {n, off}, workgroups: groups});
    g.dispatch('convert', {entry: 'to_f32_main', bindings: {src: mid, dst32: back}, uniforms: {n, off}, workgroups: groups});
    const copied = await g.readF32(back);
    let diff = 0;
    for (let i = 0; i < n; i++) if (!Object.is(copied[i], f[i])) diff++;
    report('f32 convert.wgsl: to_storage_main then to_f32_main at an offset', diff === 0, diff ? `${diff} differ` : '');
});

/**
 * A case's residual input (its `residual` flag): n values added to the reference r ({out, mag, terms}).
 * @returns {Float32Array}
 */
function residualFor(g, r, n, seed) {
    const res = quant(g, rand(n, seed));
    for (let i = 0; i < n; i++) { r.out[i] += res[i]; r.mag[i] += Math.abs(res[i]); }
    r.terms++;
    return res;
}

/** Records `op` with the case's split-K (s.splitK), staged conv K step (s.tk) and conv split-K
 *  (s.convSplitK), when given, in ops.matrixTuning, then restores them. */
function withTuning(s, op) {
    const saved = {...ops.matrixTuning};
    if (s.splitK !== undefined) ops.matrixTuning.splitK = s.splitK;
    if (s.tk !== undefined) ops.matrixTuning.stagedConvTK = s.tk;
    if (s.convSplitK !== undefined) ops.matrixTuning.convSplitK = s.convSplitK;
    try { return op(); } finally { Object.assign(ops.matrixTuning, saved); }
}
/** The direct GEMM's split-K variants a case asks for (s.splits: numbers of K parts, or 'off'). */
const directVariants = (s) => (s.splits ?? []).map((n) => ({...s, tile: 'matrix-direct-32', splitK: n}));
/** The per-tap matrix convs' split-K variants a case asks for (s.convSplits: [tile, K parts] pairs). */
const convSplitVariants = (s) => (s.convSplits ?? []).map(([tile, n]) => ({...s, tile, convSplitK: n}));

for (const s of [
    {Ba: 3, Bb: 3, M: 37, N: 19, K: 23, alpha: 0.7},
    {Ba: 3, Bb: 3, M: 37, N: 19, K: 23, ta: true},
    {Ba: 2, Bb: 2, M: 37, N: 19, K: 23, tb: true, alpha: -1.5},
    {Ba: 2, Bb: 2, M: 37, N: 19, K: 23, ta: true, tb: true},
    {Ba: 1, Bb: 3, M: 70, N: 130, K: 40, alpha: 0.125},
    {Ba: 4, Bb: 1, M: 65, N: 66, K: 17, tb: true},
    {Ba: 1, Bb: 1, M: 1, N: 1, K: 1},
    {Ba: 1, Bb: 1, M: 130, N: 260, K: 9},
    {Ba: 2, Bb: 2, M: 200, N: 300, K: 100, alpha: 0.5},  // several 64-wide matrix tiles, K remainder
    {Ba: 2, Bb: 2, M: 40, N: 37, K: 1000, tb: true},     // the self-lambda's k x v content lambda, K = pixels
    {Ba: 1, Bb: 2, M: 3, N: 20, K: 300, ta: true, alpha: 2},
    {Ba: 2, Bb: 2, M: 150, N: 260, K: 96},
    {Ba: 2, Bb: 2, M: 128, N: 256, K: 96, alpha: 0.5, direct: true, staged: true},  // whole 64 x 128 tiles: matrix-direct too
    {Ba: 1, Bb: 2, M: 64, N: 128, K: 16, direct: true},
    {Ba: 2, Bb: 6, M: 40, N: 36, K: 40, ta: true},        // grouped broadcast (lambda_content: A item z / 3)
    {Ba: 2, Bb: 4, M: 64, N: 128, K: 32, direct: true, staged: true},   // the same on the matrix kernels
    {Ba: 2, Bb: 2, M: 96, N: 256, K: 48, direct32: true}, // whole 32 x 128 tiles only: matrix-direct-32
    {Ba: 2, Bb: 6, M: 40, N: 36, K: 40, ta: true, residual: true},  // lambda_content with the block's skip
    {Ba: 2, Bb: 4, M: 64, N: 128, K: 32, residual: true, direct: true, staged: true},
    // Split-K (a grid of 4 workgroups; 'auto' splits it in 4): forced 2 and 4 parts, and none.
    {Ba: 2, Bb: 2, M: 64, N: 128, K: 512, alpha: 0.5, direct32: true, splits: ['off', 2, 4]},
    {Ba: 1, Bb: 2, M: 96, N: 256, K: 256, residual: true, direct32: true, splits: [2]},
].flatMap((s) => [{...s, tile: 'small'}, {...s, tile: 'large'}, {...s, tile: 'reduce-k'},
                  ...(s.direct ? [{...s, tile: 'matrix-direct'}] : []),
                  ...(s.direct || s.direct32 ? [{...s, tile: 'matrix-direct-32'}] : []),
                  ...directVariants(s),
                  ...(s.direct ? [{...s, tile: 'matrix-direct-64x64'}] : []),
                  ...(s.staged ? [{...s, tile: 'matrix-staged-64x128'}] : []),
                  // the matrix-unit kernel takes row-major A and B with K, N multiples of 4 (vec4 loads)
                  ...(!s.ta && !s.tb && s.K % 4 === 0 && s.N % 4 === 0
                      ? [{...s, tile: 'matrix-small'}, {...s, tile: 'matrix-large'}] : [])])) {
    kase(`matmul ${JSON.stringify(s)}`, async (g) => {
        if (skipMatrix(g, s.tile)) return;
        const a = quant(g, rand(s.Ba * s.M * s.K, 1)), b = quant(g, rand(s.Bb * s.K * s.N, 2));
        const n = Math.max(s.Ba, s.Bb) * s.M * s.N;
        const y = g.createTensor(n);
        const r = ref.matmul(a, b, s);
        const res = s.residual ? residualFor(g, r, n, 3) : null;
        withTuning(s, () => ops.matmul(g, {a: upload(g, a), b: upload(g, b), y, res: res && upload(g, res), ...s}));
        compare(g, `matmul ${JSON.stringify(s)}`, await g.readF32(y), r);
    });
}

for (const s of [
    {rows: 37, K: 23, N: 19, bias: true, act: 1},
    {rows: 37, K: 23, N: 19, bias: false, act: 0},
    {rows: 130, K: 70, N: 67, bias: true, act: 2},
    {rows: 2, K: 700, N: 90, bias: true, act: 1},  // a time-embedding projection
].flatMap((s) => [{...s, tile: 'small'}, {...s, tile: 'large'}, {...s, tile: 'reduce-k'}])) {
    const name = `linear ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        if (skipMatrix(g, s.tile)) return;
        const x = quant(g, rand(s.rows * s.K, 3)), w = quant(g, rand(s.N * s.K, 4));
        const b = s.bias ? quant(g, rand(s.N, 5)) : null;
        const y = g.createTensor(s.rows * s.N);
        ops.linear(g, {x: upload(g, x), w: upload(g, w), b: b && upload(g, b), y, ...s});
        compare(g, name, await g.readF32(y), ref.linear(x, w, b, s));
    });
}

for (const s of [
    {B: 2, Cin: 5, H: 7, W: 9, Cout: 6, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, act: 1},
    {B: 2, Cin: 5, H: 7, W: 9, Cout: 6, kh: 3, kw: 3, stride: 2, pad: [0, 0, 1, 1], bias: true},  // VAE downsample pad
    {B: 1, Cin: 4, H: 9, W: 9, Cout: 67, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: false, act: 2},
    {B: 2, Cin: 6, H: 7, W: 9, Cout: 4, kh: 5, kw: 3, pad: [2, 0, 1, 2], groups: 2, bias: true},
    {B: 2, Cin: 5, H: 7, W: 9, Cout: 70, kh: 1, kw: 1, bias: true, act: 1},                       // gemm path
    {B: 2, Cin: 5, H: 7, W: 9, Cout: 3, kh: 1, kw: 1, stride: 2, bias: true},                     // strided 1x1
    {B: 2, Cin: 6, H: 7, W: 9, Cout: 6, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: 6, bias: true, act: 1},  // depthwise
    {B: 1, Cin: 5, H: 11, W: 10, Cout: 5, kh: 7, kw: 7, pad: [3, 3, 3, 3], groups: 5, bias: true},
    {B: 2, Cin: 3, H: 7, W: 9, Cout: 3, kh: 3, kw: 3, stride: 2, pad: [0, 1, 1, 0], groups: 3, bias: false},
    {B: 1, Cin: 4, H: 20, W: 70, Cout: 4, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: 4, bias: true},  // depthwise, wider plane
    {B: 2, Cin: 7, H: 8, W: 64, Cout: 7, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: 7, act: 2},  // depthwise 3x3, W % 4 == 0
    {B: 2, Cin: 7, H: 8, W: 64, Cout: 7, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: 7, act: 2, tile: 'generic'},
    {B: 1, Cin: 3, H: 3, W: 2, Cout: 3, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: 3, bias: true},  // depthwise 3x3, W < 4
    {B: 1, Cin: 2, H: 5, W: 5, Cout: 2, kh: 3, kw: 3, pad: [1, 0, 1, 1], groups: 2, bias: true},  // depthwise 3x3, uneven pad: generic
    {B: 1, Cin: 3, H: 13, W: 12, Cout: 130, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true},  // > one large tile
    // Input channels per group a multiple of 32: also the matrix-unit kernel's cases.
    {B: 2, Cin: 64, H: 20, W: 18, Cout: 90, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, act: 1},
    {B: 1, Cin: 32, H: 13, W: 12, Cout: 40, kh: 3, kw: 3, stride: 2, pad: [0, 0, 1, 1], bias: true},  // VAE downsample
    {B: 2, Cin: 64, H: 7, W: 9, Cout: 6, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: 2, bias: false, act: 2},
    {B: 1, Cin: 96, H: 30, W: 31, Cout: 150, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true},  // several tiles each way
    {B: 2, Cin: 68, H: 12, W: 10, Cout: 70, kh: 1, kw: 1, bias: true, act: 1},  // 1x1: gemm_subgroup_matrix
    {B: 2, Cin: 48, H: 8, W: 16, Cout: 128, kh: 1, kw: 1, bias: true, act: 1, direct: true},  // 1x1 on whole tiles
    {B: 2, Cin: 256, H: 8, W: 16, Cout: 64, kh: 1, kw: 1, bias: true, act: 1, residual: true, splits: [2]},  // split-K
    // Whole 128-pixel x 64-channel tiles: conv2d_subgroup_matrix_direct too (padded NHWC input).
    // Split-K over the taps (convSplits: 3 or 9 parts; with the 4 x 4 blocks of 'matrix-direct-wide' too).
    {B: 2, Cin: 32, H: 16, W: 16, Cout: 64, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, act: 1, direct: true,
     convSplits: [['matrix-direct', 3], ['matrix-direct', 9]]},
    {B: 1, Cin: 16, H: 32, W: 32, Cout: 128, kh: 3, kw: 3, stride: 2, pad: [0, 0, 1, 1], bias: true, direct: true,
     convSplits: [['matrix-direct', 3], ['matrix-direct-wide', 3]]},
    {B: 2, Cin: 48, H: 8, W: 16, Cout: 64, kh: 3, kw: 3, pad: [1, 1, 1, 1], act: 2, direct: true},
    {B: 2, Cin: 32, H: 16, W: 16, Cout: 256, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, act: 1, direct: true, staged: true},
    // Whole 128-pixel x 128-channel tiles, Cin % 32: conv2d_subgroup_matrix_staged (pixel runs may cross
    // output rows: W = 8; a K loop of 9 taps x 3 channel steps; the VAE's stride-2 padding).
    {B: 1, Cin: 96, H: 16, W: 8, Cout: 128, kh: 3, kw: 3, pad: [1, 1, 1, 1], act: 2, staged: true},
    // Split-K (convSplits: K parts; 9 steps in 2 or 4 uneven parts).
    {B: 2, Cin: 32, H: 32, W: 32, Cout: 128, kh: 3, kw: 3, stride: 2, pad: [0, 0, 1, 1], bias: true, staged: true,
     convSplits: [['matrix-staged-128', 2], ['matrix-staged-128', 4]]},
    {B: 2, Cin: 64, H: 8, W: 16, Cout: 256, kh: 1, kw: 1, bias: true, act: 1, staged: true, stagedGemm: true},  // 1x1 (benchmarks)
    {B: 1, Cin: 128, H: 16, W: 8, Cout: 128, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, residual: true, staged: true,
     act: 1, convSplits: [['matrix-staged-128', 3]]},  // K steps of 64 too; split: 36 steps in 3
    // At most 8 output channels: conv2d_few_outputs (the VAE's conv_out layers).
    {B: 1, Cin: 40, H: 19, W: 23, Cout: 3, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true},
    {B: 2, Cin: 24, H: 17, W: 20, Cout: 8, kh: 3, kw: 3, stride: 2, pad: [0, 0, 1, 1], act: 1, bias: true},
    {B: 1, Cin: 5, H: 30, W: 18, Cout: 6, kh: 3, kw: 3, pad: [1, 1, 1, 1]},
    // With a residual added in the epilogue (res): each kernel family once.
    {B: 2, Cin: 5, H: 7, W: 9, Cout: 70, kh: 1, kw: 1, bias: true, act: 1, residual: true},
    {B: 2, Cin: 64, H: 20, W: 18, Cout: 90, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, act: 1, residual: true},
    {B: 2, Cin: 48, H: 8, W: 16, Cout: 128, kh: 1, kw: 1, bias: true, residual: true, direct: true},
    {B: 2, Cin: 32, H: 16, W: 16, Cout: 256, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, residual: true, direct: true, staged: true},
    {B: 1, Cin: 40, H: 19, W: 23, Cout: 3, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, act: 2, residual: true},
].flatMap((s) => (s.groups > 1 && s.groups === s.Cin ? [s] : [{...s, tile: 'small'}, {...s, tile: 'large'},
    ...((s.groups ?? 1) === 1 && s.Cout <= 8 ? [{...s, tile: 'few-outputs'}, {...s, tile: 'few-outputs-generic'}] : []),
    ...(s.direct ? [{...s, tile: 'matrix-direct'}] : []),
    ...(s.direct && s.kh === 1 ? [{...s, tile: 'matrix-direct-32'}, {...s, tile: 'matrix-direct-64x64'}] : []),
    ...directVariants(s),
    ...convSplitVariants(s),
    ...(s.direct && s.kh !== 1 && s.Cout % 128 === 0 ? [{...s, tile: 'matrix-direct-wide'}] : []),
    ...(s.staged ? [{...s, tile: 'matrix-staged-128'}] : []),
    ...(s.staged && s.Cin % 64 === 0 ? [{...s, tile: 'matrix-staged-128', tk: 64}] : []),
    ...(s.stagedGemm ? [{...s, tile: 'matrix-staged-64x128'}] : []),
    ...((s.kh === 1 && s.kw === 1 ? s.Cin % 4 === 0 && s.H * s.W % 4 === 0 : s.Cin / (s.groups ?? 1) % 32 === 0)
        ? [{...s, tile: 'matrix-small'}, {...s, tile: 'matrix-large'}] : [])]))) {
    const name = `conv2d ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        if (skipMatrix(g, s.tile)) return;
        const groups = s.groups ?? 1;
        const x = quant(g, rand(s.B * s.Cin * s.H * s.W, 6));
        const w = quant(g, rand(s.Cout * (s.Cin / groups) * s.kh * s.kw, 7));
        const b = s.bias ? quant(g, rand(s.Cout, 8)) : null;
        const r = ref.conv2d(x, w, b, s);
        const res = s.residual ? residualFor(g, r, s.B * s.Cout * r.Ho * r.Wo, 9) : null;
        const y = g.createTensor(s.B * s.Cout * r.Ho * r.Wo);
        const shape = withTuning(s, () => ops.conv2d(g, {x: upload(g, x), w: upload(g, w), b: b && upload(g, b), y,
                                                                res: res && upload(g, res), ...s}));
        if (shape.Ho !== r.Ho || shape.Wo !== r.Wo) report(name, false, `shape ${shape.Ho}x${shape.Wo} != ${r.Ho}x${r.Wo}`);
        else compare(g, name, await g.readF32(y), r);
    });
}

// conv2d with its input made on the way (Backend::group_norm_conv2d / upsample_nearest2x_conv2d): in
// the padded copy of the matrix convs (tiles 'matrix-*', and the default on an f16 bridge with matrix
// units), else in a tensor of its own first (f32; at most 8 output channels; implicit GEMM shapes).
for (const s of [
    {B: 2, Cin: 32, H: 16, W: 16, Cout: 64, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, norm: {groups: 8, act: 1}, direct: true},
    {B: 1, Cin: 64, H: 16, W: 8, Cout: 128, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, residual: true,
     norm: {groups: 32, act: 1}, staged: true},
    {B: 2, Cin: 32, H: 16, W: 16, Cout: 128, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, upsample: true, direct: true, staged: true},
    {B: 1, Cin: 40, H: 10, W: 12, Cout: 3, kh: 3, kw: 3, pad: [1, 1, 1, 1], bias: true, norm: {groups: 8, act: 1}},  // few outputs
    {B: 2, Cin: 6, H: 6, W: 8, Cout: 10, kh: 3, kw: 3, pad: [1, 1, 1, 1], upsample: true},
    {B: 1, Cin: 16, H: 6, W: 8, Cout: 12, kh: 3, kw: 3, pad: [1, 1, 1, 1], norm: {groups: 4, act: 0}},
].flatMap((s) => [s, ...(s.direct ? [{...s, tile: 'matrix-direct'}] : []), ...(s.staged ? [{...s, tile: 'matrix-staged-128'}] : [])])) {
    const name = `conv2d of ${s.norm ? 'group_norm' : 'upsample_nearest2x'} ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        if (skipMatrix(g, s.tile)) return;
        const xs = s.upsample ? s.B * s.Cin * s.H * s.W / 4 : s.B * s.Cin * s.H * s.W;
        const x = quant(g, rand(xs, 61));
        const w = quant(g, rand(s.Cout * s.Cin * s.kh * s.kw, 62));
        const b = s.bias ? quant(g, rand(s.Cout, 63)) : null;
        const gamma = quant(g, rand(s.Cin, 64)), beta = quant(g, rand(s.Cin, 65));
        const eps = 1e-6;
        const input = s.upsample ? ref.upsampleNearest2x(x, {BC: s.B * s.Cin, H: s.H / 2, W: s.W / 2}).out
                                 : quant(g, ref.groupNorm(x, gamma, beta, {B: s.B, C: s.Cin, S: s.H * s.W, groups: s.norm.groups,
                                                                           eps, act: s.norm.act}).out);
        const r = ref.conv2d(input, w, b, s);
        const res = s.residual ? residualFor(g, r, s.B * s.Cout * r.Ho * r.Wo, 66) : null;
        const y = g.createTensor(s.B * s.Cout * r.Ho * r.Wo);
        const norm = s.norm && {gamma: upload(g, gamma), beta: upload(g, beta), groups: s.norm.groups, eps, act: s.norm.act};
        ops.conv2d(g, {...s, x: upload(g, x), w: upload(g, w), b: b && upload(g, b), y, res: res && upload(g, res), norm});
        compare(g, name, await g.readF32(y), r);
    });
}

// pad_nhwc (the direct matrix conv's input layout; runs everywhere): a copy, so bit-exact; with NORM
// (GroupNorm statistics given, gamma, beta, act) or UP (x at half size, nearest 2x) as conv2d's
// norm / upsample make the conv's input on the way (on the matrix convs only: tested here everywhere).
for (const s of [{B: 2, C: 5, H: 7, W: 9, pt: 1, pl: 1, pb: 1, pr: 1}, {B: 1, C: 20, H: 6, W: 17, pt: 0, pl: 0, pb: 1, pr: 1},
                 {B: 1, C: 33, H: 5, W: 4, pt: 2, pl: 0, pb: 0, pr: 3},
                 {B: 2, C: 24, H: 6, W: 10, pt: 1, pl: 1, pb: 1, pr: 1, norm: {groups: 4, act: 1}},
                 {B: 1, C: 18, H: 8, W: 6, pt: 1, pl: 1, pb: 1, pr: 1, up: true}]) {
    const name = `pad_nhwc ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const Hp = s.H + s.pt + s.pb, Wp = s.W + s.pl + s.pr;
        const G = s.norm?.groups ?? 1, Cg = s.C / G, S = s.H * s.W;
        const x = quant(g, rand(s.up ? s.B * s.C * S / 4 : s.B * s.C * S, 15));
        const gamma = quant(g, rand(s.C, 16)), beta = quant(g, rand(s.C, 17));
        const stats = new Float32Array(2 * s.B * G);  // (mean, 1/std) per (b, group), as group_norm.wgsl's
        for (let i = 0; i < s.B * G; i++) {
            const v = x.subarray(i * Cg * S, (i + 1) * Cg * S), mean = v.reduce((t, e) => t + e, 0) / v.length;
            stats[2 * i] = mean;
            stats[2 * i + 1] = 1 / Math.sqrt(v.reduce((t, e) => t + (e - mean) ** 2, 0) / v.length + 1e-6);
        }
        const f = (b, c, yy, xx) => {  // the padded copy's value at (b, c, yy, xx) of the conv's input
            if (s.up) return x[((b * s.C + c) * s.H / 2 + (yy >> 1)) * s.W / 2 + (xx >> 1)];
            const v = x[((b * s.C + c) * s.H + yy) * s.W + xx];
            if (!s.norm) return v;
            const bg = b * G + Math.floor(c / Cg);
            return ref.applyAct((v - stats[2 * bg]) * stats[2 * bg + 1] * gamma[c] + beta[c], s.norm.act);
        };
        const want = new Float32Array(s.B * Hp * Wp * s.C), mag = new Float32Array(want.length);
        for (let b = 0; b < s.B; b++) {
            for (let yy = 0; yy < s.H; yy++) {
                for (let xx = 0; xx < s.W; xx++) {
                    for (let c = 0; c < s.C; c++) {
                        const o = ((b * Hp + yy + s.pt) * Wp + xx + s.pl) * s.C + c;
                        want[o] = f(b, c, yy, xx);
                        mag[o] = s.norm ? 4 * Math.abs(want[o]) + 4 : 0;
                    }
                }
            }
        }
        const y = g.createTensor(want.length);
        const st = g.createBuffer(stats.length * 4, 'f32');
        g.writeF32(st, stats);
        g.dispatch('pad_nhwc', {bindings: {x: upload(g, x), y, gamma: upload(g, gamma), beta: upload(g, beta), stats: st},
                                uniforms: {C: s.C, H: s.H, W: s.W, Hp, Wp, pad_t: s.pt, pad_l: s.pl, Cg, G},
                                constants: {NORM: !!s.norm, UP: !!s.up, ACT: s.norm?.act ?? 0},
                                workgroups: [Math.ceil(Hp * Wp / 16), Math.ceil(s.C / 16), s.B]});
        compare(g, name, await g.readF32(y), {out: want, mag, terms: s.norm ? 4 : 0});
    });
}

// The kernel sums blockwise (group_norm.wgsl): per thread at most ceil(min(count, 8192)/256)
// elements, an 8-level tree, per thread ceil(P/256) chunk merges and another 8-level tree, so the
// float32 error bound has that many terms instead of count (which would hide real bugs at large
// counts), + 8 for the mean / variance / rstd / affine roundings.
const groupNormTerms = (count) => Math.ceil(Math.min(count, 8192) / 256) + Math.ceil(count / 8192 / 256) + 16 + 8;

for (const s of [
    {B: 2, C: 6, S: 63, groups: 3, eps: 1e-6, act: 1},
    {B: 1, C: 12, S: 300, groups: 4, eps: 1e-5, shift: 3},
    {B: 3, C: 5, S: 1, groups: 5, eps: 1e-5},
    {B: 2, C: 4, S: 9000, groups: 2, eps: 1e-6, shift: 2, act: 1},  // 18000 per group: 18 chunks (auto: 1024), the last partial
    {B: 2, C: 4, S: 9000, groups: 2, eps: 1e-6, shift: 2, chunk: 4096},  // 5 chunks of 4096
    {B: 1, C: 4, S: 9000, groups: 2, eps: 1e-5, chunk: 8192},  // 3 chunks of 8192
]) {
    const name = `group_norm ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const x = quant(g, rand(s.B * s.C * s.S, 9, -1 + (s.shift ?? 0), 1 + (s.shift ?? 0)));
        const gamma = quant(g, rand(s.C, 10, 0.5, 1.5)), beta = quant(g, rand(s.C, 11));
        const y = g.createTensor(x.length);
        ops.normTuning.chunk = s.chunk ?? 'auto';
        try {
            ops.group_norm(g, {x: upload(g, x), gamma: upload(g, gamma), beta: upload(g, beta), y, ...s});
        } finally { ops.normTuning.chunk = 'auto'; }
        compare(g, name, await g.readF32(y), {...ref.groupNorm(x, gamma, beta, s), terms: groupNormTerms(s.C / s.groups * s.S)});
    });
}

for (const s of [{B: 2, C: 13, S: 63, eps: 1e-5}, {B: 1, C: 37, S: 300, eps: 1e-6}, {B: 3, C: 5, S: 7, eps: 1e-5},
                 {B: 2, C: 70, S: 600, eps: 1e-5}, {B: 1, C: 9, S: 2100, eps: 1e-5},  // the three tile widths
                 {B: 2, C: 150, S: 37, eps: 1e-5, pos: 4},
                 // 4 channels a round and a remainder (16 and 32 slices)
                 {B: 2, C: 300, S: 600, eps: 1e-5}, {B: 1, C: 520, S: 40, eps: 1e-5, pos: 8}]) {
    const name = `layer_norm_channels ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const x = quant(g, rand(s.B * s.C * s.S, 12, 1, 3));
        const gamma = quant(g, rand(s.C, 13, 0.5, 1.5)), beta = quant(g, rand(s.C, 14));
        const y = g.createTensor(x.length);
        ops.layer_norm_channels(g, {x: upload(g, x), gamma: upload(g, gamma), beta: upload(g, beta), y, ...s});
        compare(g, name, await g.readF32(y), ref.layerNormChannels(x, gamma, beta, s));
    });
}

// The kernel's row sum is blockwise too (ceil(L/256) per thread, then an 8-level tree), so the
// reference's L summation terms become ceil(L/256) + 8.
function softmaxRef(x, s) {
    const r = ref.softmax(x, s);
    return {...r, terms: r.terms - s.L + Math.ceil(s.L / 256) + 8};
}

for (const s of [{rows: 5, L: 37}, {rows: 3, L: 1000}, {rows: 300, L: 10}]) {
    const name = `softmax ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const x = quant(g, rand(s.rows * s.L, 15, -4, 4));
        const y = g.createTensor(x.length);
        ops.softmax(g, {x: upload(g, x), y, ...s});
        compare(g, name, await g.readF32(y), softmaxRef(x, s));
    });
}

for (const act of [0, 1, 2]) {
    const name = `act ${['none', 'silu', 'relu'][act]} n=1000`;
    kase(name, async (g) => {
        const x = quant(g, rand(1000, 16, -10, 10));
        x[0] = -100; x[1] = 100;  // exp overflow side of SiLU
        const y = g.createTensor(x.length);
        ops.act(g, {x: upload(g, x), y, n: x.length, act});
        compare(g, name, await g.readF32(y), ref.act(x, act));
    });
}

for (const [label, bShape] of [['same', 'same'], ['(B,C,1,1)', 'bc'], ['(1,C,1,1)', 'c']]) {
    const name = `add b ${label} (2,5,7,9)`;
    kase(name, async (g) => {
        const B = 2, C = 5, S = 63;
        const a = quant(g, rand(B * C * S, 17));
        const b = quant(g, rand(bShape === 'same' ? B * C * S : bShape === 'bc' ? B * C : C, 18));
        const y = g.createTensor(a.length);
        ops.add(g, {a: upload(g, a), b: upload(g, b), y, B, C, S, bCount: b.length});
        compare(g, name, await g.readF32(y), ref.add(a, b, {B, C, S}));
    });
}

kase('axpby n=1001', async (g) => {
    const a = quant(g, rand(1001, 19)), b = quant(g, rand(1001, 20));
    const y = g.createTensor(a.length);
    ops.axpby(g, {alpha: 0.3, a: upload(g, a), beta: -1.7, b: upload(g, b), y, n: a.length});
    compare(g, 'axpby n=1001', await g.readF32(y), ref.axpby(0.3, a, -1.7, b));
});

kase('glu_silu (2,2*5,7,9)', async (g) => {
    const s = {B: 2, C: 5, S: 63};
    const x = quant(g, rand(s.B * 2 * s.C * s.S, 21, -5, 5));
    const y = g.createTensor(s.B * s.C * s.S);
    ops.glu_silu(g, {x: upload(g, x), y, ...s});
    compare(g, 'glu_silu (2,2*5,7,9)', await g.readF32(y), ref.gluSilu(x, s));
});

// The MixFFN's depthwise 3x3 and GLU in one pass (main_3x3_glu): the conv's 2 Ch channels are never
// rounded to storage. Bound: the conv's error through u * silu(gate) (|silu'| <= 1.1).
for (const s of [{B: 2, C: 10, H: 7, W: 9, bias: true}, {B: 1, C: 6, H: 5, W: 4, bias: false, act: 1}, {B: 2, C: 4, H: 1, W: 13, bias: true}]) {
    const name = `depthwise_glu_silu ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const x = quant(g, rand(s.B * s.C * s.H * s.W, 22, -2, 2)), w = quant(g, rand(s.C * 9, 23)), b = s.bias ? quant(g, rand(s.C, 24)) : null;
        const conv = ref.conv2d(x, w, b, {B: s.B, Cin: s.C, H: s.H, W: s.W, Cout: s.C, kh: 3, kw: 3, pad: [1, 1, 1, 1], groups: s.C, act: s.act ?? 0});
        const ch = s.C / 2, hw = s.H * s.W;
        const out = new Float64Array(s.B * ch * hw), mag = new Float64Array(out.length);
        for (let bi = 0; bi < s.B; bi++) for (let i = 0; i < ch * hw; i++) {
            const iu = bi * s.C * hw + i, ig = iu + ch * hw, u = conv.out[iu], gt = conv.out[ig];
            const sg = gt / (1 + Math.exp(-gt));
            out[bi * ch * hw + i] = u * sg;
            mag[bi * ch * hw + i] = conv.mag[iu] * Math.abs(sg) + Math.abs(u) * 1.1 * conv.mag[ig];
        }
        const y = g.createTensor(out.length);
        ops.depthwise_glu_silu(g, {x: upload(g, x), w: upload(g, w), b: b && upload(g, b), y, B: s.B, C: s.C, H: s.H, W: s.W, act: s.act ?? 0});
        compare(g, name, await g.readF32(y), {out, mag, terms: conv.terms + 4});
    });
}

kase('cfg_combine (2*2,3,5,7) g=2.5', async (g) => {
    const x = quant(g, rand(4 * 105, 22));
    const y = g.createTensor(2 * 105);
    ops.cfg_combine(g, {x: upload(g, x), y, n: 2 * 105, guidance: 2.5});
    compare(g, 'cfg_combine (2*2,3,5,7) g=2.5', await g.readF32(y), ref.cfgCombine(x, 2.5));
});

kase('concat_channels (2,3,7,9)+(2,5,7,9)', async (g) => {
    const s = {B: 2, Ca: 3, Cb: 5, S: 63};
    const a = quant(g, rand(s.B * s.Ca * s.S, 23)), b = quant(g, rand(s.B * s.Cb * s.S, 24));
    const y = g.createTensor(s.B * (s.Ca + s.Cb) * s.S);
    ops.concat_channels(g, {a: upload(g, a), b: upload(g, b), y, ...s});
    compare(g, 'concat_channels (2,3,7,9)+(2,5,7,9)', await g.readF32(y), ref.concatChannels(a, b, s));
});

kase('slice_batch [1:3] of (4,3,5,7) + concat_batch', async (g) => {
    const per = 105;
    const x = quant(g, rand(4 * per, 25));
    const xs = upload(g, x);
    const y = g.createTensor(2 * per);
    ops.slice_batch(g, {x: xs, y, start: 1, count: 2, per});
    const want = x.slice(per, 3 * per);
    compare(g, 'slice_batch [1:3] of (4,3,5,7)', await g.readF32(y),
            {out: Float64Array.from(want), mag: new Float64Array(want.length), terms: 0});
    const z = g.createTensor(6 * per);
    ops.concat_batch(g, {a: xs, b: y, y: z, na: 4 * per, nb: 2 * per});
    const cat = new Float64Array(6 * per);
    cat.set(x);
    cat.set(want, 4 * per);
    compare(g, 'concat_batch (4,..)+(2,..)', await g.readF32(z), {out: cat, mag: new Float64Array(cat.length), terms: 0});
});

kase('transpose12 (3,37,19)', async (g) => {
    const s = {B: 3, M: 37, N: 19};
    const x = quant(g, rand(s.B * s.M * s.N, 26));
    const y = g.createTensor(x.length);
    ops.transpose12(g, {x: upload(g, x), y, ...s});
    compare(g, 'transpose12 (3,37,19)', await g.readF32(y), ref.transpose12(x, s));
});

kase('upsample_nearest2x (2,3,7,9)', async (g) => {
    const s = {BC: 6, H: 7, W: 9};
    const x = quant(g, rand(s.BC * s.H * s.W, 27));
    const y = g.createTensor(4 * x.length);
    ops.upsample_nearest2x(g, {x: upload(g, x), y, ...s});
    compare(g, 'upsample_nearest2x (2,3,7,9)', await g.readF32(y), ref.upsampleNearest2x(x, s));
});

for (const s of [
    {BC: 2, H: 7, W: 9, OH: 3, OW: 4},
    {BC: 1, H: 10, W: 10, OH: 7, OW: 13},
    {BC: 1, H: 5, W: 6, OH: 10, OW: 12},
    {BC: 1, H: 512, W: 512, OH: 64, OW: 64},  // the mask -> latent resize of the pipeline
    {BC: 1, H: 64, W: 64, OH: 27, OW: 41},
]) {
    const name = `resize_nearest ${s.BC}x${s.H}x${s.W} -> ${s.OH}x${s.OW}`;
    kase(name, async (g) => {
        const x = quant(g, rand(s.BC * s.H * s.W, 28));
        const y = g.createTensor(s.BC * s.OH * s.OW);
        ops.resize_nearest(g, {x: upload(g, x), y, ...s});
        compare(g, name, await g.readF32(y), ref.resizeNearest(x, s));
    });
}

for (const s of [
    {B: 2, heads: 3, kdim: 4, vdim: 5, H: 7, W: 9, r: 3},
    {B: 1, heads: 2, kdim: 3, vdim: 4, H: 19, W: 21, r: 5},
    {B: 1, heads: 2, kdim: 3, vdim: 6, H: 17, W: 18, r: 15},  // the model's r
    {B: 1, heads: 2, kdim: 40, vdim: 5, H: 9, W: 11, r: 15},  // the model's k at level 0
    {B: 1, heads: 2, kdim: 40, vdim: 6, H: 16, W: 16, r: 15},  // N % 4 = 0: the QW GEMM on the matrix units (f16)
    {B: 2, heads: 2, kdim: 8, vdim: 12, H: 20, W: 17, r: 15},  // f16: a whole and a partial group of 8 channels
    {B: 2, heads: 2, kdim: 8, vdim: 12, H: 20, W: 17, r: 15, residual: true},  // + the content term
]) {
    const name = `lambda_local_position ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const N = s.H * s.W;
        const q = quant(g, rand(s.B * s.heads * s.kdim * N, 29)), v = quant(g, rand(s.B * s.vdim * N, 30));
        const w = quant(g, rand(s.kdim * s.r * s.r, 31)), bias = quant(g, rand(s.kdim, 32));
        const y = g.createTensor(s.B * s.heads * s.vdim * N);
        const r = ref.lambdaLocalPosition(q, v, w, bias, s);
        const res = s.residual ? residualFor(g, r, s.B * s.heads * s.vdim * N, 36) : null;
        ops.lambda_local_position(g, {q: upload(g, q), v: upload(g, v), w: upload(g, w), bias: upload(g, bias), y,
                                      res: res && upload(g, res), ...s});
        compare(g, name, await g.readF32(y), r);
    });
}

for (const s of [
    {B: 2, heads: 2, kdim: 5, vdim: 11, N: 70, L: 10},
    {B: 1, heads: 3, kdim: 8, vdim: 9, N: 33, L: 70},
    {B: 2, heads: 2, kdim: 40, vdim: 37, N: 100, L: 10},  // the model's k at level 0 (k = 40..160, L = 10)
    {B: 2, heads: 2, kdim: 5, vdim: 11, N: 70, L: 10, residual: true},  // + the content term
    {B: 1, heads: 3, kdim: 8, vdim: 9, N: 33, L: 70, residual: true},   // L > 16: it starts the first chunk
    {B: 3, heads: 7, kdim: 6, vdim: 21, N: 40, L: 16, residual: true},  // main_regs: 21 items, v in parts of 11 + 10
].flatMap((s) => (s.L <= 16 ? [s, {...s, tile: 'generic'}] : [s]))) {
    const name = `lambda_global_position ${JSON.stringify(s)}`;
    kase(name, async (g) => {
        const q = quant(g, rand(s.B * s.heads * s.kdim * s.N, 33)), v = quant(g, rand(s.B * s.vdim * s.L, 34));
        const e = quant(g, rand(s.N * s.L * s.kdim, 35));
        const y = g.createTensor(s.B * s.heads * s.vdim * s.N);
        const r = ref.lambdaGlobalPosition(q, v, e, s);
        const res = s.residual ? residualFor(g, r, s.B * s.heads * s.vdim * s.N, 37) : null;
        ops.lambda_global_position(g, {q: upload(g, q), v: upload(g, v), e: upload(g, e), y, res: res && upload(g, res), ...s});
        compare(g, name, await g.readF32(y), r);
    });
}

// ------------------------------------------------------------------ grids, limits, errors

/** Cases run on a bridge whose per-dimension grid limit is 3, so 1-D grids fold into x/y/z. */
async function foldingCases(device) {
    const g = await GpuBridge.create(device, {maxWorkgroupsPerDim: 3, maxStorageBindingBytes: 64 * 1024});
    const x = rand(5000, 40, -4, 4);
    const y = g.createTensor(x.length);
    ops.act(g, {x: upload(g, x), y, n: x.length, act: 1});
    compare(g, 'folded grid: act n=5000 (20 wg -> 3x3x3)', await g.readF32(y), ref.act(x, 1));

    const s = {B: 2, C: 8, S: 40, groups: 4, eps: 1e-5, act: 0};
    const xg = rand(s.B * s.C * s.S, 41), gamma = rand(s.C, 42), beta = rand(s.C, 43);
    const yg = g.createTensor(xg.length);
    ops.group_norm(g, {x: upload(g, xg), gamma: upload(g, gamma), beta: upload(g, beta), y: yg, ...s});
    compare(g, 'folded grid: group_norm 8 groups', await g.readF32(yg),
            {...ref.groupNorm(xg, gamma, beta, s), terms: groupNormTerms(s.C / s.groups * s.S)});

    const xs = rand(13 * 7, 44);
    const ys = g.createTensor(xs.length);
    ops.softmax(g, {x: upload(g, xs), y: ys, rows: 13, L: 7});
    compare(g, 'folded grid: softmax 13 rows', await g.readF32(ys), softmaxRef(xs, {rows: 13, L: 7}));

    await expectThrows('limit: 3-D grid beyond maxComputeWorkgroupsPerDimension', () => {
        const a = g.createTensor(4 * 300), c = g.createTensor(4 * 300);
        ops.matmul(g, {a, b: a, y: c, Ba: 1, Bb: 1, M: 4, K: 1, N: 300});
    }, LimitError, 'limit');
    await expectThrows('limit: binding beyond maxStorageBufferBindingSize', () => {
        const big = g.createTensor(20000);
        ops.act(g, {x: big, y: big, n: 16, act: 0});
    }, LimitError, 'limit');
    await g.sync();
}

/** A real dispatch of more than 65535 workgroups (folded by the real limit). */
async function bigGridCase(g) {
    const n = 65536 * 256 + 777;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = ((i * 7919) % 2001) / 100 - 10;
    const y = g.createTensor(n);
    ops.act(g, {x: upload(g, x), y, n, act: 2});
    const got = await g.readF32(y);
    let bad = 0;
    for (let i = 0; i < n; i++) if (got[i] !== Math.max(x[i], 0)) bad++;
    report(`big grid: relu n=${n} (${Math.ceil(n / 256)} workgroups)`, bad === 0, `${bad} mismatches`);
    g.destroyBuffer(y);
}

/**
 * A loop that repeats its dispatches between flush() calls finds its bind groups again, even when
 * its first round submits midway (as a UNet step's first round does when it grows a scratch buffer):
 * those submits keep the uniform slots going, flush() starts them over.
 */
async function bindGroupReuseCase(g) {
    const n = 1000;
    const x = upload(g, rand(n, 61));
    const y = g.createTensor(n), z = g.createTensor(n);
    const round = (submitMidway) => {
        ops.act(g, {x, y, n, act: 2});
        if (submitMidway) g.submit();
        ops.act(g, {x: y, y: z, n, act: 1});
        ops.act(g, {x: z, y, n, act: 2});
        g.flush();
    };
    g.flush();  // as between the steps: the rounds start at uniform slot 0
    round(true);
    const before = g.bindGroups.size;
    round(false);
    round(false);
    report('bind groups: a repeated round after flush() creates none (first round submitted midway)',
           g.bindGroups.size === before, `${g.bindGroups.size - before} created`);
    await g.sync();
    for (const id of [x, y, z]) g.destroyBuffer(id);
}

/**
 * The tensor arena (GpuBridge.setArena, class Arena): the same round of ops four times, each an arena
 * segment. Rounds 1 and 2 run in buffers of their own (round 1 is never planned from), rounds 3 and 4
 * replay round 2's layout in one buffer: the same results, no buffers made and no bind groups created
 * in round 4. A round also checks what
 * the arena makes possible or needs: overlapping bindings of one dispatch (axpby(a, a), split by a copy),
 * a write into a range whose previous tensor a pending dispatch still reads, and zero-filled tensors in
 * a range that held data.
 */
async function arenaCases(gpu) {
    const ga = await GpuBridge.create(gpu, {preferF16: false});
    ga.setArena(true);
    const n = 1000;
    const a = rand(n, 71), b = rand(n, 72);
    const round = async () => {
        ga.beginArenaSegment();
        ga.flush();  // as between the engine's stages: the uniform slots start over
        const x = upload(ga, a);
        const y = ga.createTensor(n, false);
        ops.act(ga, {x, y, n, act: 2});                              // relu(a)
        ga.destroyBuffer(x);                                          // y's dispatch is pending and reads x
        const x2 = upload(ga, b);                                     // may land in x's range: write after the dispatch
        const z = ga.createTensor(n, false);
        ops.axpby(ga, {alpha: 2, a: y, beta: -0.5, b: y, y: z, n});   // a and b bound to one range
        const w = ga.createTensor(n, false, 1);                       // space 1: add's inputs stay read-only
        ops.add(ga, {a: z, b: x2, y: w, B: 1, C: 1, S: n, bCount: n});
        const v = ga.createTensor(n, false);                          // space 0, reading space 1 (read-only) and 0 (read_write)
        ops.add(ga, {a: w, b: x2, y: v, B: 1, C: 1, S: n, bCount: n});
        const zero = ga.createTensor(n);                              // zero-filled, in a range that held data
        const got = {w: await ga.readF32(v), zero: await ga.readF32(zero)};
        for (const id of [y, x2, z, w, v, zero]) ga.destroyBuffer(id);
        return got;
    };
    const want = ref.add(ref.add(ref.axpby(2, ref.act(a, 2).out, -0.5, ref.act(a, 2).out).out, b, {B: 1, C: 1, S: n}).out, b, {B: 1, C: 1, S: n});
    for (let r = 1; r <= 4; r++) {
        const made = ga.stats.buffersCreated, groups = ga.bindGroups.size;
        const got = await round();
        compare(ga, `arena round ${r}: relu, axpby(y, y), add after a write into a freed range, adds across spaces`, got.w,
                {out: want.out, mag: want.mag.map((m) => 3 * m), terms: want.terms + 3});
        report(`arena round ${r}: a new tensor is zero-filled`, got.zero.every((v) => v === 0), `max ${Math.max(...got.zero.map(Math.abs))}`);
        if (r === 4) {
            report('arena round 4: no buffers made, no bind groups created', ga.stats.buffersCreated === made && ga.bindGroups.size === groups,
                   `${ga.stats.buffersCreated - made} buffers, ${ga.bindGroups.size - groups} bind groups`);
        }
    }
    ga.beginArenaSegment();
    for (const [s, arena] of ga.arenas.entries()) {
        const st = arena.stats;
        report(`arena space ${s}: round 2 traced, rounds 3 and 4 replayed its plan`,
               st.plans === 1 && st.replayed === 2 && st.misses === 0 && arena.size > 0,
               `plans ${st.plans}, replayed ${st.replayed}, strays ${st.misses}, buffer ${arena.size} bytes`);
    }
    report('arena: the spaces have buffers of their own', ga.arenas[0].buffer !== ga.arenas[1].buffer, '');
    // add into space 1 declares no input read_write; add into space 0 only its space-0 input (b)
    const adds = [...ga.pipelines.keys()].filter((k) => k.startsWith('elementwise.add_main:')).map((k) => k.slice(k.lastIndexOf(':') + 1)).sort();
    report('arena: inputs read_write only where in the space of the output', JSON.stringify(adds) === '["","b,"]', JSON.stringify(adds));
    report('arena: overlapping arena bindings split by a copy', ga.stats.aliasCopies === 4, `${ga.stats.aliasCopies} copies`);
    ga.releaseArena();
    report('arena: releaseArena gives the buffers back', ga.arenas.every((x) => x.buffer === null), '');
    await ga.sync();
    ga.destroy();
}

/** The bridge must keep the GPU object it was made from alive (npm webgpu crashes otherwise). */
async function gcCase() {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const gt = await GpuBridge.create(create(['backend=vulkan']));  // no other reference to the GPU
    for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
    const x = rand(300, 50);
    const y = gt.createTensor(x.length);
    ops.act(gt, {x: upload(gt, x), y, n: x.length, act: 2});
    compare(gt, 'bridge keeps its GPU alive across gc()', await gt.readF32(y), ref.act(x, 2));
    gt.destroy();
}

async function errorCases(gpu, g) {
    await expectThrows('error: stub GPU without adapter -> NoAdapterError',
                       () => GpuBridge.create({requestAdapter: async () => null}), NoAdapterError, 'no-adapter');
    await expectThrows('error: firstBatchDispatches 0 -> usage error',
                       () => GpuBridge.create(gpu, {firstBatchDispatches: 0}), GpuError, 'usage');
    await expectThrows('error: maxBatchDispatches NaN -> usage error',
                       () => GpuBridge.create(gpu, {maxBatchDispatches: NaN}), GpuError, 'usage');
    await expectThrows('error: arenaAlign 100 -> usage error',
                       () => GpuBridge.create(gpu, {arenaAlign: 100}), GpuError, 'usage');
    await expectThrows('error: readWrite "some" -> usage error',
                       () => GpuBridge.create(gpu, {readWrite: 'some'}), GpuError, 'usage');
    await expectThrows('error: no GPU object at all -> NoAdapterError',
                       () => GpuBridge.create(undefined), NoAdapterError, 'no-adapter');
    await expectThrows('error: buffer beyond maxBufferSize -> LimitError',
                       () => g.createBuffer(g.limits.maxBufferSize + 4), LimitError, 'limit');
    await expectThrows('error: unknown uniform field', () => g.dispatch('softmax_lastdim', {
        bindings: {x: g.dummyId, y: g.dummyId}, uniforms: {rows: 1, Lx: 2}, workgroups: 1}), GpuError, 'usage');
    await expectThrows('error: unknown binding name', () => g.dispatch('softmax_lastdim', {
        bindings: {x: g.dummyId, out: g.dummyId}, uniforms: {rows: 1, L: 2}, workgroups: 1}), GpuError, 'usage');
    if (!g.features.f16) {
        await expectThrows('error: f16 kernel without shader-f16 -> unsupported', () => g.dispatch('elementwise', {
            entry: 'act_main', bindings: {a: g.dummyId, y: g.dummyId}, uniforms: {n: 1}, workgroups: 1, dtype: 'f16'}),
            GpuError, 'unsupported');
    }
    await expectThrows("error: conv2d tile 'matrix-direct' on a shape it cannot take", () => ops.conv2d(g, {
        x: g.dummyId, w: g.dummyId, y: g.dummyId, B: 1, Cin: 16, H: 16, W: 16, Cout: 48, kh: 3, kw: 3,
        pad: [1, 1, 1, 1], tile: 'matrix-direct'}), GpuError, 'usage');
    await expectThrows("error: conv2d tile 'matrix-direct-wide' with Cout not a multiple of 128", () => ops.conv2d(g, {
        x: g.dummyId, w: g.dummyId, y: g.dummyId, B: 1, Cin: 16, H: 16, W: 16, Cout: 64, kh: 3, kw: 3,
        pad: [1, 1, 1, 1], tile: 'matrix-direct-wide'}), GpuError, 'usage');
    await expectThrows('error: createTensor in arena space 2 -> usage error', () => g.createTensor(4, true, 2), GpuError, 'usage');
    const cx = g.createTensor(2 * 4 * 5 * 5), cw = g.createTensor(3 * 2 * 9), cy = g.createTensor(3 * 25);
    await expectThrows('error: conv2d with norm and upsample together -> usage error', () => ops.conv2d(g, {
        x: cx, w: cw, y: cy, B: 1, Cin: 2, H: 10, W: 10, Cout: 3, kh: 3, kw: 3, pad: [1, 1, 1, 1], upsample: true,
        norm: {gamma: cx, beta: cx, groups: 1, eps: 1e-6}}), GpuError, 'usage');
    await expectThrows('error: conv2d upsample of an odd size -> usage error', () => ops.conv2d(g, {
        x: cx, w: cw, y: cy, B: 1, Cin: 2, H: 5, W: 5, Cout: 3, kh: 3, kw: 3, pad: [1, 1, 1, 1], upsample: true}), GpuError, 'usage');
    for (const id of [cx, cw, cy]) g.destroyBuffer(id);
    await expectThrows("error: conv2d tile 'few-outputs' with 9 output channels", () => ops.conv2d(g, {
        x: g.dummyId, w: g.dummyId, y: g.dummyId, B: 1, Cin: 4, H: 8, W: 8, Cout: 9, kh: 3, kw: 3,
        pad: [1, 1, 1, 1], tile: 'few-outputs'}), GpuError, 'usage');
    await expectThrows("error: matmul tile 'matrix-direct-32' on a shape it cannot take", () => ops.matmul(g, {
        a: g.dummyId, b: g.dummyId, y: g.dummyId, Ba: 1, Bb: 1, M: 48, K: 16, N: 128, tile: 'matrix-direct-32'}),
        GpuError, g.subgroupMatrix ? 'usage' : 'unsupported');
    // The f16 variants are generated from the same source (compiled and tested where shader-f16 exists).
    const f16ok = Object.keys(g.kernels).every((k) => {
        const c = g.shaderCode(k, 'f16');
        return c.startsWith('enable f16;') && /^alias T = f16;$/m.test(c) && !/^alias T = f32;$/m.test(c);
    });
    report('f16 variants generated for every kernel', f16ok, '');

    // Out of memory, as WebGPU reports it (an error scope), simulated on a wrapped device.
    const dev = await (await gpu.requestAdapter()).requestDevice();
    let failNext = false;
    const wrapped = new Proxy(dev, {get(t, p) {
        if (p === 'popErrorScope') {
            return () => t.popErrorScope().then((e) => {
                if (failNext) { failNext = false; return {message: 'simulated: not enough memory'}; }
                return e;
            });
        }
        const v = Reflect.get(t, p, t);
        return typeof v === 'function' ? v.bind(t) : v;
    }});
    const go = await GpuBridge.create(wrapped);
    await go.sync();  // settle the scopes of the bridge's own startup buffers
    failNext = true;
    await expectThrows('error: out-of-memory scope -> OutOfMemoryError', () => go.createBufferChecked(1024),
                       OutOfMemoryError, 'out-of-memory');
    await expectThrows('error: bridge poisoned after out-of-memory', () => go.createTensor(4), OutOfMemoryError,
                       'out-of-memory');

    // Device loss: destroy the device under a bridge with pending work.
    const dev2 = await (await gpu.requestAdapter()).requestDevice();
    const gl = await GpuBridge.create(dev2);
    const t = gl.createTensor(256);
    ops.act(gl, {x: t, y: t, n: 256, act: 1});
    dev2.destroy();
    await expectThrows('error: device destroyed -> DeviceLostError on read', () => gl.readF32(t), DeviceLostError,
                       'device-lost');
    await expectThrows('error: later calls throw DeviceLostError', () => gl.createTensor(4), DeviceLostError, 'device-lost');
}

// ------------------------------------------------------------------ dispatch plans (no GPU)

// Which kernel and variant ops.js picks for the model's shapes on an f16 bridge with 16x16x16 subgroup
// matrices (the H100's): a stub bridge records the dispatches. The variants' thresholds were measured
// on the H100 (NOTES.md, "Speed work, session 11"); this keeps the choice from drifting silently.
function planCases() {
    const plan = (dtype, call) => {
        const seen = [];
        const stub = {dtype, subgroupMatrix: dtype === 'f16' ? {M: 16, N: 16, K: 16} : null, dummyId: 0,
                      limits: {maxStorageBufferBindingSize: 2 ** 31, maxComputeWorkgroupsPerDimension: 65535,
                               maxComputeWorkgroupStorageSize: 49152},
                      elemBytes: () => (dtype === 'f16' ? 2 : 4), scratch: () => 1, spaceOf: () => 0,
                      dispatch: (kernel, a) => seen.push({kernel, defines: a.defines ?? {}, workgroups: a.workgroups})};
        call(stub);
        // the conv's main dispatch comes last (after pad / weight layout), or before a split-K reduce
        return seen.filter((d) => d.kernel !== 'gemm_split_k_reduce').pop();
    };
    const conv = (B, Cin, Cout, side, k) => (g) => ops.conv2d(g, {x: 1, w: 2, b: 3, y: 4, B, Cin, H: side, W: side, Cout,
                                                                kh: k, kw: k, pad: k === 3 ? [1, 1, 1, 1] : undefined});
    const expect = (name, dtype, call, kernel, defines, workgroups = null) => {  // null: any
        const got = plan(dtype, call);
        const ok = got?.kernel === kernel && (defines === null || JSON.stringify(got.defines) === JSON.stringify(defines)) &&
                   (workgroups === null || JSON.stringify(got.workgroups) === JSON.stringify(workgroups));
        report(`plan: ${name}`, ok, `${got?.kernel} ${JSON.stringify(got?.defines)} ${JSON.stringify(got?.workgroups)}`);
    };
    const wide = {BN: 4}, thin = {}, block4 = {BM: 4, TM: 64, NSG: 2, WG: 64}, tm32 = {TM: 32, NSG: 2, WG: 64, SPLIT: 1};
    const split = (n) => ({...tm32, SPLIT: n});
    expect('3x3 VAE 128->128 @512 B2: 128 x 128 staged tiles', 'f16', conv(2, 128, 128, 512, 3), 'conv2d_subgroup_matrix_staged', thin,
           [2048, 1, 2]);
    const tk64 = {TK: 64, ST: 72};
    expect('3x3 UNet 1280->1280 @32 B2: staged, K steps of 64, K in 4 (160 workgroups)', 'f16', conv(2, 1280, 1280, 32, 3),
           'conv2d_subgroup_matrix_staged', {...tk64, SPLIT: 4}, [8, 10, 8]);
    expect('3x3 UNet 1280->1280 @16 B2: staged, K steps of 64, K in 3 (40 workgroups: 120 in one wave)', 'f16',
           conv(2, 1280, 1280, 16, 3), 'conv2d_subgroup_matrix_staged', {...tk64, SPLIT: 3}, [2, 10, 6]);
    expect('3x3 UNet 640->640 @64 B2: staged, K in 2 (320 workgroups: 3 waves -> 5 of half the work)', 'f16',
           conv(2, 640, 640, 64, 3), 'conv2d_subgroup_matrix_staged', {...tk64, SPLIT: 2}, [32, 5, 4]);
    const down = (B, C, side) => (g) => ops.conv2d(g, {x: 1, w: 2, b: 3, y: 4, B, Cin: C, H: side, W: side, Cout: C, kh: 3, kw: 3,
                                                       stride: 2, pad: [1, 1, 1, 1]});
    expect('3x3 UNet 640->640 @32 B2 s2 (downsampler): staged, K in 5 (20 workgroups, 90 steps)', 'f16', down(2, 640, 32),
           'conv2d_subgroup_matrix_staged', {...tk64, SPLIT: 5}, [2, 5, 10]);
    expect('3x3 UNet 320->320 @64 B2 s2 (downsampler): direct, taps in 3 (80 workgroups)', 'f16', down(2, 320, 64),
           'conv2d_subgroup_matrix_direct', {SPLIT: 3}, [8, 5, 6]);
    expect('3x3 VAE 512->512 @64 B1: staged, no split (128 workgroups: one wave)', 'f16', conv(1, 512, 512, 64, 3),
           'conv2d_subgroup_matrix_staged', tk64, [32, 4, 1]);
    expect('3x3 VAE 256->256 @256 B1: staged, K steps of 64 (Cin >= 256)', 'f16', conv(1, 256, 256, 256, 3),
           'conv2d_subgroup_matrix_staged', tk64);
    expect('3x3 UNet 320->320 @64 B2: direct, 64 (Cout % 128 != 0), taps in 3', 'f16', conv(2, 320, 320, 64, 3),
           'conv2d_subgroup_matrix_direct', {SPLIT: 3});
    expect('3x3 VAE 128->128 @512 B2, stride 2: staged', 'f16', (g) => ops.conv2d(g, {x: 1, w: 2, b: 3, y: 4, B: 2, Cin: 128, H: 512,
           W: 512, Cout: 128, kh: 3, kw: 3, stride: 2, pad: [0, 0, 1, 1]}), 'conv2d_subgroup_matrix_staged', thin, [512, 1, 2]);
    expect('1x1 1280->6400 @16 B2: staged 64 x 128', 'f16', conv(2, 1280, 6400, 16, 1), 'gemm_subgroup_matrix_staged', null, [2, 100, 2]);
    expect('1x1 640->3200 @32 B2: staged', 'f16', conv(2, 640, 3200, 32, 1), 'gemm_subgroup_matrix_staged', null);
    expect('1x1 320->1600 @64 B2: staged (K = 320)', 'f16', conv(2, 320, 1600, 64, 1), 'gemm_subgroup_matrix_staged', null, [32, 25, 2]);
    expect('1x1 800->320 @64 B2: direct, 4 x 4 blocks (M < 640)', 'f16', conv(2, 800, 320, 64, 1), 'gemm_subgroup_matrix_direct', block4);
    expect('1x1 3200->1280 @16 B2: 32 x 128, K in 4 (160 workgroups)', 'f16', conv(2, 3200, 1280, 16, 1), 'gemm_subgroup_matrix_direct', split(4));
    expect('1x1 1280->1280 @16 B2: direct, K in 4 (80 staged workgroups: too few)', 'f16', conv(2, 1280, 1280, 16, 1),
           'gemm_subgroup_matrix_direct', split(4));
    expect('1x1 1280->160 @16 B2: K in 8 (20 workgroups)', 'f16', conv(2, 1280, 160, 16, 1), 'gemm_subgroup_matrix_direct', split(8),
           [2, 5, 16]);
    expect('1x1 640->640 @32 B2: staged', 'f16', conv(2, 640, 640, 32, 1), 'gemm_subgroup_matrix_staged', null, [8, 10, 2]);
    expect('1x1 1600->640 @32 B2: direct (K > 1280), K in 2', 'f16', conv(2, 1600, 640, 32, 1), 'gemm_subgroup_matrix_direct', split(2));
    expect('1x1 320->320 @64 B2: no split (640 workgroups)', 'f16', conv(2, 320, 320, 64, 1), 'gemm_subgroup_matrix_direct', tm32);
    const mm = (B, M, K, N) => (g) => ops.matmul(g, {a: 1, b: 2, y: 3, Ba: B, Bb: B, M, K, N, tb: true});
    expect('matmul B2 40x4096x40 tb (content lambda @64²): reduce-k', 'f16', mm(2, 40, 4096, 40), 'gemm_reduce_k', null, [5, 40, 2]);
    expect('matmul B2 80x1024x80 tb (content lambda @32²): reduce-k', 'f16', mm(2, 80, 1024, 80), 'gemm_reduce_k', null, [10, 80, 2]);
    expect('matmul B2 160x256x160 tb (content lambda @16²): tiled', 'f16', mm(2, 160, 256, 160), 'gemm_tiled', null);
    expect('3x3 VAE 128->128 @512 B2 on f32: no matrix units', 'f32', conv(2, 128, 128, 512, 3), 'conv2d_implicit_gemm', null);
    // conv2dMakesInput (the engine asks it before a GroupNorm / upsample conv) agrees with the kernel taken.
    for (const [dtype, Cin, Cout, side, k] of [['f16', 128, 128, 512, 3], ['f16', 512, 512, 64, 3], ['f16', 128, 3, 512, 3],
                                               ['f16', 512, 8, 64, 3], ['f16', 256, 128, 512, 1], ['f32', 128, 128, 512, 3]]) {
        let makes = null;
        const got = plan(dtype, (g) => {
            makes = ops.conv2dMakesInput(g, {B: 1, Cin, H: side, W: side, Cout, kh: k, kw: k, pad: k === 3 ? [1, 1, 1, 1] : undefined});
            conv(1, Cin, Cout, side, k)(g);
        });
        const perTap = got?.kernel === 'conv2d_subgroup_matrix_staged' || got?.kernel === 'conv2d_subgroup_matrix_direct';
        report(`plan: conv2dMakesInput ${dtype} ${k}x${k} ${Cin}->${Cout} @${side} = ${makes}`, makes === perTap, `${got?.kernel}`);
    }
    const saved = {...ops.matrixTuning};
    try {
        ops.matrixTuning.conv = 'direct';
        ops.matrixTuning.gemm = 'direct';
        expect("matrixTuning.conv 'direct': 64 output channels", 'f16', conv(2, 128, 128, 512, 3), 'conv2d_subgroup_matrix_direct', thin);
        ops.matrixTuning.gemm = 'staged-64x128';
        expect("matrixTuning.gemm 'staged-64x128': 1x1 320->320 @64 B2 in 64 x 128 staged tiles", 'f16', conv(2, 320, 320, 64, 1),
               'gemm_subgroup_matrix_staged', null, [32, 5, 2]);
        expect("matrixTuning.gemm 'staged-64x128': 1x1 800->320 @64 B2 staged too", 'f16', conv(2, 800, 320, 64, 1),
               'gemm_subgroup_matrix_staged', null, [32, 5, 2]);
        ops.matrixTuning.gemm = 'direct';
        ops.matrixTuning.conv = 'direct-wide';
        expect("matrixTuning.conv 'direct-wide': 128 output channels", 'f16', conv(2, 128, 128, 512, 3), 'conv2d_subgroup_matrix_direct', wide);
        expect("matrixTuning.gemm 'direct': 32 x 128", 'f16', conv(2, 1280, 6400, 16, 1), 'gemm_subgroup_matrix_direct', tm32);
        ops.matrixTuning.splitK = 'off';
        expect("matrixTuning.splitK 'off'", 'f16', conv(2, 1280, 1280, 16, 1), 'gemm_subgroup_matrix_direct', tm32);
        ops.matrixTuning.splitK = ops.parseSplitK('2', 'test');
        expect("parseSplitK('2'): K in 2 where auto takes 4", 'f16', conv(2, 1280, 1280, 16, 1), 'gemm_subgroup_matrix_direct', split(2));
        for (const bad of ['', '0', '9', '2.5', 'on', '-1']) {
            let msg = '';
            try { ops.parseSplitK(bad, 'MOEBIUS_SPLIT_K'); } catch (e) { msg = e instanceof GpuError ? e.message : `wrong error ${e}`; }
            report(`parseSplitK rejects '${bad}'`, msg.startsWith('MOEBIUS_SPLIT_K: expected auto, off or a number'), msg);
        }
    } finally {
        Object.assign(ops.matrixTuning, saved);
    }
}

// ------------------------------------------------------------------ main

const t0 = performance.now();
// MOEBIUS_DAWN_FEATURES, e.g. allow_unsafe_apis,vulkan_enable_f16_on_nvidia (shader-f16 on NVIDIA).
const dawnFeatures = process.env.MOEBIUS_DAWN_FEATURES;
const gpu = create(['backend=vulkan', ...(dawnFeatures ? [`enable-dawn-features=${dawnFeatures}`] : [])]);
const useF16 = process.env.MOEBIUS_WEBGPU_F16 === '1';
const g = await GpuBridge.create(gpu, {preferF16: false});
const d = g.describe();
console.log(`adapter: ${d.adapter.vendor} ${d.adapter.architecture} ${d.adapter.device} ${d.adapter.description}`);
console.log(`features: ${JSON.stringify(d.features)}`);
console.log(`limits: ${JSON.stringify(d.limits)}`);

// Compile every entry point first: shader errors come back with line numbers.
const MATRIX_KERNELS = ['gemm_subgroup_matrix', 'conv2d_subgroup_matrix', 'gemm_subgroup_matrix_direct',
                        'conv2d_subgroup_matrix_direct', 'conv2d_subgroup_matrix_staged', 'gemm_subgroup_matrix_staged'];  // f16 bridges with subgroup matrices only
const entries = Object.values(g.kernels).filter((k) => !MATRIX_KERNELS.includes(k.name))
    .flatMap((k) => Object.keys(k.entries).map((entry) => ({kernel: k.name, entry})));
const smallTile = {TM: 64, TN: 64, TK: 16, RM: 4, RN: 4, LOADS: 4};  // as TILE_SMALL in ops.js
entries.push({kernel: 'gemm_tiled', entry: 'main', defines: smallTile},
             {kernel: 'conv2d_implicit_gemm', entry: 'main', defines: smallTile});
try {
    await g.compile(entries);
    report(`compile ${entries.length} entry points (f32)`, true, '');
} catch (e) {
    report(`compile ${entries.length} entry points (f32)`, false, e.message);
}

const bridges = [g];
if (useF16) {
    const g16 = await GpuBridge.create(gpu, {preferF16: true});
    if (g16.dtype === 'f16') {
        const sm = g16.subgroupMatrix;
        const entries16 = entries.map((e) => ({...e, dtype: 'f16'}));
        if (sm) for (const kernel of MATRIX_KERNELS) entries16.push({kernel, dtype: 'f16', defines: /_(direct|staged)$/.test(kernel) ? {SM: sm.M, SN: sm.N, SK: sm.K} : {SM: sm.M, SN: sm.N, SK: sm.K, QM: 32 / sm.M, QN: 64 / sm.N}});  // large-tile defaults otherwise
        console.log(`subgroup matrices: ${sm ? JSON.stringify(sm) : 'none usable'}; adapter configs: ` +
            JSON.stringify([...(g16.adapter?.info?.subgroupMatrixConfigs ?? [])].map((c) =>
                `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`)));
        try {
            await g16.compile(entries16);
            report(`compile ${entries16.length} entry points (f16)`, true, '');
        } catch (e) {
            report(`compile ${entries16.length} entry points (f16)`, false, e.message);
        }
        bridges.push(g16);
    } else {
        console.log('MOEBIUS_WEBGPU_F16=1 but the adapter has no shader-f16: f16 cases skipped');
    }
}

for (const br of bridges) {
    for (const [name, fn] of cases) {
        if (!name.includes(filter)) continue;
        try {
            await fn(br);
        } catch (e) {
            report(`${br.dtype} ${name}`, false, `threw ${e?.name}: ${e?.message}`);
        }
    }
}

if (!filter || filter === 'grid') {
    try { await foldingCases(g.device); } catch (e) { report('folding cases', false, `threw ${e?.name}: ${e?.message}`); }
    try { await bigGridCase(g); } catch (e) { report('big grid', false, `threw ${e?.name}: ${e?.message}`); }
    try { await bindGroupReuseCase(g); } catch (e) { report('bind group reuse', false, `threw ${e?.name}: ${e?.message}`); }
    try { await gcCase(); } catch (e) { report('gc case', false, `threw ${e?.name}: ${e?.message}`); }
    try { await arenaCases(gpu); } catch (e) { report('arena cases', false, `threw ${e?.name}: ${e?.message}`); }
}
if (!filter || filter === 'plan') planCases();
if (!filter || filter === 'error') {
    try { await errorCases(gpu, g); } catch (e) { report('error cases', false, `threw ${e?.name}: ${e?.message}`); }
}
await g.sync();

console.log(`\n${count - failures}/${count} passed in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
            ` (${g.stats.dispatches} dispatches, ${g.stats.submits} submits on the main bridge)`);
process.exit(failures ? 1 : 0);
