// gemm_subgroup_matrix.wgsl: gemm_tiled.wgsl's batched C[z] = act(alpha * A[z] * B[z] + bias) on
// the GPU's matrix units (tensor cores) through subgroup matrices
// (`chromium-experimental-subgroup-matrix`), for the common layout only: A row-major (M, K) and
// B row-major (K, N) (a_sk = b_sn = 1) with K, N, a_sm, a_sz, b_sk, b_sz multiples of 4, so both
// tiles load as vec4 (ops.js checks; other layouts use gemm_tiled). Same Params, bindings (A and B
// viewed as vec4 arrays), bias/activation overrides as gemm_tiled.wgsl. This is the 1x1 conv of
// the UNet and VAE: y[b] (Cout, HW) = W (Cout, Cin) x[b] (Cin, HW).
//
// Used for the f16 storage path only: the tiles are f16 in workgroup memory, products accumulate
// in f32 (an f16 x f16 -> f32 configuration of the adapter; ops.js defines SM, SN, SK from
// GPUAdapterInfo.subgroupMatrixConfigs). ops.js enables it only where the subgroup size is exactly
// 32, so a workgroup of WG invocations is NSG = WG / 32 subgroups.
//
// Per workgroup a TM x TN tile of C, K in steps of TK = 32:
//   1. the next K step's A (TM x TK) and B (TK x TN) tiles are loaded into registers (vec4 each,
//      0 outside M, N, K) while the matrix units work on the current one (software pipelining),
//      then stored to workgroup memory as f16;
//   2. each subgroup multiplies its QM x QN result matrices (block sm0, sn0 of the tile);
//   3. after the K loop each subgroup passes its results one matrix at a time through workgroup
//      memory (f32), where its invocations apply alpha, bias and activation and write T values.
// Grid: (ceil(N/TN), ceil(M/TM), batch).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
// Offsets differ per subgroup (uniform within one): not provable at workgroup scope.
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias T = f32;

override ACT: u32 = 0u;
override BIAS: u32 = 0u;
override A_DIV: u32 = 1u;  // batch item z multiplies A item z / A_DIV (grouped broadcast)

struct Params {
    M: u32, N: u32, K: u32,
    a_sm: u32, a_sk: u32, a_sz: u32,
    b_sk: u32, b_sn: u32, b_sz: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

// include: residual

// include: subgroup_matrix_tile
const LA: u32 = 4u;        // vec4 loads of the A tile per invocation: TM * TK / 4 / WG
const LB: u32 = 4u;        // and of the B tile: TK * TN / 4 / WG

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let z = wid.z;
    let a_base = (z / A_DIV) * p.a_sz;
    let b_base = z * p.b_sz;
    let sm0 = (s / SGN) * QM * SM;  // this subgroup's block of the tile
    let sn0 = (s % SGN) * QN * SN;

    // Pipelined: iteration i stores K step i-1 (held in registers) into the tiles, loads step i
    // into registers, then multiplies step i-1 while those loads are in flight.
    // Register j of A holds A(m0 + row, k0 + 4*col .. +3), row/col from e = li + WG*j; of B,
    // B(k0 + row, n0 + 4*col .. +3).
    var ra: array<vec4<T>, LA>;
    var rb: array<vec4<T>, LB>;
    var acc: array<array<subgroup_matrix_result<f32, SN, SM>, QN>, QM>;
    let K4 = p.K / 4u;
    let steps = (p.K + TK - 1u) / TK;
    for (var step = 0u; step <= steps; step++) {
        if (step > 0u) {
            for (var j = 0u; j < LA; j++) {
                let e = li + WG * j;
                let o = (e / (TK / 4u)) * AST + 4u * (e % (TK / 4u));
                As[o] = f16(ra[j].x); As[o + 1u] = f16(ra[j].y); As[o + 2u] = f16(ra[j].z); As[o + 3u] = f16(ra[j].w);
            }
            for (var j = 0u; j < LB; j++) {
                let e = li + WG * j;
                let o = (e / (TN / 4u)) * BST + 4u * (e % (TN / 4u));
                Bs[o] = f16(rb[j].x); Bs[o + 1u] = f16(rb[j].y); Bs[o + 2u] = f16(rb[j].z); Bs[o + 3u] = f16(rb[j].w);
            }
            workgroupBarrier();
        }
        if (step < steps) {
            let k0 = step * TK;
            for (var j = 0u; j < LA; j++) {
                let e = li + WG * j;
                let m = m0 + e / (TK / 4u);
                let kq = k0 / 4u + e % (TK / 4u);
                ra[j] = select(vec4<T>(), a[(a_base + m * p.a_sm) / 4u + kq], m < p.M && kq < K4);
            }
            for (var j = 0u; j < LB; j++) {
                let e = li + WG * j;
                let k = k0 + e / (TN / 4u);
                let n = n0 + 4u * (e % (TN / 4u));
                rb[j] = select(vec4<T>(), b[(b_base + k * p.b_sk + n) / 4u], k < p.K && n < p.N);
            }
        }
        if (step > 0u) {
            // include: subgroup_matrix_mma
            workgroupBarrier();
        }
    }

    // Epilogue, one result matrix at a time: the subgroup stores it to its slot of Cs, then its 32
    // invocations apply alpha, bias and activation and write T values (bounds-checked).
    let c_base = z * p.M * p.N;
    let slot = s * SM * SN;
    for (var i = 0u; i < QM; i++) {
        for (var jn = 0u; jn < QN; jn++) {
            subgroupMatrixStore(&Cs, slot, acc[i][jn], false, SN);
            workgroupBarrier();
            for (var e = lane; e < SM * SN; e += 32u) {
                let m = m0 + sm0 + i * SM + e / SN;
                let n = n0 + sn0 + jn * SN + e % SN;
                if (m < p.M && n < p.N) {
                    var v = p.alpha * Cs[slot + e];
                    if (BIAS == 1u) { v += f32(bias[m]); }
                    if (BIAS == 2u) { v += f32(bias[n]); }
                    let i = c_base + m * p.N + n;
                    c[i] = out_value(v, i);
                }
            }
            workgroupBarrier();
        }
    }
}
