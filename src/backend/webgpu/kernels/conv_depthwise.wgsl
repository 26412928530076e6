// conv_depthwise.wgsl: depthwise conv2d (groups == Cin == Cout), y = act(conv(x, w) + bias).
//   y[b, c, oy, ox] = bias[c] + sum_{ky,kx} w[c, 0, ky, kx] * x[b, c, oy*stride - pad_t + ky, ox*stride - pad_l + kx]
//   (zero padding outside the image).
// Layout: x (B, C, H, W), w (C, 1, kh, kw), bias (C) (override HAS_BIAS; bind any buffer when 0),
//   y (B, C, Ho, Wo); ops.js computes Ho, Wo from the four paddings.
// Workgroup: 32 x 8 threads = a 32 x 8 tile of outputs of one (b, c) plane. The input window of the
//   tile ((31*stride + kw) x (7*stride + kh), zero-padded) is read once into workgroup memory
//   (coalesced rows), then each thread sums its kh*kw taps from there. (One thread per output
//   reading its taps from storage ran the UNet's 3x3 convs at ~300 GB/s on an H100.)
//   The window must fit HALO_MAX values: stride <= 2 and kernels up to 9x9 (ops.js checks).
// Grid: (tiles_x * tiles_y, B*C). Accumulation f32.

alias T = f32;

override ACT: u32 = 0u;
override HAS_BIAS: bool = false;

struct Params {
    C: u32, H: u32, W: u32, Ho: u32, Wo: u32,
    kh: u32, kw: u32, stride: u32, pad_t: u32, pad_l: u32,
    tiles_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

const TW: u32 = 32u;
const TH: u32 = 8u;
const HALO_MAX: u32 = 1700u;  // (31*2 + 9) x (7*2 + 9) = 1633
var<workgroup> win: array<f32, HALO_MAX>;

@compute @workgroup_size(32, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let bc = wid.y;  // b*C + c
    let c = bc % p.C;
    let oy0 = (wid.x / p.tiles_x) * TH;
    let ox0 = (wid.x % p.tiles_x) * TW;
    let ww = (TW - 1u) * p.stride + p.kw;  // window width and height
    let wh = (TH - 1u) * p.stride + p.kh;
    let iy0 = i32(oy0 * p.stride) - i32(p.pad_t);
    let ix0 = i32(ox0 * p.stride) - i32(p.pad_l);
    let x_base = bc * p.H * p.W;
    for (var e = li; e < ww * wh; e += TW * TH) {
        let iy = iy0 + i32(e / ww);
        let ix = ix0 + i32(e % ww);
        var v = 0.0;
        if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) { v = f32(x[x_base + u32(iy) * p.W + u32(ix)]); }
        win[e] = v;
    }
    workgroupBarrier();

    let oy = oy0 + lid.y;
    let ox = ox0 + lid.x;
    if (oy >= p.Ho || ox >= p.Wo) { return; }
    let w_base = c * p.kh * p.kw;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let row = (lid.y * p.stride + ky) * ww + lid.x * p.stride;
        for (var kx = 0u; kx < p.kw; kx++) {
            acc += f32(w[w_base + ky * p.kw + kx]) * win[row + kx];
        }
    }
    if (HAS_BIAS) { acc += f32(bias[c]); }
    y[(bc * p.Ho + oy) * p.Wo + ox] = T(apply_act(acc, ACT));
}
