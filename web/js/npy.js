// npy.js: reads NumPy .npy files (format 1.0-3.0, little-endian, C order) into typed arrays.
// Used by the Node CLI (--noise) and the tests (reference tensors). Float types come back as
// Float32Array (float16/float64 converted), integers as Int32Array/BigInt64Array/Uint8Array.

const DTYPES = {
    '<f4': {size: 4, read: (/** @type {DataView} */ v, /** @type {number} */ o) => v.getFloat32(o, true)},
    '<f8': {size: 8, read: (v, o) => v.getFloat64(o, true)},
    '<f2': {size: 2, read: (v, o) => f16(v.getUint16(o, true))},
    '<i4': {size: 4, read: (v, o) => v.getInt32(o, true)},
    '<i8': {size: 8, read: (v, o) => Number(v.getBigInt64(o, true))},
    '|u1': {size: 1, read: (v, o) => v.getUint8(o)},
    '|b1': {size: 1, read: (v, o) => v.getUint8(o)},
};

/** @param {number} h IEEE half bits */
function f16(h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
    if (e === 0) return s * m * 2 ** -24;
    if (e === 31) return m ? NaN : s * Infinity;
    return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Parses .npy bytes.
 * @param {Uint8Array} bytes
 * @returns {{shape: number[], dtype: string, data: Float32Array | Int32Array | Float64Array | Uint8Array}}
 *   float dtypes -> Float32Array; int32/int64 -> Int32Array (int64 values must fit); u1/b1 -> Uint8Array
 */
export function parseNpy(bytes) {
    const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
    if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error('not a .npy file (bad magic)');
    const major = bytes[6];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    const hstart = major === 1 ? 10 : 12;
    const header = new TextDecoder().decode(bytes.subarray(hstart, hstart + hlen));
    const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
    const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
    if (!descr || !fortran || shapeStr === undefined) throw new Error(`.npy header not understood: ${header}`);
    if (fortran === 'True') throw new Error('.npy: Fortran order is not supported');
    const dt = DTYPES[/** @type {keyof typeof DTYPES} */ (descr)];
    if (!dt) throw new Error(`.npy: dtype ${descr} is not supported`);
    const shape = shapeStr.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    const off = hstart + hlen;
    if (off + n * dt.size > bytes.length) throw new Error(`.npy: ${n} x ${descr} values do not fit in ${bytes.length} bytes`);
    const isFloat = descr[1] === 'f';
    const isInt = descr === '<i4' || descr === '<i8';
    const data = isFloat ? new Float32Array(n) : isInt ? new Int32Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = dt.read(view, off + i * dt.size);
    return {shape, dtype: descr, data};
}
