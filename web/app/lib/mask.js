// mask.js: DOM-free mask operations for the editor. A mask is a Uint8Array of width*height values
// (row-major), 255 = inpaint here, 0 = keep; the engine reads >= 128 as "inpaint" (wasm_api.cpp).
//
//   binarize(m)                      0/255 at the engine's threshold
//   dilate(m, w, h, r)               grow by r pixels (Euclidean disk, exact distance transform)
//   feather(m, w, h, r)              soft edge: 3 box blurs ~ a Gaussian of sigma r/2
//   blendInto(base, over, alpha)     base*(1-a) + over*a on RGBA pixels
//   encodeRle / decodeRle            compact snapshots for undo history
//   fromRgba / toRgba                luminance*alpha <-> opaque gray RGBA (mask PNG files)
//   bounds / coverage                bounding box and count of inpaint pixels

/** The engine's threshold: a mask value >= 128 is "inpaint" (mw_job_new). */
export const THRESHOLD = 128;

/** @param {Uint8Array} m @returns {Uint8Array} 0/255 copy */
export function binarize(m) {
    const out = new Uint8Array(m.length);
    for (let i = 0; i < m.length; i++) out[i] = m[i] >= THRESHOLD ? 255 : 0;
    return out;
}

/** Number of inpaint pixels (>= threshold). @param {Uint8Array} m */
export function coverage(m) {
    let n = 0;
    for (let i = 0; i < m.length; i++) if (m[i] >= THRESHOLD) n++;
    return n;
}

/**
 * Bounding box of the inpaint pixels, or null when there are none.
 * @param {Uint8Array} m @param {number} w @param {number} h
 * @returns {{x: number, y: number, width: number, height: number} | null}
 */
export function bounds(m, w, h) {
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let y = 0; y < h; y++) {
        const row = y * w;
        for (let x = 0; x < w; x++) {
            if (m[row + x] >= THRESHOLD) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                y1 = y;
            }
        }
    }
    return x1 < 0 ? null : {x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1};
}

// One line of the squared Euclidean distance transform (Felzenszwalb & Huttenlocher 2012):
// d[q] = min_p (q - p)^2 + f[p], over n values of f read at stride `fs` from `fo`, written to d.
const INF = 1e20;
/**
 * @param {Float64Array} f @param {number} n @param {Float64Array} d
 * @param {Int32Array} v @param {Float64Array} z
 */
function edt1d(f, n, d, v, z) {
    let k = 0;
    v[0] = 0;
    z[0] = -INF;
    z[1] = INF;
    for (let q = 1; q < n; q++) {
        let s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
        while (s <= z[k]) {
            k--;
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INF;
    }
    k = 0;
    for (let q = 0; q < n; q++) {
        while (z[k + 1] < q) k++;
        const dq = q - v[k];
        d[q] = dq * dq + f[v[k]];
    }
}

/**
 * Squared Euclidean distance of every pixel to the nearest inpaint pixel (0 on them; a huge value
 * when the mask is empty).
 * @param {Uint8Array} m @param {number} w @param {number} h @returns {Float64Array}
 */
export function distanceSquared(m, w, h) {
    const n = Math.max(w, h);
    const f = new Float64Array(n), d = new Float64Array(n), z = new Float64Array(n + 1);
    const v = new Int32Array(n);
    const g = new Float64Array(w * h);
    for (let i = 0; i < w * h; i++) g[i] = m[i] >= THRESHOLD ? 0 : INF;
    for (let x = 0; x < w; x++) {  // columns
        for (let y = 0; y < h; y++) f[y] = g[y * w + x];
        edt1d(f, h, d, v, z);
        for (let y = 0; y < h; y++) g[y * w + x] = d[y];
    }
    for (let y = 0; y < h; y++) {  // rows
        const row = y * w;
        for (let x = 0; x < w; x++) f[x] = g[row + x];
        edt1d(f, w, d, v, z);
        for (let x = 0; x < w; x++) g[row + x] = d[x];
    }
    return g;
}

/**
 * Grows the mask by r pixels: every pixel within Euclidean distance r of an inpaint pixel becomes
 * 255, the rest 0 (the result is binary). r <= 0 returns the binarized mask.
 * @param {Uint8Array} m @param {number} w @param {number} h @param {number} r
 */
export function dilate(m, w, h, r) {
    checkSize(m, w, h);
    if (!(r > 0)) return binarize(m);
    const d2 = distanceSquared(m, w, h);
    const r2 = r * r, out = new Uint8Array(w * h);
    for (let i = 0; i < out.length; i++) out[i] = d2[i] <= r2 ? 255 : 0;
    return out;
}

/** Radii of three box blurs whose sum approximates a Gaussian of sigma s (W. Jarosz). @param {number} s */
export function boxRadii(s) {
    const n = 3;
    const wIdeal = Math.sqrt((12 * s * s) / n + 1);
    let wl = Math.floor(wIdeal);
    if (wl % 2 === 0) wl--;
    const wu = wl + 2;
    const mIdeal = (12 * s * s - n * wl * wl - 4 * n * wl - 3 * n) / (-4 * wl - 4);
    const mCount = Math.round(mIdeal);
    return Array.from({length: n}, (_, i) => ((i < mCount ? wl : wu) - 1) / 2);
}

/**
 * One horizontal box blur pass of radius r over rows (edges clamped), src -> dst (Float32).
 * @param {Float32Array} src @param {Float32Array} dst @param {number} w @param {number} h @param {number} r
 */
function boxH(src, dst, w, h, r) {
    const inv = 1 / (2 * r + 1);
    for (let y = 0; y < h; y++) {
        const o = y * w;
        let acc = r * src[o];  // the clamped left part of the first window: src[-r..-1] = src[0]
        for (let x = 0; x < r; x++) acc += src[o + Math.min(x, w - 1)];
        for (let x = 0; x < w; x++) {
            acc += src[o + Math.min(x + r, w - 1)];
            dst[o + x] = acc * inv;
            acc -= src[o + Math.max(x - r, 0)];
        }
    }
}

/** Transposes a w x h Float32 image into dst (h x w). */
function transpose(/** @type {Float32Array} */ src, /** @type {Float32Array} */ dst, /** @type {number} */ w, /** @type {number} */ h) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) dst[x * h + y] = src[y * w + x];
}

/**
 * Softens the mask edge over about r pixels: three box blurs approximating a Gaussian of sigma r/2
 * (so the ramp from 0 to 255 spans ~2r pixels centred on the edge). r <= 0 returns a copy.
 * @param {Uint8Array} m @param {number} w @param {number} h @param {number} r
 */
export function feather(m, w, h, r) {
    checkSize(m, w, h);
    if (!(r > 0)) return m.slice();
    let a = new Float32Array(w * h), b = new Float32Array(w * h);
    for (let i = 0; i < a.length; i++) a[i] = m[i];
    const radii = boxRadii(r / 2);
    for (const k of radii) { boxH(a, b, w, h, k); [a, b] = [b, a]; }
    transpose(a, b, w, h);
    [a, b] = [b, a];
    for (const k of radii) { boxH(a, b, h, w, k); [a, b] = [b, a]; }
    transpose(a, b, h, w);
    const out = new Uint8Array(w * h);
    for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.round(b[i]));
    return out;
}

/**
 * base*(1-a) + over*a per pixel on RGBA data, a = alpha/255; alpha 0 keeps base bytes exactly and
 * alpha 255 takes over's bytes exactly. Returns a new Uint8ClampedArray.
 * @param {Uint8ClampedArray | Uint8Array} base @param {Uint8ClampedArray | Uint8Array} over
 * @param {Uint8Array} alpha  one value per pixel
 */
export function blendInto(base, over, alpha) {
    if (base.length !== over.length || base.length !== alpha.length * 4) {
        throw new RangeError(`blendInto: ${base.length} / ${over.length} bytes for ${alpha.length} pixels`);
    }
    const out = new Uint8ClampedArray(base.length);
    for (let i = 0; i < alpha.length; i++) {
        const a = alpha[i], j = 4 * i;
        if (a === 0) {
            out[j] = base[j]; out[j + 1] = base[j + 1]; out[j + 2] = base[j + 2]; out[j + 3] = base[j + 3];
        } else if (a === 255) {
            out[j] = over[j]; out[j + 1] = over[j + 1]; out[j + 2] = over[j + 2]; out[j + 3] = over[j + 3];
        } else {
            const t = a / 255;
            for (let c = 0; c < 4; c++) out[j + c] = Math.round(base[j + c] + (over[j + c] - base[j + c]) * t);
        }
    }
    return out;
}

/**
 * Mask from RGBA pixels (an opened mask image): luminance (ITU-R 601, as PIL's L) times alpha.
 * @param {Uint8ClampedArray | Uint8Array} rgba @returns {Uint8Array}
 */
export function fromRgba(rgba) {
    const n = rgba.length / 4, out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
        const j = 4 * i;
        const l = (rgba[j] * 299 + rgba[j + 1] * 587 + rgba[j + 2] * 114) / 1000;
        out[i] = Math.round((l * rgba[j + 3]) / 255);
    }
    return out;
}

/** Opaque gray RGBA of a mask (white = inpaint), for saving as an image. @param {Uint8Array} m */
export function toRgba(m) {
    const out = new Uint8ClampedArray(m.length * 4);
    for (let i = 0; i < m.length; i++) {
        const j = 4 * i;
        out[j] = out[j + 1] = out[j + 2] = m[i];
        out[j + 3] = 255;
    }
    return out;
}

/**
 * Run-length encoding: {n, values, lengths} (runs of equal bytes). Painted masks are mostly long
 * runs, so undo snapshots of a 12-megapixel mask take kilobytes, not 12 MB.
 * @param {Uint8Array} m
 */
export function encodeRle(m) {
    const values = [], lengths = [];
    let i = 0;
    while (i < m.length) {
        const v = m[i];
        let j = i + 1;
        while (j < m.length && m[j] === v) j++;
        values.push(v);
        lengths.push(j - i);
        i = j;
    }
    return {n: m.length, values: Uint8Array.from(values), lengths: Uint32Array.from(lengths)};
}

/** @param {{n: number, values: Uint8Array, lengths: Uint32Array}} rle */
export function decodeRle(rle) {
    const out = new Uint8Array(rle.n);
    let o = 0;
    for (let k = 0; k < rle.values.length; k++) {
        out.fill(rle.values[k], o, o + rle.lengths[k]);
        o += rle.lengths[k];
    }
    if (o !== rle.n) throw new RangeError(`decodeRle: runs cover ${o} of ${rle.n} values`);
    return out;
}

/** Bytes an RLE snapshot holds (for the history's memory budget). @param {{values: Uint8Array, lengths: Uint32Array}} rle */
export function rleBytes(rle) {
    return rle.values.byteLength + rle.lengths.byteLength;
}

/** @param {Uint8Array} m @param {number} w @param {number} h */
function checkSize(m, w, h) {
    if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) || m.length !== w * h) {
        throw new RangeError(`mask of ${m.length} values is not ${w}x${h}`);
    }
}
