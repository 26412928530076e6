// concat_channels.wgsl: torch.cat([a, b], dim=1) for NCHW tensors.
//   y[bi, c, s] = c < Ca ? a[bi, c, s] : b[bi, c - Ca, s]
// Layout: a (B, Ca, S), b (B, Cb, S), y (B, Ca+Cb, S), S = H*W.
// Workgroup: 256 threads, one output element each. Grid: 1-D over ceil(n/256) (folded).

alias T = f32;

struct Params { n: u32, a_cs: u32, b_cs: u32 }  // n = B*(Ca+Cb)*S, a_cs = Ca*S, b_cs = Cb*S

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    let row = p.a_cs + p.b_cs;
    let bi = i / row;
    let r = i % row;
    if (r < p.a_cs) {
        y[i] = a[bi * p.a_cs + r];
    } else {
        y[i] = b[bi * p.b_cs + r - p.a_cs];
    }
}
