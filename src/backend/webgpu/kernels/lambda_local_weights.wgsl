// lambda_local_weights.wgsl: the A operand of the local positional lambda's QW GEMM (ops.js
// lambda_local_position): the pos_conv weights transposed, with the bias as one more row,
//   a[t, k] = w[k, t] (t < r*r),  a[r*r, k] = bias[k]        -> a (r*r + 1, k), row-major
// so that one GEMM gives QW[t, n] = sum_k a[t, k] Q[k, n] for every tap t and, in row r*r, the
// bias term sum_k bias[k] Q[k, n]; row-major with a unit k stride, it can run on the matrix units.
// Grid: ceil((r*r + 1) * k / 256) workgroups of 256 threads, one element each.

alias T = f32;

struct Params { kdim: u32, rr: u32 }

@group(0) @binding(0) var<storage, read> w: array<T>;
@group(0) @binding(1) var<storage, read> bias: array<T>;
@group(0) @binding(2) var<storage, read_write> a: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
    let i = gid.x;
    if (i >= (p.rr + 1u) * p.kdim) { return; }
    let t = i / p.kdim;
    let k = i % p.kdim;
    if (t < p.rr) { a[i] = w[k * p.rr + t]; } else { a[i] = bias[k]; }
}
