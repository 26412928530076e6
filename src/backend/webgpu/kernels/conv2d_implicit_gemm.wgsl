// conv2d_implicit_gemm.wgsl: y = act(conv2d(x, w) + bias) (+ res: HAS_RES) for a general kh x kw kernel, stride,
// asymmetric zero padding and groups, as an implicit GEMM (no im2col buffer):
//   per (batch b, group g):  Y(co, n) = sum_kk W(co, kk) * X(kk, n)
//   co in [0, Cout/groups), n = oy*Wo + ox, kk = (ci*kh + ky)*kw + kx over Cin/groups input channels,
//   X(kk, n) = x[b, g*Cin_g + ci, oy*stride - pad_t + ky, ox*stride - pad_l + kx], 0 outside the image.
// Layout: x (B, Cin, H, W), w (Cout, Cin/groups, kh, kw) = row-major (Cout, K) per group,
//   bias (Cout) (override HAS_BIAS; bind any buffer when 0), y (B, Cout, Ho, Wo) with
//   Ho = (H + pad_t + pad_b - kh)/stride + 1 (ops.js computes Ho, Wo; pad_b/pad_r enter only there).
// Workgroup: same tiling as gemm_tiled.wgsl: 16x16 threads, TM (co) x TN (pixels) tile, RM x RN
//   per thread, K in steps of TK through 8 KiB of workgroup memory; the X tile is gathered from x
//   with bounds checks, consecutive threads on consecutive output pixels.
// Grid: (ceil(Ho*Wo/TN), ceil(Cout_g/TM), B*groups). Accumulation f32.
// Depthwise convs (groups == Cin == Cout) use conv_depthwise.wgsl instead; 1x1 convs use gemm_tiled.

// include: conv2d_interface
alias XW = T;
// include: residual

// Tile configuration; ops.js overrides these lines for small problems (64 x 64 x 16, 4 x 4).
const TM: u32 = 128u;
const TN: u32 = 128u;
const TK: u32 = 8u;
const RM: u32 = 8u;     // TM / 16
const RN: u32 = 8u;     // TN / 16
const LOADS: u32 = 4u;  // TM * TK / 256 = TN * TK / 256

var<workgroup> As: array<f32, TK * TM>;  // weights, 4 KiB
var<workgroup> Bs: array<f32, TK * TN>;  // gathered input patches

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
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

    var acc: array<array<f32, RN>, RM>;
    for (var k0 = 0u; k0 < K; k0 += TK) {
        for (var j = 0u; j < LOADS; j++) {
            let e = li + 256u * j;
            // Weights: row-major (cout_g, K), walk k fastest.
            let mm = e / TK;
            let ka = e % TK;
            var va = 0.0;
            if (m0 + mm < cout_g && k0 + ka < K) {
                va = f32(w[w_base + (m0 + mm) * K + k0 + ka]);
            }
            As[ka * TM + mm] = va;

            // Input patch element (kk, n), walk n fastest.
            let kb = e / TN;
            let nn = e % TN;
            var vb = 0.0;
            let kk = k0 + kb;
            let n = n0 + nn;
            if (n < NP && kk < K) {
                let ci = kk / khw;
                let r = kk % khw;
                let iy = i32((n / p.Wo) * p.stride + r / p.kw) - i32(p.pad_t);
                let ix = i32((n % p.Wo) * p.stride + r % p.kw) - i32(p.pad_l);
                if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) {
                    vb = f32(x[x_base + (ci * p.H + u32(iy)) * p.W + u32(ix)]);
                }
            }
            Bs[kb * TN + nn] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var af: array<f32, RM>;
            var bf: array<f32, RN>;
            for (var i = 0u; i < RM; i++) { af[i] = As[kk * TM + lid.y + 16u * i]; }
            for (var j = 0u; j < RN; j++) { bf[j] = Bs[kk * TN + lid.x + 16u * j]; }
            for (var i = 0u; i < RM; i++) {
                for (var j = 0u; j < RN; j++) { acc[i][j] += af[i] * bf[j]; }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < RM; i++) {
        let co = m0 + lid.y + 16u * i;
        if (co >= cout_g) { continue; }
        let oc = g * cout_g + co;
        for (var j = 0u; j < RN; j++) {
            let n = n0 + lid.x + 16u * j;
            if (n >= NP) { continue; }
            var v = acc[i][j];
            if (HAS_BIAS) { v += f32(bias[oc]); }
            let i = (b * p.Cout + oc) * NP + n;
            y[i] = out_value(v, i);
        }
    }
}
