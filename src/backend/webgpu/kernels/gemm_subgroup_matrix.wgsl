// gemm_subgroup_matrix.wgsl: gemm_tiled.wgsl's batched C[z] = act(alpha * op(A[z]) * op(B[z]) + bias)
// on the GPU's matrix units (tensor cores) through subgroup matrices
// (`chromium-experimental-subgroup-matrix`). Same Params, bindings, layout and bias/activation
// overrides as gemm_tiled.wgsl, so ops.js picks one or the other per call.
//
// Used for the f16 storage path only: the tiles are f16 in workgroup memory, products accumulate
// in f32 (an f16 x f16 -> f32 configuration of the adapter; ops.js defines SM, SN, SK from
// GPUAdapterInfo.subgroupMatrixConfigs). ops.js enables it only where the subgroup size is exactly
// 32 (the 4 subgroups of a workgroup each own a 32 x 32 quarter of the tile).
//
// Workgroup: 128 threads = 4 subgroups, TM x TN = 64 x 64 tile of C, K in steps of TK = 32:
//   1. all threads load the A tile (TM x TK) and B tile (TK x TN) into workgroup memory as f16,
//      0 outside M, N, K (so no size needs to be a multiple of the tile);
//   2. subgroup s (rows 32*(s/2), cols 32*(s%2)) multiplies its (32/SM) x (32/SN) result matrices;
//   3. after the K loop the results go through workgroup memory (f32) so that every thread can
//      apply alpha, bias and activation and write coalesced, bounds-checked T values.
// Grid: (ceil(N/TN), ceil(M/TM), batch).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
// Offsets differ per subgroup (uniform within one): not provable at workgroup scope.
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias T = f32;

override ACT: u32 = 0u;
override BIAS: u32 = 0u;

struct Params {
    M: u32, N: u32, K: u32,
    a_sm: u32, a_sk: u32, a_sz: u32,
    b_sk: u32, b_sn: u32, b_sz: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

// Subgroup matrix shape (M x K left, K x N right); ops.js defines them from the adapter's config.
const SM: u32 = 16u;
const SN: u32 = 16u;
const SK: u32 = 16u;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 32u;
const WG: u32 = 128u;
const QM: u32 = 32u / SM;  // result matrices per subgroup, down
const QN: u32 = 32u / SN;  // and across

var<workgroup> As: array<f16, TM * TK>;  // row-major TM x TK, 4 KiB
var<workgroup> Bs: array<f16, TK * TN>;  // row-major TK x TN, 4 KiB
var<workgroup> Cs: array<f32, TM * TN>;  // results for the epilogue, 16 KiB

@compute @workgroup_size(128, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) s: u32) {
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let z = wid.z;
    let a_base = z * p.a_sz;
    let b_base = z * p.b_sz;
    let sm0 = (s / 2u) * 32u;      // this subgroup's quarter of the tile
    let sn0 = (s % 2u) * 32u;

    var acc: array<array<subgroup_matrix_result<f32, SN, SM>, QN>, QM>;
    for (var k0 = 0u; k0 < p.K; k0 += TK) {
        for (var j = 0u; j < TM * TK / WG; j++) {
            let e = li + WG * j;
            var mm: u32;
            var ka: u32;
            if (p.a_sk == 1u) { mm = e / TK; ka = e % TK; } else { ka = e / TM; mm = e % TM; }
            var va = 0.0;
            if (m0 + mm < p.M && k0 + ka < p.K) {
                va = f32(a[a_base + (m0 + mm) * p.a_sm + (k0 + ka) * p.a_sk]);
            }
            As[mm * TK + ka] = f16(va);
        }
        for (var j = 0u; j < TK * TN / WG; j++) {
            let e = li + WG * j;
            var nn: u32;
            var kb: u32;
            if (p.b_sn == 1u) { kb = e / TN; nn = e % TN; } else { nn = e / TK; kb = e % TK; }
            var vb = 0.0;
            if (n0 + nn < p.N && k0 + kb < p.K) {
                vb = f32(b[b_base + (k0 + kb) * p.b_sk + (n0 + nn) * p.b_sn]);
            }
            Bs[kb * TN + nn] = f16(vb);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk += SK) {
            var left: array<subgroup_matrix_left<f16, SK, SM>, QM>;
            for (var i = 0u; i < QM; i++) {
                left[i] = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>>(
                    &As, (sm0 + i * SM) * TK + kk, false, TK);
            }
            for (var jn = 0u; jn < QN; jn++) {
                let right = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>>(
                    &Bs, kk * TN + sn0 + jn * SN, false, TN);
                for (var i = 0u; i < QM; i++) {
                    acc[i][jn] = subgroupMatrixMultiplyAccumulate(left[i], right, acc[i][jn]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < QM; i++) {
        for (var jn = 0u; jn < QN; jn++) {
            subgroupMatrixStore(&Cs, (sm0 + i * SM) * TN + sn0 + jn * SN, acc[i][jn], false, TN);
        }
    }
    workgroupBarrier();

    let c_base = z * p.M * p.N;
    for (var j = 0u; j < TM * TN / WG; j++) {
        let e = li + WG * j;
        let m = m0 + e / TN;
        let n = n0 + e % TN;
        if (m >= p.M || n >= p.N) { continue; }
        var v = p.alpha * Cs[e];
        if (BIAS == 1u) { v += f32(bias[m]); }
        if (BIAS == 2u) { v += f32(bias[n]); }
        c[c_base + m * p.N + n] = T(apply_act(v, ACT));
    }
}
