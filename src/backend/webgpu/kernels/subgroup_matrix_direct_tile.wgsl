// subgroup_matrix_direct_tile.wgsl (included by gemm_subgroup_matrix_direct.wgsl and
// conv2d_subgroup_matrix_direct.wgsl; not a kernel): the direct-load kernels' 16 x 16 x 16 f16 -> f32
// matrix types, their workgroup of 2 x 2 subgroups, and each subgroup's slot of workgroup memory for
// the epilogue. The kernel files set their tile (TM, TN) and the blocks of result matrices.

const SM: u32 = 16u;
const SN: u32 = 16u;
const SK: u32 = 16u;
const SGN: u32 = 2u;       // subgroups across the tile; 2 down
const NSG: u32 = 4u;
const WG: u32 = 128u;

alias Left = subgroup_matrix_left<T, SK, SM>;
alias Right = subgroup_matrix_right<T, SN, SK>;
alias Acc = subgroup_matrix_result<f32, SN, SM>;

var<workgroup> Cs: array<f32, NSG * SM * SN>;
