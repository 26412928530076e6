// transpose12.wgsl: (B, M, N) -> (B, N, M): y[b, n, m] = x[b, m, n].
// Workgroup: 16x16 threads move a 16x16 tile through workgroup memory (padded to 16x17 against
//   bank conflicts) so both the read and the write are coalesced.
// Grid: (ceil(N/16), ceil(M/16), B); each dimension <= maxComputeWorkgroupsPerDimension.

alias T = f32;

struct Params { M: u32, N: u32 }

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> tile: array<f32, 272>;  // [16][17]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let base = wid.z * p.M * p.N;
    let m_in = wid.y * 16u + lid.y;
    let n_in = wid.x * 16u + lid.x;
    if (m_in < p.M && n_in < p.N) {
        tile[lid.y * 17u + lid.x] = f32(x[base + m_in * p.N + n_in]);
    }
    workgroupBarrier();
    let n_out = wid.x * 16u + lid.y;
    let m_out = wid.y * 16u + lid.x;
    if (n_out < p.N && m_out < p.M) {
        y[base + n_out * p.M + m_out] = T(tile[lid.x * 17u + lid.y]);
    }
}
