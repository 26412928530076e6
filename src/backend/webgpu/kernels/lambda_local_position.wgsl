// lambda_local_position.wgsl: the gather half of the local positional lambda (model/lambda.h,
// upstream MultiQuerySelfLambda with r set). Upstream computes lambda_p = Conv3d(1, k, (1, r, r),
// pad r/2)(V) and Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,k,v,n]; reassociated, with t = dy*r + dx:
//   QW[b,h,t,n] = sum_k Q[b,h,k,n] w[k,t]                          (gemm_tiled.wgsl, run first by ops.js)
//   Yp[b,h,v,n] = sum_k Q[b,h,k,n] bias[k]
//               + sum_t QW[b,h,t,n] * V[b, v, y + dy - r/2, x + dx - r/2]   (this kernel; 0 outside)
// where n = y*W + x. Conv3d is a cross-correlation, hence +dy, +dx.
// Layout: qw (B*h, r*r, N), q (B, h, k, N), bias (k), v (B, vdim, N), y (B, h, vdim, N); N = H*W.
// Workgroup: 16x16 threads = a 16x16 pixel tile of one (b, h) and VB = 4 value channels. The
//   (16+r-1)^2 halo of those 4 channels of V sits in workgroup memory (<= 14,400 B for r <= 15);
//   each thread reads its r*r QW entries (coalesced across the tile rows) once per 4 channels.
// Grid: (ceil(W/16)*ceil(H/16), ceil(vdim/4), B*h). Assumes r odd, r <= 15 (ops.js checks).

alias T = f32;

struct Params { heads: u32, kdim: u32, vdim: u32, H: u32, W: u32, r: u32, tiles_x: u32 }

@group(0) @binding(0) var<storage, read> qw: array<T>;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

const TS: u32 = 16u;
const VB: u32 = 4u;
const HALO_MAX: u32 = 30u;  // TS + 15 - 1
var<workgroup> vt: array<f32, 3600>;  // [VB][side*side], side = TS + r - 1 <= HALO_MAX

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let N = p.H * p.W;
    let z = wid.z;                // b*heads + hh
    let b = z / p.heads;
    let v0 = wid.y * VB;
    let ty0 = (wid.x / p.tiles_x) * TS;
    let tx0 = (wid.x % p.tiles_x) * TS;
    let half = i32(p.r / 2u);
    let side = TS + p.r - 1u;
    let ss = side * side;

    for (var vb = 0u; vb < VB; vb++) {
        let vc = v0 + vb;
        for (var idx = li; idx < ss; idx += 256u) {
            let gy = i32(ty0 + idx / side) - half;
            let gx = i32(tx0 + idx % side) - half;
            var val = 0.0;
            if (vc < p.vdim && gy >= 0 && gy < i32(p.H) && gx >= 0 && gx < i32(p.W)) {
                val = f32(v[(b * p.vdim + vc) * N + u32(gy) * p.W + u32(gx)]);
            }
            vt[vb * ss + idx] = val;
        }
    }
    workgroupBarrier();

    let py = ty0 + lid.y;
    let px = tx0 + lid.x;
    if (py >= p.H || px >= p.W) { return; }
    let n = py * p.W + px;

    var qb = 0.0;
    for (var k = 0u; k < p.kdim; k++) { qb += f32(q[(z * p.kdim + k) * N + n]) * f32(bias[k]); }
    var acc: array<f32, VB>;
    for (var vb = 0u; vb < VB; vb++) { acc[vb] = qb; }

    let rr = p.r * p.r;
    for (var t = 0u; t < rr; t++) {
        let w = f32(qw[(z * rr + t) * N + n]);
        let o = (lid.y + t / p.r) * side + lid.x + t % p.r;
        for (var vb = 0u; vb < VB; vb++) { acc[vb] += w * vt[vb * ss + o]; }
    }
    for (var vb = 0u; vb < VB; vb++) {
        if (v0 + vb < p.vdim) { y[(z * p.vdim + v0 + vb) * N + n] = T(acc[vb]); }
    }
}
