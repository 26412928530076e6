// Node tests of the public JS API (web/js/moebius.js) on the WebAssembly CPU backend:
// createEngine({backend: 'cpu'}) — the engine the web app falls back to without a usable GPU.
//
//  - the tiny model's upstream files, image.png + mask.png with noise.npy, upstream's defaults: the
//    result matches result.png within 1 level (< 0.1% of values off by one), as the native and raw
//    WASM tests do (the fixtures' own float32-vs-float64 spread is 1 level);
//  - progress: encode, one 'step' event per denoising step (1..19), decode; with {preview: true} each
//    step carries a 64×64 RGBA preview of the step's predicted clean latents and its crop window; the
//    last one is the final latents' picture, checked against latents_steps.npy[18] through the
//    latent-to-RGB map (within 1 level: the latents agree within 1.2e-4);
//  - crop mode: the preview covers the crop window, not the image;
//  - {threads: true} runs the pthreads build (build/wasm/moebius-mt.js) with the same pixels;
//  - cancel through an AbortSignal mid-run, and typed errors (bad-option, bad-model, bad-image).
//
// Fixtures: $MOEBIUS_FIXTURES, else ../shared/fixtures next to the repository. Module: build/wasm
// (scripts/build-wasm.sh), or $MOEBIUS_WASM = the single-threaded glue .js.

import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

import {PNG} from 'pngjs';

import {createEngine, latentToRgba, MoebiusError} from '../../web/js/moebius.js';
import {parseNpy} from '../../web/js/npy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const glueUrl = process.env.MOEBIUS_WASM ? pathToFileURL(path.resolve(process.env.MOEBIUS_WASM)) : undefined;
const LEVELS = 1;  // result tolerance (see the header)

let failures = 0, passes = 0;
function check(cond, what, detail = '') {
    if (cond) passes++;
    else failures++;
    console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
}

function fixture(rel) {
    const p = path.join(fixtures, rel);
    if (!existsSync(p)) throw new Error(`fixture ${p} is missing (set MOEBIUS_FIXTURES)`);
    return p;
}
const png = (rel) => {
    const p = PNG.sync.read(readFileSync(fixture(rel)));
    return {width: p.width, height: p.height, data: new Uint8Array(p.data)};
};
const tiny = {unet: fixture('tiny/removal_model.bin'), config: fixture('tiny/model_config.json'),
              vae: {config: fixture('tiny/vae/config.json'), weights: fixture('tiny/vae/diffusion_pytorch_model.safetensors')}};

/** Max |difference| over RGB and how many values differ. */
function compareRgb(a, b) {
    let max = 0, differ = 0;
    for (let i = 0; i < a.data.length; i++) {
        if (i % 4 === 3) continue;
        const d = Math.abs(a.data[i] - b.data[i]);
        if (d) differ++;
        max = Math.max(max, d);
    }
    return {max, differ};
}

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

async function expectError(name, code, fn) {
    try {
        await fn();
        check(false, `${name} -> ${code}`, 'no error');
    } catch (e) {
        check(e instanceof MoebiusError && e.code === code, `${name} -> ${code}`, `${e?.code}: ${e?.message}`);
        return e;
    }
}

// ---- the reference run ----

const engine = await createEngine({backend: 'cpu', model: tiny, glueUrl});
check(engine.info.backend === 'cpu' && engine.info.adapter === null && engine.info.dtype === 'f32' && engine.info.threads === 1,
      'info: CPU backend, one thread', JSON.stringify({...engine.info, model: undefined}));
check(engine.info.latentChannels === 4 && engine.info.nativeSize === 512, 'info: 4 latent channels, 512 px');

const image = png('tiny/image.png'), mask = png('tiny/mask.png'), ref = png('tiny/result.png');
const noise = parseNpy(readFileSync(fixture('tiny/noise.npy'))).data;
const events = [];
const r = await engine.inpaint(image, mask, {noise, steps: 20, strength: 0.99, guidance: 2.5, paste: true, mode: 'whole',
                                             preview: true, onProgress: (e) => events.push(e)});
const cmp = compareRgb(r.image, ref);
console.log(`[cpu] tiny inpaint: max ${cmp.max} level(s), ${cmp.differ} of ${512 * 512 * 3} values differ (${elapsed()})`);
check(r.image.width === 512 && r.image.height === 512 && r.image.data.length === 512 * 512 * 4, 'result: 512x512 RGBA');
check(cmp.max <= LEVELS, 'result.png within 1 level', `max ${cmp.max}`);
check(cmp.differ <= 0.001 * 512 * 512 * 3, 'result.png: < 0.1% of values off by 1', `${cmp.differ}`);
check(r.timings.steps === 19 && r.timings.crops === 1, 'timings: 19 steps, 1 crop', JSON.stringify(r.timings));

const steps = events.filter((e) => e.stage === 'step');
check(events[0]?.stage === 'encode' && events.at(-1)?.stage === 'decode' && steps.length === 19 &&
      steps.every((e, i) => e.step === i + 1 && e.steps === 19 && e.crop === 1 && e.crops === 1),
      'progress: encode, steps 1..19, decode', events.map((e) => `${e.stage[0]}${e.step ?? ''}`).join(' '));
check(steps.every((e) => e.preview && e.preview.width === 64 && e.preview.height === 64 && e.preview.data.length === 64 * 64 * 4 &&
                         e.preview.data instanceof Uint8ClampedArray &&
                         JSON.stringify(e.preview.window) === JSON.stringify({x: 0, y: 0, width: 512, height: 512})),
      'a 64x64 RGBA preview of the whole image with every step');
// The last step's prediction is the final latents (DDIM, a_prev = 1): the fixture's, through the map.
const lastRef = parseNpy(readFileSync(fixture('tiny/latents_steps.npy'))).data.subarray(18 * 4 * 64 * 64);
const pc = compareRgb(steps[18].preview, latentToRgba(lastRef, 4, 64, 64));
check(pc.max <= 1, 'last preview = latents_steps[18] mapped to RGB (within 1 level)', `max ${pc.max}, ${pc.differ} values differ`);
let moved = 0;
for (let i = 0; i < steps[0].preview.data.length; i++) moved += steps[0].preview.data[i] !== steps[18].preview.data[i];
check(moved > 1000, 'previews change over the steps', `${moved} values differ between steps 1 and 19`);

// No preview unless asked: plain step events.
const plain = [];
await engine.inpaint(image, mask, {steps: 2, strength: 1, onProgress: (e) => plain.push(e)});
check(plain.filter((e) => e.stage === 'step').length === 2 && plain.every((e) => !('preview' in e)), 'no preview without the option');

// ---- crop mode: the preview covers the crop window ----

{
    const W = 600, H = 560;
    const big = {width: W, height: H, data: new Uint8ClampedArray(W * H * 4)};
    for (let i = 0; i < W * H; i++) big.data.set([(i % W) & 255, (i / W) & 255, 128, 255], 4 * i);
    const hole = {width: W, height: H, channels: 1, data: new Uint8Array(W * H)};
    for (let y = 480; y < 520; y++) for (let x = 520; x < 570; x++) hole.data[y * W + x] = 255;
    const ev = [];
    const rc = await engine.inpaint(big, hole, {steps: 2, strength: 1, preview: true, onProgress: (e) => ev.push(e)});
    const win = ev.find((e) => e.preview)?.preview.window;
    console.log(`[cpu] crop mode ${W}x${H}: window ${JSON.stringify(win)} (${elapsed()})`);
    check(rc.timings.crops === 1 && win && win.width === 512 && win.height === 512 && win.x === W - 512 && win.y === H - 512,
          'crop mode: preview window = the crop (512 square at the hole, clamped in the image)', JSON.stringify(win));
}

// ---- cancel, errors ----

{
    const ac = new AbortController();
    const seen = [];
    // Aborted from a timer, as a worker's cancel message arrives: the loop must yield between steps
    // (previews on, as the app runs).
    const err = await expectError('AbortSignal aborted after step 2', 'cancelled', () => engine.inpaint(image, mask, {
        steps: 20, preview: true, signal: ac.signal,
        onProgress: (e) => { seen.push(e.stage); if (e.stage === 'step' && e.step === 2) setTimeout(() => ac.abort(), 0); },
    }));
    check(err?.name === 'AbortError' && seen.filter((s) => s === 'step').length <= 3 && !seen.includes('decode'),
          'cancel: AbortError, at most the step in progress after the abort', seen.join(','));
    // The engine still works afterwards (queue released, job freed).
    const again = await engine.inpaint(image, {width: 512, height: 512, channels: 1, data: new Uint8Array(512 * 512)});
    check(again.timings.crops === 0, 'the engine runs again after a cancel (empty mask: input returned)');
}
await expectError('backend "tpu"', 'bad-option', () => createEngine({backend: 'tpu', model: tiny}));
await expectError('a PNG as the model file', 'bad-model', () => createEngine({backend: 'cpu', model: fixture('tiny/image.png'), glueUrl}));
await expectError('mask of another size', 'bad-image', () => engine.inpaint(image, {width: 8, height: 8, data: new Uint8Array(64)}));
await expectError('steps 0', 'bad-option', () => engine.inpaint(image, mask, {steps: 0}));
await engine.dispose();
await expectError('inpaint after dispose', 'internal', () => engine.inpaint(image, mask));

// ---- the pthreads build: same pixels ----

if (!glueUrl && existsSync(path.join(root, 'build/wasm/moebius-mt.js'))) {
    const mt = await createEngine({backend: 'cpu', threads: true, model: tiny});
    const opts = {noise, steps: 3, preview: true};
    const a = await mt.inpaint(image, mask, opts);
    const single = await createEngine({backend: 'cpu', model: tiny});
    const b = await single.inpaint(image, mask, opts);
    const d = compareRgb(a.image, b.image);
    console.log(`[cpu] threads: ${mt.info.threads} (${elapsed()})`);
    check(mt.info.threads === Math.min(8, (await import('node:os')).cpus().length), 'threads: the pthreads build, one GEMM thread per core',
          `${mt.info.threads}`);
    check(d.max === 0, 'threads: the same pixels as one thread', `max ${d.max}`);
    await mt.dispose();
    await single.dispose();
} else {
    console.log('skip threads: no build/wasm/moebius-mt.js (or $MOEBIUS_WASM given)');
}

console.log(`[cpu] ${passes} checks passed, ${failures} failed (${elapsed()})`);
process.exit(failures ? 1 : 0);
