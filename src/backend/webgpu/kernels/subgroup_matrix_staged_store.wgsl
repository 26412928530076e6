// subgroup_matrix_staged_store.wgsl (included by conv2d_subgroup_matrix_staged.wgsl and
// gemm_subgroup_matrix_staged.wgsl; not a kernel): how their invocations put the words they load
// from storage into the workgroup tiles. The kernel defines T and TILE (the halves of each tile).

// 8 halves of a 16-byte word into a tile at o (a multiple of 8).
fn store8(tile: ptr<workgroup, array<T, TILE>>, o: u32, v: vec4<u32>) {
    let a = bitcast<vec2<T>>(v.x);
    let b = bitcast<vec2<T>>(v.y);
    let c = bitcast<vec2<T>>(v.z);
    let d = bitcast<vec2<T>>(v.w);
    (*tile)[o] = a.x; (*tile)[o + 1u] = a.y; (*tile)[o + 2u] = b.x; (*tile)[o + 3u] = b.y;
    (*tile)[o + 4u] = c.x; (*tile)[o + 5u] = c.y; (*tile)[o + 6u] = d.x; (*tile)[o + 7u] = d.y;
}
