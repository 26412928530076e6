// softmax_lastdim.wgsl: softmax over the last dim: y[r, i] = exp(x[r, i] - max_r) / sum_j exp(x[r, j] - max_r).
// Layout: x, y (rows, L), contiguous.
// Workgroup: 256 threads per row: strided max, tree reduction (1 KiB workgroup memory), strided sum
//   of exp(x - max), tree reduction, then the normalised write (x is read three times).
// Grid: 1-D over `rows` workgroups (folded).

alias T = f32;

struct Params { L: u32, rows: u32 }

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let row = wg_index(wid, nwg);
    if (row >= p.rows) { return; }  // uniform per workgroup
    let base = row * p.L;

    var m = -0x1.fffffep+127f;  // -FLT_MAX
    for (var i = li; i < p.L; i += 256u) { m = max(m, f32(x[base + i])); }
    red[li] = m;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) { red[li] = max(red[li], red[li + s]); }
        workgroupBarrier();
    }
    let row_max = red[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var i = li; i < p.L; i += 256u) { sum += exp(f32(x[base + i]) - row_max); }
    red[li] = sum;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / red[0];

    for (var i = li; i < p.L; i += 256u) { y[base + i] = T(exp(f32(x[base + i]) - row_max) * inv); }
}
