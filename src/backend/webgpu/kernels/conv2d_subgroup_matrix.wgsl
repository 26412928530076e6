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

// include: conv2d_interface
alias XW = T;
// include: residual

// include: subgroup_matrix_tile
const LA: u32 = 16u;       // A (weight) elements per invocation and step: TM * TK / WG
const LB: u32 = 16u;       // B (input) elements: TK * TN / WG

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
    var ra: array<T, LA>;
    var rb: array<T, LB>;
    var acc: array<array<subgroup_matrix_result<f32, SN, SM>, QN>, QM>;
    let steps = khw * csteps;
    for (var step = 0u; step <= steps; step++) {
        if (step > 0u) {
            for (var j = 0u; j < LA; j++) { As[(li / TK + (WG / TK) * j) * AST + ka] = f16(ra[j]); }
            for (var j = 0u; j < LB; j++) { Bs[(li / TN + (WG / TN) * j) * BST + nn] = f16(rb[j]); }
            workgroupBarrier();
        }
        if (step < steps) {  // K step `step`: tap r, input channels c0 ..
            let r = step / csteps;
            let c0 = (step % csteps) * TK;
            for (var j = 0u; j < LA; j++) {  // weights W(co, c0 + ka, tap r): row-major (cout_g, cin_g, kh, kw)
                let mm = li / TK + (WG / TK) * j;
                ra[j] = select(T(0), w[w_base + (m0 + mm) * K + (c0 + ka) * khw + r], m0 + mm < cout_g);
            }
            let iy = i32(oy * p.stride + r / p.kw) - i32(p.pad_t);
            let ix = i32(ox * p.stride + r % p.kw) - i32(p.pad_l);
            let inside = n < NP && iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
            let pix = x_base + c0 * HW + select(0u, u32(iy) * p.W + u32(ix), inside);
            for (var j = 0u; j < LB; j++) {  // input pixels of tap r, channels c0 + kb
                let kb = li / TN + (WG / TN) * j;
                rb[j] = select(T(0), x[pix + kb * HW], inside);
            }
        }
        if (step > 0u) {
            // include: subgroup_matrix_mma
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
                    let i = (b * p.Cout + oc) * NP + n;
                    y[i] = out_value(v, i);
                }
            }
            workgroupBarrier();
        }
    }
}
