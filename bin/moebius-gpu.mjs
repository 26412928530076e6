#!/usr/bin/env node
// moebius-gpu — command-line inpainting with the Moebius model on WebGPU (Node + npm `webgpu`, i.e.
// Dawn), running the WebAssembly engine through the public JS API (web/js/moebius.js). Flags and exit
// codes follow the native `moebius` CLI (tools/cli/main.cpp):
//
//   moebius-gpu inpaint -m model.safetensors -i photo.png --mask mask.png -o out.png [--steps 20] ...
//   moebius-gpu inpaint -m diffusion_pytorch_model.bin --vae vae/ [--config model_config.json] ...
//   moebius-gpu info                       the WebGPU adapter Dawn picks (features, f16)
//
// Exit codes: 0 success, 1 internal error (also: no WebGPU adapter, device lost), 2 bad usage or
//             option, 3 file I/O error, 4 bad model file, 5 bad image (undecodable, mask/image size
//             mismatch), 6 cancelled (Ctrl-C), 7 out of memory (WebAssembly heap or GPU).
// Environment: MOEBIUS_DAWN_ARGS, space separated Dawn options for npm webgpu's create(), replacing the
//   defaults (DEFAULT_DAWN_ARGS: Vulkan on Linux; shader-f16 on NVIDIA, subgroup matrices, and no
//   robustness pass: see there), e.g. "backend=vulkan" for Dawn's own defaults;
//   MOEBIUS_WASM: the engine's glue .js (default build/wasm/moebius.js).
// Images: PNG (pngjs) and JPEG (jpeg-js) in and out; outputs are written atomically.
// `synth` and `convert` are native-only: the WebAssembly build has no synthetic-weight writer; use
// `moebius synth` / `moebius convert`.

import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {parseArgs} from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const EXIT = {'ok': 0, 'internal': 1, 'no-adapter': 1, 'device-lost': 1, 'bad-option': 2, 'io': 3, 'bad-model': 4,
              'bad-image': 5, 'cancelled': 6, 'out-of-memory': 7};

class CliError extends Error {
    /** @param {string} code @param {string} message */
    constructor(code, message) { super(message); this.code = code; }
}

const USAGE = `moebius-gpu: Moebius image inpainting on WebGPU (moebius.cpp, WebAssembly + Dawn)

Usage:
  moebius-gpu inpaint -m MODEL -i IMAGE -o OUTPUT [options]
  moebius-gpu info
  moebius-gpu synth | convert     (native only: use the moebius CLI)

inpaint options:
  -m, --model PATH      our single-file model, or upstream diffusion_pytorch_model.bin/.safetensors,
                        or synth:tiny / synth:full (the reference fixtures' synthetic weights)
      --vae DIR         diffusers VAE folder (config.json + weights) when --model is an upstream file
      --config PATH     model_config.json for upstream files of a non-standard size
  -i, --image PATH      input image (PNG/JPEG) or a folder of images
      --mask PATH       mask image, white = fill (or a folder of masks named like the images);
                        omitted: the image's alpha channel (transparent = fill)
  -o, --output PATH     output image (.png/.jpg) or folder
      --steps N         DDIM steps before strength (upstream 20)
      --guidance G      classifier-free guidance scale (upstream 2.5)
      --strength S      denoising strength (upstream 0.99)
      --seed N          seed of the initial noise
      --noise NPY       initial latent noise (1,4,64,64) .npy, offset included (overrides --seed)
      --noise-offset F  noise offset (upstream 0.0357)
      --mode M          auto (crop-around-mask above 512 px), whole (upstream), crop
      --no-paste        return the raw generated image instead of blending it into the input
      --compensate      upstream colour compensation of the pasted region
      --f32             float32 storage on the GPU even where shader-f16 exists
      --quality Q       JPEG quality (1..100, default 95)
  -q, --quiet           no progress output

Exit codes: 0 ok, 1 internal error / no WebGPU, 2 bad usage, 3 file I/O error, 4 bad model file,
            5 bad image, 6 cancelled, 7 out of memory.
Environment: MOEBIUS_DAWN_ARGS (Dawn options replacing the defaults, e.g. backend=vulkan),
             MOEBIUS_WASM (engine glue .js).
`;

// ------------------------------------------------------------------ images

const IMAGE_EXTS = ['.png', '.jpg', '.jpeg'];

/** Decodes PNG/JPEG by magic bytes -> {width, height, data, channels} (3 or 4; 1 for gray PNG masks). */
async function readImage(file) {
    let bytes;
    try {
        bytes = fs.readFileSync(file);
    } catch (e) {
        throw new CliError('io', `${file}: cannot read: ${e.message}`);
    }
    try {
        if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) {
            const {PNG} = await import('pngjs');
            const png = PNG.sync.read(bytes);
            const n = png.width * png.height;
            // pngjs expands to RGBA; keep what the file has: gray, RGB, or RGBA (tRNS-less palette = RGB).
            const c = png.alpha ? 4 : png.color ? 3 : 1;
            if (c === 4) return {width: png.width, height: png.height, data: new Uint8Array(png.data), channels: 4};
            const data = new Uint8Array(c * n);
            for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) data[c * i + k] = png.data[4 * i + k];
            return {width: png.width, height: png.height, data, channels: c};
        }
        if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
            const jpeg = (await import('jpeg-js')).default;
            const img = jpeg.decode(bytes, {useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048});
            return {width: img.width, height: img.height, data: img.data, channels: 3};
        }
    } catch (e) {
        throw new CliError('bad-image', `${file}: cannot decode: ${e.message}`);
    }
    throw new CliError('bad-image', `${file}: not a PNG or JPEG image (WebP is native-only)`);
}

/** Encodes by extension and writes atomically (temp file + rename: no partial file on failure). */
async function writeImage(file, img, quality) {
    const ext = path.extname(file).toLowerCase();
    const opaque = img.data.every((v, i) => i % 4 !== 3 || v === 255);
    let bytes;
    if (ext === '.png') {
        const {PNG} = await import('pngjs');
        const png = new PNG({width: img.width, height: img.height, colorType: opaque ? 2 : 6, inputColorType: 6,
                             inputHasAlpha: true});
        png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
        bytes = PNG.sync.write(png, {colorType: opaque ? 2 : 6, inputColorType: 6, inputHasAlpha: true});
    } else if (ext === '.jpg' || ext === '.jpeg') {
        const jpeg = (await import('jpeg-js')).default;
        bytes = jpeg.encode({width: img.width, height: img.height, data: img.data}, quality).data;
    } else {
        throw new CliError('bad-option', `${file}: unsupported output format '${ext}' (use .png or .jpg)`);
    }
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
    try {
        fs.writeFileSync(tmp, bytes);
        fs.renameSync(tmp, file);
    } catch (e) {
        try { fs.unlinkSync(tmp); } catch { /* not created */ }
        throw new CliError('io', `${file}: cannot write: ${e.message}`);
    }
}

// ------------------------------------------------------------------ commands

// Dawn's toggles for this CLI unless MOEBIUS_DAWN_ARGS is set: allow_unsafe_apis exposes subgroup
// matrices (the matrix-unit kernels), vulkan_enable_f16_on_nvidia shader-f16 on NVIDIA (else the f32
// path: ~4x slower), and disable_robustness drops the bounds clamping Dawn adds to every storage access
// in every shader. Browsers keep that pass; it guards against untrusted shaders, and ours are the
// engine's own, which stay in bounds by construction (ops.js checks every kernel's tiles against the
// shapes; the f16 kernel tests pass with it off on an H100). H100, f16, a whole 512x512 inpaint: 438 ->
// 334 ms (NOTES.md, "State (session 19)").
const DEFAULT_DAWN_ARGS = [...(process.platform === 'linux' ? ['backend=vulkan'] : []),
                           'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,disable_robustness'];

function dawnArgs() {
    const env = process.env.MOEBIUS_DAWN_ARGS;
    if (env !== undefined) return env.split(/[\s;]+/).filter(Boolean);  // commas belong to feature lists
    return DEFAULT_DAWN_ARGS;
}

async function makeGpu() {
    const {create, globals} = await import('webgpu');
    Object.assign(globalThis, globals);
    return create(dawnArgs());
}

function modelSource(a) {
    const exists = (p, what) => {
        if (!fs.existsSync(p)) throw new CliError('io', `${what} ${p} does not exist`);
        return p;
    };
    const synth = /^synth:(.+)$/.exec(a.model);
    if (synth) {  // synth:tiny, synth:full: the fixtures' synthetic weights, made in memory
        if (a.vae) throw new CliError('bad-option', '--vae is for upstream files, not synth:');
        return {synth: synth[1] === 'tiny' || synth[1] === 'full' ? synth[1] : fs.readFileSync(exists(synth[1], 'config'), 'utf8')};
    }
    if (!a.vae) {
        if (a.config) throw new CliError('bad-option', '--config is for upstream files: give --vae too');
        return exists(a.model, 'model');
    }
    const vaeDir = exists(a.vae, 'VAE folder');
    if (!fs.statSync(vaeDir).isDirectory()) throw new CliError('io', `${vaeDir}: not a directory (expected a diffusers VAE folder)`);
    const cfg = path.join(vaeDir, 'config.json');
    if (!fs.existsSync(cfg)) throw new CliError('bad-model', `${vaeDir}: no config.json in the VAE folder`);
    const weights = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin'].map((f) => path.join(vaeDir, f))
        .find((f) => fs.existsSync(f));
    if (!weights) throw new CliError('bad-model', `${vaeDir}: no diffusion_pytorch_model.safetensors or .bin in the VAE folder`);
    return {unet: exists(a.model, 'model'), vae: {config: cfg, weights}, ...(a.config ? {config: exists(a.config, 'config')} : {})};
}

/** [image, mask, output] triples for a file or a folder of images. */
function jobsOf(a) {
    const isImage = (f) => IMAGE_EXTS.includes(path.extname(f).toLowerCase());
    if (!fs.existsSync(a.image)) throw new CliError('io', `image ${a.image} does not exist`);
    if (!fs.statSync(a.image).isDirectory()) {
        if (!isImage(a.output)) {
            throw new CliError('bad-option', `${a.output}: unsupported output format '${path.extname(a.output)}' (use .png or .jpg)`);
        }
        return [[a.image, a.mask ?? null, a.output]];
    }
    if (fs.existsSync(a.output) && !fs.statSync(a.output).isDirectory()) {
        throw new CliError('bad-option', '--image is a folder, so -o must be a folder');
    }
    const masks = new Map();
    if (a.mask) {
        if (!fs.existsSync(a.mask) || !fs.statSync(a.mask).isDirectory()) {
            throw new CliError('bad-option', '--image is a folder, so --mask must be a folder too');
        }
        for (const f of fs.readdirSync(a.mask)) if (isImage(f)) masks.set(path.parse(f).name, path.join(a.mask, f));
    }
    const images = fs.readdirSync(a.image).filter(isImage).sort();
    if (!images.length) throw new CliError('bad-option', `no images (.png/.jpg) in ${a.image}`);
    const jobs = images.map((f) => {
        const stem = path.parse(f).name;
        if (a.mask && !masks.has(stem)) throw new CliError('bad-option', `no mask named ${stem}.* in ${a.mask} for ${f}`);
        return [path.join(a.image, f), a.mask ? masks.get(stem) : null, path.join(a.output, `${stem}.png`)];
    });
    try {
        fs.mkdirSync(a.output, {recursive: true});
    } catch (e) {
        throw new CliError('io', `cannot create ${a.output}: ${e.message}`);
    }
    return jobs;
}

function number(v, name, {integer = false, min = -Infinity, max = Infinity} = {}) {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x)) || x < min || x > max) {
        throw new CliError('bad-option', `--${name}: '${v}' is not ${integer ? 'an integer' : 'a number'}` +
                           (min > -Infinity ? ` in [${min}, ${max}]` : ''));
    }
    return x;
}

async function runInpaint(a) {
    for (const k of ['model', 'image', 'output']) if (!a[k]) throw new CliError('bad-option', `--${k} is required`);
    const opts = {
        steps: number(a.steps, 'steps', {integer: true, min: 1, max: 1000}),
        guidance: number(a.guidance, 'guidance'),
        strength: number(a.strength, 'strength', {min: 0.001, max: 1}),
        seed: number(a.seed, 'seed', {integer: true, min: 0, max: Number.MAX_SAFE_INTEGER}),
        noiseOffset: number(a['noise-offset'], 'noise-offset'),
        paste: !a['no-paste'],
        compensate: !!a.compensate,
    };
    if (a.mode !== undefined) {
        if (!['auto', 'whole', 'crop'].includes(a.mode)) throw new CliError('bad-option', `--mode must be auto, whole or crop, got '${a.mode}'`);
        opts.mode = a.mode;
    }
    const quality = number(a.quality ?? '95', 'quality', {integer: true, min: 1, max: 100});
    if (a.noise) {
        const {parseNpy} = await import('../web/js/npy.js');
        let npy;
        try {
            npy = parseNpy(fs.readFileSync(a.noise));
        } catch (e) {
            throw new CliError(e.code === 'ENOENT' ? 'io' : 'bad-option', `${a.noise}: ${e.message}`);
        }
        if (!(npy.data instanceof Float32Array)) throw new CliError('bad-option', `${a.noise}: expected float noise, got ${npy.dtype}`);
        opts.noise = npy.data;
    }
    const jobs = jobsOf(a);
    const model = modelSource(a);

    const {createEngine, MoebiusError} = await import('../web/js/moebius.js');
    const quiet = !!a.quiet, tty = process.stderr.isTTY;
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    const t0 = performance.now();
    const glue = process.env.MOEBIUS_WASM ? path.resolve(process.env.MOEBIUS_WASM) : path.join(root, 'build/wasm/moebius.js');
    const engine = await createEngine({
        gpu: await makeGpu(), model, preferF16: !a.f32, glueUrl: pathToFileURL(glue), signal: ac.signal,
        onProgress: (e) => {
            if (!quiet && tty) process.stderr.write(`\r\x1b[Kloading model ${(e.loaded / 1e6).toFixed(1)} MB`);
        },
    });
    try {
        if (!quiet) {
            const i = engine.info;
            process.stderr.write(`${tty ? '\r\x1b[K' : ''}${i.model}; ${i.adapter.description || i.adapter.vendor} (${i.dtype}), ` +
                                 `loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
        }
        for (const [imagePath, maskPath, outPath] of jobs) {
            const image = await readImage(imagePath);
            const mask = maskPath ? await readImage(maskPath) : null;
            const label = path.basename(imagePath);
            const t1 = performance.now();
            const {image: out, timings} = await engine.inpaint(image, mask, {
                ...opts, signal: ac.signal,
                onProgress: (e) => {
                    if (quiet || !tty) return;
                    const what = e.stage === 'step' ? `denoise ${e.step}/${e.steps}` : e.stage;
                    process.stderr.write(`\r\x1b[K${label} ${what} crop ${e.crop}/${e.crops} ` +
                                         `${((performance.now() - t1) / 1000).toFixed(1)}s`);
                },
            }).catch((e) => { throw e instanceof MoebiusError ? new CliError(e.code, `${imagePath}: ${e.message}`) : e; });
            if (!quiet && tty) process.stderr.write('\r\x1b[K');
            await writeImage(outPath, out, quality);
            if (!quiet) {
                const per = (x) => (x / Math.max(1, timings.steps)).toFixed(0);
                process.stderr.write(`wrote ${outPath} (${(timings.total / 1000).toFixed(1)} s: ${timings.steps} steps, ` +
                                     `${per(timings.denoise)} ms/step of which ${per(timings.record)} ms recording; ` +
                                     `encode ${timings.encode.toFixed(0)} ms, decode ${timings.decode.toFixed(0)} ms)\n`);
            }
        }
    } finally {
        await engine.dispose();
    }
}

async function runInfo() {
    const gpu = await makeGpu();
    const adapter = await gpu.requestAdapter({powerPreference: 'high-performance'});
    if (!adapter) throw new CliError('no-adapter', 'no WebGPU adapter (MOEBIUS_DAWN_ARGS may pick a backend)');
    const info = adapter.info ?? {};
    const L = adapter.limits;
    console.log(`dawn: ${dawnArgs().join(' ')}${process.env.MOEBIUS_DAWN_ARGS === undefined ? ' (defaults)' : ' (MOEBIUS_DAWN_ARGS)'}`);
    console.log(`adapter: ${info.vendor} ${info.architecture} ${info.device} (${info.description})`);
    console.log(`features: ${[...adapter.features].sort().join(', ')}`);
    console.log(`f16 storage: ${adapter.features.has('shader-f16') ? 'yes' : 'no (float32)'}`);
    console.log(`limits: maxBufferSize ${L.maxBufferSize}, maxStorageBufferBindingSize ${L.maxStorageBufferBindingSize}, ` +
                `workgroup storage ${L.maxComputeWorkgroupStorageSize}`);
}

async function main(argv) {
    const cmd = argv[0];
    if (!cmd || cmd === '-h' || cmd === '--help') {
        process.stdout.write(USAGE);
        return cmd ? 0 : 2;
    }
    if (cmd === 'synth' || cmd === 'convert') {
        process.stderr.write(`moebius-gpu: '${cmd}' is native-only (the WebAssembly build does not write model files ` +
                             `from scratch): run \`moebius ${cmd}\`\n`);
        return 2;
    }
    if (cmd === 'info') {
        await runInfo();
        return 0;
    }
    if (cmd !== 'inpaint') {
        process.stderr.write(`moebius-gpu: unknown command '${cmd}'\n${USAGE}`);
        return 2;
    }
    let parsed;
    try {
        parsed = parseArgs({args: argv.slice(1), allowPositionals: false, strict: true, options: {
            model: {type: 'string', short: 'm'}, vae: {type: 'string'}, config: {type: 'string'},
            image: {type: 'string', short: 'i'}, mask: {type: 'string'}, output: {type: 'string', short: 'o'},
            steps: {type: 'string'}, guidance: {type: 'string'}, strength: {type: 'string'}, seed: {type: 'string'},
            noise: {type: 'string'}, 'noise-offset': {type: 'string'}, mode: {type: 'string'},
            'no-paste': {type: 'boolean'}, compensate: {type: 'boolean'}, f32: {type: 'boolean'},
            quality: {type: 'string'}, quiet: {type: 'boolean', short: 'q'}, help: {type: 'boolean', short: 'h'},
        }});
    } catch (e) {
        throw new CliError('bad-option', e.message);
    }
    if (parsed.values.help) {
        process.stdout.write(USAGE);
        return 0;
    }
    await runInpaint(parsed.values);
    return 0;
}

try {
    process.exitCode = await main(process.argv.slice(2));
} catch (e) {
    const code = e?.code && e.code in EXIT ? e.code : 'internal';
    process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}moebius-gpu: ${e?.message ?? e}\n`);
    process.exitCode = EXIT[code];
}
