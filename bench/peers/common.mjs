// common.mjs: what the peer benchmark's JS scripts share (bench/peers/README.md) — the fixture
// inputs and references, the upstream pipeline's scalar maths (DDIM in float32 as diffusers does it),
// small statistics and the peer JSON record.

import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {parseNpy} from '../../web/js/npy.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The fixtures' root (holding tiny/ and full/): --fixtures, else $MOEBIUS_FIXTURES, else ../shared/fixtures. */
export function fixturesRoot(opt) {
    return path.resolve(opt ?? process.env.MOEBIUS_FIXTURES ?? path.join(root, '../shared/fixtures'));
}

/** The folder of one model's fixtures: `<root>/<model>`, or `root` itself when it already is one. */
export function fixtureDir(rootDir, model) {
    if (existsSync(path.join(rootDir, 'meta.json'))) return rootDir;
    const d = path.join(rootDir, model);
    if (!existsSync(path.join(d, 'meta.json'))) throw new Error(`no fixtures for model '${model}' in ${rootDir} (set --fixtures or MOEBIUS_FIXTURES)`);
    return d;
}

export const median = (a) => {
    if (!a.length) return null;
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** max |a - b| (Infinity if any NaN/Inf) and max |b|. */
export function maxAbsDiff(a, b) {
    if (a.length !== b.length) throw new Error(`compare: ${a.length} vs ${b.length} values`);
    let err = 0, ref = 0;
    for (let i = 0; i < b.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (!(d <= Infinity)) err = Infinity;
        else if (d > err) err = d;
        const r = Math.abs(b[i]);
        if (r > ref) ref = r;
    }
    return {err, ref};
}

/**
 * The fixture inputs and references of one model folder. PNGs are decoded with pngjs (RGBA).
 * @returns {{dir: string, meta: any, image: {width: number, height: number, data: Uint8Array},
 *            mask: {width: number, height: number, data: Uint8Array}, noise: Float32Array, npy: (name: string) => any}}
 */
export async function loadFixtures(dir) {
    const {PNG} = await import('pngjs');
    const png = (name) => {
        const p = PNG.sync.read(readFileSync(path.join(dir, name)));
        return {width: p.width, height: p.height, data: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.length)};
    };
    const npy = (name) => parseNpy(readFileSync(path.join(dir, name)));
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    return {dir, meta, image: png('image.png'), mask: png('mask.png'), noise: npy('noise.npy').data, npy};
}

// ------------------------------------------------------------------ upstream's maths, float32

const f = Math.fround;

/**
 * diffusers DDIMScheduler's alphas_cumprod (scaled_linear 0.00085 -> 0.012, 1000 steps) as torch computes
 * it in float32: linspace of the square roots (each term one rounding: start + step*i for the first half,
 * end - step*(n-1-i) for the second), squared, 1 - beta, cumprod accumulated in double and rounded to float32.
 */
export function alphasCumprod(n = 1000, betaStart = 0.00085, betaEnd = 0.012) {
    const start = f(Math.sqrt(betaStart)), end = f(Math.sqrt(betaEnd));
    const step = f(f(end - start) / (n - 1));
    const out = new Float32Array(n);
    let acc = 1;
    for (let i = 0; i < n; i++) {
        // step * i and the sum are exact in double (24 + 10 bits), so f() rounds once like a fused multiply-add
        const sb = i < n / 2 ? f(start + step * i) : f(end - step * (n - 1 - i));
        const alpha = f(1 - f(sb * sb));
        acc *= alpha;
        out[i] = f(acc);
    }
    return out;
}

/** diffusers add_noise in float32: sqrt(a) x0 + sqrt(1 - a) noise (in place into `out`). */
export function addNoise(ac, t, x0, noise, out = new Float32Array(x0.length)) {
    const a = ac[t], sa = f(Math.sqrt(a)), sb = f(Math.sqrt(f(1 - a)));
    for (let i = 0; i < x0.length; i++) out[i] = f(f(sa * x0[i]) + f(sb * noise[i]));
    return out;
}

/**
 * One eta-0 DDIM step (diffusers DDIMScheduler.step, float32 0-dim tensors, set_alpha_to_one):
 * x0 = (x - sqrt(1-a_t) eps) / sqrt(a_t); x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps.
 * prev = t - trainSteps / numSteps (numSteps = upstream's 20, before strength).
 */
export function ddimStep(ac, t, numSteps, eps, x, out = new Float32Array(x.length)) {
    const prev = t - Math.floor(ac.length / numSteps);
    const aT = ac[t], aP = prev >= 0 ? ac[prev] : 1;
    const sbT = f(Math.sqrt(f(1 - aT))), saT = f(Math.sqrt(aT));
    const saP = f(Math.sqrt(aP)), sbP = f(Math.sqrt(f(1 - aP)));
    for (let i = 0; i < x.length; i++) {
        const x0 = f(f(x[i] - f(sbT * eps[i])) / saT);
        out[i] = f(f(saP * x0) + f(sbP * eps[i]));
    }
    return out;
}

/** Classifier-free guidance over a [uncond; cond] batch of 2: u + g (c - u), float32. */
export function cfgCombine(noise, guidance, out) {
    const n = noise.length / 2, g = f(guidance);
    out ??= new Float32Array(n);
    for (let i = 0; i < n; i++) {
        const u = noise[i], c = noise[n + i];
        out[i] = f(u + f(g * f(c - u)));
    }
    return out;
}

/**
 * Upstream's preprocessing of a 512×512 picture (prepare_mask_and_masked_image, _denoise_preprocess):
 * image -> [-1, 1] NCHW float32 (x / 255 * 2 - 1 in double, rounded once); mask = gray (PIL 'L' rule)
 * / 255 >= 0.5; masked = image * (1 - mask). Returns {pair: (2,3,N,N) [image; masked], maskFull (N*N 0/1)}.
 * @param {{width: number, height: number, data: Uint8Array}} image RGBA
 * @param {{width: number, height: number, data: Uint8Array}} mask RGBA (gray PNGs decode to R = G = B)
 */
export function preprocess(image, mask) {
    const N = image.width, plane = N * N;
    if (image.height !== N || mask.width !== N || mask.height !== N) throw new Error('preprocess: expects square inputs of one size');
    const pair = new Float32Array(2 * 3 * plane), maskFull = new Float32Array(plane);
    for (let i = 0; i < plane; i++) {
        const r = mask.data[4 * i], g = mask.data[4 * i + 1], b = mask.data[4 * i + 2];
        const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
        const m = l / 255 >= 0.5 ? 1 : 0;
        maskFull[i] = m;
        for (let c = 0; c < 3; c++) {
            const v = f(image.data[4 * i + c] / 255 * 2 - 1);
            pair[c * plane + i] = v;
            pair[3 * plane + c * plane + i] = f(v * (1 - m));
        }
    }
    return {pair, maskFull};
}

/** F.interpolate(mask, size=(S, S)) default (nearest): source index floor(dst * N / S). */
export function maskToLatent(maskFull, N, S) {
    const out = new Float32Array(S * S), scale = N / S;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) out[y * S + x] = maskFull[Math.floor(y * scale) * N + Math.floor(x * scale)];
    return out;
}

// ------------------------------------------------------------------ records

/** Facts about this machine for the records. */
export function machineInfo() {
    return {host: os.hostname(), cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memory_bytes: os.totalmem(),
            node: process.version, platform: `${process.platform}-${process.arch}`,
            loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100)};  // other jobs on a shared machine skew timings
}

/**
 * Writes one peer record (the schema in bench/peers/README.md) to `file` (if given) and prints it.
 * Missing schema fields are filled with null so that every record has them all.
 */
export function writePeer(file, rec) {
    const keys = ['peer', 'ep', 'precision', 'threads', 'ort_version', 'unet_step_ms', 'encode_ms', 'decode_ms', 'inpaint_ms',
                  'peak_mem_bytes', 'max_abs_diff_latents', 'max_abs_diff_decoded', 'notes'];
    const out = {};
    for (const k of keys) out[k] = rec[k] ?? null;
    Object.assign(out, rec);
    // JSON has no NaN/Infinity (they would become null, i.e. "not compared"): such results are written as strings.
    const text = JSON.stringify(out, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1);
    if (file) writeFileSync(file, text + '\n');
    return out;
}
