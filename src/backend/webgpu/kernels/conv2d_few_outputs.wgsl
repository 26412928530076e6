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

// include: conv2d_interface
alias XW = T;
// include: residual

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
