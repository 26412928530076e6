// reference.mjs: plain double-precision loops for every backend.h op, mirroring PyTorch semantics
// (NCHW contiguous). Inputs are float32 arrays; each function returns
//   {out: Float64Array, mag: Float64Array, terms: number}
// where mag[i] is the sum of |terms| that went into out[i] (before a fused activation) and terms the
// length of the longest accumulation. The test turns these into the classic forward error bound of
// float32 summation, |err| <= (terms + slack) * 2^-24 * mag, so each tolerance follows from the
// shape rather than being tuned; exact ops (copies, gathers) get mag = 0, i.e. bit-exact comparison.

/** @param {number} x */
export const silu = (x) => x / (1 + Math.exp(-x));

/** @param {number} x @param {number} act 0 none, 1 silu, 2 relu (C++ Act ordinals) */
export function applyAct(x, act) {
    if (act === 1) return silu(x);
    if (act === 2) return Math.max(x, 0);
    return x;
}

/** @param {number} n */
const zeros = (n) => new Float64Array(n);

/**
 * conv2d with zero padding [top, left, bottom, right], stride, groups, bias, act (PyTorch Conv2d).
 * @param {Float32Array} x @param {Float32Array} w @param {Float32Array | null} b
 */
export function conv2d(x, w, b, {B, Cin, H, W, Cout, kh, kw, stride = 1, pad = [0, 0, 0, 0], groups = 1, act = 0}) {
    const [pt, pl, pb, pr] = pad;
    const Ho = Math.floor((H + pt + pb - kh) / stride) + 1;
    const Wo = Math.floor((W + pl + pr - kw) / stride) + 1;
    const cinG = Cin / groups, coutG = Cout / groups;
    const out = zeros(B * Cout * Ho * Wo), mag = zeros(out.length);
    for (let bi = 0; bi < B; bi++) for (let co = 0; co < Cout; co++) {
        const grp = Math.floor(co / coutG);
        for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) {
            let s = b ? b[co] : 0, m = b ? Math.abs(b[co]) : 0;
            for (let ci = 0; ci < cinG; ci++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
                const iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const t = w[((co * cinG + ci) * kh + ky) * kw + kx] * x[((bi * Cin + grp * cinG + ci) * H + iy) * W + ix];
                s += t; m += Math.abs(t);
            }
            const i = ((bi * Cout + co) * Ho + oy) * Wo + ox;
            out[i] = applyAct(s, act); mag[i] = m;
        }
    }
    return {out, mag, terms: cinG * kh * kw + 1, Ho, Wo};
}

/**
 * y = act(x w^T + b): x (rows, K), w (N, K).
 * @param {Float32Array} x @param {Float32Array} w @param {Float32Array | null} b
 */
export function linear(x, w, b, {rows, K, N, act = 0}) {
    const out = zeros(rows * N), mag = zeros(rows * N);
    for (let r = 0; r < rows; r++) for (let n = 0; n < N; n++) {
        let s = b ? b[n] : 0, m = b ? Math.abs(b[n]) : 0;
        for (let k = 0; k < K; k++) { const t = x[r * K + k] * w[n * K + k]; s += t; m += Math.abs(t); }
        out[r * N + n] = applyAct(s, act); mag[r * N + n] = m;
    }
    return {out, mag, terms: K + 1};
}

/**
 * Batched alpha * op(a) op(b), batch-1 broadcast (torch.bmm after expand).
 * @param {Float32Array} a @param {Float32Array} b
 */
export function matmul(a, b, {Ba, Bb, M, K, N, ta = false, tb = false, alpha = 1}) {
    const batch = Math.max(Ba, Bb);
    const out = zeros(batch * M * N), mag = zeros(out.length);
    for (let z = 0; z < batch; z++) {
        const ao = Ba === 1 ? 0 : Math.floor(z / (batch / Ba)) * M * K, bo = Bb === 1 ? 0 : z * K * N;
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
            let s = 0, g = 0;
            for (let k = 0; k < K; k++) {
                const av = a[ao + (ta ? k * M + m : m * K + k)], bv = b[bo + (tb ? n * K + k : k * N + n)];
                s += av * bv; g += Math.abs(av * bv);
            }
            out[(z * M + m) * N + n] = alpha * s; mag[(z * M + m) * N + n] = Math.abs(alpha) * g;
        }
    }
    return {out, mag, terms: K + 1};
}

/**
 * GroupNorm (biased variance, eps inside the sqrt), affine, act.
 * @param {Float32Array} x @param {Float32Array} gamma @param {Float32Array} beta
 */
export function groupNorm(x, gamma, beta, {B, C, S, groups: G, eps, act = 0}) {
    const Cg = C / G, n = Cg * S;
    const out = zeros(x.length), mag = zeros(x.length);
    for (let bi = 0; bi < B; bi++) for (let g = 0; g < G; g++) {
        const base = (bi * C + g * Cg) * S;
        let s = 0, sa = 0;
        for (let i = 0; i < n; i++) { s += x[base + i]; sa += Math.abs(x[base + i]); }
        const mean = s / n;
        let q = 0;
        for (let i = 0; i < n; i++) q += (x[base + i] - mean) ** 2;
        const rstd = 1 / Math.sqrt(q / n + eps);
        for (let i = 0; i < n; i++) {
            const c = g * Cg + Math.floor(i / S);
            const v = (x[base + i] - mean) * rstd * gamma[c] + beta[c];
            out[base + i] = applyAct(v, act);
            mag[base + i] = (Math.abs(x[base + i] - mean) + sa / n) * rstd * Math.abs(gamma[c]) + Math.abs(beta[c]);
        }
    }
    return {out, mag, terms: n + 8};
}

/**
 * LayerNorm over C of NCHW x (B, C, S).
 * @param {Float32Array} x @param {Float32Array} gamma @param {Float32Array} beta
 */
export function layerNormChannels(x, gamma, beta, {B, C, S, eps}) {
    const out = zeros(x.length), mag = zeros(x.length);
    for (let bi = 0; bi < B; bi++) for (let s = 0; s < S; s++) {
        const at = (/** @type {number} */ c) => (bi * C + c) * S + s;
        let sum = 0, sa = 0;
        for (let c = 0; c < C; c++) { sum += x[at(c)]; sa += Math.abs(x[at(c)]); }
        const mean = sum / C;
        let q = 0;
        for (let c = 0; c < C; c++) q += (x[at(c)] - mean) ** 2;
        const rstd = 1 / Math.sqrt(q / C + eps);
        for (let c = 0; c < C; c++) {
            out[at(c)] = (x[at(c)] - mean) * rstd * gamma[c] + beta[c];
            mag[at(c)] = (Math.abs(x[at(c)] - mean) + sa / C) * rstd * Math.abs(gamma[c]) + Math.abs(beta[c]);
        }
    }
    return {out, mag, terms: C + 8};
}

/**
 * Softmax over the last dim. exp(d) on the GPU is good to 3 + 2|d| ulp (WGSL), hence the extra
 * terms for the widest range in a row.
 * @param {Float32Array} x
 */
export function softmax(x, {rows, L}) {
    const out = zeros(x.length), mag = zeros(x.length);
    let range = 0;
    for (let r = 0; r < rows; r++) {
        let m = -Infinity;
        for (let i = 0; i < L; i++) m = Math.max(m, x[r * L + i]);
        let s = 0;
        for (let i = 0; i < L; i++) { s += Math.exp(x[r * L + i] - m); range = Math.max(range, m - x[r * L + i]); }
        for (let i = 0; i < L; i++) { out[r * L + i] = Math.exp(x[r * L + i] - m) / s; mag[r * L + i] = out[r * L + i]; }
    }
    return {out, mag, terms: L + 2 * Math.ceil(range) + 8};
}

/** @param {Float32Array} x @param {number} act */
export function act(x, act) {
    const out = Float64Array.from(x, (v) => applyAct(v, act));
    return {out, mag: Float64Array.from(x, (v) => Math.abs(v)), terms: 1};
}

/** a + b with b of a's shape, (B,C,1,1) or (1,C,1,1). @param {Float32Array} a @param {Float32Array} b */
export function add(a, b, {B, C, S}) {
    const out = zeros(a.length), mag = zeros(a.length);
    for (let i = 0; i < a.length; i++) {
        const j = b.length === a.length ? i : b.length === B * C ? Math.floor(i / S) : Math.floor(i / S) % C;
        out[i] = a[i] + b[j]; mag[i] = Math.abs(a[i]) + Math.abs(b[j]);
    }
    return {out, mag, terms: 1};
}

/** @param {number} alpha @param {Float32Array} a @param {number} beta @param {Float32Array} b */
export function axpby(alpha, a, beta, b) {
    const out = Float64Array.from(a, (v, i) => alpha * v + beta * b[i]);
    const mag = Float64Array.from(a, (v, i) => Math.abs(alpha * v) + Math.abs(beta * b[i]));
    return {out, mag, terms: 3};
}

/** x (B, 2C, S) -> x[:, :C] * silu(x[:, C:]). @param {Float32Array} x */
export function gluSilu(x, {B, C, S}) {
    const out = zeros(B * C * S), mag = zeros(out.length);
    for (let bi = 0; bi < B; bi++) for (let i = 0; i < C * S; i++) {
        const u = x[bi * 2 * C * S + i], gte = x[bi * 2 * C * S + C * S + i];
        out[bi * C * S + i] = u * silu(gte); mag[bi * C * S + i] = Math.abs(out[bi * C * S + i]);
    }
    return {out, mag, terms: 1};
}

/** [uncond; cond] -> uncond + g (cond - uncond). @param {Float32Array} x @param {number} g */
export function cfgCombine(x, g) {
    const n = x.length / 2;
    const out = zeros(n), mag = zeros(n);
    for (let i = 0; i < n; i++) {
        out[i] = x[i] + g * (x[n + i] - x[i]);
        mag[i] = Math.abs(x[i]) + Math.abs(g) * (Math.abs(x[n + i]) + Math.abs(x[i]));
    }
    return {out, mag, terms: 3};
}

/** torch.cat([a, b], 1). @param {Float32Array} a @param {Float32Array} b */
export function concatChannels(a, b, {B, Ca, Cb, S}) {
    const out = zeros(B * (Ca + Cb) * S);
    for (let bi = 0; bi < B; bi++) {
        for (let i = 0; i < Ca * S; i++) out[bi * (Ca + Cb) * S + i] = a[bi * Ca * S + i];
        for (let i = 0; i < Cb * S; i++) out[bi * (Ca + Cb) * S + Ca * S + i] = b[bi * Cb * S + i];
    }
    return {out, mag: zeros(out.length), terms: 0};
}

/** (B, M, N) -> (B, N, M). @param {Float32Array} x */
export function transpose12(x, {B, M, N}) {
    const out = zeros(x.length);
    for (let b = 0; b < B; b++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        out[(b * N + n) * M + m] = x[(b * M + m) * N + n];
    }
    return {out, mag: zeros(out.length), terms: 0};
}

/** @param {Float32Array} x */
export function upsampleNearest2x(x, {BC, H, W}) {
    const out = zeros(BC * 4 * H * W);
    for (let c = 0; c < BC; c++) for (let y = 0; y < 2 * H; y++) for (let xx = 0; xx < 2 * W; xx++) {
        out[(c * 2 * H + y) * 2 * W + xx] = x[(c * H + (y >> 1)) * W + (xx >> 1)];
    }
    return {out, mag: zeros(out.length), terms: 0};
}

/**
 * F.interpolate(mode="nearest"), ATen's float rule: src = min(floor(dst * (float)(in/out)), in-1),
 * with the out == in and out == 2*in shortcuts of nearest_idx (which agree with the formula).
 * @param {Float32Array} x
 */
export function resizeNearest(x, {BC, H, W, OH, OW}) {
    const idx = (/** @type {number} */ d, /** @type {number} */ inp, /** @type {number} */ out) => {
        if (out === inp) return d;
        if (out === 2 * inp) return d >> 1;
        const scale = Math.fround(inp / out);
        return Math.min(Math.floor(Math.fround(d * scale)), inp - 1);
    };
    const out = zeros(BC * OH * OW);
    for (let c = 0; c < BC; c++) for (let y = 0; y < OH; y++) for (let xx = 0; xx < OW; xx++) {
        out[(c * OH + y) * OW + xx] = x[(c * H + idx(y, H, OH)) * W + idx(xx, W, OW)];
    }
    return {out, mag: zeros(out.length), terms: 0};
}

/**
 * Local positional lambda in upstream's order: lambda_p = Conv3d(1, k, (1,r,r), pad r/2)(V) with
 * weight w (k, r*r) and bias (k), then Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,k,v,n].
 * @param {Float32Array} q @param {Float32Array} v @param {Float32Array} w @param {Float32Array} bias
 */
export function lambdaLocalPosition(q, v, w, bias, {B, heads, kdim, vdim, H, W, r}) {
    const N = H * W, half = (r - 1) / 2;
    const out = zeros(B * heads * vdim * N), mag = zeros(out.length);
    const lp = zeros(kdim), lpm = zeros(kdim);
    for (let b = 0; b < B; b++) for (let vc = 0; vc < vdim; vc++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const n = y * W + x;
        for (let k = 0; k < kdim; k++) {  // lambda_p[b, k, vc, n]
            let s = bias[k], m = Math.abs(bias[k]);
            for (let dy = 0; dy < r; dy++) for (let dx = 0; dx < r; dx++) {
                const yy = y + dy - half, xx = x + dx - half;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                const t = w[k * r * r + dy * r + dx] * v[(b * vdim + vc) * N + yy * W + xx];
                s += t; m += Math.abs(t);
            }
            lp[k] = s; lpm[k] = m;
        }
        for (let h = 0; h < heads; h++) {
            let s = 0, m = 0;
            for (let k = 0; k < kdim; k++) {
                const qv = q[((b * heads + h) * kdim + k) * N + n];
                s += qv * lp[k]; m += Math.abs(qv) * lpm[k];
            }
            out[((b * heads + h) * vdim + vc) * N + n] = s; mag[((b * heads + h) * vdim + vc) * N + n] = m;
        }
    }
    return {out, mag, terms: kdim + r * r + 2};
}

/**
 * Global positional lambda in upstream's order: lambda_p[b,n,k,v] = sum_m e[n,m,k] V[b,v,m], then
 * Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,n,k,v]; e stored (L, k, N) as the kernel takes it.
 * @param {Float32Array} q @param {Float32Array} v @param {Float32Array} e
 */
export function lambdaGlobalPosition(q, v, e, {B, heads, kdim, vdim, N, L}) {
    const out = zeros(B * heads * vdim * N), mag = zeros(out.length);
    for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let vc = 0; vc < vdim; vc++) {
        const lp = zeros(kdim), lpm = zeros(kdim);
        for (let k = 0; k < kdim; k++) for (let m = 0; m < L; m++) {
            const t = e[(m * kdim + k) * N + n] * v[(b * vdim + vc) * L + m];
            lp[k] += t; lpm[k] += Math.abs(t);
        }
        for (let h = 0; h < heads; h++) {
            let s = 0, g = 0;
            for (let k = 0; k < kdim; k++) {
                const qv = q[((b * heads + h) * kdim + k) * N + n];
                s += qv * lp[k]; g += Math.abs(qv) * lpm[k];
            }
            out[((b * heads + h) * vdim + vc) * N + n] = s; mag[((b * heads + h) * vdim + vc) * N + n] = g;
        }
    }
    return {out, mag, terms: kdim + L + 2};
}
