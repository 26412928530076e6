// conv2d_few_outputs.wgsl: y = act(conv2d(x, w) + bias) for convs with at most 8 output channels
// (groups 1; the VAE's conv_out layers: 128 -> 3 in the decoder, 512 -> 8 in the encoder), where a
// GEMM tile over output channels would be mostly empty (the implicit GEMM ran 128 -> 3 @512x512 at
// 0.7 TFLOP/s on an H100).
//   y[b, co, oy, ox] = bias[co] + sum_{ci,ky,kx} w[co, ci, ky, kx] * x[b, ci, oy*stride - pad_t + ky, ox*stride - pad_l + kx]
// Layout: as conv2d_implicit_gemm.wgsl (conv2d_interface.wgsl), groups must be 1.
// Workgroup: 256 threads = PX = 32 output pixels x KS = 8 slices of the input channels; a thread
//   keeps all Cout <= 8 sums of its pixel and slice in two vec4 registers, the slices are summed
//   through workgroup memory at the end. Consecutive threads on consecutive pixels (coalesced x
//   reads); the threads of a slice read the same weights at the same time. Slicing the channels keeps
//   the serial loop short where there are few pixels (the encoder's 512 -> 8 at 64x64: 4096 pixels).
// Grid: (ceil(Ho*Wo / 32), B). Accumulation f32.
// main_3x3: 3x3, stride 1, padding 1 on every side (the VAE's conv_out layers; Ho = H, Wo = W): a
//   thread computes four consecutive outputs of a row (a quad) from the 3 x 6 inputs they share, so
//   each weight it loads serves four products (main loaded 9 values per 8 products and ran the decoder's
//   128 -> 3 @512x512 at 1.3 TFLOP/s on an H100); the sums for output channels 4..7 only where
//   HI (Cout > 4). 32 quads x 8 channel slices a workgroup; grid (ceil(Ho*ceil(Wo/4) / 32), B).

// include: conv2d_interface
alias XW = T;
// include: residual

override HI: bool = true;  // main_3x3: output channels 4..7 exist

const PX: u32 = 32u;
const KS: u32 = 8u;
var<workgroup> part_lo: array<vec4<f32>, 256>;  // [KS][PX]
var<workgroup> part_hi: array<vec4<f32>, 256>;

fn weight(co: u32, kk: u32, K: u32) -> f32 {
    if (co < p.Cout) { return f32(w[co * K + kk]); }
    return 0.0;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
    let NP = p.Ho * p.Wo;
    let px = li % PX;
    let slice = li / PX;
    let n = wid.x * PX + px;
    let b = wid.y;
    let inside = n < NP;
    let oy = n / p.Wo;
    let ox = n % p.Wo;
    let iy0 = i32(oy * p.stride) - i32(p.pad_t);
    let ix0 = i32(ox * p.stride) - i32(p.pad_l);
    let K = p.Cin * p.kh * p.kw;
    var lo = vec4<f32>(0.0);  // output channels 0..3
    var hi = vec4<f32>(0.0);  // output channels 4..7
    for (var ci = slice; inside && ci < p.Cin; ci += KS) {
        let x_base = (b * p.Cin + ci) * p.H * p.W;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky);
            if (iy < 0 || iy >= i32(p.H)) { continue; }
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + i32(kx);
                if (ix < 0 || ix >= i32(p.W)) { continue; }
                let xv = f32(x[x_base + u32(iy) * p.W + u32(ix)]);
                let kk = (ci * p.kh + ky) * p.kw + kx;
                lo += xv * vec4<f32>(weight(0u, kk, K), weight(1u, kk, K), weight(2u, kk, K), weight(3u, kk, K));
                hi += xv * vec4<f32>(weight(4u, kk, K), weight(5u, kk, K), weight(6u, kk, K), weight(7u, kk, K));
            }
        }
    }
    part_lo[li] = lo;
    part_hi[li] = hi;
    workgroupBarrier();
    if (slice != 0u || !inside) { return; }
    for (var s = 1u; s < KS; s++) {
        lo += part_lo[s * PX + px];
        hi += part_hi[s * PX + px];
    }
    for (var co = 0u; co < p.Cout; co++) {
        var sum = select(hi[co % 4u], lo[co % 4u], co < 4u);
        if (HAS_BIAS) { sum += f32(bias[co]); }
        let i = (b * p.Cout + co) * NP + n;
        y[i] = out_value(sum, i);
    }
}

// include: conv_row

// The 4 (or 8) output channels' weights of tap kk as vec4s: lo = channels 0..3, hi = 4..7.
fn taps_lo(kk: u32) -> vec4<f32> { return vec4<f32>(weight(0u, kk, 9u * p.Cin), weight(1u, kk, 9u * p.Cin), weight(2u, kk, 9u * p.Cin), weight(3u, kk, 9u * p.Cin)); }
fn taps_hi(kk: u32) -> vec4<f32> { return vec4<f32>(weight(4u, kk, 9u * p.Cin), weight(5u, kk, 9u * p.Cin), weight(6u, kk, 9u * p.Cin), weight(7u, kk, 9u * p.Cin)); }

@compute @workgroup_size(256, 1, 1)
fn main_3x3(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
    let QW = (p.Wo + 3u) / 4u;  // quads a row
    let qx = li % PX;
    let slice = li / PX;
    let q = wid.x * PX + qx;
    let b = wid.y;
    let inside = q < p.Ho * QW;
    let oy = q / QW;
    let ox = (q % QW) * 4u;
    // sums[j]: output pixel ox + j, channels 0..3 (lo) and 4..7 (hi)
    var lo0 = vec4<f32>(0.0); var lo1 = vec4<f32>(0.0); var lo2 = vec4<f32>(0.0); var lo3 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0); var hi1 = vec4<f32>(0.0); var hi2 = vec4<f32>(0.0); var hi3 = vec4<f32>(0.0);
    for (var ci = slice; inside && ci < p.Cin; ci += KS) {
        let plane = (b * p.Cin + ci) * p.H * p.W;
        for (var ky = 0u; ky < 3u; ky++) {
            let iy = i32(oy + ky) - 1;
            if (iy < 0 || iy >= i32(p.H)) { continue; }
            let row = plane + u32(iy) * p.W;
            let ix = i32(ox) - 1;
            let v0 = x_at(row, ix);     let v1 = x_at(row, ix + 1); let v2 = x_at(row, ix + 2);
            let v3 = x_at(row, ix + 3); let v4 = x_at(row, ix + 4); let v5 = x_at(row, ix + 5);
            let kk = (ci * 3u + ky) * 3u;
            let w0 = taps_lo(kk); let w1 = taps_lo(kk + 1u); let w2 = taps_lo(kk + 2u);
            lo0 += v0 * w0 + v1 * w1 + v2 * w2;
            lo1 += v1 * w0 + v2 * w1 + v3 * w2;
            lo2 += v2 * w0 + v3 * w1 + v4 * w2;
            lo3 += v3 * w0 + v4 * w1 + v5 * w2;
            if (HI) {
                let u0 = taps_hi(kk); let u1 = taps_hi(kk + 1u); let u2 = taps_hi(kk + 2u);
                hi0 += v0 * u0 + v1 * u1 + v2 * u2;
                hi1 += v1 * u0 + v2 * u1 + v3 * u2;
                hi2 += v2 * u0 + v3 * u1 + v4 * u2;
                hi3 += v3 * u0 + v4 * u1 + v5 * u2;
            }
        }
    }
    // The slices' sums through workgroup memory, one output pixel of the quad at a time.
    for (var j = 0u; j < 4u; j++) {
        let l = select(select(select(lo3, lo2, j == 2u), lo1, j == 1u), lo0, j == 0u);
        let h = select(select(select(hi3, hi2, j == 2u), hi1, j == 1u), hi0, j == 0u);
        workgroupBarrier();
        part_lo[li] = l;
        part_hi[li] = h;
        workgroupBarrier();
        if (slice == 0u && inside && ox + j < p.Wo) {
            var sl = l;
            var sh = h;
            for (var s = 1u; s < KS; s++) {
                sl += part_lo[s * PX + qx];
                sh += part_hi[s * PX + qx];
            }
            let n = oy * p.Wo + ox + j;
            for (var co = 0u; co < p.Cout; co++) {
                var sum = select(sh[co % 4u], sl[co % 4u], co < 4u);
                if (HAS_BIAS) { sum += f32(bias[co]); }
                let i = (b * p.Cout + co) * p.Ho * p.Wo + n;
                y[i] = out_value(sum, i);
            }
        }
    }
}
