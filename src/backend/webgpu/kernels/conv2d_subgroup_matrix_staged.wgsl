// conv2d_subgroup_matrix_staged.wgsl: y = act(conv2d(x, w) + bias) (+ res), groups = 1, on the GPU's
// matrix units, with the tiles staged in workgroup memory: the large 3x3 convs (the VAE's).
//
// Same inputs, result and epilogue as conv2d_subgroup_matrix_direct.wgsl (x zero-padded NHWC, w
// tap-major (Cout, kh*kw, Cin), the transposed GEMM Y^T(n, co) = sum over taps, channels of
// X_tap(n, ci) * W_tap(ci, co), written back NCHW). The difference is how the matrices reach the
// matrix units. There every subgroup loads its own matrices from storage, one strided load per
// 16 x 16 matrix; here the workgroup's 256 invocations copy each K step's two tiles (128 pixels x 32
// channels of one tap, 128 output channels x the same 32 channels) with one 16-byte load each per
// row quarter, and the subgroups load their matrices from workgroup memory. The next K step's tiles
// are loaded into registers while the matrix units work on the current one.
//
// Per workgroup TM x TN = 128 pixels x 128 output channels, K in steps of TK = 32 (or 64) channels of
// one tap: 8 subgroups as 2 (pixels) x 4 (output channels), each 64 x 32 (4 x 2 result matrices, named
// as in the direct kernel: arrays of matrices spill).
// Whole tiles only (ops.js checks): Ho*Wo % 128 == 0, Cout % 128 == 0, Cin % TK == 0, a
// 16 x 16 x 16 f16 -> f32 configuration. A pixel run may cross output rows (each row of the tile is
// loaded on its own), so unlike the direct kernel Wo need not be a multiple of 16.
// Split-K (SPLIT > 1, ops.js where the grid is too small to fill the GPU: the UNet's downsamplers and
// upsamplers, the VAE's 64² convs): workgroup z = image * SPLIT + part runs K steps [part S / SPLIT,
// (part + 1) S / SPLIT) of the S = kh*kw*Cin/TK and stores its f32 result matrices unscaled to `parts`
// (image, part, Cout, Ho*Wo); gemm_split_k_reduce.wgsl adds the parts in order and applies the
// epilogue. With SPLIT = 1 `parts` is bound but never touched.
// Grid: (Ho*Wo / TM, Cout / TN, B * SPLIT).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

// include: conv2d_interface
alias XW = vec4<u32>;  // x and w as 16-byte words (8 f16): Cin % TK == 0 keeps every tile row aligned
// include: residual

const TM: u32 = 128u;      // pixels a workgroup
const TN: u32 = 128u;      // output channels a workgroup
const TK: u32 = 32u;       // channels a K step: 32 or 64 (ops.js defines TK = 64, ST = 72)
const WG: u32 = 256u;      // 8 subgroups of 32
const NSG: u32 = 8u;
const SGN: u32 = 4u;       // subgroups across the output channels; 2 down the pixels
const ST: u32 = 40u;       // row stride of both tiles: TK + 8 halves (80 or 144 bytes: the rows that
                           // one matrix load reads fall in different banks; 16-byte aligned)
const RQ: u32 = TK / 8u;   // 16-byte words a tile row
const RS: u32 = WG / RQ;   // rows between the rows one invocation copies: 64 (2 a tile), or 32 (4)
const SPLIT: u32 = 1u;     // K parts (split-K)

@group(0) @binding(6) var<storage, read_write> parts: array<f32>;


const TILE: u32 = TM * ST;  // halves of each tile (TM == TN; store8 takes either)
var<workgroup> As: array<T, TM * ST>;    // pixel n, channel k at n * ST + k
var<workgroup> Bs: array<T, TN * ST>;    // output channel co, channel k at co * ST + k
var<workgroup> Cs: array<f32, NSG * SM * SN>;  // each subgroup's slot for the epilogue

// include: subgroup_matrix_staged_tile

// include: subgroup_matrix_conv_epilogue

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let NP = p.Ho * p.Wo;
    let C = p.Cin;
    let taps = p.kh * p.kw;
    let sw = taps * C;  // weights: the next output channel
    // This invocation copies rows r + j RS (j < TM / RS) of both tiles, word q of the row, every K step.
    let r = li / RQ;
    let q = li % RQ;
    let z = wid.z / SPLIT;
    let part = wid.z % SPLIT;
    let xb = z * p.H * p.W * C + 8u * q;
    let n_base = wid.x * TM + r;
    let px0 = xb + pixel_offset(n_base);
    let px1 = xb + pixel_offset(n_base + RS);
    let px2 = xb + pixel_offset(n_base + 2u * RS);  // rows 2 and 3: TK = 64 only
    let px3 = xb + pixel_offset(n_base + 3u * RS);
    let pw0 = (wid.y * TN + r) * sw + 8u * q;
    let pws = RS * sw;
    let ta0 = r * ST + 8u * q;  // where they go in the tiles
    let tas = RS * ST;

    // This subgroup's block: 64 pixels (4 runs of 16) x 32 output channels (2 of 16).
    let sm0 = (s / SGN) * 4u * SM;
    let sn0 = (s % SGN) * 2u * SN;
    var c00: Acc; var c01: Acc; var c10: Acc; var c11: Acc;
    var c20: Acc; var c21: Acc; var c30: Acc; var c31: Acc;

    // K step k: tap t = k / (C / TK), channels c = (k % (C / TK)) * TK; offsets in halves / 8. This
    // workgroup's part of K: steps k0 .. k1 - 1.
    let steps = taps * (C / TK);
    let k0 = part * steps / SPLIT;
    let k1 = (part + 1u) * steps / SPLIT;
    var t = k0 / (C / TK);
    var c = (k0 % (C / TK)) * TK;
    var tx = ((t / p.kw) * p.W + t % p.kw) * C;  // the tap's shift in the padded input
    let ow0 = pw0 + t * C + c;
    var xa0 = x[(px0 + tx + c) / 8u];
    var xa1 = x[(px1 + tx + c) / 8u];
    var wb0 = w[ow0 / 8u];
    var wb1 = w[(ow0 + pws) / 8u];
    var xa2: vec4<u32>; var xa3: vec4<u32>; var wb2: vec4<u32>; var wb3: vec4<u32>;
    if (RS == 32u) {
        xa2 = x[(px2 + tx + c) / 8u];
        xa3 = x[(px3 + tx + c) / 8u];
        wb2 = w[(ow0 + 2u * pws) / 8u];
        wb3 = w[(ow0 + 3u * pws) / 8u];
    }
    for (var k = k0; k < k1; k++) {
        workgroupBarrier();  // the previous step's matrix loads are done
        store8(&As, ta0, xa0);
        store8(&As, ta0 + tas, xa1);
        store8(&Bs, ta0, wb0);
        store8(&Bs, ta0 + tas, wb1);
        if (RS == 32u) {
            store8(&As, ta0 + 2u * tas, xa2);
            store8(&As, ta0 + 3u * tas, xa3);
            store8(&Bs, ta0 + 2u * tas, wb2);
            store8(&Bs, ta0 + 3u * tas, wb3);
        }
        workgroupBarrier();
        if (k + 1u < k1) {  // the next step's words, in flight during this step's products
            c += TK;
            if (c == C) {
                c = 0u;
                t++;
                tx = ((t / p.kw) * p.W + t % p.kw) * C;
            }
            let ow = pw0 + t * C + c;
            xa0 = x[(px0 + tx + c) / 8u];
            xa1 = x[(px1 + tx + c) / 8u];
            wb0 = w[ow / 8u];
            wb1 = w[(ow + pws) / 8u];
            if (RS == 32u) {
                xa2 = x[(px2 + tx + c) / 8u];
                xa3 = x[(px3 + tx + c) / 8u];
                wb2 = w[(ow + 2u * pws) / 8u];
                wb3 = w[(ow + 3u * pws) / 8u];
            }
        }
        for (var kk = 0u; kk < TK; kk += SK) {
            let l0 = subgroupMatrixLoad<Left>(&As, (sm0 + 0u * SM) * ST + kk, false, ST);
            let l1 = subgroupMatrixLoad<Left>(&As, (sm0 + 1u * SM) * ST + kk, false, ST);
            let l2 = subgroupMatrixLoad<Left>(&As, (sm0 + 2u * SM) * ST + kk, false, ST);
            let l3 = subgroupMatrixLoad<Left>(&As, (sm0 + 3u * SM) * ST + kk, false, ST);
            let r0 = subgroupMatrixLoad<Right>(&Bs, (sn0 + 0u * SN) * ST + kk, true, ST);
            let r1 = subgroupMatrixLoad<Right>(&Bs, (sn0 + 1u * SN) * ST + kk, true, ST);
            c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
            c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
            c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
            c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
            c20 = subgroupMatrixMultiplyAccumulate(l2, r0, c20);
            c21 = subgroupMatrixMultiplyAccumulate(l2, r1, c21);
            c30 = subgroupMatrixMultiplyAccumulate(l3, r0, c30);
            c31 = subgroupMatrixMultiplyAccumulate(l3, r1, c31);
        }
    }

    let n0 = wid.x * TM + sm0;
    let co0 = wid.y * TN + sn0;
    if (SPLIT > 1u) {
        store_parts_4x2(c00, c01, c10, c11, c20, c21, c30, c31, n0, co0, wid.z * p.Cout * NP, NP);
        return;
    }
    let y_base = z * p.Cout * NP;
    let slot = s * SM * SN;
    emit_4x2(c00, c01, c10, c11, c20, c21, c30, c31, n0, co0, y_base, NP, slot, lane);
}
