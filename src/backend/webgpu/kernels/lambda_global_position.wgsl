// lambda_global_position.wgsl: global (cross) positional lambda (model/lambda.h, upstream
// MultiQueryCrossLambda without r):
//   lambda_p[b,n,k,v] = sum_m e[n,m,k] V[b,v,m];  Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,n,k,v]
// computed in the cheaper order (L, the context length, is 10 in Moebius; k and v are 40..160):
//   QE[m] = sum_k Q[b,h,k,n] e[n,m,k]   (per thread, in registers, MC = 16 positions m at a time)
//   Yp[b,h,v,n] = sum_m QE[m] V[b,v,m]
// Layout: q (B, h, k, N), v (B, vdim, L), e (L, k, N) (upstream's (N, L, k) table stored
// pixel-minor), y (B, h, vdim, N).
// Workgroup: 64 threads, one position n each, for one (b, h); Q and e reads coalesce across n,
//   V reads are uniform across the workgroup.
//   (Blocking over v to get more workgroups at the 16x16 level was tried: it re-reads e per block
//   and was slower overall on an H100: 0.45 vs 0.21 ms at 64x64, k = v = 40.)
// Grid: (ceil(N/64), B*h). Any k, v, L; for L > 16 the partial sums of Yp go through y between
//   chunks of m (exact in f32, one extra rounding per chunk with f16 storage).

alias T = f32;

struct Params { heads: u32, kdim: u32, vdim: u32, N: u32, L: u32 }

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> v: array<T>;
@group(0) @binding(2) var<storage, read> e: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

const MC: u32 = 16u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
    let n = wid.x * 64u + li;
    if (n >= p.N) { return; }
    let z = wid.y;  // b*heads + hh
    let b = z / p.heads;
    let q_base = z * p.kdim * p.N + n;
    let y_base = z * p.vdim * p.N + n;
    for (var m0 = 0u; m0 < p.L; m0 += MC) {
        let mc = min(MC, p.L - m0);
        var qe: array<f32, MC>;
        for (var mm = 0u; mm < MC; mm++) { qe[mm] = 0.0; }
        for (var k = 0u; k < p.kdim; k++) {
            let qv = f32(q[q_base + k * p.N]);
            for (var mm = 0u; mm < mc; mm++) { qe[mm] += qv * f32(e[((m0 + mm) * p.kdim + k) * p.N + n]); }
        }
        for (var vc = 0u; vc < p.vdim; vc++) {
            var acc = 0.0;
            if (m0 > 0u) { acc = f32(y[y_base + vc * p.N]); }
            let v_base = (b * p.vdim + vc) * p.L + m0;
            for (var mm = 0u; mm < mc; mm++) { acc += qe[mm] * f32(v[v_base + mm]); }
            y[y_base + vc * p.N] = T(acc);
        }
    }
}
