// conv_row.wgsl (included by conv_depthwise.wgsl and conv2d_few_outputs.wgsl; not a kernel): an input
// value of their 3x3 entries' row windows. Needs the kernel's `x` (one plane per (b, c), row-major) and
// p.W.

// x[row, ix] of one input plane, 0 outside [0, W).
fn x_at(row: u32, ix: i32) -> f32 {
    if (ix < 0 || ix >= i32(p.W)) { return 0.0; }
    return f32(x[row + u32(ix)]);
}
