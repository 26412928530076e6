// conv2d_subgroup_matrix.wgsl: conv2d_implicit_gemm.wgsl's y = act(conv2d(x, w) + bias) (kh x kw
// kernel, stride, asymmetric zero padding, groups; implicit GEMM, no im2col buffer) on the GPU's
// matrix units through subgroup matrices. Same Params, bindings and layout as
// conv2d_implicit_gemm.wgsl; same tiling and f16-tile / f32-result scheme as
// gemm_subgroup_matrix.wgsl (see there), used on the f16 storage path only.
//   per (batch b, group g):  Y(co, n) = sum over taps (ky, kx) and input channels ci of
//                            W(co, ci, ky, kx) * x[b, g*Cin_g + ci, oy*stride - pad_t + ky, ox*stride - pad_l + kx]
// The reduction runs tap by tap, TK input channels at a time (needs Cin/groups % TK == 0; ops.js
// checks): within a K step the tap is fixed, so each invocation's input pixel (it always loads the
// same output pixel n of the tile) and its bounds check are computed once per step, with no
// divisions in the loads. The next step's elements are loaded into registers while the matrix
// units work on the current one (software pipelining), as in gemm_subgroup_matrix.wgsl.
// Grid: (ceil(Ho*Wo/TN), ceil(Cout_g/TM), B*groups).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
// Offsets differ per subgroup (uniform within one): not provable at workgroup scope.
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias T = f32;

override ACT: u32 = 0u;
override HAS_BIAS: bool = false;

struct Params {
    Cin: u32, H: u32, W: u32,
    Cout: u32, Ho: u32, Wo: u32,
    kh: u32, kw: u32, stride: u32,
    pad_t: u32, pad_l: u32, groups: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

// Subgroup matrix shape (M x K left, K x N right); ops.js defines them from the adapter's config.
const SM: u32 = 16u;
const SN: u32 = 16u;
const SK: u32 = 16u;

// Tile: TM x TN of C per workgroup of WG invocations = NSG subgroups of 32 in an SGM x SGN grid,
// each owning a (TM/SGM) x (TN/SGN) block = QM x QN result matrices. The file's default is the large
// tile (128 x 128, 8 subgroups of 32 x 64); ops.js defines the small one (64 x 64, 4 of 32 x 32).
const TM: u32 = 128u;
const TN: u32 = 128u;
const TK: u32 = 32u;
const WG: u32 = 256u;
const NSG: u32 = 8u;       // WG / 32
const SGN: u32 = 2u;       // subgroups across; SGM = NSG / SGN down
const QM: u32 = 2u;        // TM / SGM / SM
const QN: u32 = 4u;        // TN / SGN / SN
const LA: u32 = 16u;       // A (weight) elements per invocation and step: TM * TK / WG
const LB: u32 = 16u;       // B (input) elements: TK * TN / WG

var<workgroup> As: array<f16, TM * TK>;        // row-major TM x TK
var<workgroup> Bs: array<f16, TK * TN>;        // row-major TK x TN
var<workgroup> Cs: array<f32, NSG * SM * SN>;  // one result matrix per subgroup, for the epilogue

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let cin_g = p.Cin / p.groups;
    let cout_g = p.Cout / p.groups;
    let khw = p.kh * p.kw;
    let K = cin_g * khw;
    let NP = p.Ho * p.Wo;
    let b = wid.z / p.groups;
    let g = wid.z % p.groups;
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let w_base = g * cout_g * K;
    let x_base = (b * p.Cin + g * cin_g) * p.H * p.W;
    let sm0 = (s / SGN) * QM * SM;  // this subgroup's block of the tile
    let sn0 = (s % SGN) * QN * SN;

    // This invocation's fixed places in the tiles (WG is a multiple of TK and of TN).
    let ka = li % TK;        // A column (input channel within the K step); rows li/TK + (WG/TK)*j
    let nn = li % TN;        // B column (output pixel); rows li/TN + (WG/TN)*j
    let n = n0 + nn;
    let oy = n / p.Wo;
    let ox = n % p.Wo;
    let HW = p.H * p.W;
    let csteps = cin_g / TK;  // K steps per tap

    // Pipelined: iteration i stores step i-1 (held in registers) into the tiles, loads step i into
    // registers, then multiplies step i-1 while those loads are in flight.
    var ra: array<f32, LA>;
    var rb: array<f32, LB>;
    var acc: array<array<subgroup_matrix_result<f32, SN, SM>, QN>, QM>;
    let steps = khw * csteps;
    for (var step = 0u; step <= steps; step++) {
        if (step > 0u) {
            for (var j = 0u; j < LA; j++) { As[(li / TK + (WG / TK) * j) * TK + ka] = f16(ra[j]); }
            for (var j = 0u; j < LB; j++) { Bs[(li / TN + (WG / TN) * j) * TN + nn] = f16(rb[j]); }
            workgroupBarrier();
        }
        if (step < steps) {  // K step `step`: tap r, input channels c0 ..
            let r = step / csteps;
            let c0 = (step % csteps) * TK;
            for (var j = 0u; j < LA; j++) {  // weights W(co, c0 + ka, tap r): row-major (cout_g, cin_g, kh, kw)
                let mm = li / TK + (WG / TK) * j;
                ra[j] = select(0.0, f32(w[w_base + (m0 + mm) * K + (c0 + ka) * khw + r]), m0 + mm < cout_g);
            }
            let iy = i32(oy * p.stride + r / p.kw) - i32(p.pad_t);
            let ix = i32(ox * p.stride + r % p.kw) - i32(p.pad_l);
            let inside = n < NP && iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
            let pix = x_base + c0 * HW + select(0u, u32(iy) * p.W + u32(ix), inside);
            for (var j = 0u; j < LB; j++) {  // input pixels of tap r, channels c0 + kb
                let kb = li / TN + (WG / TN) * j;
                rb[j] = select(0.0, f32(x[pix + kb * HW]), inside);
            }
        }
        if (step > 0u) {
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
    }

    // Epilogue as in gemm_subgroup_matrix.wgsl: one result matrix at a time through Cs.
    let slot = s * SM * SN;
    for (var i = 0u; i < QM; i++) {
        for (var jn = 0u; jn < QN; jn++) {
            subgroupMatrixStore(&Cs, slot, acc[i][jn], false, SN);
            workgroupBarrier();
            for (var e = lane; e < SM * SN; e += 32u) {
                let co = m0 + sm0 + i * SM + e / SN;
                let n = n0 + sn0 + jn * SN + e % SN;
                if (co < cout_g && n < NP) {
                    let oc = g * cout_g + co;
                    var v = Cs[slot + e];
                    if (HAS_BIAS) { v += f32(bias[oc]); }
                    y[(b * p.Cout + oc) * NP + n] = T(apply_act(v, ACT));
                }
            }
            workgroupBarrier();
        }
    }
}
