// subgroup_matrix_tile.wgsl (included by gemm_subgroup_matrix.wgsl and conv2d_subgroup_matrix.wgsl;
// not a kernel): their subgroup-matrix shape, tiling constants and workgroup memory.

// Subgroup matrix shape (M x K left, K x N right); ops.js defines them from the adapter's config.
const SM: u32 = 16u;
const SN: u32 = 16u;
const SK: u32 = 16u;

// Tile: TM x TN of C per workgroup of WG invocations = NSG subgroups of 32 in an SGM x SGN grid,
// each owning a (TM/SGM) x (TN/SGN) block = QM x QN result matrices. The file's default is the large
// tile (128 x 128, 8 subgroups of 32 x 64); ops.js defines the small one (64 x 64, 4 of 32 x 32).
const TM: u32 = 128u;
const TN: u32 = 128u;
const TK: u32 = 32u;
const WG: u32 = 256u;
const NSG: u32 = 8u;       // WG / 32
const SGN: u32 = 2u;       // subgroups across; SGM = NSG / SGN down
const QM: u32 = 2u;        // TM / SGM / SM
const QN: u32 = 4u;        // TN / SGN / SN

// Row strides of the tiles in workgroup memory: TK and TN, or more so that the rows a matrix load
// reads together fall in different memory banks (ops.js sets them).
const AST: u32 = 32u;
const BST: u32 = 128u;

var<workgroup> As: array<f16, TM * AST>;       // row-major TM x TK, row stride AST
var<workgroup> Bs: array<f16, TK * BST>;       // row-major TK x TN, row stride BST
var<workgroup> Cs: array<f32, NSG * SM * SN>;  // one result matrix per subgroup, for the epilogue
