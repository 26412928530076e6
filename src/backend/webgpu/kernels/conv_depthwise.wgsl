// conv_depthwise.wgsl: depthwise conv2d (groups == Cin == Cout), y = act(conv(x, w) + bias).
//   y[b, c, oy, ox] = bias[c] + sum_{ky,kx} w[c, 0, ky, kx] * x[b, c, oy*stride - pad_t + ky, ox*stride - pad_l + kx]
//   (zero padding outside the image).
// Layout: x (B, C, H, W), w (C, 1, kh, kw), bias (C) (override HAS_BIAS; bind any buffer when 0),
//   y (B, C, Ho, Wo); ops.js computes Ho, Wo from the four paddings.
// main: any kernel size, stride and padding; 256 threads a workgroup, one output element each,
//   consecutive threads on consecutive ox; 1-D grid over ceil(total / 256) workgroups (folded, see
//   common.wgsl).
// main_3x3: 3x3, stride 1, padding 1 on every side (the UNet's depthwise convs; Ho = H, Wo = W): four
//   consecutive outputs of a row per thread, from the 3 x 6 inputs they share and the 9 weights held in
//   registers (the generic entry loads 18 values and computes its indices per output); 1-D grid over
//   ceil(quads / 256), quads = B*C*H*ceil(W/4).
// Accumulation f32.

alias T = f32;

override ACT: u32 = 0u;
override HAS_BIAS: bool = false;

struct Params {
    C: u32, H: u32, W: u32, Ho: u32, Wo: u32,
    kh: u32, kw: u32, stride: u32, pad_t: u32, pad_l: u32,
    total: u32,
    quads: u32,  // main_3x3's threads
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

// Input x[row, ix] of one plane, 0 outside [0, W).
fn x_at(row: u32, ix: i32) -> f32 {
    if (ix < 0 || ix >= i32(p.W)) { return 0.0; }
    return f32(x[row + u32(ix)]);
}

@compute @workgroup_size(256, 1, 1)
fn main_3x3(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
    let q = wg_index(wid, nwg) * 256u + li;
    if (q >= p.quads) { return; }
    let qw = (p.W + 3u) / 4u;
    let ox = (q % qw) * 4u;
    let oy = (q / qw) % p.H;
    let bc = q / (qw * p.H);  // b*C + c
    let c = bc % p.C;
    let plane = bc * p.H * p.W;
    var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
    for (var ky = 0u; ky < 3u; ky++) {
        let iy = i32(oy + ky) - 1;
        if (iy < 0 || iy >= i32(p.H)) { continue; }
        let row = plane + u32(iy) * p.W;
        let ix = i32(ox) - 1;
        let v0 = x_at(row, ix);     let v1 = x_at(row, ix + 1); let v2 = x_at(row, ix + 2);
        let v3 = x_at(row, ix + 3); let v4 = x_at(row, ix + 4); let v5 = x_at(row, ix + 5);
        let w0 = f32(w[c * 9u + ky * 3u]);
        let w1 = f32(w[c * 9u + ky * 3u + 1u]);
        let w2 = f32(w[c * 9u + ky * 3u + 2u]);
        a0 += w0 * v0 + w1 * v1 + w2 * v2;
        a1 += w0 * v1 + w1 * v2 + w2 * v3;
        a2 += w0 * v2 + w1 * v3 + w2 * v4;
        a3 += w0 * v3 + w1 * v4 + w2 * v5;
    }
    var b = 0.0;
    if (HAS_BIAS) { b = f32(bias[c]); }
    let o = plane + oy * p.W + ox;
    y[o] = T(apply_act(a0 + b, ACT));
    if (ox + 1u < p.W) { y[o + 1u] = T(apply_act(a1 + b, ACT)); }
    if (ox + 2u < p.W) { y[o + 2u] = T(apply_act(a2 + b, ACT)); }
    if (ox + 3u < p.W) { y[o + 3u] = T(apply_act(a3 + b, ACT)); }
}
