// pad_nhwc.wgsl: NCHW x (B, C, H, W) -> zero-padded NHWC y (B, Hp, Wp, C):
//   y[b, yp, xp, c] = f(x)[b, c, yp - pad_t, xp - pad_l], 0 outside x.
// The input layout of conv2d_subgroup_matrix_direct.wgsl (see there), made per conv by ops.js. The
// conv's input may be made on the way instead of in a pass of its own (the VAE's):
//   NORM: f(x) = act(GroupNorm(x)) with the statistics of group_norm.wgsl (mean, 1/std per (b, group)),
//         gamma and beta; ACT as there;
//   UP:   f(x) = x upsampled 2x (nearest): x is (B, C, H/2, W/2).
// Workgroup: 16 x 16 threads move a tile of 16 channels x 16 padded pixels through workgroup memory
// (padded to 16 x 17 against bank conflicts), so the reads run along pixels and the writes along
// channels, both coalesced (as transpose12.wgsl).
// Grid: (ceil(Hp*Wp/16), ceil(C/16), B).

alias T = f32;

struct Params { C: u32, H: u32, W: u32, Hp: u32, Wp: u32, pad_t: u32, pad_l: u32, Cg: u32, G: u32 }

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> gamma: array<T>;   // NORM only
@group(0) @binding(4) var<storage, read> beta: array<T>;    // NORM only
@group(0) @binding(5) var<storage, read> stats: array<f32>; // NORM only: (mean, 1/std) per (b, group)

override NORM: bool = false;
override UP: bool = false;
override ACT: u32 = 0u;

var<workgroup> tile: array<T, 272>;  // [16 channels][17]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let NPp = p.Hp * p.Wp;
    // Read: thread (x = pixel, y = channel).
    let pp = wid.x * 16u + lid.x;
    let c = wid.y * 16u + lid.y;
    var v = T(0);
    if (pp < NPp && c < p.C) {
        let ys = i32(pp / p.Wp) - i32(p.pad_t);
        let xs = i32(pp % p.Wp) - i32(p.pad_l);
        if (ys >= 0 && ys < i32(p.H) && xs >= 0 && xs < i32(p.W)) {
            if (UP) {
                v = x[((wid.z * p.C + c) * (p.H / 2u) + u32(ys) / 2u) * (p.W / 2u) + u32(xs) / 2u];
            } else {
                v = x[((wid.z * p.C + c) * p.H + u32(ys)) * p.W + u32(xs)];
            }
            if (NORM) {
                let bg = wid.z * p.G + c / p.Cg;
                v = T(apply_act((f32(v) - stats[2u * bg]) * stats[2u * bg + 1u] * f32(gamma[c]) + f32(beta[c]), ACT));
            }
        }
    }
    tile[lid.y * 17u + lid.x] = v;
    workgroupBarrier();
    // Write: thread (x = channel, y = pixel).
    let po = wid.x * 16u + lid.y;
    let co = wid.y * 16u + lid.x;
    if (po < NPp && co < p.C) {
        y[(wid.z * NPp + po) * p.C + co] = tile[lid.x * 17u + lid.y];
    }
}
