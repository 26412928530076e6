// group_norm.wgsl: GroupNorm over (B, C, S) (S = H*W, any spatial shape flattened), per-channel
// affine and optional fused activation:
//   y[b, c, s] = act((x[b, c, s] - mean[b, g]) * rstd[b, g] * gamma[c] + beta[c]),  g = c / (C/G),
//   mean / biased variance over the Cg*S elements of group g, rstd = 1/sqrt(var + eps)  (PyTorch).
// Three entry points, dispatched back to back by ops.js. A group's elements are contiguous
// (count = Cg*S) and are cut into P = ceil(count / CHUNK) chunks so that even B*G = 32 groups of a
// million elements (VAE at 512x512) spread over thousands of workgroups:
//   partial_main: one workgroup (256 threads) per (group, chunk): exact two-pass statistics of the
//          chunk in f32 (sum -> chunk mean, then sum of squared deviations M2; the second read hits
//          the cache), tree reductions in 1 KiB of workgroup memory. Writes partial[(bg*P + j)*2 + 0/1]
//          = (mean, M2). Grid: 1-D over B*G*P workgroups (folded).
//   combine_main: one workgroup per group merges its P partials pairwise (Chan et al.:
//          n = na + nb, d = mb - ma, mean = ma + d*nb/n, M2 = M2a + M2b + d^2*na*nb/n) and writes
//          stats[2*bg] = mean, stats[2*bg+1] = rstd. Grid: 1-D over B*G (folded).
//   apply_main: one thread per element. Grid: 1-D over ceil(total/256) (folded).
// Layout: x, y (B, C, S); gamma, beta (C); partial (2*B*G*P) and stats (2*B*G) f32 scratch
// regardless of T. Assumes C % G == 0 (ops.js checks).

alias T = f32;

override ACT: u32 = 0u;

struct Params {
    count: u32,   // Cg*S: elements per group
    groups: u32,  // B*G
    chunks: u32,  // P = ceil(count / CHUNK)
    S: u32, C: u32, Cg: u32, G: u32,
    total: u32,   // B*C*S
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> gamma: array<T>;
@group(0) @binding(2) var<storage, read> beta: array<T>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
@group(0) @binding(6) var<uniform> p: Params;

const CHUNK: u32 = 8192u;  // elements per partial (ops.js defines 1024-8192 by the number of groups)

var<workgroup> red: array<f32, 256>;
var<workgroup> red_n: array<f32, 256>;
var<workgroup> red_m2: array<f32, 256>;

// Sum of `v` over the workgroup; every thread gets the result.
fn workgroup_sum(v: f32, li: u32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();  // red is reused by the next call
    return total;
}

// x[k], x[k + 256], x[k + 512], x[k + 768].
fn load4(k: u32) -> vec4<f32> {
    return vec4<f32>(f32(x[k]), f32(x[k + 256u]), f32(x[k + 512u]), f32(x[k + 768u]));
}

@compute @workgroup_size(256, 1, 1)
fn partial_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) li: u32) {
    let part = wg_index(wid, nwg);  // bg*P + j
    if (part >= p.groups * p.chunks) { return; }  // uniform per workgroup
    let bg = part / p.chunks;
    let j = part % p.chunks;
    let start = j * CHUNK;
    let n = min(CHUNK, p.count - start);
    let base = bg * p.count + start;
    // 4 elements a round (independent loads in flight), then the rest one at a time.
    var s4 = vec4<f32>(0.0);
    var i = li;
    for (; i + 768u < n; i += 1024u) { s4 += load4(base + i); }
    var s = s4.x + s4.y + s4.z + s4.w;
    for (; i < n; i += 256u) { s += f32(x[base + i]); }
    let mean = workgroup_sum(s, li) / f32(n);
    var q4 = vec4<f32>(0.0);
    i = li;
    for (; i + 768u < n; i += 1024u) {
        let d = load4(base + i) - mean;
        q4 += d * d;
    }
    var q = q4.x + q4.y + q4.z + q4.w;
    for (; i < n; i += 256u) {
        let d = f32(x[base + i]) - mean;
        q += d * d;
    }
    let m2 = workgroup_sum(q, li);
    if (li == 0u) {
        partial[2u * part] = mean;
        partial[2u * part + 1u] = m2;
    }
}

@compute @workgroup_size(256, 1, 1)
fn combine_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) li: u32) {
    let bg = wg_index(wid, nwg);
    if (bg >= p.groups) { return; }  // uniform per workgroup
    // Each thread first folds partials li, li+256, ... sequentially, then a pairwise tree.
    var n = 0.0;
    var mean = 0.0;
    var m2 = 0.0;
    for (var j = li; j < p.chunks; j += 256u) {
        let nb = f32(min(CHUNK, p.count - j * CHUNK));
        let mb = partial[2u * (bg * p.chunks + j)];
        let m2b = partial[2u * (bg * p.chunks + j) + 1u];
        let nn = n + nb;
        let d = mb - mean;
        mean += d * nb / nn;
        m2 += m2b + d * d * n * nb / nn;
        n = nn;
    }
    red_n[li] = n;
    red[li] = mean;
    red_m2[li] = m2;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s && red_n[li + s] > 0.0) {
            let na = red_n[li];
            let nb = red_n[li + s];
            let nn = na + nb;
            let d = red[li + s] - red[li];
            red[li] += d * nb / nn;
            red_m2[li] += red_m2[li + s] + d * d * na * nb / nn;
            red_n[li] = nn;
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        stats[2u * bg] = red[0];
        stats[2u * bg + 1u] = 1.0 / sqrt(red_m2[0] / f32(p.count) + p.eps);
    }
}

@compute @workgroup_size(256, 1, 1)
fn apply_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.total) { return; }
    let bc = i / p.S;
    let c = bc % p.C;
    let bg = (bc / p.C) * p.G + c / p.Cg;
    let v = (f32(x[i]) - stats[2u * bg]) * stats[2u * bg + 1u] * f32(gamma[c]) + f32(beta[c]);
    y[i] = T(apply_act(v, ACT));
}
