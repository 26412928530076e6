// Unit tests of web/app/lib/mask.js (node --test).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as M from '../../../web/app/lib/mask.js';

/** Deterministic pseudo-random bytes (xorshift32). */
function rng(seed) {
    let s = seed >>> 0 || 1;
    return () => {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        return s / 2 ** 32;
    };
}

/** Brute-force disk dilation: on where some inpaint pixel is within Euclidean distance r. */
function dilateBrute(m, w, h, r) {
    const out = new Uint8Array(w * h);
    const R = Math.ceil(r);
    for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
            let on = false;
            for (let dy = -R; dy <= R && !on; dy++) {
                for (let dx = -R; dx <= R && !on; dx++) {
                    const xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    if (dx * dx + dy * dy <= r * r && m[yy * w + xx] >= 128) on = true;
                }
            }
            out[y * w + x] = on ? 255 : 0;
        }
    }
    return out;
}

test('binarize, coverage and bounds use the engine threshold (>= 128)', () => {
    const m = Uint8Array.from([0, 127, 128, 255, 10, 200]);
    assert.deepEqual([...M.binarize(m)], [0, 0, 255, 255, 0, 255]);
    assert.equal(M.coverage(m), 3);
    assert.deepEqual(M.bounds(m, 3, 2), {x: 0, y: 0, width: 3, height: 2});
    assert.deepEqual(M.bounds(Uint8Array.from([0, 0, 0, 0, 200, 0]), 3, 2), {x: 1, y: 1, width: 1, height: 1});
    assert.equal(M.bounds(new Uint8Array(6), 3, 2), null);
});

test('dilate of one pixel is the lattice disk of radius r', () => {
    const w = 21, h = 21, m = new Uint8Array(w * h);
    m[10 * w + 10] = 255;
    for (const r of [1, 2, 3, 5.5, 7]) {
        let expected = 0;
        for (let y = -10; y <= 10; y++) for (let x = -10; x <= 10; x++) if (x * x + y * y <= r * r) expected++;
        assert.equal(M.coverage(M.dilate(m, w, h, r)), expected, `r=${r}`);
    }
});

test('dilate equals brute force on random masks, odd sizes, at the borders', () => {
    const rand = rng(7);
    for (const [w, h] of [[37, 23], [1, 9], [9, 1], [16, 16]]) {
        const m = new Uint8Array(w * h);
        for (let i = 0; i < m.length; i++) m[i] = rand() < 0.04 ? 255 : Math.floor(rand() * 128);
        for (const r of [1, 2.5, 4, 9]) assert.deepEqual(M.dilate(m, w, h, r), dilateBrute(m, w, h, r), `${w}x${h} r=${r}`);
    }
});

test('dilate: r <= 0 binarizes, an empty mask stays empty, wrong sizes throw', () => {
    const m = Uint8Array.from([0, 130, 90, 255]);
    assert.deepEqual([...M.dilate(m, 2, 2, 0)], [0, 255, 0, 255]);
    assert.equal(M.coverage(M.dilate(new Uint8Array(100), 10, 10, 5)), 0);
    assert.throws(() => M.dilate(new Uint8Array(5), 2, 2, 1), RangeError);
});

test('boxRadii: three boxes whose variances sum to about sigma^2', () => {
    for (const s of [0.5, 1, 2, 4, 10, 32]) {
        const radii = M.boxRadii(s);
        assert.equal(radii.length, 3);
        const v = radii.reduce((a, r) => a + ((2 * r + 1) ** 2 - 1) / 12, 0);
        assert.ok(Math.abs(Math.sqrt(v) - s) <= 0.5 + 0.05 * s, `sigma ${s}: got ${Math.sqrt(v)}`);
    }
});

test('feather: a soft, symmetric, monotone edge of about the given width', () => {
    const w = 80, h = 5, m = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 40; x < w; x++) m[y * w + x] = 255;
    const f = M.feather(m, w, h, 8);
    const row = [...f.subarray(2 * w, 3 * w)];
    for (let x = 1; x < w; x++) assert.ok(row[x] >= row[x - 1], `monotone at ${x}`);
    assert.equal(row[0], 0);
    assert.equal(row[w - 1], 255);
    assert.ok(row[39] > 64 && row[39] < 192 && row[40] > 64 && row[40] < 192, `edge ~half: ${row[39]}, ${row[40]}`);
    assert.ok(Math.abs(row[39] + row[40] - 255) <= 2, 'symmetric about the edge');
    assert.ok(row[30] < 20 && row[50] > 235, `ramp spans ~2r: ${row[30]}, ${row[50]}`);
    // every row is the same (blur along y of a y-constant image)
    for (let y = 0; y < h; y++) assert.deepEqual([...f.subarray(y * w, (y + 1) * w)], row);
});

test('feather keeps constants and copies at r = 0', () => {
    const full = new Uint8Array(30 * 20).fill(255);
    assert.deepEqual(M.feather(full, 30, 20, 6), full);
    const m = Uint8Array.from([1, 2, 3, 4]);
    const c = M.feather(m, 2, 2, 0);
    assert.deepEqual(c, m);
    assert.notEqual(c, m);
});

test('blendInto: alpha 0 keeps the base bytes, 255 takes the overlay bytes, between mixes', () => {
    const base = Uint8ClampedArray.from([10, 20, 30, 255, 10, 20, 30, 255, 0, 0, 0, 255]);
    const over = Uint8ClampedArray.from([200, 100, 0, 255, 200, 100, 0, 255, 255, 255, 255, 255]);
    const out = M.blendInto(base, over, Uint8Array.from([0, 255, 51]));
    assert.deepEqual([...out.subarray(0, 4)], [10, 20, 30, 255]);
    assert.deepEqual([...out.subarray(4, 8)], [200, 100, 0, 255]);
    assert.deepEqual([...out.subarray(8, 12)], [51, 51, 51, 255]);
    assert.throws(() => M.blendInto(base, over, new Uint8Array(2)), RangeError);
});

test('fromRgba: luminance (PIL L weights) times alpha; toRgba: opaque gray', () => {
    const rgba = Uint8ClampedArray.from([255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0, 255, 255, 255, 255, 0, 255, 255, 255, 128]);
    assert.deepEqual([...M.fromRgba(rgba)], [255, 0, 76, 0, 128]);
    const g = Uint8Array.from([0, 77, 255]);
    assert.deepEqual([...M.toRgba(g)], [0, 0, 0, 255, 77, 77, 77, 255, 255, 255, 255, 255]);
    assert.deepEqual(M.fromRgba(M.toRgba(g)), g);
});

test('RLE round-trips and is compact on painted masks', () => {
    const rand = rng(3);
    const noisy = Uint8Array.from({length: 5000}, () => Math.floor(rand() * 4) * 85);
    assert.deepEqual(M.decodeRle(M.encodeRle(noisy)), noisy);
    assert.deepEqual(M.decodeRle(M.encodeRle(new Uint8Array(0))), new Uint8Array(0));
    const w = 2000, h = 1500, painted = new Uint8Array(w * h);
    for (let y = 500; y < 900; y++) painted.fill(255, y * w + 700, y * w + 1300);
    const rle = M.encodeRle(painted);
    assert.deepEqual(M.decodeRle(rle), painted);
    assert.ok(M.rleBytes(rle) < 10000, `${M.rleBytes(rle)} bytes for a 3 MP mask`);
    assert.throws(() => M.decodeRle({n: 10, values: Uint8Array.from([1]), lengths: Uint32Array.from([4])}), RangeError);
});
