// elementwise.wgsl: the element-wise ops of backend.h, one entry point each, one thread per output
// element, 256 threads per workgroup, 1-D grid over ceil(n/256) workgroups (folded).
//   act_main:    y = act(a)                                      (override ACT)
//   add_main:    y = a + b, b broadcast by `mode`:
//                  0: b has a's shape; 1: b (B, C, 1, 1); 2: b (1, C, 1, 1)   (a (B, C, S), S = H*W)
//   axpby_main:  y = alpha*a + beta*b                            (same shapes)
//   glu_main:    a (B, 2C, S) -> y (B, C, S): y[b,c,s] = a[b,c,s] * silu(a[b,C+c,s])
//   cfg_main:    a (2B, ...) = [uncond; cond] -> y (B, ...): y = u + alpha*(c - u)  (n = half of a)
//   copy_main:   y[dst_off + i] = a[src_off + i]  (slice_batch / concat_batch; element offsets, so
//                f16 tensors need no 4-byte alignment as copyBufferToBuffer would)
// Layout: contiguous; n = number of outputs. Arithmetic f32 whatever T is.

alias T = f32;

override ACT: u32 = 0u;

struct Params {
    n: u32,
    S: u32, C: u32, mode: u32,
    alpha: f32, beta: f32,
    src_off: u32, dst_off: u32,
}

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn act_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    y[i] = T(apply_act(f32(a[i]), ACT));
}

@compute @workgroup_size(256, 1, 1)
fn add_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    var j = i;
    if (p.mode == 1u) { j = i / p.S; }
    if (p.mode == 2u) { j = (i / p.S) % p.C; }
    y[i] = T(f32(a[i]) + f32(b[j]));
}

@compute @workgroup_size(256, 1, 1)
fn axpby_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    y[i] = T(p.alpha * f32(a[i]) + p.beta * f32(b[i]));
}

@compute @workgroup_size(256, 1, 1)
fn glu_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    let cs = p.C * p.S;
    let src = (i / cs) * 2u * cs + i % cs;
    y[i] = T(f32(a[src]) * silu(f32(a[src + cs])));
}

@compute @workgroup_size(256, 1, 1)
fn cfg_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    let u = f32(a[i]);
    y[i] = T(u + p.alpha * (f32(a[p.n + i]) - u));
}

@compute @workgroup_size(256, 1, 1)
fn copy_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    y[p.dst_off + i] = a[p.src_off + i];
}
