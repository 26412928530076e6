// residual.wgsl (included by the GEMM and conv kernels after their bindings; not a kernel): the
// optional residual that an op adds to its output after the activation (a skip connection, in the
// producing kernel's own pass), and the value each kernel stores. Binding 5; ACT and T come from the
// kernel.

override HAS_RES: bool = false;  // output += res (the output's layout); bind any buffer when false
@group(0) @binding(5) var<storage, read> res: array<T>;

// The value stored for output element i: act(v), plus res[i] where HAS_RES (a residual added after
// the activation, in f32, rounded once).
fn out_value(v: f32, i: u32) -> T {
    var o = apply_act(v, ACT);
    if (HAS_RES) { o += f32(res[i]); }
    return T(o);
}
