// bench_kernels.mjs: time the WGSL kernels at the model's real sizes (512x512 image, 64x64 latent,
// CFG batch 2) and print time, FLOP count and achieved GFLOP/s (or GB/s for memory-bound ops).
// For a real GPU (SwiftShader would take hours):
//   node tests/webgpu/bench_kernels.mjs [filter]      env MOEBIUS_DAWN_FEATURES as in test_kernels.mjs
// MOEBIUS_BENCH_RW=all declares every binding read_write (as inputs bound to the tensor arena are),
// to see which kernels lose speed with it; MOEBIUS_BENCH_F32=0 skips the f32 variants.
// Each case is recorded `iters` times into one batch and timed from the host around g.sync()
// after a warm-up run, for the f32 and (when shader-f16 exists) the f16 variants.

import {create, globals} from 'webgpu';

import {GpuBridge} from '../../src/backend/webgpu/bridge.js';
import * as ops from '../../src/backend/webgpu/ops.js';

Object.assign(globalThis, globals);

const filter = process.argv[2] ?? '';
const dawnFeatures = process.env.MOEBIUS_DAWN_FEATURES;
const gpu = create(['backend=vulkan', ...(dawnFeatures ? [`enable-dawn-features=${dawnFeatures}`] : [])]);

/** [name, flops, bytes moved (ideal), setup(g) -> run()] */
const cases = [];
// Tile configurations, MOEBIUS_BENCH_TILES=a,b,...: a tile name (ops.js Tile), optionally with the
// staged matrix kernels' row padding (ops.matrixTuning.pad): 'matrix-small:pad=0', and the direct
// GEMM's split-K (ops.matrixTuning.splitK: auto, off or a number of K parts): 'matrix-direct-32:split=off',
// the staged conv's K step (ops.matrixTuning.stagedConvTK): 'matrix-staged-128:tk=64', and the per-tap
// matrix convs' split-K (ops.matrixTuning.convSplitK: auto, off or a number): 'matrix-staged-128:csplit=2'.
const TILES = (process.env.MOEBIUS_BENCH_TILES ?? 'large,small,matrix-large,matrix-small,matrix-direct').split(',');
/** Sets the knobs of a tile configuration and returns the Tile name. */
function applyTile(spec) {
    const [tile, ...opts] = spec.split(':');
    const opt = (/** @type {string} */ name) => opts.find((o) => o.startsWith(name + '='))?.slice(name.length + 1);
    ops.matrixTuning.pad = Number(opt('pad') ?? 8);
    ops.matrixTuning.splitK = ops.parseSplitK(opt('split') ?? 'auto', `MOEBIUS_BENCH_TILES '${spec}' split`);
    const tk = opt('tk') ?? 'auto';
    if (!['auto', '32', '64'].includes(tk)) throw new Error(`MOEBIUS_BENCH_TILES '${spec}': tk must be auto, 32 or 64`);
    ops.matrixTuning.stagedConvTK = tk === 'auto' ? tk : /** @type {32 | 64} */ (Number(tk));
    const cs = opt('csplit') ?? 'auto';
    ops.matrixTuning.convSplitK = cs === 'auto' || cs === 'off' ? cs : ops.parseSplitK(cs, `MOEBIUS_BENCH_TILES '${spec}' csplit`);
    return /** @type {import('../../src/backend/webgpu/ops.js').Tile} */ (tile);
}
// matrix-direct takes whole 64 x 128 tiles only, matrix-direct-32 whole 32 x 128 tiles
const directOk = (M, N, spec) => M % (spec.startsWith('matrix-direct-32') ? 32 : 64) === 0 && N % 128 === 0;
/**
 * A conv2d case at a model shape: [name, FLOP, 0, setup]; k x k kernel, same padding (stride 2: the
 * UNet downsamplers' padding 1, output side / 2), B images.
 */
function convCase(spec, what, B, Cin, Cout, side, k, act = 0, stride = 1) {
    const S = side * side, So = S / (stride * stride);
    return [`conv${k}x${k} ${what} ${Cin}->${Cout} @${side}x${side}${stride > 1 ? ` s${stride}` : ''}${B > 1 ? ` B=${B}` : ''} (${spec})`,
            2 * B * Cin * Cout * k * k * So, 0, (g) => {
        const x = g.createTensor(B * Cin * S), w = g.createTensor(Cout * Cin * k * k), b = g.createTensor(Cout);
        const y = g.createTensor(B * Cout * So);
        const pad = k === 3 ? [1, 1, 1, 1] : undefined;
        return () => ops.conv2d(g, {x, w, b, y, B, Cin, H: side, W: side, Cout, kh: k, kw: k, pad, stride, act, tile: applyTile(spec)});
    }];
}
for (const spec of TILES) {
    // 1x1 convs are GEMMs (Cout x HW per image): 'matrix-direct' takes them on whole 64 x 128 tiles;
    // its 3x3 twin (conv2d_subgroup_matrix_direct) takes every 3x3 shape below.
    const direct = spec.startsWith('matrix-direct');
    // 'matrix-staged-128' (conv2d_subgroup_matrix_staged) also takes the 1x1 shapes that make whole
    // 128 x 128 tiles, as convs (with the NHWC copy of the input); 'matrix-direct-wide' is a 3x3 tile only.
    // 'matrix-staged-64x128' (gemm_subgroup_matrix_staged) takes the 1x1 shapes with Cout % 64 and Cin % 32.
    const staged = spec.startsWith('matrix-staged-128');
    const stagedGemm = spec === 'matrix-staged-64x128';
    const convOnly = spec === 'matrix-direct-wide' || staged;
    const gemm = (Cin, Cout, side, act) => (staged ? (Cout % 128 === 0 ? [convCase(spec, 'UNet', 2, Cin, Cout, side, 1, act)] : []) :
        stagedGemm ? (Cout % 64 === 0 && Cin % 32 === 0 ? [convCase(spec, 'UNet', 2, Cin, Cout, side, 1, act)] : []) :
        convOnly ? [] :
        !direct || directOk(Cout, side * side, spec) ? [convCase(spec, 'UNet', 2, Cin, Cout, side, 1, act)] : []);
    if (!convOnly && !stagedGemm) cases.push(
        [`matmul 4096^3 (${spec})`, 2 * 4096 ** 3, 0, (g) => {
            const a = g.createTensor(4096 * 4096), b = g.createTensor(4096 * 4096), y = g.createTensor(4096 * 4096);
            return () => ops.matmul(g, {a, b, y, Ba: 1, Bb: 1, M: 4096, K: 4096, N: 4096, tile: applyTile(spec)});
        }]);
    if (!stagedGemm) cases.push(
        convCase(spec, 'VAE', 2, 128, 128, 512, 3), convCase(spec, 'VAE', 1, 128, 128, 512, 3), convCase(spec, 'VAE', 1, 256, 128, 512, 3),
        convCase(spec, 'VAE', 1, 256, 256, 256, 3), convCase(spec, 'VAE', 1, 512, 512, 128, 3),
        convCase(spec, 'VAE', 1, 512, 512, 64, 3), convCase(spec, 'UNet', 2, 1280, 1280, 16, 3),
        convCase(spec, 'UNet', 2, 1280, 1280, 32, 3), convCase(spec, 'UNet', 2, 640, 640, 64, 3),
        convCase(spec, 'UNet', 2, 640, 640, 32, 3, 0, 2), convCase(spec, 'VAE', 1, 256, 256, 256, 3, 0, 2),
        convCase(spec, 'VAE', 1, 512, 512, 128, 3, 0, 2));
    // 320 output channels: not whole 128-channel tiles
    if (!stagedGemm && !spec.startsWith('matrix-staged-128') && !spec.startsWith('matrix-direct-wide')) {
        cases.push(convCase(spec, 'UNet', 2, 320, 320, 64, 3, 0, 2));
    }
    cases.push(
        ...gemm(320, 320, 64), ...gemm(320, 1600, 64, 1), ...gemm(800, 320, 64), ...gemm(640, 640, 32),
        ...gemm(1600, 640, 32), ...gemm(1280, 1280, 16), ...gemm(1280, 6400, 16, 1), ...gemm(3200, 1280, 16),
        ...gemm(1280, 160, 16), ...gemm(640, 3200, 32, 1),
    );
}
// The conv_out layers (at most 8 output channels): conv2d_few_outputs against the implicit GEMM.
for (const spec of ['small', 'few-outputs-generic', 'few-outputs']) {
    cases.push(convCase(spec, 'VAE out', 1, 128, 3, 512, 3), convCase(spec, 'VAE out', 1, 512, 8, 64, 3),
               convCase(spec, 'UNet out', 2, 320, 4, 64, 3));
}
cases.push(
    // The UNet's depthwise 3x3 convs: main_3x3 (four outputs a thread) against the generic entry.
    ...[[800, 64], [1600, 64], [3200, 32]].flatMap(([C, side]) => [undefined, 'generic'].map((tile) =>
        [`depthwise 3x3 ${C}ch @${side}x${side} B=2${tile ? ' (generic)' : ''}`, 2 * 2 * C * 9 * side * side,
         2 * 2 * C * side * side, (g) => {
            const x = g.createTensor(2 * C * side * side), w = g.createTensor(C * 9), b = g.createTensor(C);
            const y = g.createTensor(2 * C * side * side);
            return () => ops.conv2d(g, {x, w, b, y, B: 2, Cin: C, H: side, W: side, Cout: C, kh: 3, kw: 3,
                                        pad: [1, 1, 1, 1], groups: C, tile});
        }])),
    // GroupNorm at the VAE's largest and the UNet's three levels (32 groups), partial chunks as ops.js picks
    // them (auto) and forced (ops.normTuning.chunk).
    ...[[1, 128, 512], [2, 320, 64], [2, 640, 32], [2, 1280, 16]].flatMap(([B, C, side]) => ['auto', 1024, 2048, 4096, 8192].map((chunk) =>
        [`group_norm ${C}ch @${side}x${side}${B > 1 ? ` B=${B}` : ''} G=32 silu chunk=${chunk}`, 0, 2 * 2 * B * C * side * side, (g) => {
            const n = B * C * side * side;
            const x = g.createTensor(n), gamma = g.createTensor(C), beta = g.createTensor(C), y = g.createTensor(n);
            return () => {
                ops.normTuning.chunk = chunk;
                try { ops.group_norm(g, {x, gamma, beta, y, B, C, S: side * side, groups: 32, eps: 1e-6, act: 1}); }
                finally { ops.normTuning.chunk = 'auto'; }
            };
        }])),
    // The UNet's three levels, each with the positions a workgroup that ops.js picks (first) and others.
    ...[[320, 4096, 32], [640, 1024, 16], [1280, 256, 8]].flatMap(([C, S, auto]) => [auto, ...[4, 8, 16, 32].filter((p) => p !== auto)].map((pos) =>
        [`layer_norm_channels ${C}ch S=${S} B=2 pos=${pos}${pos === auto ? ' (auto)' : ''}`, 0, 2 * 2 * C * S, (g) => {
            const n = 2 * C * S;
            const x = g.createTensor(n), gamma = g.createTensor(C), beta = g.createTensor(C), y = g.createTensor(n);
            return () => ops.layer_norm_channels(g, {x, gamma, beta, y, B: 2, C, S, eps: 1e-5, pos});
        }])),
    ['softmax 2x16 rows x 4096', 0, 2 * 32 * 4096, (g) => {
        const x = g.createTensor(32 * 4096), y = g.createTensor(32 * 4096);
        return () => ops.softmax(g, {x, y, rows: 32, L: 4096});
    }],
    ['add (2,320,64,64) + (2,320,1,1)', 0, 2 * 2 * 320 * 4096, (g) => {
        const n = 2 * 320 * 4096;
        const a = g.createTensor(n), b = g.createTensor(640), y = g.createTensor(n);
        return () => ops.add(g, {a, b, y, B: 2, C: 320, S: 4096, bCount: 640});
    }],
    // The model's lambdas at the three UNet levels (full config: heads 8, k = v = C/8, L = 10).
    ...[[320, 64], [640, 32], [1280, 16]].flatMap(([C, side]) => {
        const heads = 8, kd = C / 8, vd = C / 8, N = side * side, L = 10, B = 2;
        return [
            [`lambda_local r=15 B=2 h=8 k=v=${kd} @${side}x${side}`, 2 * B * heads * N * 225 * (kd + vd), 0, (g) => {
                const q = g.createTensor(B * heads * kd * N), v = g.createTensor(B * vd * N);
                const w = g.createTensor(kd * 225), bias = g.createTensor(kd), y = g.createTensor(B * heads * vd * N);
                return () => ops.lambda_local_position(g, {q, v, w, bias, y, B, heads, kdim: kd, vdim: vd, H: side, W: side, r: 15});
            }],
            ...[undefined, 'generic'].map((tile) =>
            [`lambda_global B=2 h=8 k=v=${kd} N=${N} L=10${tile ? ' (generic)' : ''}`, 2 * B * heads * N * L * (kd + vd), 0, (g) => {
                const q = g.createTensor(B * heads * kd * N), v = g.createTensor(B * vd * L), e = g.createTensor(N * L * kd);
                const y = g.createTensor(B * heads * vd * N), res = g.createTensor(B * heads * vd * N);
                return () => ops.lambda_global_position(g, {q, v, e, y, res, B, heads, kdim: kd, vdim: vd, N, L, tile});
            }]),
        ];
    }),
);

async function bench(g) {
    for (const [name, flops, elems, setup] of cases) {
        if (!name.includes(filter)) continue;
        if (name.includes('(matrix') && !g.subgroupMatrix) continue;  // f16 bridges with subgroup matrices only
        if (process.env.MOEBIUS_BENCH_F32 === '0' && g.dtype === 'f32') continue;
        const run = setup(g);
        run();
        await g.sync();  // warm-up: pipeline compile + first touch
        let iters = 1;
        let ms = 0, encodeMs = 0, dispatches = 0;
        for (;;) {  // grow the batch until it takes >= 200 ms
            const d0 = g.stats.dispatches;
            const t0 = performance.now();
            for (let i = 0; i < iters; i++) run();
            encodeMs = performance.now() - t0;
            dispatches = g.stats.dispatches - d0;
            await g.sync();
            ms = performance.now() - t0;
            if (ms >= 200 || iters >= 1000) break;
            iters *= Math.min(10, Math.max(2, Math.ceil(200 / Math.max(ms, 1))));
        }
        const per = ms / iters;
        // flops / ms / 1e9 = TFLOP/s; bytes / ms / 1e6 = GB/s
        const rate = flops ? `${(flops / per / 1e9).toFixed(2).padStart(6)} TFLOP/s (${(flops / 1e9).toFixed(2)} GFLOP)`
                           : `${(elems * g.elemBytes() / per / 1e6).toFixed(0).padStart(6)} GB/s (ideal traffic)`;
        console.log(`${g.dtype} ${name.padEnd(44)} ${per.toFixed(3).padStart(8)} ms  ${rate}` +
                    `  [${iters} iters, host encode ${(1000 * encodeMs / dispatches).toFixed(1)} us/dispatch]`);
    }
}

const rw = process.env.MOEBIUS_BENCH_RW ?? 'inputs-read-only';
if (!['all', 'inputs-read-only'].includes(rw)) throw new Error(`MOEBIUS_BENCH_RW: expected all or inputs-read-only, got '${rw}'`);
const bridgeOptions = rw === 'all' ? {arena: false, readWrite: /** @type {'all'} */ ('all')} : {};
console.log(`bindings: ${rw === 'all' ? 'every binding read_write' : 'inputs read-only'}`);
const g = await GpuBridge.create(gpu, {preferF16: false, ...bridgeOptions});
const d = g.describe();
console.log(`adapter: ${d.adapter.vendor} ${d.adapter.architecture} ${d.adapter.device} ${d.adapter.description}`);
console.log(`features: ${JSON.stringify(d.features)}`);
await bench(g);
const g16 = await GpuBridge.create(gpu, {preferF16: true, ...bridgeOptions});
console.log(`subgroup matrices (f16 path): ${JSON.stringify(g16.subgroupMatrix)}`);
if (g16.dtype === 'f16') await bench(g16);
else console.log('no shader-f16: f16 variants not benchmarked');
process.exit(0);
