// gemm_subgroup_matrix_direct.wgsl: gemm_tiled.wgsl's batched C[z] = act(alpha * A[z] * B[z] + bias)
// on the GPU's matrix units, each subgroup loading its matrices straight from storage: no workgroup
// tiles and no barriers in the K loop (the caches give the reuse between subgroups), and the 2 x 4
// result matrices of a subgroup held in named variables, not arrays.
// Why (H100, Dawn/Vulkan, 2026-12-06): gemm_subgroup_matrix.wgsl stages its tiles through workgroup
// memory, which WGSL fills one f16 at a time, and keeps its matrices in arrays indexed in loops;
// the same direct-load kernel with arrays ran no faster than the staged one (~25 TFLOP/s), this one
// runs matmul 4096^3 at 54 TFLOP/s and the UNet's 1x1 convs 1.4-1.7x faster than the staged kernel.
//
// Whole tiles only: A row-major (M, K), B row-major (K, N) (a_sk = b_sn = 1), M a multiple of TM,
// N of TN, K of SK, a 16 x 16 x 16 f16 -> f32 configuration (ops.js checks; other shapes use
// gemm_subgroup_matrix). Same Params, bindings and overrides as gemm_tiled.wgsl (f16 storage).
// Per workgroup a TM x TN = 64 x 128 tile of C: 2 x 2 subgroups of 32 x 64 (2 x 4 result matrices);
// ops.js defines TM = 32, NSG = 2, WG = 64 for its default 32 x 128 variant (1 x 2 subgroups), and
// BM = 4, TM = 64, NSG = 2, WG = 64 for a 64 x 128 tile of 1 x 2 subgroups of 64 x 64 (4 x 4 result
// matrices: 8 loads for 16 products instead of 6 for 8; the BM = 4 blocks drop out at compile time
// otherwise).
// Epilogue: each subgroup passes its results through its own slot of workgroup memory (f32), where
// its invocations apply alpha, bias and activation.
// Split-K (SPLIT > 1, ops.js where the grid is too small to fill the GPU: the 16²-level 1x1 convs):
// workgroup z = item * SPLIT + part sums K range [part K / SPLIT, (part + 1) K / SPLIT) and stores its
// f32 result matrices as they are to `parts` (item, part, M, N); gemm_split_k_reduce.wgsl adds the
// parts in order and applies the epilogue. With SPLIT = 1 `parts` is bound but never touched.
// Grid: (N / TN, M / TM, batch * SPLIT).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

// include: gemm_interface
alias AB = T;
// include: residual

// include: subgroup_matrix_direct_tile
const BM: u32 = 2u;        // result matrices down a subgroup's block: 2 or 4
const TM: u32 = 64u;       // (NSG / SGN) subgroups down x BM x SM
const TN: u32 = 128u;      // SGN x 4 x SN
const SPLIT: u32 = 1u;     // K parts (split-K); K a multiple of SPLIT * SK

@group(0) @binding(6) var<storage, read_write> parts: array<f32>;

// A subgroup's 2 x 4 block of result matrices of a K part (rows m0 + 16 i, columns n0 + 16 j), stored
// unscaled to their places in `parts` (row stride N).
fn store_parts_2x4(c00: Acc, c01: Acc, c02: Acc, c03: Acc, c10: Acc, c11: Acc, c12: Acc, c13: Acc,
                   m0: u32, n0: u32, part_base: u32) {
    let o0 = part_base + m0 * p.N + n0;  // the first row of matrices
    let o1 = o0 + SM * p.N;              // the second
    subgroupMatrixStore(&parts, o0 + 0u * SN, c00, false, p.N);
    subgroupMatrixStore(&parts, o0 + 1u * SN, c01, false, p.N);
    subgroupMatrixStore(&parts, o0 + 2u * SN, c02, false, p.N);
    subgroupMatrixStore(&parts, o0 + 3u * SN, c03, false, p.N);
    subgroupMatrixStore(&parts, o1 + 0u * SN, c10, false, p.N);
    subgroupMatrixStore(&parts, o1 + 1u * SN, c11, false, p.N);
    subgroupMatrixStore(&parts, o1 + 2u * SN, c12, false, p.N);
    subgroupMatrixStore(&parts, o1 + 3u * SN, c13, false, p.N);
}

// include: subgroup_matrix_gemm_epilogue

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let z = wid.z / SPLIT;
    let part = wid.z % SPLIT;
    let k_len = p.K / SPLIT;
    let m0 = wid.y * TM + (s / SGN) * BM * SM;
    let n0 = wid.x * TN + (s % SGN) * 4u * SN;
    let a0 = (z / A_DIV) * p.a_sz + m0 * p.a_sm;
    let b0 = z * p.b_sz + n0;
    let sa = p.a_sm;
    let sb = p.b_sk;
    var c00: Acc; var c01: Acc; var c02: Acc; var c03: Acc;
    var c10: Acc; var c11: Acc; var c12: Acc; var c13: Acc;
    var c20: Acc; var c21: Acc; var c22: Acc; var c23: Acc;
    var c30: Acc; var c31: Acc; var c32: Acc; var c33: Acc;
    // Each K step: 2 left (rows m0, m0 + 16) and 4 right (columns n0 + 16 j) matrices, 8 products
    // (BM = 4: 2 more left, 16 products).
    for (var k = part * k_len; k < (part + 1u) * k_len; k += SK) {
        let l0 = subgroupMatrixLoad<Left>(&a, a0 + 0u * SM * sa + k, false, sa);
        let l1 = subgroupMatrixLoad<Left>(&a, a0 + 1u * SM * sa + k, false, sa);
        let r0 = subgroupMatrixLoad<Right>(&b, b0 + k * sb + 0u * SN, false, sb);
        let r1 = subgroupMatrixLoad<Right>(&b, b0 + k * sb + 1u * SN, false, sb);
        let r2 = subgroupMatrixLoad<Right>(&b, b0 + k * sb + 2u * SN, false, sb);
        let r3 = subgroupMatrixLoad<Right>(&b, b0 + k * sb + 3u * SN, false, sb);
        c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
        c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
        c02 = subgroupMatrixMultiplyAccumulate(l0, r2, c02);
        c03 = subgroupMatrixMultiplyAccumulate(l0, r3, c03);
        c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
        c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
        c12 = subgroupMatrixMultiplyAccumulate(l1, r2, c12);
        c13 = subgroupMatrixMultiplyAccumulate(l1, r3, c13);
        if (BM == 4u) {
            let l2 = subgroupMatrixLoad<Left>(&a, a0 + 2u * SM * sa + k, false, sa);
            let l3 = subgroupMatrixLoad<Left>(&a, a0 + 3u * SM * sa + k, false, sa);
            c20 = subgroupMatrixMultiplyAccumulate(l2, r0, c20);
            c21 = subgroupMatrixMultiplyAccumulate(l2, r1, c21);
            c22 = subgroupMatrixMultiplyAccumulate(l2, r2, c22);
            c23 = subgroupMatrixMultiplyAccumulate(l2, r3, c23);
            c30 = subgroupMatrixMultiplyAccumulate(l3, r0, c30);
            c31 = subgroupMatrixMultiplyAccumulate(l3, r1, c31);
            c32 = subgroupMatrixMultiplyAccumulate(l3, r2, c32);
            c33 = subgroupMatrixMultiplyAccumulate(l3, r3, c33);
        }
    }
    if (SPLIT > 1u) {
        let pb = wid.z * p.M * p.N;
        store_parts_2x4(c00, c01, c02, c03, c10, c11, c12, c13, m0, n0, pb);
        if (BM == 4u) {
            store_parts_2x4(c20, c21, c22, c23, c30, c31, c32, c33, m0 + 2u * SM, n0, pb);
        }
        return;
    }
    let c_base = z * p.M * p.N;
    let slot = s * SM * SN;
    emit_2x4(c00, c01, c02, c03, c10, c11, c12, c13, m0, n0, c_base, slot, lane);
    if (BM == 4u) {
        emit_2x4(c20, c21, c22, c23, c30, c31, c32, c33, m0 + 2u * SM, n0, c_base, slot, lane);
    }
}
