// ops.js: launchers for the backend.h ops on a GpuBridge. Each takes buffer ids (inputs and the
// output the caller allocated with g.createTensor) plus the shape numbers, and records the
// dispatches: it owns the uniforms, override constants and grid of its kernel, so the C++ side
// passes only what backend.h already knows. Names and semantics follow backend.h one to one;
// shapes are NCHW contiguous. `act` is the C++ Act ordinal (0 None, 1 SiLU, 2 ReLU) or its name.
//
// Ops that return a shape the C++ side may want (conv2d) return it; all others return nothing.

import {GpuError} from './bridge.js';

/** @typedef {import('./bridge.js').GpuBridge} GpuBridge */

const ACTS = {none: 0, silu: 1, relu: 2};
/** @param {number | string | undefined} a */
function actCode(a) {
    if (a === undefined) return 0;
    if (typeof a === 'string') {
        const c = ACTS[/** @type {keyof typeof ACTS} */ (a.toLowerCase())];
        if (c === undefined) throw new GpuError('usage', `unknown activation '${a}'`);
        return c;
    }
    if (a !== 0 && a !== 1 && a !== 2) throw new GpuError('usage', `unknown activation ${a}`);
    return a;
}

/** @param {boolean} ok @param {string} msg */
function check(ok, msg) { if (!ok) throw new GpuError('usage', msg); }

const WG1D = 256;  // workgroup size of the 1-D kernels

// Tile configurations of gemm_tiled.wgsl and conv2d_implicit_gemm.wgsl: the files' defaults are
// the large 128 x 128 x 8 tile (8 x 8 outputs per thread); small problems, which would leave most
// of a large tile or most of the GPU idle, get 64 x 64 x 16 (4 x 4 per thread) through `defines`.
const TILE_LARGE = {tm: 128, tn: 128, defines: {}};
const TILE_SMALL = {tm: 64, tn: 64, defines: {TM: 64, TN: 64, TK: 16, RM: 4, RN: 4, LOADS: 4}};
const LARGE_TILE_MIN_WORKGROUPS = 128;  // enough large tiles to occupy a big GPU (H100: 132 SMs)

// Matrix-unit twins of the two tiled kernels (same bindings and uniforms). Their files default to
// the large 128 x 128 tile (8 subgroups); ops use 64 x 64 (4 subgroups of 32 x 32).
const SUBGROUP_MATRIX_KERNEL = {gemm_tiled: 'gemm_subgroup_matrix', conv2d_implicit_gemm: 'conv2d_subgroup_matrix'};
const SUBGROUP_MATRIX_MIN = 32;  // smaller M or N (the 2-20-row linears) stay on the plain kernel
const SUBGROUP_MATRIX_CONV_CHANNELS = 32;  // conv2d_subgroup_matrix's K step: Cin/groups must be a multiple
// Small outputs with a long reduction (linears on a few rows, the content lambdas: 40 x 40 over 4096
// pixels, 80 x 80 over 1024) go to gemm_reduce_k: 32 lanes per output instead of a few tiles walking
// all of K (80 x 80 x 1024 at B2 on the tiled kernel: 8 workgroups, 116 us a call on an H100).
const REDUCE_K_MAX_OUTPUTS = 8192;
const REDUCE_K_MIN_K = 128;
/**
 * Knobs of the matrix-unit kernels, for benchmarks (tests/webgpu/bench_kernels.mjs, MOEBIUS_MATRIX_GEMM
 * and MOEBIUS_MATRIX_CONV in bench/webgpu_harness.mjs): `pad` f16 elements added to each
 * workgroup-tile row of the staged kernels (bank conflicts of the matrix loads); `gemm` which kernel
 * takes GEMMs made of whole 32 x 128 tiles: 'direct' (gemm_subgroup_matrix_direct: H100, UNet 1x1
 * convs 1.4-1.7x the staged kernel, matmul 4096^3 54 vs 30 TFLOP/s) with 32 x 128 tiles, 'direct-64x64'
 * (its 4 x 4 blocks a subgroup where M % 64 == 0), 'auto' (the default: 4 x 4 blocks where K and the
 * grid are large, see DIRECT_BLOCK4_MIN_TILES; gemm_subgroup_matrix_staged's 64 x 128 tiles where they
 * fit and M, K and the grid suit them, see STAGED_GEMM_*), 'staged-64x128' (gemm_subgroup_matrix_staged
 * wherever its tiles fit, the direct kernel elsewhere) or 'staged' (gemm_subgroup_matrix);
 * `conv` which takes the other convs that directConvOk accepts: 'direct' (conv2d_subgroup_matrix_direct:
 * H100, 3x3 convs of the VAE and UNet 1.1-1.9x the staged kernel, 31-37 TFLOP/s at most shapes),
 * 'direct-wide' (the same kernel with 128 output channels a workgroup where Cout % 128 == 0), 'auto'
 * (the default: conv2d_subgroup_matrix_staged's 128 x 128 tiles through workgroup memory where
 * stagedConvOk, else the direct kernel with 128 output channels where the grid stays large, see
 * DIRECT_CONV_WIDE_MIN_WORKGROUPS) or 'staged' (conv2d_subgroup_matrix); `splitK` the direct GEMM's K
 * parts where its grid is small ('auto', 'off' or a number; see splitKParts); `convSplitK` the same for
 * the per-tap matrix convs (see convSplitParts); `stagedConvTK` conv2d_subgroup_matrix_staged's K step ('auto':
 * 64 channels from Cin >= STAGED_CONV_TK64_MIN_CIN, else 32; 32; or 64 where Cin allows).
 */
export const matrixTuning = {pad: 8, /** @type {'staged' | 'direct' | 'direct-64x64' | 'staged-64x128' | 'auto'} */ gemm: 'auto',
                             /** @type {'staged' | 'direct' | 'direct-wide' | 'auto'} */ conv: 'auto',
                             /** @type {'auto' | 'off' | number} */ splitK: 'auto',
                             /** @type {'auto' | 'off' | number} */ convSplitK: 'auto',
                             /** @type {'auto' | 32 | 64} */ stagedConvTK: 'auto'};
// Split-K of the direct GEMM (splitKParts): below this many workgroups (~4 per SM of an H100), up to
// SPLIT_K_MAX parts of at least SPLIT_K_MIN_PART of K each. H100, f16, the UNet's 1x1 convs at B2 (parts
// + reduce against one pass): 1280 -> 1280 @16² 0.078 -> 0.045 ms (4 parts), 3200 -> 1280 @16² 0.190 ->
// 0.088 (4), 1280 -> 160 @16² 0.071 -> 0.022 (8), 640 -> 640 @32² 0.050 -> 0.046 (2); a UNet step
// 27.8 -> 24.5 ms.
const SPLIT_K_MIN_WORKGROUPS = 512, SPLIT_K_MAX = 8, SPLIT_K_MIN_PART = 128;
// Split-K of the per-tap matrix convs (convSplitParts). Their time goes by waves of workgroups: one
// staged-conv workgroup keeps an H100 SM busy, so a grid of W takes ~ceil(W / CONV_WAVE) workgroup
// times, and s parts of 1/s the work take ceil(s W / CONV_WAVE) / s. H100, f16, B2, ms (off -> parts):
// UNet 1280 @32² (160 workgroups) 1.206 -> 0.862 (2) -> 0.746 (4); 640 @64² (320) 0.858 -> 0.702 (2),
// 0.726 (4); the 640 downsampler (20) 0.296 -> 0.10-0.21 (2-5); the 320 downsampler (direct kernel,
// 80) 0.214 -> 0.138 (3 parts of the 9 taps); the VAE's 512 @64² and 512 @128² s2 (128 workgroups,
// one wave) no faster (0.242 -> 0.248-0.257, 0.276 -> 0.289-0.316).
const CONV_WAVE = 132, CONV_SPLIT_MIN_STEPS = 16;
const DIRECT_TM = 64, DIRECT_TN = 128;  // gemm_subgroup_matrix_direct's tile (TM, TN there)
// gemm_subgroup_matrix_staged: its workgroup memory (two f16 tiles of 32 x 136, epilogue slots), and where
// 'auto' takes it. H100, f16, the UNet's 1x1 convs at B2 against the direct kernel (split-K included):
// 1280 -> 6400 @16² 0.242 -> 0.148 ms, 640 -> 3200 @32² 0.193 -> 0.147, 640 -> 640 @32² 0.052 -> 0.043,
// 320 -> 1600 @64² 0.189 -> 0.183; but M = 320 (800 -> 320 @64² 0.072 -> 0.087, 320 -> 320 0.043 -> 0.045),
// long K (3200 -> 1280 @16² 0.091 -> 0.106, 1600 -> 640 @32² 0.089 -> 0.092) and small grids stay direct
// (1280 -> 1280 @16², 80 workgroups: 0.055 -> 0.049 alone, but 58 -> 68 us a call within the UNet step).
const STAGED_GEMM_WORKGROUP_BYTES = 2 * 32 * 136 * 2 + 4 * 256 * 4, STAGED_GEMM_MIN_M = 640, STAGED_GEMM_MAX_K = 1280,
      STAGED_GEMM_MIN_WORKGROUPS = 128;
const FEW_OUTPUTS = 8;  // conv2d_few_outputs' output channels (two vec4 sums per pixel, 32 pixels a workgroup)
const DIRECT_CONV_TM = 128, DIRECT_CONV_TN = 64;  // conv2d_subgroup_matrix_direct's (pixels, output channels)
const DIRECT_CONV_WIDE_MIN_WORKGROUPS = 96;       // its 128-channel variant below this grid: too few workgroups
const STAGED_CONV_TILE = 128, STAGED_CONV_TK = 32;  // conv2d_subgroup_matrix_staged's tile (pixels = channels) and K step
// K steps of 64 channels from this Cin (H100, f16, 3x3, against 32: VAE 256 -> 128 @512² 2.28 -> 2.10 ms,
// 512 @128² 1.01 -> 0.94, UNet 1280 @32² B2 1.30 -> 1.17, 640 @64² 0.94 -> 0.87; 128 @512² mixed: B1 1.21
// -> 1.11, B2 2.43 -> 2.54).
const STAGED_CONV_TK64_MIN_CIN = 256;
/** Its workgroup memory: two f16 tiles (row stride TK + 8) and the epilogue slots. @param {number} tk */
const stagedConvWorkgroupBytes = (tk) => 2 * 128 * (tk + 8) * 2 + 8 * 256 * 4;
// gemm_subgroup_matrix_direct's 4 x 4 blocks (64 x 128 tiles of 2 subgroups): with K >= 512 and at
// least this many tiles (H100: 1280 -> 6400 @16² 34 -> 51 TFLOP/s, 640 -> 3200 @32² 44 -> 49, matmul
// 4096³ 54 -> 73; with short K or fewer tiles 0.8-0.97x the 32 x 128 default).
const DIRECT_BLOCK4_MIN_TILES = 256, DIRECT_BLOCK4_MIN_K = 512;
/** @param {{M: number, N: number, K: number}} c @param {boolean} large */
function subgroupMatrixDefines(c, large) {
    const [TM, TN, WG, SGN] = large ? [128, 128, 256, 2] : [64, 64, 128, 2];
    const NSG = WG / 32, SGM = NSG / SGN;
    return {tm: TM, tn: TN, defines: {SM: c.M, SN: c.N, SK: c.K, TM, TN, WG, NSG, SGN,
                                      QM: TM / SGM / c.M, QN: TN / SGN / c.N,
                                      AST: 32 + matrixTuning.pad, BST: TN + matrixTuning.pad}};
}
/** Per-invocation loads of the matrix kernels (vec4 for the GEMM, scalars for the conv). */
function subgroupMatrixLoads(kernel, d) {
    const per = (elems) => elems / d.WG / (kernel === 'gemm_subgroup_matrix' ? 4 : 1);
    return {LA: per(d.TM * 32), LB: per(32 * d.TN)};
}

/**
 * Records a GEMM-shaped dispatch (C is M x N per batch item) with the kernel and tile chosen for
 * its size: on the f16 path of an adapter with subgroup matrices (bridge.subgroupMatrix) the
 * matrix-unit twin for all but thin problems, otherwise the plain kernel's large or small tile.
 * @param {GpuBridge} g @param {string} kernel @param {number} M @param {number} N @param {number} batch
 * @param {import('./bridge.js').DispatchArgs} args  without workgroups / defines (set here: args is the
 *   caller's fresh object, used up by this call; no copy per dispatch)
 * @param {Tile} [tile]  forces a configuration (tests, benchmarks); 'matrix' = matrix units, tile by size
 * @param {boolean} [convMatrixOk]  conv2d_implicit_gemm only: whether its matrix twin takes the shape
 */
function dispatchTiled(g, kernel, M, N, batch, args, tile, convMatrixOk = true) {
    const u = /** @type {Record<string, number>} */ (args.uniforms);
    if (kernel === 'gemm_tiled' && (tile === 'reduce-k' ||
                                    (tile === undefined && M * N <= REDUCE_K_MAX_OUTPUTS && u.K >= REDUCE_K_MIN_K))) {
        args.workgroups = [Math.ceil(N / 8), M, batch];
        g.dispatch('gemm_reduce_k', args);
        return;
    }
    // gemm_subgroup_matrix loads both tiles as vec4: row-major A and B, every offset a multiple of 4.
    const matrixOk = kernel === 'gemm_tiled'
        ? u.a_sk === 1 && u.b_sn === 1 && [u.K, N, u.a_sm, u.a_sz, u.b_sk, u.b_sz].every((v) => v % 4 === 0)
        : convMatrixOk;
    const smm = g.subgroupMatrix;
    if (tile?.startsWith('matrix') && !matrixOk) throw new GpuError('usage', `${kernel}: tile '${tile}' cannot take this shape`);
    const useMatrix = tile?.startsWith('matrix') || (tile === undefined && matrixOk && smm && g.dtype === 'f16' &&
                                                     M >= SUBGROUP_MATRIX_MIN && N >= SUBGROUP_MATRIX_MIN);
    if (useMatrix) {
        if (!smm) throw new GpuError('unsupported', `${kernel}: tile '${tile}' needs subgroup matrices (f16 x f16 -> f32, subgroup size 32)`);
        // Whole tiles of a 16 x 16 x 16 configuration: subgroups load straight from storage. The
        // 32 x 128 variant (2 subgroups a workgroup; twice the workgroups) is the default: on an H100
        // it ran the UNet's 1x1 convs 3-15% faster than 64 x 128 (4 subgroups), except 1280 -> 6400
        // at 16x16 (3% slower); tile 'matrix-direct' keeps 64 x 128.
        // 'matrix-direct-64x64' (matrixTuning.gemm 'direct-64x64'; 'auto' where K and the grid are large):
        // 64 x 128 tiles of 2 subgroups with 4 x 4 result matrices each, where M allows.
        // gemm_subgroup_matrix_staged's 64 x 128 tiles through workgroup memory, where they fit: 'auto' where
        // M, K and the grid suit it (STAGED_GEMM_*), matrixTuning.gemm 'staged-64x128' wherever they
        // fit, tile 'matrix-staged-64x128' forced.
        const stagedOk = kernel === 'gemm_tiled' && M % 64 === 0 && N % 128 === 0 && u.K % 32 === 0 &&
            [u.a_sm, u.a_sz, u.b_sk, u.b_sz].every((v) => v % 8 === 0) && smm.M === 16 && smm.N === 16 && smm.K === 16 &&
            g.limits.maxComputeWorkgroupStorageSize >= STAGED_GEMM_WORKGROUP_BYTES;
        if (tile === 'matrix-staged-64x128' || (tile === undefined && stagedOk && (matrixTuning.gemm === 'staged-64x128' ||
                (matrixTuning.gemm === 'auto' && M >= STAGED_GEMM_MIN_M && u.K <= STAGED_GEMM_MAX_K &&
                 (N / 128) * (M / 64) * batch >= STAGED_GEMM_MIN_WORKGROUPS)))) {
            if (!stagedOk) throw new GpuError('usage', `${kernel}: tile '${tile}' needs whole 64x128 tiles, K % 32 == 0, ` +
                                             `16-byte rows and 16x16x16 matrices (got M ${M}, N ${N}, K ${u.K})`);
            args.workgroups = [N / 128, M / 64, batch];
            g.dispatch('gemm_subgroup_matrix_staged', args);
            return;
        }
        const direct = tile === 'matrix-direct' || tile === 'matrix-direct-32' || tile === 'matrix-direct-64x64' ||
                       (tile === undefined && matrixTuning.gemm !== 'staged');
        if (kernel === 'gemm_tiled' && direct) {
            const ok = N % DIRECT_TN === 0 && u.K % 16 === 0 && smm.M === 16 && smm.N === 16 && smm.K === 16;
            const block4 = tile === 'matrix-direct-64x64' || (tile === undefined && M % DIRECT_TM === 0 &&
                (matrixTuning.gemm === 'direct-64x64' || (matrixTuning.gemm === 'auto' && u.K >= DIRECT_BLOCK4_MIN_K &&
                                                          (N / DIRECT_TN) * (M / DIRECT_TM) * batch >= DIRECT_BLOCK4_MIN_TILES)));
            const wide = tile === 'matrix-direct' || block4;
            const tm = wide ? DIRECT_TM : DIRECT_TM / 2;
            if (ok && M % tm === 0) {
                const split = wide ? 1 : splitKParts(M / tm * (N / DIRECT_TN) * batch, u.K);
                args.workgroups = [N / DIRECT_TN, M / tm, batch * split];
                if (block4) args.defines = {BM: 4, TM: tm, NSG: 2, WG: 64};
                else if (!wide) args.defines = {TM: tm, NSG: 2, WG: 64, SPLIT: split};
                if (split === 1) {
                    args.bindings.parts = unusedParts(g, args.bindings.c);
                    g.dispatch('gemm_subgroup_matrix_direct', args);
                    return;
                }
                // Split-K: the parts in f32 scratch (batch, split, M, N), then one pass adds them
                // and applies alpha, bias, activation and residual.
                const {bias, c, res} = args.bindings;
                // in the output's arena space, not the input's: the GEMM's loads stay read-only
                const parts = g.scratch('gemm.split_k_parts', batch * split * M * N * 4, 'f32', g.spaceOf(c));
                args.bindings.parts = parts;
                g.dispatch('gemm_subgroup_matrix_direct', args);
                const k = /** @type {Record<string, number|boolean>} */ (args.constants);
                splitKReduce(g, {bias, c, res, parts}, {M, N, batch, alpha: u.alpha}, k.BIAS ?? 0, k, split);
                return;
            }
            if (tile) throw new GpuError('usage', `${kernel}: tile '${tile}' needs whole ${tm}x${DIRECT_TN} tiles of 16x16x16 matrices`);
        }
        // The 64 x 64 tile measured faster than 128 x 128 at every model shape on an H100 (more
        // workgroups in flight hide the load latency better); 'matrix-large' stays for tests/benchmarks.
        const t = subgroupMatrixDefines(smm, tile === 'matrix-large');
        const mk = SUBGROUP_MATRIX_KERNEL[/** @type {'gemm_tiled'} */ (kernel)];
        args.defines = {...t.defines, ...subgroupMatrixLoads(mk, t.defines)};
        args.workgroups = [Math.ceil(N / t.tn), Math.ceil(M / t.tm), batch];
        g.dispatch(mk, args);
        return;
    }
    const large = Math.ceil(M / 128) * Math.ceil(N / 128) * batch >= LARGE_TILE_MIN_WORKGROUPS && M >= 96 && N >= 96;
    const t = (tile ?? (large ? 'large' : 'small')) === 'large' ? TILE_LARGE : TILE_SMALL;
    args.defines = t.defines;
    args.workgroups = [Math.ceil(N / t.tn), Math.ceil(M / t.tm), batch];
    g.dispatch(kernel, args);
}

/**
 * A split-K setting as text (an environment variable, a benchmark option): 'auto', 'off' or a number of
 * K parts from 1 to SPLIT_K_MAX; anything else throws, naming `what`.
 * @param {string} text @param {string} what @returns {'auto' | 'off' | number}
 */
export function parseSplitK(text, what) {
    if (text === 'auto' || text === 'off') return text;
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (n >= 1 && n <= SPLIT_K_MAX) return n;
    throw new GpuError('usage', `${what}: expected auto, off or a number of K parts from 1 to ${SPLIT_K_MAX}, got '${text}'`);
}

/**
 * K parts for the direct GEMM's 32 x 128 tile (split-K): where its grid of `workgroups` would leave
 * the GPU's SMs idle (fewer than SPLIT_K_MIN_WORKGROUPS; the 16²-level 1x1 convs: 1280 -> 1280 has
 * 160 workgroups, 1280 -> 160 has 20), the smallest power of two that fills it, keeping each part at
 * least SPLIT_K_MIN_PART deep. matrixTuning.splitK: 'auto' (this rule), 'off', or a number of parts
 * (forced where K allows; tests and benchmarks).
 * @param {number} workgroups @param {number} K
 */
function splitKParts(workgroups, K) {
    const want = matrixTuning.splitK;
    if (want === 'off') return 1;
    const fits = (/** @type {number} */ s) => K % (s * 16) === 0 && K / s >= SPLIT_K_MIN_PART;
    if (typeof want === 'number') return want > 1 && fits(want) ? want : 1;
    let s = 1;
    while (workgroups * s < SPLIT_K_MIN_WORKGROUPS && s < SPLIT_K_MAX && fits(2 * s)) s *= 2;
    return s;
}

/**
 * K parts for a per-tap matrix conv (conv2d_subgroup_matrix_staged / _direct) whose grid has `workgroups`
 * and whose reduction has `steps` K steps of 16-64 channels: the number of parts (at most SPLIT_K_MAX,
 * each at least CONV_SPLIT_MIN_STEPS steps deep, dividing `unit`: the direct kernel splits its taps, 3
 * parts of a 3x3 conv; 1 for the staged kernel's steps) with the fewest workgroup times by waves of
 * CONV_WAVE, taking more parts only for a 5% gain. matrixTuning.convSplitK: 'auto' (this rule), 'off',
 * or a number of parts (forced where `unit` and `steps` allow; tests and benchmarks).
 * @param {number} workgroups @param {number} steps @param {number} unit
 */
function convSplitParts(workgroups, steps, unit) {
    const want = matrixTuning.convSplitK;
    const ok = (/** @type {number} */ s) => unit % s === 0 || unit === 1;
    if (want === 'off') return 1;
    if (typeof want === 'number') return want <= steps && ok(want) ? want : 1;
    let best = 1, bestTime = Math.ceil(workgroups / CONV_WAVE);
    for (let s = 2; s <= SPLIT_K_MAX; s++) {
        const time = Math.ceil(s * workgroups / CONV_WAVE) / s;
        if (ok(s) && steps / s >= CONV_SPLIT_MIN_STEPS && time < 0.95 * bestTime) [best, bestTime] = [s, time];
    }
    return best;
}

/**
 * Records a per-tap matrix conv (`kernel`, with `args` for its dispatch) split into `split` K parts: the
 * parts to f32 scratch (image, part, Cout, Ho*Wo), then gemm_split_k_reduce adds them and applies bias,
 * activation and residual. With one part, the conv alone (its `parts` binding gets a minimal scratch).
 * @param {GpuBridge} g @param {string} kernel @param {import('./bridge.js').DispatchArgs} args
 * @param {number} split @param {{B: number, Cout: number, NP: number}} d
 */
function dispatchConvSplit(g, kernel, args, split, d) {
    const {bias, y, res} = args.bindings;
    if (split === 1) {
        args.bindings.parts = unusedParts(g, y);
        g.dispatch(kernel, args);
        return;
    }
    const parts = g.scratch('gemm.split_k_parts', d.B * split * d.Cout * d.NP * 4, 'f32', g.spaceOf(y));
    args.bindings.parts = parts;
    args.defines = {...args.defines, SPLIT: split};
    const wg = /** @type {number[]} */ (args.workgroups);
    args.workgroups = [wg[0], wg[1], wg[2] * split];
    g.dispatch(kernel, args);
    const k = /** @type {Record<string, number|boolean>} */ (args.constants);
    splitKReduce(g, {bias, c: y, res, parts}, {M: d.Cout, N: d.NP, batch: d.B, alpha: 1}, k.HAS_BIAS ? 1 : 0, k, split);
}

/**
 * The `parts` binding of a split-K kernel run in one part: bound, never touched (one f32 16 x 16 matrix,
 * the shader's minimum binding size), in the output's arena space. @param {GpuBridge} g @param {number} out
 */
function unusedParts(g, out) { return g.scratch('gemm.split_k_parts', 1024, null, g.spaceOf(out)); }

/**
 * The second pass of a split-K GEMM or conv (gemm_split_k_reduce.wgsl): C (batch, M, N) = the `split`
 * parts added in order, times alpha, + bias (per row: BIAS 1, per column: 2), act and residual as the
 * first pass's constants say. @param {GpuBridge} g @param {Record<string, number>} bindings  bias, c, res, parts
 * @param {{M: number, N: number, batch: number, alpha: number}} uniforms @param {number} biasMode
 * @param {Record<string, number|boolean>} k  the first pass's constants (ACT, HAS_RES) @param {number} split
 */
function splitKReduce(g, bindings, uniforms, biasMode, k, split) {
    g.dispatch('gemm_split_k_reduce', {
        bindings, uniforms,
        constants: {ACT: k.ACT ?? 0, BIAS: biasMode, HAS_RES: k.HAS_RES ?? false, SPLIT: split},
        workgroups: groups1d(uniforms.batch * uniforms.M * uniforms.N),
    });
}

/** @typedef {'large' | 'small' | 'matrix' | 'matrix-large' | 'matrix-small' | 'matrix-direct' | 'matrix-direct-32' |
 *            'matrix-direct-64x64' | 'matrix-direct-wide' | 'matrix-staged-128' | 'matrix-staged-64x128' |
 *            'reduce-k' | 'few-outputs' | 'few-outputs-generic' | 'generic'} Tile */

/** @param {number} n */
const groups1d = (n) => Math.ceil(n / WG1D);

/**
 * An optional input (bias, residual): whether it is given, and the buffer to bind (the bridge's dummy
 * when not: a kernel's bindings are all bound, its overrides skip the unused ones).
 * @param {GpuBridge} g @param {number | null | undefined} id
 */
function optional(g, id) {
    const has = id !== undefined && id !== null;
    return {has, id: has ? /** @type {number} */ (id) : g.dummyId};
}

/**
 * @typedef {{x: number, w: number, b?: number | null, y: number, B: number, Cin: number, H: number,
 *            W: number, Cout: number, kh: number, kw: number, stride?: number,
 *            pad?: [number, number, number, number], groups?: number, act?: number | string,
 *            res?: number | null, tile?: Tile,
 *            norm?: {gamma: number, beta: number, groups: number, eps: number, act?: number | string},
 *            upsample?: boolean}} ConvArgs
 */

/**
 * y = act(conv2d(f(x), w) + b) (+ res). x (B,Cin,H,W), w (Cout,Cin/groups,kh,kw), b (Cout) or null, res a
 * residual of y's shape or null (added after the activation, in each kernel's epilogue; not on the
 * depthwise path). f(x) = x, or with `norm` act(GroupNorm(x)) (norm.act), or with `upsample` x (B, Cin,
 * H/2, W/2) upsampled 2x (nearest): the matrix convs that load per tap make f(x) in their padded copy
 * of the input (no tensor of its own: with the resnet's shortcut after conv2, the VAE decoder's 512² peak 450 -> 386 MiB, f16); the other
 * paths make it first, in a tensor of its own.
 * Depthwise (groups == Cin == Cout) -> conv_depthwise; 1x1 / stride 1 / no pad / groups 1 ->
 * gemm_tiled (unless tile 'matrix-staged-128': benchmarks of the staged conv on 1x1 shapes); groups 1
 * with at most 8 output channels (or tile 'few-outputs') -> conv2d_few_outputs; on the matrix units
 * (matrixTuning.conv 'auto', or tile 'matrix-staged-128'), whole 128 x 128 tiles ->
 * conv2d_subgroup_matrix_staged (see stagedConvOk); (matrixTuning.conv not 'staged', or tile
 * 'matrix-direct' / 'matrix-direct-wide') whole tiles of groups-1 convs -> conv2d_subgroup_matrix_direct
 * (see directConvOk); anything else -> conv2d_implicit_gemm.
 * @param {GpuBridge} g @param {ConvArgs} a
 *   pad = [top, left, bottom, right] as Conv2dParams.
 */
export function conv2d(g, a) {
    const {x, w, y, B, Cin, H, W, Cout, kh, kw, stride = 1, pad = [0, 0, 0, 0], groups = 1} = a;
    const [pt, pl, pb, pr] = pad;
    check(Cin % groups === 0 && Cout % groups === 0, `conv2d: groups ${groups} must divide Cin ${Cin} and Cout ${Cout}`);
    const Ho = Math.floor((H + pt + pb - kh) / stride) + 1;
    const Wo = Math.floor((W + pl + pr - kw) / stride) + 1;
    check(Ho > 0 && Wo > 0, `conv2d: empty output for ${H}x${W} input, ${kh}x${kw} kernel`);
    const kernel = convKernel(g, a, Ho, Wo);
    if (a.norm || a.upsample) {
        check(!(a.norm && a.upsample), 'conv2d: norm and upsample together are not supported');
        check(!a.upsample || (H % 2 === 0 && W % 2 === 0), `conv2d: upsample needs an even input size (got ${H}x${W})`);
        if (kernel !== 'staged' && kernel !== 'direct') {
            const t = g.createTensor(B * Cin * H * W, false, g.spaceOf(x));
            if (a.upsample) upsample_nearest2x(g, {x, y: t, BC: B * Cin, H: H / 2, W: W / 2});
            else group_norm(g, {x, ...a.norm, y: t, B, C: Cin, S: H * W});
            const shape = conv2d(g, {...a, x: t, norm: undefined, upsample: false});
            g.destroyBuffer(t);
            return shape;
        }
    }
    const act = actCode(a.act);
    const {has: hasBias, id: bias} = optional(g, a.b);
    const {has: hasRes, id: res} = optional(g, a.res);  // residual added after the activation (y's layout)

    if (kernel === 'depthwise') {
        check(!hasRes, 'conv2d: the depthwise kernel takes no residual (add it separately)');
        // 3x3 / stride 1 / padding 1 (the UNet's): four outputs a thread (main_3x3); tile 'generic'
        // forces the any-shape entry (benchmarks).
        const same3x3 = kh === 3 && kw === 3 && stride === 1 && pt === 1 && pl === 1 && pb === 1 && pr === 1 &&
                        a.tile !== 'generic';
        const quads = B * Cin * H * Math.ceil(W / 4);
        g.dispatch('conv_depthwise', {
            entry: same3x3 ? 'main_3x3' : 'main',
            bindings: {x, w, bias, y},
            uniforms: {C: Cin, H, W, Ho, Wo, kh, kw, stride, pad_t: pt, pad_l: pl, total: B * Cin * Ho * Wo, quads},
            constants: {ACT: act, HAS_BIAS: hasBias},
            workgroups: groups1d(same3x3 ? quads : B * Cin * Ho * Wo),
        });
    } else if (kernel === 'gemm') {
        // y[b] (Cout, HW) = w (Cout, Cin) * x[b] (Cin, HW) + bias per row
        const S = H * W;
        dispatchTiled(g, 'gemm_tiled', Cout, S, B, {
            bindings: {a: w, b: x, bias, c: y, res},
            uniforms: {M: Cout, N: S, K: Cin, a_sm: Cin, a_sk: 1, a_sz: 0, b_sk: S, b_sn: 1, b_sz: Cin * S, alpha: 1},
            constants: {ACT: act, BIAS: hasBias ? 1 : 0, HAS_RES: hasRes},
        }, a.tile);
    } else if (kernel === 'few-outputs') {
        check(fewOutputsOk(g, groups, Cout, Ho, Wo), `conv2d: tile 'few-outputs' needs groups 1, Cout <= ${FEW_OUTPUTS} and ` +
              `ceil(Ho*Wo / 32) <= ${g.limits.maxComputeWorkgroupsPerDimension} (got groups ${groups}, Cout ${Cout}, output ${Ho}x${Wo})`);
        // 3x3 / stride 1 / padding 1 (the VAE's conv_out layers): four outputs a thread (main_3x3); tile
        // 'few-outputs-generic' forces the any-shape entry (tests, benchmarks).
        const same3x3 = kh === 3 && kw === 3 && stride === 1 && pad.every((v) => v === 1) && a.tile !== 'few-outputs-generic';
        const quads = Ho * Math.ceil(Wo / 4);  // <= Ho * Wo: fewOutputsOk's grid check covers it
        g.dispatch('conv2d_few_outputs', {
            entry: same3x3 ? 'main_3x3' : 'main',
            bindings: {x, w, bias, y, res},
            uniforms: {Cin, H, W, Cout, Ho, Wo, kh, kw, stride, pad_t: pt, pad_l: pl, groups: 1},
            constants: {ACT: act, HAS_BIAS: hasBias, HAS_RES: hasRes, ...(same3x3 ? {HI: Cout > 4} : {})},
            workgroups: [Math.ceil((same3x3 ? quads : Ho * Wo) / 32), B, 1],
        });
    } else if (kernel === 'staged') {
        // 128 x 128 tiles through workgroup memory where they fit (H100, f16, against the direct kernel
        // with 128 output channels: the VAE's 3x3 convs 48-55 -> 64-76 TFLOP/s, UNet 640 @64² 42 -> 64,
        // 1280 @32² 33 -> 43, 1280 @16² 14 -> 20; a whole decode 57 -> 45 ms).
        if (a.tile) check(stagedConvOk(g, a, Ho, Wo), `conv2d: tile '${a.tile}' needs f16 subgroup matrices (16x16x16), ` +
              `${stagedConvWorkgroupBytes(STAGED_CONV_TK)} bytes of workgroup memory, groups 1, Cin % ${STAGED_CONV_TK} == 0, ` +
              `Cout % ${STAGED_CONV_TILE} == 0 and Ho*Wo % ${STAGED_CONV_TILE} == 0 (got Cin ${Cin}, Cout ${Cout}, groups ${groups}, output ${Ho}x${Wo})`);
        const {xp, wt} = padAndTapMajor(g, a, kh, kw);
        // K steps of 64 channels where matrixTuning asks and Cin and the workgroup memory allow.
        const tk64 = (matrixTuning.stagedConvTK === 64 || (matrixTuning.stagedConvTK === 'auto' && Cin >= STAGED_CONV_TK64_MIN_CIN)) &&
                     Cin % 64 === 0 && g.limits.maxComputeWorkgroupStorageSize >= stagedConvWorkgroupBytes(64);
        const tk = tk64 ? 64 : STAGED_CONV_TK;
        const workgroups = [Ho * Wo / STAGED_CONV_TILE, Cout / STAGED_CONV_TILE, B];
        const split = convSplitParts(workgroups[0] * workgroups[1] * B, kh * kw * Cin / tk, 1);
        dispatchConvSplit(g, 'conv2d_subgroup_matrix_staged', {
            bindings: {x: xp, w: wt, bias, y, res},
            uniforms: {Cin, H: H + pt + pb, W: W + pl + pr, Cout, Ho, Wo, kh, kw, stride, pad_t: 0, pad_l: 0, groups: 1},
            constants: {ACT: act, HAS_BIAS: hasBias, HAS_RES: hasRes},
            defines: tk64 ? {TK: 64, ST: 72} : {},
            workgroups,
        }, split, {B, Cout, NP: Ho * Wo});
    } else if (kernel === 'direct') {
        // 64 output channels a workgroup, or 128 (BN = 4: 4 x 4 result matrices a subgroup) where Cout
        // allows and the grid stays large: H100, 3x3 convs of the VAE 34 -> 46-57 TFLOP/s, UNet 640 @64²
        // and 1280 @32² 1.15-1.2x, but 1280 @16² (40 workgroups) 0.8x. matrixTuning.conv 'direct'
        // keeps 64, 'direct-wide' takes 128 wherever Cout allows.
        const wideOk = directConvOk(g, a, Ho, Wo, 2 * DIRECT_CONV_TN);
        const wide = a.tile === 'matrix-direct-wide' || (a.tile === undefined && wideOk && (matrixTuning.conv === 'direct-wide' ||
            (matrixTuning.conv === 'auto' && (Ho * Wo / DIRECT_CONV_TM) * (Cout / (2 * DIRECT_CONV_TN)) * B >= DIRECT_CONV_WIDE_MIN_WORKGROUPS)));
        const tn = wide ? 2 * DIRECT_CONV_TN : DIRECT_CONV_TN;
        if (a.tile) check(directConvOk(g, a, Ho, Wo, tn), `conv2d: tile '${a.tile}' needs f16 subgroup matrices (16x16x16), groups 1, ` +
              `Cin % 16 == 0, Cout % ${tn} == 0, Wo % 16 == 0 and Ho*Wo % ${DIRECT_CONV_TM} == 0 ` +
              `(got Cin ${Cin}, Cout ${Cout}, groups ${groups}, output ${Ho}x${Wo})`);
        const {xp, wt} = padAndTapMajor(g, a, kh, kw);
        const workgroups = [Ho * Wo / DIRECT_CONV_TM, Cout / tn, B];
        const split = convSplitParts(workgroups[0] * workgroups[1] * B, kh * kw * Cin / 16, kh * kw);
        dispatchConvSplit(g, 'conv2d_subgroup_matrix_direct', {
            bindings: {x: xp, w: wt, bias, y, res},
            uniforms: {Cin, H: H + pt + pb, W: W + pl + pr, Cout, Ho, Wo, kh, kw, stride, pad_t: 0, pad_l: 0, groups: 1},
            constants: {ACT: act, HAS_BIAS: hasBias, HAS_RES: hasRes},
            defines: wide ? {BN: 4} : {},
            workgroups,
        }, split, {B, Cout, NP: Ho * Wo});
    } else {
        dispatchTiled(g, 'conv2d_implicit_gemm', Cout / groups, Ho * Wo, B * groups, {
            bindings: {x, w, bias, y, res},
            uniforms: {Cin, H, W, Cout, Ho, Wo, kh, kw, stride, pad_t: pt, pad_l: pl, groups},
            constants: {ACT: act, HAS_BIAS: hasBias, HAS_RES: hasRes},
        }, a.tile, (Cin / groups) % SUBGROUP_MATRIX_CONV_CHANNELS === 0);
    }
    return {Ho, Wo};
}

/**
 * Whether conv2d makes a `norm` or `upsample` input on the way (in its padded copy) for a conv of these
 * sizes, rather than in a tensor of its own first: the engine then leaves that tensor to its own
 * buffer pool. @param {GpuBridge} g @param {ConvArgs} a
 */
export function conv2dMakesInput(g, a) {
    const {H, W, kh, kw, stride = 1, pad = [0, 0, 0, 0]} = a;
    const kernel = convKernel(g, a, Math.floor((H + pad[0] + pad[2] - kh) / stride) + 1, Math.floor((W + pad[1] + pad[3] - kw) / stride) + 1);
    return kernel === 'staged' || kernel === 'direct';  // the matrix kernels that load per tap (padAndTapMajor)
}

/**
 * Which of conv2d's kernel families takes a conv (as the tile asks, else by shape and matrixTuning); see
 * conv2d. @param {GpuBridge} g @param {ConvArgs} a @param {number} Ho @param {number} Wo
 * @returns {'depthwise' | 'gemm' | 'few-outputs' | 'staged' | 'direct' | 'implicit'}
 */
function convKernel(g, a, Ho, Wo) {
    const {Cin, Cout, kh, kw, stride = 1, pad = [0, 0, 0, 0], groups = 1, tile} = a;
    if (groups > 1 && groups === Cin && groups === Cout) return 'depthwise';
    if (kh === 1 && kw === 1 && stride === 1 && pad.every((v) => v === 0) && groups === 1 && tile !== 'matrix-staged-128') return 'gemm';
    if (tile === 'few-outputs' || tile === 'few-outputs-generic' || (tile === undefined && fewOutputsOk(g, groups, Cout, Ho, Wo))) return 'few-outputs';
    if (tile === 'matrix-staged-128' || (tile === undefined && matrixTuning.conv === 'auto' && stagedConvOk(g, a, Ho, Wo))) return 'staged';
    if (tile === 'matrix-direct' || tile === 'matrix-direct-wide' ||
        (tile === undefined && matrixTuning.conv !== 'staged' && directConvOk(g, a, Ho, Wo, DIRECT_CONV_TN))) return 'direct';
    return 'implicit';
}

/**
 * The layouts of the matrix-unit convs that load per tap (conv2d_subgroup_matrix_direct / _staged),
 * in scratch buffers: the input zero-padded NHWC (B, Hp, Wp, Cin), the weights tap-major (Cout, kh*kw, Cin).
 * The input is made from x on the way where the conv has `norm` (GroupNorm and its act) or `upsample`.
 * @param {GpuBridge} g @param {ConvArgs} a @param {number} kh @param {number} kw
 */
function padAndTapMajor(g, a, kh, kw) {
    const {x, w, B, Cin, H, W, Cout, pad = [0, 0, 0, 0], norm, upsample = false} = a;
    const Hp = H + pad[0] + pad[2], Wp = W + pad[1] + pad[3];
    // in the other arena space than the conv's output, so that the conv's loads stay read-only
    const space = g.spaceOf(a.y) === 0 ? 1 : 0;
    const xp = g.scratch('conv2d.x_nhwc', B * Hp * Wp * Cin * g.elemBytes(), g.dtype, space);
    const wt = g.scratch('conv2d.w_taps', Cout * Cin * kh * kw * g.elemBytes(), g.dtype, space);
    const st = norm ? groupNormStats(g, {x, B, C: Cin, S: H * W, groups: norm.groups, eps: norm.eps}) : null;
    g.dispatch('pad_nhwc', {
        bindings: {x, y: xp, gamma: norm?.gamma ?? g.dummyId, beta: norm?.beta ?? g.dummyId, stats: st?.stats ?? g.dummyId},
        uniforms: {C: Cin, H, W, Hp, Wp, pad_t: pad[0], pad_l: pad[1], Cg: norm ? Cin / norm.groups : 1, G: norm?.groups ?? 1},
        constants: {NORM: !!norm, UP: upsample, ACT: actCode(norm?.act)},
        workgroups: [Math.ceil(Hp * Wp / 16), Math.ceil(Cin / 16), B],
    });
    transpose12(g, {x: w, y: wt, B: Cout, M: Cin, N: kh * kw});
    return {xp, wt};
}

/**
 * Whether conv2d_subgroup_matrix_staged takes a conv: what every per-tap matrix conv needs
 * (perTapConvOk), room for its workgroup memory, whole 128 x 128 tiles (Cout and Ho*Wo) and Cin % 32.
 * @param {GpuBridge} g @param {{B: number, Cin: number, H: number, W: number, Cout: number, pad?: number[], groups?: number}} a
 * @param {number} Ho @param {number} Wo
 */
function stagedConvOk(g, a, Ho, Wo) {
    return perTapConvOk(g, a) && g.limits.maxComputeWorkgroupStorageSize >= stagedConvWorkgroupBytes(STAGED_CONV_TK) &&
           a.Cin % STAGED_CONV_TK === 0 && a.Cout % STAGED_CONV_TILE === 0 && (Ho * Wo) % STAGED_CONV_TILE === 0;
}

/**
 * Whether conv2d_few_outputs takes a conv: groups 1, at most FEW_OUTPUTS output channels, its grid
 * (32 output pixels a workgroup) within the limit.
 * @param {GpuBridge} g @param {number} groups @param {number} Cout @param {number} Ho @param {number} Wo
 */
function fewOutputsOk(g, groups, Cout, Ho, Wo) {
    return groups === 1 && Cout <= FEW_OUTPUTS && Math.ceil(Ho * Wo / 32) <= g.limits.maxComputeWorkgroupsPerDimension;
}

/**
 * Whether conv2d_subgroup_matrix_direct takes a conv: what every per-tap matrix conv needs
 * (perTapConvOk) and whole tiles (Cin % 16, Cout % tn, Wo % 16, Ho*Wo % 128).
 * @param {GpuBridge} g @param {{B: number, Cin: number, H: number, W: number, Cout: number, pad?: number[], groups?: number}} a
 * @param {number} Ho @param {number} Wo @param {number} tn  output channels a workgroup (64, or 128 wide)
 */
function directConvOk(g, a, Ho, Wo, tn) {
    return perTapConvOk(g, a) && a.Cin % 16 === 0 && a.Cout % tn === 0 && Wo % 16 === 0 && (Ho * Wo) % DIRECT_CONV_TM === 0;
}

/**
 * What the matrix convs that load per tap (padAndTapMajor's layouts) need: f16 storage with 16 x 16 x 16
 * subgroup matrices, groups 1, and the padded NHWC input within the binding and grid limits.
 * @param {GpuBridge} g @param {{B: number, Cin: number, H: number, W: number, pad?: number[], groups?: number}} a
 */
function perTapConvOk(g, a) {
    const {B, Cin, H, W, pad = [0, 0, 0, 0], groups = 1} = a;
    const smm = g.subgroupMatrix;
    const padded = (H + pad[0] + pad[2]) * (W + pad[1] + pad[3]);
    return g.dtype === 'f16' && !!smm && smm.M === 16 && smm.N === 16 && smm.K === 16 && groups === 1 &&
           B * padded * Cin * g.elemBytes() <= g.limits.maxStorageBufferBindingSize &&
           Math.ceil(padded / 16) <= g.limits.maxComputeWorkgroupsPerDimension;
}

/**
 * y = act(x * w^T + b) over the last dim. x (rows, K), w (N, K), b (N) or null -> y (rows, N).
 * @param {GpuBridge} g
 * @param {{x: number, w: number, b?: number | null, y: number, rows: number, K: number, N: number,
 *          act?: number | string, tile?: Tile}} a
 */
export function linear(g, a) {
    const {x, w, y, rows, K, N} = a;
    const {has: hasBias, id: bias} = optional(g, a.b);
    dispatchTiled(g, 'gemm_tiled', rows, N, 1, {
        bindings: {a: x, b: w, bias, c: y, res: g.dummyId},
        uniforms: {M: rows, N, K, a_sm: K, a_sk: 1, a_sz: 0, b_sk: 1, b_sn: K, b_sz: 0, alpha: 1},
        constants: {ACT: actCode(a.act), BIAS: hasBias ? 2 : 0},
    }, a.tile);
}

/**
 * Batched y = alpha * op(a) * op(b) (+ res): a (Ba, M, K) or (Ba, K, M) if ta; b (Bb, K, N) or (Bb, N, K)
 * if tb -> y (max(Ba, Bb), M, N); res of y's shape or null. A batch of 1 broadcasts.
 * @param {GpuBridge} g
 * @param {{a: number, b: number, y: number, Ba: number, Bb: number, M: number, K: number, N: number,
 *          ta?: boolean, tb?: boolean, alpha?: number, res?: number | null, tile?: Tile}} p
 */
export function matmul(g, p) {
    const {a, b, y, Ba, Bb, M, K, N, ta = false, tb = false, alpha = 1} = p;
    check(Bb % Ba === 0 || Bb === 1, `matmul: batch ${Ba} vs ${Bb} do not broadcast`);
    const res = optional(g, p.res);
    const batch = Math.max(Ba, Bb);
    const aDiv = Ba === 1 ? 1 : batch / Ba;  // A item z / aDiv (grouped broadcast)
    dispatchTiled(g, 'gemm_tiled', M, N, batch, {
        bindings: {a, b, bias: g.dummyId, c: y, res: res.id},
        uniforms: {
            M, N, K,
            a_sm: ta ? 1 : K, a_sk: ta ? M : 1, a_sz: Ba === 1 ? 0 : M * K,
            b_sk: tb ? 1 : N, b_sn: tb ? K : 1, b_sz: Bb === 1 ? 0 : K * N,
            alpha,
        },
        constants: {ACT: 0, BIAS: 0, A_DIV: aDiv, HAS_RES: res.has},
    }, p.tile);
}

// group_norm.wgsl's partial statistics: elements a workgroup (CHUNK there). The largest chunk that still
// gives GROUP_NORM_MIN_WORKGROUPS partials (the UNet's groups of 10K-40K elements, 64 of them at B2: 8192
// left 64-320 workgroups walking 32 strided loads a thread twice), at least GROUP_NORM_CHUNKS[0];
// normTuning.chunk forces one (benchmarks).
const GROUP_NORM_CHUNKS = [1024, 2048, 4096, 8192], GROUP_NORM_MIN_WORKGROUPS = 1024;
export const normTuning = {/** @type {'auto' | number} */ chunk: 'auto'};
/** @param {number} groups  B * G @param {number} count  elements a group */
function groupNormChunk(groups, count) {
    if (normTuning.chunk !== 'auto') return normTuning.chunk;
    let chunk = GROUP_NORM_CHUNKS[0];
    for (const c of GROUP_NORM_CHUNKS) if (groups * Math.ceil(count / c) >= GROUP_NORM_MIN_WORKGROUPS) chunk = c;
    return chunk;
}

/**
 * GroupNorm with affine and optional fused act. x, y (B, C, S); gamma, beta (C).
 * @param {GpuBridge} g
 * @param {{x: number, gamma: number, beta: number, y: number, B: number, C: number, S: number,
 *          groups: number, eps: number, act?: number | string}} a
 */
export function group_norm(g, a) {
    const {stats, uniforms, constants} = groupNormStats(g, a);
    g.dispatch('group_norm', {entry: 'apply_main', bindings: {x: a.x, gamma: a.gamma, beta: a.beta, stats, y: a.y}, uniforms, constants,
                              workgroups: groups1d(a.B * a.C * a.S)});
}

/**
 * GroupNorm's statistics: (mean, 1/std) per (image, group) of x (B, C, S), in f32 scratch -> its id
 * and the uniforms and constants of group_norm.wgsl's passes.
 * @param {GpuBridge} g @param {{x: number, B: number, C: number, S: number, groups: number, eps: number, act?: number | string}} a
 */
function groupNormStats(g, a) {
    const {x, B, C, S, groups: G, eps} = a;
    check(C % G === 0, `group_norm: ${G} groups do not divide ${C} channels`);
    const Cg = C / G;
    const count = Cg * S;
    const chunk = groupNormChunk(B * G, count);
    const chunks = Math.ceil(count / chunk);
    const partial = g.scratch('group_norm.partial', 8 * B * G * chunks, 'f32');
    const stats = g.scratch('group_norm.stats', 8 * B * G, 'f32');
    const uniforms = {count, groups: B * G, chunks, S, C, Cg, G, total: B * C * S, eps};
    const constants = {ACT: actCode(a.act)};
    const defines = {CHUNK: chunk};
    g.dispatch('group_norm', {entry: 'partial_main', bindings: {x, partial}, uniforms, constants, defines,
                              workgroups: B * G * chunks});
    g.dispatch('group_norm', {entry: 'combine_main', bindings: {partial, stats}, uniforms, constants, defines, workgroups: B * G});
    return {stats, uniforms, constants};
}

/**
 * LayerNorm over the channel dim of NCHW x (B, C, S) -> y.
 * @param {GpuBridge} g
 * @param {{x: number, gamma: number, beta: number, y: number, B: number, C: number, S: number, eps: number,
 *          pos?: number}} a
 */
export function layer_norm_channels(g, a) {
    const {x, gamma, beta, y, B, C, S, eps} = a;
    // Positions per workgroup (layer_norm_channels.wgsl): 16 (x 16 channel slices), 8 (x 32) where S
    // alone would give too few workgroups (16x16 latents: 32 per image instead of 16).
    // a.pos forces it (benchmarks: 4, 8, 16 or 32).
    // H100, f16, B2 (bench_kernels): 320ch S=4096 at 32 / 16 positions 0.023 / 0.014 ms, 640ch S=1024 at
    // 16 / 8 0.024 / 0.023, 1280ch S=256 at 8 / 4 0.024 / 0.022.
    const POS = a.pos ?? (S >= 512 ? 16 : 8);
    check([4, 8, 16, 32].includes(POS), `layer_norm_channels: pos ${POS} is not 4, 8, 16 or 32`);
    const tiles = Math.ceil(S / POS);
    g.dispatch('layer_norm_channels', {
        bindings: {x, gamma, beta, y}, uniforms: {C, S, tiles, total_tiles: B * tiles, eps}, workgroups: B * tiles,
        defines: POS === 32 ? {} : {POS, SLICES: 256 / POS},
    });
}

/**
 * Softmax over the last dim: x, y (rows, L).
 * @param {GpuBridge} g @param {{x: number, y: number, rows: number, L: number}} a
 */
export function softmax(g, a) {
    g.dispatch('softmax_lastdim', {bindings: {x: a.x, y: a.y}, uniforms: {L: a.L, rows: a.rows}, workgroups: a.rows});
}

/**
 * @param {GpuBridge} g @param {string} entry @param {Record<string, number>} bindings
 * @param {Record<string, number>} uniforms @param {number} n @param {number} [act]
 */
function elementwise(g, entry, bindings, uniforms, n, act = 0) {
    g.dispatch('elementwise', {entry, bindings, uniforms: {n, ...uniforms}, constants: {ACT: act},
                               workgroups: groups1d(n)});
}

/**
 * y = act(x), n elements.
 * @param {GpuBridge} g @param {{x: number, y: number, n: number, act: number | string}} a
 */
export function act(g, a) { elementwise(g, 'act_main', {a: a.x, y: a.y}, {}, a.n, actCode(a.act)); }

/**
 * y = a + b; a (B, C, S); b of a's shape, (B, C, 1, 1) or (1, C, 1, 1), told apart by bCount.
 * @param {GpuBridge} g
 * @param {{a: number, b: number, y: number, B: number, C: number, S: number, bCount: number}} p
 */
export function add(g, p) {
    const {B, C, S, bCount} = p;
    const n = B * C * S;
    const mode = bCount === n ? 0 : bCount === B * C ? 1 : bCount === C ? 2 : -1;
    check(mode >= 0, `add: b of ${bCount} elements broadcasts neither as (${B},${C},${S}), (${B},${C},1,1) nor (1,${C},1,1)`);
    elementwise(g, 'add_main', {a: p.a, b: p.b, y: p.y}, {S, C, mode}, n);
}

/**
 * y = alpha*a + beta*b, n elements.
 * @param {GpuBridge} g @param {{alpha: number, a: number, beta: number, b: number, y: number, n: number}} p
 */
export function axpby(g, p) {
    elementwise(g, 'axpby_main', {a: p.a, b: p.b, y: p.y}, {alpha: p.alpha, beta: p.beta}, p.n);
}

/**
 * glu_silu(depthwise 3x3 conv of x): the MixFFN's depth_conv (stride 1, padding 1, C = 2 Ch channels,
 * bias and act per channel) and the GLU of its halves in one pass (conv_depthwise.wgsl main_3x3_glu):
 * the 2 Ch-channel conv output is never stored. x (B, C, H, W), w (C, 1, 3, 3), b (C) or null ->
 * y (B, C/2, H, W).
 * @param {GpuBridge} g
 * @param {{x: number, w: number, b?: number | null, y: number, B: number, C: number, H: number, W: number,
 *          act?: number | string}} a
 */
export function depthwise_glu_silu(g, a) {
    const {x, w, y, B, C, H, W} = a;
    check(C % 2 === 0, `depthwise_glu_silu: ${C} channels do not split in two halves`);
    const {has: hasBias, id: bias} = optional(g, a.b);
    const quads = B * (C / 2) * H * Math.ceil(W / 4);
    g.dispatch('conv_depthwise', {
        entry: 'main_3x3_glu',
        bindings: {x, w, bias, y},
        uniforms: {C, H, W, Ho: H, Wo: W, kh: 3, kw: 3, stride: 1, pad_t: 1, pad_l: 1, total: B * (C / 2) * H * W, quads},
        constants: {ACT: actCode(a.act), HAS_BIAS: hasBias},
        workgroups: groups1d(quads),
    });
}

/**
 * GLU gate: x (B, 2C, S) -> y (B, C, S) = x[:, :C] * silu(x[:, C:]).
 * @param {GpuBridge} g @param {{x: number, y: number, B: number, C: number, S: number}} a  C = output channels
 */
export function glu_silu(g, a) { elementwise(g, 'glu_main', {a: a.x, y: a.y}, {C: a.C, S: a.S}, a.B * a.C * a.S); }

/**
 * Classifier-free guidance: x (2B, ...) = [uncond; cond] -> y (B, ...) = u + guidance*(c - u).
 * @param {GpuBridge} g @param {{x: number, y: number, n: number, guidance: number}} a  n = elements of y
 */
export function cfg_combine(g, a) { elementwise(g, 'cfg_main', {a: a.x, y: a.y}, {alpha: a.guidance}, a.n); }

/**
 * torch.cat([a, b], 1): a (B, Ca, S), b (B, Cb, S) -> y (B, Ca+Cb, S).
 * @param {GpuBridge} g @param {{a: number, b: number, y: number, B: number, Ca: number, Cb: number, S: number}} p
 */
export function concat_channels(g, p) {
    const {B, Ca, Cb, S} = p;
    const n = B * (Ca + Cb) * S;
    g.dispatch('concat_channels', {bindings: {a: p.a, b: p.b, y: p.y}, uniforms: {n, a_cs: Ca * S, b_cs: Cb * S},
                                   workgroups: groups1d(n)});
}

/**
 * x[start:start+count] along dim 0 -> y; `per` = elements per batch item.
 * @param {GpuBridge} g @param {{x: number, y: number, start: number, count: number, per: number}} a
 */
export function slice_batch(g, a) {
    elementwise(g, 'copy_main', {a: a.x, y: a.y}, {src_off: a.start * a.per, dst_off: 0}, a.count * a.per);
}

/**
 * torch.cat([a, b], 0): y = a (na elements) followed by b (nb elements).
 * @param {GpuBridge} g @param {{a: number, b: number, y: number, na: number, nb: number}} p
 */
export function concat_batch(g, p) {
    elementwise(g, 'copy_main', {a: p.a, y: p.y}, {src_off: 0, dst_off: 0}, p.na);
    elementwise(g, 'copy_main', {a: p.b, y: p.y}, {src_off: 0, dst_off: p.na}, p.nb);
}

/**
 * (B, M, N) -> (B, N, M).
 * @param {GpuBridge} g @param {{x: number, y: number, B: number, M: number, N: number}} a
 */
export function transpose12(g, a) {
    const {x, y, B, M, N} = a;
    g.dispatch('transpose12', {bindings: {x, y}, uniforms: {M, N},
                               workgroups: [Math.ceil(N / 16), Math.ceil(M / 16), B]});
}

/**
 * Nearest 2x upsampling: x (BC, H, W) -> y (BC, 2H, 2W), BC = B*C.
 * @param {GpuBridge} g @param {{x: number, y: number, BC: number, H: number, W: number}} a
 */
export function upsample_nearest2x(g, a) {
    const n = a.BC * 4 * a.H * a.W;
    g.dispatch('upsample_nearest2x', {bindings: {x: a.x, y: a.y}, uniforms: {H: a.H, W: a.W, n}, workgroups: groups1d(n)});
}

/**
 * F.interpolate(mode="nearest") to (OH, OW): x (BC, H, W) -> y (BC, OH, OW).
 * @param {GpuBridge} g @param {{x: number, y: number, BC: number, H: number, W: number, OH: number, OW: number}} a
 */
export function resize_nearest(g, a) {
    const {x, y, BC, H, W, OH, OW} = a;
    const n = BC * OH * OW;
    // ATen: scale = (float)in / out, one float division, correctly rounded here in double then to f32.
    const uniforms = {H, W, OH, OW, scale_h: Math.fround(H / OH), scale_w: Math.fround(W / OW), n};
    g.dispatch('resize_nearest', {bindings: {x, y}, uniforms, workgroups: groups1d(n)});
}

/**
 * Local positional lambda: QW = [w^T; bias^T] Q per (b, h) (one GEMM into scratch), then the r x r gather.
 * q (B, heads, k, H*W), v (B, vdim, H*W), w (k, r*r), bias (k) -> y (B, heads, vdim, H*W).
 * @param {GpuBridge} g
 * @param {{q: number, v: number, w: number, bias: number, y: number, B: number, heads: number,
 *          kdim: number, vdim: number, H: number, W: number, r: number,
 *          res?: number | null}} a  res: added to y (the content term)
 */
export function lambda_local_position(g, a) {
    const {q, v, w, bias, y, B, heads, kdim, vdim, H, W, r} = a;
    const res = optional(g, a.res);
    check(r % 2 === 1 && r <= 15, `lambda_local_position: r = ${r} must be odd and <= 15 (halo tile size)`);
    const N = H * W;
    const rr = r * r;
    // A (rr + 1, k): the weights transposed and the bias as the last row; QW[z] (rr + 1, N) = A * Q[z]
    // (k, N), broadcast over z = b*heads + h: row-major A with a unit k stride can take the matrix units.
    // beside q (the engine's conv output): the QW product below then reads both in the other arena space than qw's
    const wt = g.scratch('lambda_local.a', (rr + 1) * kdim * g.elemBytes(), g.dtype, g.spaceOf(q));
    g.dispatch('lambda_local_weights', {bindings: {w, bias, a: wt}, uniforms: {kdim, rr},
                                        workgroups: [Math.ceil((rr + 1) * kdim / 256), 1, 1]});
    const qw = g.scratch('lambda_local.qw', B * heads * (rr + 1) * N * g.elemBytes(), g.dtype);
    dispatchTiled(g, 'gemm_tiled', rr + 1, N, B * heads, {
        bindings: {a: wt, b: q, bias: g.dummyId, c: qw, res: g.dummyId},
        uniforms: {M: rr + 1, N, K: kdim, a_sm: kdim, a_sk: 1, a_sz: 0, b_sk: N, b_sn: 1, b_sz: kdim * N, alpha: 1},
        constants: {ACT: 0, BIAS: 0},
    });
    // f16: 8 value channels a workgroup (QW read once per 8; the halo in f16 fits the same 14.4 KB).
    const tilesX = Math.ceil(W / 16), vb = g.dtype === 'f16' ? 8 : 4;
    g.dispatch('lambda_local_position', {
        bindings: {qw, v, y, res: res.id},
        uniforms: {heads, vdim, H, W, tiles_x: tilesX},
        constants: {R: r, HAS_RES: res.has},
        defines: {VB: vb},
        workgroups: [tilesX * Math.ceil(H / 16), Math.ceil(vdim / vb), B * heads],
    });
}

// lambda_global_position's main_regs entry (L sums in registers) takes L up to this; its parts of v
// bring small grids (the 16² and 32² levels) up to this many workgroups.
const LAMBDA_GLOBAL_REGS_MAX_L = 16, LAMBDA_GLOBAL_MIN_WORKGROUPS = 256;

/**
 * Global cross positional lambda: q (B, heads, k, N), v (B, vdim, L), e (L, k, N) -> y (B, heads, vdim, N).
 * tile 'generic' forces the any-L entry (tests, benchmarks).
 * @param {GpuBridge} g
 * @param {{q: number, v: number, e: number, y: number, B: number, heads: number, kdim: number,
 *          vdim: number, N: number, L: number, res?: number | null, tile?: Tile}} a  res: added to y
 */
export function lambda_global_position(g, a) {
    const {q, v, e, y, B, heads, kdim, vdim, N, L} = a;
    const res = optional(g, a.res);
    const items = B * heads;
    if (L <= LAMBDA_GLOBAL_REGS_MAX_L && a.tile !== 'generic') {
        // main_regs: the parts of v that bring the grid to LAMBDA_GLOBAL_MIN_WORKGROUPS, each at least 8 deep
        const grid = Math.ceil(N / 16) * Math.ceil(items / 16);
        const parts = Math.max(1, Math.min(Math.ceil(LAMBDA_GLOBAL_MIN_WORKGROUPS / grid), Math.floor(vdim / 8)));
        g.dispatch('lambda_global_position', {
            entry: 'main_regs', bindings: {q, v, e, y, res: res.id}, uniforms: {heads, kdim, vdim, N, L, items},
            constants: {HAS_RES: res.has, LC: L}, workgroups: [Math.ceil(N / 16), Math.ceil(items / 16), parts],
        });
        return;
    }
    g.dispatch('lambda_global_position', {
        bindings: {q, v, e, y, res: res.id}, uniforms: {heads, kdim, vdim, N, L, items},
        constants: {HAS_RES: res.has}, workgroups: [Math.ceil(N / 16), items, 1],
    });
}
