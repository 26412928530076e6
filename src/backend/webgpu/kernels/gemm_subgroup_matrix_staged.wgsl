// gemm_subgroup_matrix_staged.wgsl: gemm_tiled.wgsl's batched C[z] = act(alpha * A[z] * B[z] + bias)
// (+ res) on the GPU's matrix units, with the tiles staged in workgroup memory: the UNet's 1x1 convs,
// y[b] (Cout, HW) = W (Cout, Cin) x[b] (Cin, HW), where the grid is large enough.
//
// The GEMM twin of conv2d_subgroup_matrix_staged.wgsl (see there for why): the workgroup's 128
// invocations copy each K step's A tile (64 rows x 32) and B tile (32 x 128 columns) with 16-byte
// loads, the next step's while the matrix units work on the current one; the subgroups load their
// matrices from workgroup memory. Same Params, bindings, overrides and epilogue as
// gemm_subgroup_matrix_direct.wgsl.
//
// Whole tiles only (ops.js checks): A row-major (M, K), B row-major (K, N) (a_sk = b_sn = 1), M a
// multiple of TM, N of TN, K of TK; a_sm, a_sz, b_sk, b_sz multiples of 8 (16-byte rows); a
// 16 x 16 x 16 f16 -> f32 configuration. No split-K: ops.js keeps the small grids on the direct
// kernel.
// Per workgroup TM x TN = 64 x 128: 2 x 2 subgroups of 32 x 64 (2 x 4 result matrices, named).
// Grid: (N / TN, M / TM, batch).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

// include: gemm_interface
alias AB = vec4<u32>;  // A and B as 16-byte words (8 f16)
// include: residual

const TM: u32 = 64u;
const TN: u32 = 128u;
const TK: u32 = 32u;
const WG: u32 = 128u;      // 4 subgroups of 32
const NSG: u32 = 4u;
const SGN: u32 = 2u;       // subgroups across the columns; 2 down the rows
const AST: u32 = 40u;      // row strides of the tiles: TK + 8 and TN + 8 halves (the rows one matrix
const BST: u32 = 136u;     // load reads fall in different banks; 16-byte aligned)

const TILE: u32 = TK * BST;  // halves of each tile (A's TM x AST = 2560 fits: one type for both)
var<workgroup> As: array<T, TK * BST>;   // row m, k at m * AST + k
var<workgroup> Bs: array<T, TK * BST>;   // k, column n at k * BST + n
var<workgroup> Cs: array<f32, NSG * SM * SN>;  // each subgroup's slot for the epilogue

// include: subgroup_matrix_staged_tile

// include: subgroup_matrix_gemm_epilogue

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let z = wid.z;
    // This invocation copies, every K step, A rows r and r + 32 (quarter q: 8 of the 32 k) and B
    // rows kb, kb + 8, kb + 16, kb + 24 (columns 8 nq .. 8 nq + 7); offsets in halves.
    let r = li / 4u;
    let q = li % 4u;
    let kb = li / 16u;
    let nq = li % 16u;
    let pa0 = (z / A_DIV) * p.a_sz + (wid.y * TM + r) * p.a_sm + 8u * q;
    let pa1 = pa0 + 32u * p.a_sm;
    let pb = z * p.b_sz + kb * p.b_sk + wid.x * TN + 8u * nq;
    let sb8 = 8u * p.b_sk;  // 8 rows of B
    let ta0 = r * AST + 8u * q;
    let ta1 = ta0 + 32u * AST;
    let tb = kb * BST + 8u * nq;

    // This subgroup's block: 32 rows (2 of 16) x 64 columns (4 of 16).
    let sm0 = (s / SGN) * 2u * SM;
    let sn0 = (s % SGN) * 4u * SN;
    var c00: Acc; var c01: Acc; var c02: Acc; var c03: Acc;
    var c10: Acc; var c11: Acc; var c12: Acc; var c13: Acc;

    var xa0 = a[pa0 / 8u];
    var xa1 = a[pa1 / 8u];
    var xb0 = b[pb / 8u];
    var xb1 = b[(pb + sb8) / 8u];
    var xb2 = b[(pb + 2u * sb8) / 8u];
    var xb3 = b[(pb + 3u * sb8) / 8u];
    for (var k = 0u; k < p.K; k += TK) {
        workgroupBarrier();  // the previous step's matrix loads are done
        store8(&As, ta0, xa0);
        store8(&As, ta1, xa1);
        store8(&Bs, tb, xb0);
        store8(&Bs, tb + 8u * BST, xb1);
        store8(&Bs, tb + 16u * BST, xb2);
        store8(&Bs, tb + 24u * BST, xb3);
        workgroupBarrier();
        let kn = k + TK;
        if (kn < p.K) {  // the next step's words, in flight during this step's products
            let ob = pb + kn * p.b_sk;
            xa0 = a[(pa0 + kn) / 8u];
            xa1 = a[(pa1 + kn) / 8u];
            xb0 = b[ob / 8u];
            xb1 = b[(ob + sb8) / 8u];
            xb2 = b[(ob + 2u * sb8) / 8u];
            xb3 = b[(ob + 3u * sb8) / 8u];
        }
        for (var kk = 0u; kk < TK; kk += SK) {
            let l0 = subgroupMatrixLoad<Left>(&As, (sm0 + 0u * SM) * AST + kk, false, AST);
            let l1 = subgroupMatrixLoad<Left>(&As, (sm0 + 1u * SM) * AST + kk, false, AST);
            let r0 = subgroupMatrixLoad<Right>(&Bs, kk * BST + sn0 + 0u * SN, false, BST);
            let r1 = subgroupMatrixLoad<Right>(&Bs, kk * BST + sn0 + 1u * SN, false, BST);
            let r2 = subgroupMatrixLoad<Right>(&Bs, kk * BST + sn0 + 2u * SN, false, BST);
            let r3 = subgroupMatrixLoad<Right>(&Bs, kk * BST + sn0 + 3u * SN, false, BST);
            c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
            c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
            c02 = subgroupMatrixMultiplyAccumulate(l0, r2, c02);
            c03 = subgroupMatrixMultiplyAccumulate(l0, r3, c03);
            c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
            c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
            c12 = subgroupMatrixMultiplyAccumulate(l1, r2, c12);
            c13 = subgroupMatrixMultiplyAccumulate(l1, r3, c13);
        }
    }

    let m0 = wid.y * TM + sm0;
    let n0 = wid.x * TN + sn0;
    let c_base = z * p.M * p.N;
    let slot = s * SM * SN;
    emit_2x4(c00, c01, c02, c03, c10, c11, c12, c13, m0, n0, c_base, slot, lane);
}
