// subgroup_matrix_staged_tile.wgsl (included by conv2d_subgroup_matrix_staged.wgsl and
// gemm_subgroup_matrix_staged.wgsl; not a kernel): their 16 x 16 x 16 f16 -> f32 matrix types, and how
// their invocations put the words they load from storage into the workgroup tiles. The kernel defines
// T and TILE (the halves of each tile).

const SM: u32 = 16u;
const SN: u32 = 16u;
const SK: u32 = 16u;

alias Left = subgroup_matrix_left<T, SK, SM>;
alias Right = subgroup_matrix_right<T, SN, SK>;
alias Acc = subgroup_matrix_result<f32, SN, SM>;

// 8 halves of a 16-byte word into a tile at o (a multiple of 8).
fn store8(tile: ptr<workgroup, array<T, TILE>>, o: u32, v: vec4<u32>) {
    let a = bitcast<vec2<T>>(v.x);
    let b = bitcast<vec2<T>>(v.y);
    let c = bitcast<vec2<T>>(v.z);
    let d = bitcast<vec2<T>>(v.w);
    (*tile)[o] = a.x; (*tile)[o + 1u] = a.y; (*tile)[o + 2u] = b.x; (*tile)[o + 3u] = b.y;
    (*tile)[o + 4u] = c.x; (*tile)[o + 5u] = c.y; (*tile)[o + 6u] = d.x; (*tile)[o + 7u] = d.y;
}
