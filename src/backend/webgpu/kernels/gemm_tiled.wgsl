// gemm_tiled.wgsl: batched C[z] = act(alpha * op(A[z]) * op(B[z]) + bias) (+ res[z]: HAS_RES).
// Used by backend ops matmul (with transposes, alpha, batch broadcast), linear (y = x*w^T + b) and
// 1x1 stride-1 unpadded conv2d (y[b] = W * x[b] + b, W broadcast over the batch).
//
// Layout (all strides in elements, set by ops.js, so A / A^T and B / B^T need no separate kernel):
//   A(m, k) = a[(z/A_DIV)*a_sz + m*a_sm + k*a_sk]   a_sz = 0 broadcasts A over the batch, A_DIV > 1 in groups
//   B(k, n) = b[z*b_sz + k*b_sk + n*b_sn]     b_sz = 0 broadcasts B
//   C(m, n) = c[z*M*N + m*N + n]              row-major, batches contiguous
// Bias (override BIAS): 0 none (bind any buffer), 1 per row bias[m] (conv: output channel),
//   2 per column bias[n] (linear). Activation (override ACT): see common.wgsl.
// Workgroup: 16x16 threads compute a TM x TN tile of C, each thread RM x RN outputs at rows
//   ly + 16i, cols lx + 16j (conflict-free workgroup reads, coalesced writes). K advances in steps
//   of TK through two TK x TM / TK x TN f32 tiles in workgroup memory (8 KiB). Out-of-range
//   rows/cols/k are loaded as 0, so M, N, K need not be multiples of the tile.
// Grid: (ceil(N/TN), ceil(M/TM), batch) (ops.js reads TM, TN from here); each dimension must be
//   <= maxComputeWorkgroupsPerDimension.
// Accumulation is f32 in both the f32 and the f16-storage variant.

// include: gemm_interface
alias AB = T;
// include: residual

// Tile configuration; ops.js overrides these lines for small problems (64 x 64 x 16, 4 x 4).
const TM: u32 = 128u;
const TN: u32 = 128u;
const TK: u32 = 8u;
const RM: u32 = 8u;     // TM / 16
const RN: u32 = 8u;     // TN / 16
const LOADS: u32 = 4u;  // TM * TK / 256 = TN * TK / 256

var<workgroup> As: array<f32, TK * TM>;  // 4 KiB
var<workgroup> Bs: array<f32, TK * TN>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let z = wid.z;
    let a_base = (z / A_DIV) * p.a_sz;
    let b_base = z * p.b_sz;

    var acc: array<array<f32, RN>, RM>;
    for (var k0 = 0u; k0 < p.K; k0 += TK) {
        // Each of the 256 threads loads LOADS elements of each tile; consecutive threads walk the
        // unit-stride dimension of the source so global reads coalesce.
        for (var j = 0u; j < LOADS; j++) {
            let e = li + 256u * j;
            var mm: u32;
            var ka: u32;
            if (p.a_sk == 1u) { mm = e / TK; ka = e % TK; } else { ka = e / TM; mm = e % TM; }
            var va = 0.0;
            if (m0 + mm < p.M && k0 + ka < p.K) {
                va = f32(a[a_base + (m0 + mm) * p.a_sm + (k0 + ka) * p.a_sk]);
            }
            As[ka * TM + mm] = va;

            var nn: u32;
            var kb: u32;
            if (p.b_sn == 1u) { kb = e / TN; nn = e % TN; } else { nn = e / TK; kb = e % TK; }
            var vb = 0.0;
            if (n0 + nn < p.N && k0 + kb < p.K) {
                vb = f32(b[b_base + (k0 + kb) * p.b_sk + (n0 + nn) * p.b_sn]);
            }
            Bs[kb * TN + nn] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var af: array<f32, RM>;
            var bf: array<f32, RN>;
            for (var i = 0u; i < RM; i++) { af[i] = As[kk * TM + lid.y + 16u * i]; }
            for (var j = 0u; j < RN; j++) { bf[j] = Bs[kk * TN + lid.x + 16u * j]; }
            for (var i = 0u; i < RM; i++) {
                for (var j = 0u; j < RN; j++) { acc[i][j] += af[i] * bf[j]; }
            }
        }
        workgroupBarrier();
    }

    let c_base = z * p.M * p.N;
    for (var i = 0u; i < RM; i++) {
        let m = m0 + lid.y + 16u * i;
        if (m >= p.M) { continue; }
        for (var j = 0u; j < RN; j++) {
            let n = n0 + lid.x + 16u * j;
            if (n >= p.N) { continue; }
            var v = p.alpha * acc[i][j];
            if (BIAS == 1u) { v += f32(bias[m]); }
            if (BIAS == 2u) { v += f32(bias[n]); }
            let i = c_base + m * p.N + n;
            c[i] = out_value(v, i);
        }
    }
}
