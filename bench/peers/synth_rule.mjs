// synth_rule.mjs: the fixtures' synthetic weight rule (../shared/fixtures/README.md, "Synthetic weight
// rule") in JavaScript, for tensors of upstream's state dicts by name and shape:
//   h = fnv1a64(name); z = h + seed*0xD1B54A32D192ED03 + (i+1)*0x9E3779B97F4A7C15 (mod 2^64);
//   splitmix64 finaliser; u = (z >> 40) * 2^-24 * 2 - 1; value by the name/ndim rule, rounded once to float32.
// 64-bit arithmetic on pairs of uint32 (BigInt per element would take minutes for the full model).

/** fnv1a64 of a string's UTF-8 bytes as [hi, lo] uint32. */
export function fnv1a64(s) {
    let hi = 0xcbf29ce4, lo = 0x84222325;
    for (const b of Buffer.from(s, 'utf8')) {
        lo = (lo ^ b) >>> 0;
        [hi, lo] = mul64(hi, lo, 0x00000100, 0x000001b3);
    }
    return [hi, lo];
}

/** High 32 bits of the 64-bit product of two uint32. */
function mulhi32(a, b) {
    const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
    const t0 = a0 * b0;
    const t1 = a1 * b0 + Math.floor(t0 / 65536);
    const t2 = a0 * b1 + (t1 % 65536);
    return (a1 * b1 + Math.floor(t1 / 65536) + Math.floor(t2 / 65536)) >>> 0;
}

/** (ahi:alo) * (bhi:blo) mod 2^64 -> [hi, lo]. */
function mul64(ahi, alo, bhi, blo) {
    const lo = Math.imul(alo, blo) >>> 0;
    const hi = (mulhi32(alo, blo) + Math.imul(ahi, blo) + Math.imul(alo, bhi)) >>> 0;
    return [hi, lo];
}

function add64(ahi, alo, bhi, blo) {
    const lo = (alo + blo) >>> 0;
    return [(ahi + bhi + (lo < alo ? 1 : 0)) >>> 0, lo];
}

const GAMMA = [0x9e3779b9, 0x7f4a7c15], SEEDK = [0xd1b54a32, 0xd192ed03];
const M1 = [0xbf58476d, 0x1ce4e5b9], M2 = [0x94d049bb, 0x133111eb];

/** The rule's u in [-1, 1) for elements 0..n-1 of tensor `name` (Float64Array, exact). */
export function uniforms(name, seed, n) {
    const [hh, hl] = fnv1a64(name);
    const [sh, sl] = mul64(0, seed >>> 0, SEEDK[0], SEEDK[1]);
    let [zh, zl] = add64(hh, hl, sh, sl);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
        [zh, zl] = add64(zh, zl, GAMMA[0], GAMMA[1]);  // + (i+1)*gamma, incrementally
        let h = zh, l = zl;
        // z ^= z >> 30
        l = (l ^ ((l >>> 30) | (h << 2))) >>> 0; h = (h ^ (h >>> 30)) >>> 0;
        [h, l] = mul64(h, l, M1[0], M1[1]);
        // z ^= z >> 27
        l = (l ^ ((l >>> 27) | (h << 5))) >>> 0; h = (h ^ (h >>> 27)) >>> 0;
        [h, l] = mul64(h, l, M2[0], M2[1]);
        // z ^= z >> 31
        h = (h ^ (h >>> 31)) >>> 0;
        out[i] = (h >>> 8) * 2 ** -24 * 2 - 1;  // z >> 40 = top 24 bits of the high word
    }
    return out;
}

/**
 * One tensor of the rule: float32 values (or null for integer tensors, which are 0).
 * @param {string} name state-dict key (upstream's names) @param {number[]} shape @param {number} seed (UNet 1, VAE 2)
 * @param {string} [dtype] the table's dtype @param {number} [count] compute only the first `count` values
 */
export function synthTensor(name, shape, seed, dtype = 'float32', count = undefined) {
    const n = count ?? shape.reduce((a, b) => a * b, 1);  // count: only the first values
    if (!dtype.startsWith('float')) return null;
    const u = uniforms(name, seed, n);
    const out = new Float32Array(n);
    if (name.endsWith('running_var')) for (let i = 0; i < n; i++) out[i] = 1 + 0.25 * (u[i] + 1);
    else if (name.endsWith('running_mean')) for (let i = 0; i < n; i++) out[i] = 0.1 * u[i];
    else if (shape.length >= 2) {
        const fan = shape.slice(1).reduce((a, b) => a * b, 1), k = Math.sqrt(3 / fan);
        for (let i = 0; i < n; i++) out[i] = u[i] * k;
    } else if (shape.length === 1 && name.endsWith('.weight')) for (let i = 0; i < n; i++) out[i] = 1 + 0.1 * u[i];
    else for (let i = 0; i < n; i++) out[i] = 0.02 * u[i];
    return out;
}
