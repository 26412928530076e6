// conv2d_subgroup_matrix.wgsl: conv2d_implicit_gemm.wgsl's y = act(conv2d(x, w) + bias) (general
// kh x kw kernel, stride, asymmetric zero padding, groups; implicit GEMM, no im2col buffer) on the
// GPU's matrix units through subgroup matrices. Same Params, bindings and layout as
// conv2d_implicit_gemm.wgsl (see there for the index mapping); same tiling and f16-tile / f32-result
// scheme as gemm_subgroup_matrix.wgsl (see there), used on the f16 storage path only:
//   per (batch b, group g):  Y(co, n) = sum_kk W(co, kk) * X(kk, n), kk = (ci*kh + ky)*kw + kx.
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
    let sm0 = (s / 2u) * 32u;      // this subgroup's quarter of the tile
    let sn0 = (s % 2u) * 32u;

    var acc: array<array<subgroup_matrix_result<f32, SN, SM>, QN>, QM>;
    for (var k0 = 0u; k0 < K; k0 += TK) {
        // Weights: row-major (cout_g, K), k fastest.
        for (var j = 0u; j < TM * TK / WG; j++) {
            let e = li + WG * j;
            let mm = e / TK;
            let ka = e % TK;
            var va = 0.0;
            if (m0 + mm < cout_g && k0 + ka < K) {
                va = f32(w[w_base + (m0 + mm) * K + k0 + ka]);
            }
            As[mm * TK + ka] = f16(va);
        }
        // Input patch element (kk, n), n fastest.
        for (var j = 0u; j < TK * TN / WG; j++) {
            let e = li + WG * j;
            let kb = e / TN;
            let nn = e % TN;
            let kk = k0 + kb;
            let n = n0 + nn;
            var vb = 0.0;
            if (n < NP && kk < K) {
                let ci = kk / khw;
                let r = kk % khw;
                let iy = i32((n / p.Wo) * p.stride + r / p.kw) - i32(p.pad_t);
                let ix = i32((n % p.Wo) * p.stride + r % p.kw) - i32(p.pad_l);
                if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) {
                    vb = f32(x[x_base + (ci * p.H + u32(iy)) * p.W + u32(ix)]);
                }
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

    for (var j = 0u; j < TM * TN / WG; j++) {
        let e = li + WG * j;
        let co = m0 + e / TN;
        let n = n0 + e % TN;
        if (co >= cout_g || n >= NP) { continue; }
        let oc = g * cout_g + co;
        var v = Cs[e];
        if (HAS_BIAS) { v += f32(bias[oc]); }
        y[(b * p.Cout + oc) * NP + n] = T(apply_act(v, ACT));
    }
}
