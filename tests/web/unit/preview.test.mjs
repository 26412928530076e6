// Unit tests of web/js/preview.js: the latent-to-RGB map of per-step previews. The reference is
// ComfyUI's Latent2RGBPreviewer (latent_preview.py) with the SDXL factors of comfy/latent_formats.py:
// rgb = linear(x0 channels, factors, bias), clamp to [-1, 1], (v + 1) * 127.5, rounded; written out
// here in float64, per pixel, from the published table. node --test.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {latentToRgba, SDXL_LATENT_RGB} from '../../../web/js/preview.js';

// comfy/latent_formats.py, class SDXL (rows R, G, B per latent channel) and its bias.
const COMFY_SDXL = [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]];
const COMFY_SDXL_BIAS = [0.1084, -0.0175, -0.0011];

/** The reference: one pixel's 4 channel values -> [R, G, B] bytes. */
function reference(l) {
    return [0, 1, 2].map((c) => {
        const v = COMFY_SDXL_BIAS[c] + l.reduce((s, x, k) => s + x * COMFY_SDXL[k][c], 0);
        return Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
    });
}

test('the factors are the published SDXL ones', () => {
    assert.deepEqual(SDXL_LATENT_RGB.factors.map((r) => [...r]), COMFY_SDXL);
    assert.deepEqual([...SDXL_LATENT_RGB.bias], COMFY_SDXL_BIAS);
    assert.ok(Object.isFrozen(SDXL_LATENT_RGB.factors[0]));
});

test('zero latents give the bias colour; alpha is opaque', () => {
    const out = latentToRgba(new Float32Array(4 * 2 * 3), 4, 2, 3);
    assert.equal(out.width, 3);
    assert.equal(out.height, 2);
    assert.equal(out.data.length, 2 * 3 * 4);
    // (0.1084 + 1) * 127.5 = 141.3, (-0.0175 + 1) * 127.5 = 125.3, (-0.0011 + 1) * 127.5 = 127.4
    for (let i = 0; i < 6; i++) assert.deepEqual([...out.data.subarray(4 * i, 4 * i + 4)], [141, 125, 127, 255]);
});

test('random latents match the reference, pixel by pixel, in the tensor layout (C, H, W)', () => {
    const C = 4, H = 5, W = 7, plane = H * W;
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 6 - 3;  // spans the clamp
    const lat = Float32Array.from({length: C * plane}, rand);
    const out = latentToRgba(lat, C, H, W);
    let clamped = 0;
    for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
            const i = y * W + x;
            const px = [0, 1, 2, 3].map((k) => lat[k * plane + i]);
            const want = reference(px);
            assert.deepEqual([...out.data.subarray(4 * i, 4 * i + 3)], want, `pixel (${x}, ${y})`);
            assert.equal(out.data[4 * i + 3], 255);
            clamped += want.filter((v) => v === 0 || v === 255).length;
        }
    }
    assert.ok(clamped > 0, 'some values reach the clamp');
});

test('one channel at a time is one row of the table', () => {
    for (let k = 0; k < 4; k++) {
        const lat = new Float32Array(4);
        lat[k] = 0.5;
        const l = [0, 0, 0, 0];
        l[k] = 0.5;
        assert.deepEqual([...latentToRgba(lat, 4, 1, 1).data.subarray(0, 3)], reference(l), `channel ${k}`);
    }
});

test('wrong channel count or length is refused', () => {
    assert.throws(() => latentToRgba(new Float32Array(16), 16, 1, 1), /for 4 channels, the latents have 16/);
    assert.throws(() => latentToRgba(new Float32Array(10), 4, 2, 2), /10 values for \(4, 2, 2\)/);
});
