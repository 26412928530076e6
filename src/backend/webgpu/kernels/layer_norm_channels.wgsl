// layer_norm_channels.wgsl: LayerNorm over the channel dim of an NCHW tensor, i.e. PyTorch
// LayerNorm(C) on the (B, S, C) token view without materialising the transpose:
//   y[b, c, s] = (x[b, c, s] - mean[b, s]) * rstd[b, s] * gamma[c] + beta[c],
//   mean / biased variance over c, rstd = 1/sqrt(var + eps).
// Layout: x, y (B, C, S) with S = H*W; gamma, beta (C).
// Workgroup: POS positions x SLICES channel slices (256 threads). Thread (slice j, position i) sums
//   channels j, j+SLICES, ... of position s0+i (POS consecutive positions per channel row:
//   coalesced); the partial sums of a position meet in workgroup memory (1 KiB). Exact two-pass
//   statistics in f32 (mean first, then squared deviations), then each thread writes its channels;
//   each pass reads 4 channels a round.
//   32 x 8 by default; ops.js gives small S (few positions, many channels: the UNet's 32x32 and
//   16x16 levels) narrower tiles with more slices, so more workgroups share the work.
// Grid: 1-D over B * ceil(S/POS) workgroups (folded).

alias T = f32;

struct Params {
    C: u32, S: u32,
    tiles: u32,        // ceil(S/POS): position tiles per batch item
    total_tiles: u32,  // B * tiles
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> gamma: array<T>;
@group(0) @binding(2) var<storage, read> beta: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

const POS: u32 = 32u;
const SLICES: u32 = 8u;     // 256 / POS

var<workgroup> part: array<f32, POS * SLICES>;  // [SLICES][POS]

// Sum over the 8 slices of position i; all threads of the position get it.
fn slice_sum(v: f32, i: u32, j: u32) -> f32 {
    part[j * POS + i] = v;
    workgroupBarrier();
    var total = 0.0;
    for (var k = 0u; k < SLICES; k++) { total += part[k * POS + i]; }
    workgroupBarrier();  // part is reused by the next call
    return total;
}

@compute @workgroup_size(POS, SLICES, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
    let tile = wg_index(wid, nwg);
    if (tile >= p.total_tiles) { return; }  // uniform per workgroup
    let b = tile / p.tiles;
    let s = (tile % p.tiles) * POS + lid.x;
    let valid = s < p.S;
    let base = b * p.C * p.S + min(s, p.S - 1u);  // idle threads read a valid position
    let i = lid.x;
    let j = lid.y;

    // Each loop takes 4 channels a round (independent loads in flight: the reads are latency-bound),
    // then the rest one at a time.
    let step = 4u * SLICES;
    var s4 = vec4<f32>(0.0);
    var c = j;
    for (; c + 3u * SLICES < p.C; c += step) { s4 += load4(base, c); }
    var sum = s4.x + s4.y + s4.z + s4.w;
    for (; c < p.C; c += SLICES) { sum += f32(x[base + c * p.S]); }
    let mean = slice_sum(sum, i, j) / f32(p.C);
    var q4 = vec4<f32>(0.0);
    c = j;
    for (; c + 3u * SLICES < p.C; c += step) {
        let d = load4(base, c) - mean;
        q4 += d * d;
    }
    var q = q4.x + q4.y + q4.z + q4.w;
    for (; c < p.C; c += SLICES) {
        let d = f32(x[base + c * p.S]) - mean;
        q += d * d;
    }
    let rstd = 1.0 / sqrt(slice_sum(q, i, j) / f32(p.C) + p.eps);
    if (!valid) { return; }
    c = j;
    for (; c + 3u * SLICES < p.C; c += step) {
        let v = (load4(base, c) - mean) * rstd;
        for (var u = 0u; u < 4u; u++) {
            let cu = c + u * SLICES;
            y[base + cu * p.S] = T(v[u] * f32(gamma[cu]) + f32(beta[cu]));
        }
    }
    for (; c < p.C; c += SLICES) {
        let k = base + c * p.S;
        y[k] = T((f32(x[k]) - mean) * rstd * f32(gamma[c]) + f32(beta[c]));
    }
}

// Channels c, c + SLICES, c + 2 SLICES, c + 3 SLICES of the position at base.
fn load4(base: u32, c: u32) -> vec4<f32> {
    return vec4<f32>(f32(x[base + c * p.S]), f32(x[base + (c + SLICES) * p.S]),
                     f32(x[base + (c + 2u * SLICES) * p.S]), f32(x[base + (c + 3u * SLICES) * p.S]));
}
