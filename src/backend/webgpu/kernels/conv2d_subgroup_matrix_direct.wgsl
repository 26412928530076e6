// conv2d_subgroup_matrix_direct.wgsl: y = act(conv2d(x, w) + bias), groups = 1, on the GPU's matrix
// units, each subgroup loading its matrices straight from storage and keeping its 4 x 2 result
// matrices in named variables, as gemm_subgroup_matrix_direct.wgsl (see there for why).
//
// Inputs in the layouts ops.js makes for it per call:
// - x zero-padded NHWC (B, H, W, Cin) (pad_nhwc.wgsl): p.H, p.W are the padded sizes, p.pad_t =
//   p.pad_l = 0. For output pixel (oy, ox) and tap (ky, kx) the Cin inputs are contiguous, and 16
//   pixels of one output row are 16 rows `stride * Cin` apart: the left matrix (16 pixels x 16
//   channels) of a tap is one strided load whose offset is a multiple of 16 elements (the staged
//   kernel instead gathers NCHW elements one by one into workgroup memory, bounds-checking each).
// - w tap-major (Cout, kh*kw, Cin) (transpose12 of the (Cout, Cin, kh*kw) weights): the right
//   matrix (16 channels x 16 output channels) of a tap is column-major, columns kh*kw*Cin apart.
// The result is the transposed GEMM  Y^T(n, co) = sum over taps, channels of X_tap(n, ci) * W_tap(ci, co),
// written back NCHW.
//
// Whole tiles only (ops.js checks): Ho*Wo % TM == 0, Wo % 16 == 0 (a 16-pixel run stays in one
// output row), Cout % TN == 0, Cin % 16 == 0, a 16 x 16 x 16 f16 -> f32 configuration.
// Per workgroup TM x TN = 128 pixels x 64 output channels: 2 x 2 subgroups of 64 x 32 (4 x 2 result
// matrices); ops.js defines BN = 4 (TN = 128) for its 4 x 4 variant: 64 x 64 a subgroup, 8 loads for
// 16 products instead of 6 for 8 (the blocks for BN = 2 drop out at compile time).
// Epilogue: each subgroup passes its results through its own slot of workgroup memory.
// Split-K (SPLIT > 1, ops.js where the grid is small: the UNet's first downsampler): workgroup
// z = image * SPLIT + part sums taps [part taps / SPLIT, (part + 1) taps / SPLIT) and stores its f32
// result matrices unscaled to `parts` (image, part, Cout, Ho*Wo); gemm_split_k_reduce.wgsl adds the
// parts in order and applies the epilogue. With SPLIT = 1 `parts` is bound, not touched.
// Grid: (Ho*Wo / TM, Cout / TN, B * SPLIT).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

// include: conv2d_interface
alias XW = T;
// include: residual

// include: subgroup_matrix_direct_tile
const BN: u32 = 2u;        // result matrices across a subgroup's block: 2 or 4
const TM: u32 = 128u;      // pixels: 2 subgroups down x 4 x SM
const TN: u32 = SGN * BN * SN;  // output channels
const SPLIT: u32 = 1u;     // K parts (split-K over the taps)

@group(0) @binding(6) var<storage, read_write> parts: array<f32>;

// include: subgroup_matrix_conv_epilogue

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let NP = p.Ho * p.Wo;
    let C = p.Cin;
    let n0 = wid.x * TM + (s / SGN) * 4u * SM;   // this subgroup's 64 pixels: 4 runs of 16
    let co0 = wid.y * TN + (s % SGN) * BN * SN;  // and BN x 16 output channels
    let z = wid.z / SPLIT;
    let part = wid.z % SPLIT;
    let xb = z * p.H * p.W * C;
    let x0 = xb + pixel_offset(n0 + 0u * SM);
    let x1 = xb + pixel_offset(n0 + 1u * SM);
    let x2 = xb + pixel_offset(n0 + 2u * SM);
    let x3 = xb + pixel_offset(n0 + 3u * SM);
    let sx = p.stride * C;   // left rows: the next output pixel of the run
    let taps = p.kh * p.kw;
    let sw = taps * C;       // right columns: the next output channel
    var c00: Acc; var c01: Acc; var c10: Acc; var c11: Acc;
    var c20: Acc; var c21: Acc; var c30: Acc; var c31: Acc;
    var c02: Acc; var c03: Acc; var c12: Acc; var c13: Acc;
    var c22: Acc; var c23: Acc; var c32: Acc; var c33: Acc;
    for (var t = part * taps / SPLIT; t < (part + 1u) * taps / SPLIT; t++) {
        let tx = ((t / p.kw) * p.W + t % p.kw) * C;  // the tap's shift in the padded input
        let tw = co0 * sw + t * C;
        // Each K step: 4 left (pixel runs) and 2 right (output channels) matrices, 8 products.
        for (var c = 0u; c < C; c += SK) {
            let l0 = subgroupMatrixLoad<Left>(&x, x0 + tx + c, false, sx);
            let l1 = subgroupMatrixLoad<Left>(&x, x1 + tx + c, false, sx);
            let l2 = subgroupMatrixLoad<Left>(&x, x2 + tx + c, false, sx);
            let l3 = subgroupMatrixLoad<Left>(&x, x3 + tx + c, false, sx);
            let r0 = subgroupMatrixLoad<Right>(&w, tw + c, true, sw);
            let r1 = subgroupMatrixLoad<Right>(&w, tw + SN * sw + c, true, sw);
            c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
            c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
            c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
            c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
            c20 = subgroupMatrixMultiplyAccumulate(l2, r0, c20);
            c21 = subgroupMatrixMultiplyAccumulate(l2, r1, c21);
            c30 = subgroupMatrixMultiplyAccumulate(l3, r0, c30);
            c31 = subgroupMatrixMultiplyAccumulate(l3, r1, c31);
            if (BN == 4u) {
                let r2 = subgroupMatrixLoad<Right>(&w, tw + 2u * SN * sw + c, true, sw);
                let r3 = subgroupMatrixLoad<Right>(&w, tw + 3u * SN * sw + c, true, sw);
                c02 = subgroupMatrixMultiplyAccumulate(l0, r2, c02);
                c03 = subgroupMatrixMultiplyAccumulate(l0, r3, c03);
                c12 = subgroupMatrixMultiplyAccumulate(l1, r2, c12);
                c13 = subgroupMatrixMultiplyAccumulate(l1, r3, c13);
                c22 = subgroupMatrixMultiplyAccumulate(l2, r2, c22);
                c23 = subgroupMatrixMultiplyAccumulate(l2, r3, c23);
                c32 = subgroupMatrixMultiplyAccumulate(l3, r2, c32);
                c33 = subgroupMatrixMultiplyAccumulate(l3, r3, c33);
            }
        }
    }
    if (SPLIT > 1u) {
        store_parts_4x2(c00, c01, c10, c11, c20, c21, c30, c31, n0, co0, wid.z * p.Cout * NP, NP);
        if (BN == 4u) {
            store_parts_4x2(c02, c03, c12, c13, c22, c23, c32, c33, n0, co0 + 2u * SN, wid.z * p.Cout * NP, NP);
        }
        return;
    }
    let y_base = z * p.Cout * NP;
    let slot = s * SM * SN;
    emit_4x2(c00, c01, c10, c11, c20, c21, c30, c31, n0, co0, y_base, NP, slot, lane);
    if (BN == 4u) {
        emit_4x2(c02, c03, c12, c13, c22, c23, c32, c33, n0, co0 + 2u * SN, y_base, NP, slot, lane);
    }
}
