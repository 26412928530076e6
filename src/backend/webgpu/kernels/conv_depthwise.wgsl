// conv_depthwise.wgsl: depthwise conv2d (groups == Cin == Cout), y = act(conv(x, w) + bias).
//   y[b, c, oy, ox] = bias[c] + sum_{ky,kx} w[c, 0, ky, kx] * x[b, c, oy*stride - pad_t + ky, ox*stride - pad_l + kx]
//   (zero padding outside the image).
// Layout: x (B, C, H, W), w (C, 1, kh, kw), bias (C) (override HAS_BIAS; bind any buffer when 0),
//   y (B, C, Ho, Wo); ops.js computes Ho, Wo from the four paddings.
// Workgroup: 256 threads, one output element each, consecutive threads on consecutive ox.
// Grid: 1-D over ceil(B*C*Ho*Wo / 256) workgroups (folded, see common.wgsl). Accumulation f32.

alias T = f32;

override ACT: u32 = 0u;
override HAS_BIAS: bool = false;

struct Params {
    C: u32, H: u32, W: u32, Ho: u32, Wo: u32,
    kh: u32, kw: u32, stride: u32, pad_t: u32, pad_l: u32,
    total: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.total) { return; }
    let ox = i % p.Wo;
    let oy = (i / p.Wo) % p.Ho;
    let bc = i / (p.Wo * p.Ho);  // b*C + c
    let c = bc % p.C;
    let x_base = bc * p.H * p.W;
    let w_base = c * p.kh * p.kw;
    let iy0 = i32(oy * p.stride) - i32(p.pad_t);
    let ix0 = i32(ox * p.stride) - i32(p.pad_l);
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = iy0 + i32(ky);
        if (iy < 0 || iy >= i32(p.H)) { continue; }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = ix0 + i32(kx);
            if (ix < 0 || ix >= i32(p.W)) { continue; }
            acc += f32(w[w_base + ky * p.kw + kx]) * f32(x[x_base + u32(iy) * p.W + u32(ix)]);
        }
    }
    if (HAS_BIAS) { acc += f32(bias[c]); }
    y[i] = T(apply_act(acc, ACT));
}
