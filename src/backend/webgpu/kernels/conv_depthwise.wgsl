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
// main_3x3_glu: main_3x3 with the GLU of its output's two channel halves (see there).
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

// include: conv_row

// The four outputs ox .. ox + 3 of row oy of plane `plane` (channel c) of main_3x3's conv, before bias
// and act.
fn conv3x3_quad(plane: u32, c: u32, oy: u32, ox: u32) -> vec4<f32> {
    var a = vec4<f32>(0.0);
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
        a += vec4<f32>(w0 * v0 + w1 * v1 + w2 * v2, w0 * v1 + w1 * v2 + w2 * v3,
                       w0 * v2 + w1 * v3 + w2 * v4, w0 * v3 + w1 * v4 + w2 * v5);
    }
    return a;
}

// The first n (1 to 4) values of v at y[o ..].
fn store_quad(o: u32, v: vec4<f32>, n: u32) {
    y[o] = T(v.x);
    if (n > 1u) { y[o + 1u] = T(v.y); }
    if (n > 2u) { y[o + 2u] = T(v.z); }
    if (n > 3u) { y[o + 3u] = T(v.w); }
}

fn bias_of(c: u32) -> f32 {
    if (HAS_BIAS) { return f32(bias[c]); }
    return 0.0;
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
    let a = conv3x3_quad(plane, c, oy, ox) + bias_of(c);
    let v = vec4<f32>(apply_act(a.x, ACT), apply_act(a.y, ACT), apply_act(a.z, ACT), apply_act(a.w, ACT));
    store_quad(plane + oy * p.W + ox, v, min(4u, p.W - ox));
}

// main_3x3_glu: main_3x3's conv over C = 2 * Ch channels followed by the GLU x * silu(gate) of its two
// halves (the MixFFN's depth_conv, then chunk(2)): y (B, Ch, H, W), y[b, c] = conv[b, c] *
// silu(conv[b, Ch + c]), each conv output with its bias and act, in f32 (the conv output is never
// stored). 1-D grid over ceil(quads / 256), quads = B*Ch*H*ceil(W/4).
@compute @workgroup_size(256, 1, 1)
fn main_3x3_glu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) li: u32) {
    let q = wg_index(wid, nwg) * 256u + li;
    if (q >= p.quads) { return; }
    let ch = p.C / 2u;
    let qw = (p.W + 3u) / 4u;
    let ox = (q % qw) * 4u;
    let oy = (q / qw) % p.H;
    let bc = q / (qw * p.H);  // b*Ch + c
    let c = bc % ch;
    let hw = p.H * p.W;
    let xplane = ((bc / ch) * p.C + c) * hw;  // the value half's channel c; the gate's is ch further
    let a = conv3x3_quad(xplane, c, oy, ox) + bias_of(c);
    let g = conv3x3_quad(xplane + ch * hw, ch + c, oy, ox) + bias_of(ch + c);
    var v: vec4<f32>;
    for (var i = 0u; i < 4u; i++) { v[i] = apply_act(a[i], ACT) * silu(apply_act(g[i], ACT)); }
    store_quad(bc * hw + oy * p.W + ox, v, min(4u, p.W - ox));
}
