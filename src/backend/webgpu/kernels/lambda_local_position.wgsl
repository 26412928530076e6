// lambda_local_position.wgsl: the gather half of the local positional lambda (model/lambda.h,
// upstream MultiQuerySelfLambda with r set). Upstream computes lambda_p = Conv3d(1, k, (1, r, r),
// pad r/2)(V) and Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,k,v,n]; reassociated, with t = dy*r + dx:
//   QW[b,h,t,n] = sum_k Q[b,h,k,n] w[k,t], QW[b,h,r*r,n] = sum_k Q[b,h,k,n] bias[k]
//                                   (one GEMM run first by ops.js, A from lambda_local_weights.wgsl)
//   Yp[b,h,v,n] = QW[b,h,r*r,n] + sum_t QW[b,h,t,n] * V[b, v, y + dy - r/2, x + dx - r/2]
//                                   (this kernel; V is 0 outside the picture)
// where n = y*W + x. Conv3d is a cross-correlation, hence +dy, +dx.
// Layout: qw (B*h, r*r + 1, N), v (B, vdim, N), y (B, h, vdim, N); N = H*W.
// Workgroup: 16x16 threads = a 16x16 pixel tile of one (b, h) and VB = 4 value channels (one vec4).
//   The (16+r-1)^2 halo of those 4 channels of V sits in workgroup memory (<= 14,400 B for r <= 15);
//   each thread reads its r*r + 1 QW entries (coalesced across the tile rows) once per 4 channels.
// Grid: (ceil(W/16)*ceil(H/16), ceil(vdim/4), B*h). Assumes r odd, r <= 15 (ops.js checks).

alias T = f32;

struct Params { heads: u32, vdim: u32, H: u32, W: u32, r: u32, tiles_x: u32 }

@group(0) @binding(0) var<storage, read> qw: array<T>;
@group(0) @binding(1) var<storage, read> v: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

const TS: u32 = 16u;
const VB: u32 = 4u;
var<workgroup> vt: array<vec4<f32>, 900>;  // [side*side] x VB channels, side = TS + r - 1 <= 30

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

    for (var idx = li; idx < side * side; idx += 256u) {
        let gy = i32(ty0 + idx / side) - half;
        let gx = i32(tx0 + idx % side) - half;
        var val = vec4<f32>(0.0);
        if (gy >= 0 && gy < i32(p.H) && gx >= 0 && gx < i32(p.W)) {
            let at = (b * p.vdim + v0) * N + u32(gy) * p.W + u32(gx);
            for (var c = 0u; c < VB; c++) {
                if (v0 + c < p.vdim) { val[c] = f32(v[at + c * N]); }
            }
        }
        vt[idx] = val;
    }
    workgroupBarrier();

    let py = ty0 + lid.y;
    let px = tx0 + lid.x;
    if (py >= p.H || px >= p.W) { return; }
    let n = py * p.W + px;

    let rr = p.r * p.r;
    let qw_base = z * (rr + 1u) * N + n;
    var acc = vec4<f32>(f32(qw[qw_base + rr * N]));
    var t = 0u;
    for (var dy = 0u; dy < p.r; dy++) {
        let row = (lid.y + dy) * side + lid.x;
        for (var dx = 0u; dx < p.r; dx++) {
            acc += f32(qw[qw_base + t * N]) * vt[row + dx];
            t++;
        }
    }
    for (var c = 0u; c < VB; c++) {
        if (v0 + c < p.vdim) { y[(z * p.vdim + v0 + c) * N + n] = T(acc[c]); }
    }
}
