// End-to-end tests of the web app (web/dist/, built by scripts/build-web.sh) in headless Chromium
// through playwright-core, with the tiny model served locally in the Hugging Face layout
// (scripts/serve.mjs --fixtures). Run: npm run test:e2e (builds first), or
//   node --test --test-concurrency=1 tests/web/e2e/
// Screenshots of every state go to test-artifacts/screenshots/ (look at them).
//
// Engine: headless Chromium only has SwiftShader, a software WebGPU adapter; the app's "auto"
// engine choice skips software adapters for the WASM CPU engine (far faster there), so runs here use
// the CPU backend. The WebGPU path is covered by loading the model on it ("GPU" engine) — a tiny
// SwiftShader inpaint takes tens of minutes — and by tests/gpu (Node + Dawn).
//
// The result check: the PNG the app downloads must equal what the engine gives through its JS API
// for the same inputs (image.png, the mask the app saved, the same options, the f16 model file the
// app converts): createEngine({backend: 'cpu'}) of web/dist's moebius.js on the same WebAssembly
// module in Node — byte-identical expected, ≤ 1 level tolerated
// (the same WebAssembly code on the same inputs is deterministic; 1 level is the project-wide
// tolerance for result images).
//
// Environment: MOEBIUS_FIXTURES (default ../shared/fixtures), CHROMIUM (default /usr/bin/chromium),
// MOEBIUS_E2E_ARTIFACTS (default test-artifacts).

import assert from 'node:assert/strict';
import {existsSync, mkdirSync, readFileSync, rmSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {fileURLToPath, pathToFileURL} from 'node:url';

import {PNG} from 'pngjs';
import {chromium} from 'playwright-core';

import {createServer} from '../../../scripts/serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dist = path.join(root, 'web/dist');
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const artifacts = path.resolve(root, process.env.MOEBIUS_E2E_ARTIFACTS ?? 'test-artifacts');
const shots = path.join(artifacts, 'screenshots');
const BASE = '/moebius/app/';  // a sub-path, as on a Pages site
const CHROMIUM_ARGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
                       '--disable-sync', '--disable-quic'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];
const LEVELS = 1;  // result tolerance, see the header

if (!existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist} missing: run scripts/build-web.sh first`);
if (!existsSync(path.join(fixtures, 'tiny/removal_model.bin'))) throw new Error(`fixtures not found at ${fixtures}`);

/** @type {ReturnType<typeof createServer>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('playwright-core').BrowserContext} */
let ctx;
/** @type {import('playwright-core').Page} */
let page;
/** console errors and page errors of the current page */
let pageErrors = [];

before(async () => {
    rmSync(shots, {recursive: true, force: true});
    mkdirSync(shots, {recursive: true});
    srv = createServer({root: dist, base: BASE, fixtures});
    await new Promise((r) => srv.server.listen(0, '127.0.0.1', r));
    browser = await chromium.launch({executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: [...WEBGPU_ARGS, ...CHROMIUM_ARGS]});
    ctx = await browser.newContext({viewport: {width: 1280, height: 800}, acceptDownloads: true});
    page = await openPage(ctx);
});

after(async () => {
    await browser?.close();
    srv?.server.close();
});

/** @param {import('playwright-core').BrowserContext} c */
async function openPage(c) {
    const p = await c.newPage();
    p.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    if (process.env.E2E_CONSOLE) p.on('console', (m) => console.log('# console', m.type(), m.text().slice(0, 300)));
    p.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(`console: ${m.text()}`); });
    await p.goto(srv.url());
    await p.waitForSelector('html[data-ready=true]', {timeout: 60000});
    return p;
}

/** @param {string} name @param {import('playwright-core').Page} [p] */
async function shot(name, p = page) {
    await p.screenshot({path: path.join(shots, `${name}.png`)});
}

const testRequests = () => srv.requests.filter((r) => r.url.includes('/__test/hf/') || r.url.includes('/__test/fixtures/tiny/model_config'));

/**
 * Fills the model dialog with the local mirror of the tiny model.
 * @param {import('playwright-core').Page} p @param {string} [route]  'hf' or 'flaky/hf' (drops each file's first GET halfway)
 */
async function pointModelAtFixtures(p, route = 'hf') {
    if (!(await p.isVisible('#model-dialog'))) await p.click('#model-open');
    if (!(await p.isVisible('#m-base'))) await p.locator('#m-source summary').click();
    const u = srv.url();
    await p.fill('#m-base', `${u}__test/${route}/Moebius/`);
    await p.fill('#m-vae', `${u}__test/${route}/PixelHacker/vae/`);
    await p.fill('#m-config', `${u}__test/fixtures/tiny/model_config.json`);
    await p.locator('#m-config').dispatchEvent('change');
}

/** Paints a stroke through image pixel coordinates with the mouse. @param {[number, number][]} pts */
async function paint(pts, p = page) {
    const box = /** @type {{x: number, y: number, width: number, height: number}} */ (await p.locator('.stage').boundingBox());
    const w = await p.evaluate(() => window.moebiusApp.editor.width);
    const k = box.width / w;
    const at = ([x, y]) => [box.x + x * k, box.y + y * k];
    await p.mouse.move(...at(pts[0]));
    await p.mouse.down();
    for (const q of pts.slice(1)) await p.mouse.move(...at(q), {steps: 8});
    await p.mouse.up();
}

/** Waits until a model is loaded (the panel's model box turns "ready"). */
async function modelReady(p = page) {
    await p.waitForFunction(() => document.querySelector('.model-status').classList.contains('ready'), null, {timeout: 120000});
}

/** Text of every message shown (page and dialogs). */
const alertsText = (p = page) => p.evaluate(() => [...document.querySelectorAll('.alert')].map((a) => a.textContent).join('\n'));

/** Dismisses every message (with its own Dismiss button). */
async function dismissAlerts(p = page) {
    await p.evaluate(() => document.querySelectorAll('.alert button').forEach((b) => /** @type {HTMLElement} */ (b).click()));
}

/**
 * A test that saves a screenshot when it fails (test-artifacts/screenshots/FAIL-<name>.png).
 * @param {string} name @param {() => Promise<void> | void} fn
 */
function step(name, fn) {
    test(name, async () => {
        try {
            await fn();
        } catch (e) {
            const st = await page?.evaluate(() => ({run: window.moebiusApp.state.run, loading: window.moebiusApp.state.modelLoading,
                                                    model: window.moebiusApp.state.model?.label})).catch((x) => String(x));
            console.log('# state at failure:', JSON.stringify(st));
            await page?.screenshot({path: path.join(shots, `FAIL-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`)}).catch(() => {});
            throw e;
        }
    });
}

const coverage = (p = page) => p.evaluate(() => window.moebiusApp.mask().reduce((n, v) => n + (v >= 128 ? 1 : 0), 0));

/** @param {string} file */
function readPng(file) {
    const png = PNG.sync.read(readFileSync(file));
    return {width: png.width, height: png.height, data: new Uint8Array(png.data)};
}

// ------------------------------------------------------------------ tests

step('first visit: capabilities detected, empty editor, no model', async () => {
    assert.match(await page.textContent('#cap'), /WebGPU: .*swiftshader.*f32/i);
    assert.match(await page.textContent('#model-line'), /not loaded/);
    assert.equal(await page.isDisabled('#undo'), true);
    await shot('01-first-visit');
});

step('model: size shown and asked, downloaded from the mirror, converted, stored', async () => {
    await pointModelAtFixtures(page);
    await page.waitForFunction(() => /Downloads .*MB once/.test(document.querySelector('#m-size').textContent));
    const size = await page.textContent('#m-size');
    assert.match(size, /17\.\d MB/);  // 12.1 MB + 5.6 MB + the two JSON files
    assert.match(await page.textContent('#m-download'), /Download 17\.\d MB/);
    assert.equal(testRequests().filter((r) => r.method === 'GET').length, 0, 'nothing downloaded before asking');
    await shot('02-model-dialog');
    await page.click('#m-download');
    await modelReady();
    assert.equal(await page.isVisible('#model-dialog'), false, 'the dialog closes once the model is ready');
    const gets = testRequests().filter((r) => r.method === 'GET').map((r) => r.url);
    assert.equal(gets.length, 4, gets.join('\n'));
    assert.match(await page.textContent('#model-line'), /ft_places2.*CPU/);
    // auto skipped the software GPU and said why
    assert.match(await alertsText(), /software-emulated GPU.*CPU/);
    await shot('03-model-ready');
    assert.match(await page.textContent('#cap'), /CPU/);
    await dismissAlerts();
});

step('editor: open an image with the file picker', async () => {
    await page.setInputFiles('#image-file', path.join(fixtures, 'tiny/image.png'));
    await page.waitForSelector('.viewport.has-image');
    assert.match(await page.textContent('#progress-text'), /512 × 512/);
    const box = await page.locator('.stage').boundingBox();
    assert.ok(Math.abs(box.width - box.height) < 0.5, 'square image shown square (no distortion)');
    await shot('04-image-open');
});

step('editor: paint with the mouse, undo and redo (buttons and keys)', async () => {
    assert.equal(await coverage(), 0);
    await paint([[200, 230], [260, 250], [330, 240]]);
    const c1 = await coverage();
    assert.ok(c1 > 3000, `painted ${c1} pixels`);
    await paint([[250, 330], [300, 330]]);
    const c2 = await coverage();
    assert.ok(c2 > c1);
    await shot('05-mask-painted');
    await page.keyboard.press('Control+z');
    assert.equal(await coverage(), c1);
    await page.click('#undo');
    assert.equal(await coverage(), 0);
    assert.equal(await page.isDisabled('#undo'), true);
    await page.keyboard.press('Control+Shift+z');
    assert.equal(await coverage(), c1);
    await page.click('#redo');
    assert.equal(await coverage(), c2);
    assert.equal(await page.isDisabled('#redo'), true);
    // brush size with [ and ]
    const s0 = await page.evaluate(() => window.moebiusApp.editor.brushSize);
    await page.keyboard.press(']');
    assert.ok(await page.evaluate(() => window.moebiusApp.editor.brushSize) > s0);
    await page.keyboard.press('[');
});

step('editor: hold \\ to see the original', async () => {
    await page.keyboard.down('\\');
    assert.equal(await page.evaluate(() => document.querySelector('.viewport').classList.contains('showing-original')), true);
    await shot('06-hold-original');
    await page.keyboard.up('\\');
    assert.equal(await page.evaluate(() => document.querySelector('.viewport').classList.contains('showing-original')), false);
});

/** @type {string} */
let maskFile = '';
/** @type {string} */
let resultFile = '';

step('run: Ctrl+Enter, per-step progress, result replaces the image, download at full resolution', async () => {
    // save the mask the engine will get (Grow is 0): the reference run uses this file
    await page.click('#mask-menu summary');
    const [maskDl] = await Promise.all([page.waitForEvent('download'), page.click('#mask-save')]);
    maskFile = path.join(artifacts, 'e2e-mask.png');
    await maskDl.saveAs(maskFile);
    await page.click('#advanced summary');
    await page.fill('#opt-steps', '3');
    await page.fill('#opt-seed', '7');
    await page.locator('#opt-seed').dispatchEvent('change');
    await shot('07-advanced-options');
    const steps = [];
    await page.exposeFunction('__stepSeen', (t) => steps.push(t));
    await page.evaluate(() => new MutationObserver(() => window.__stepSeen(document.querySelector('#progress-text').textContent))
        .observe(document.querySelector('#progress-text'), {childList: true, characterData: true, subtree: true}));
    // the per-step preview layer: shown over the image window while steps run, gone at the end
    const previews = [];
    await page.exposeFunction('__previewSeen', (p) => previews.push(p));
    await page.evaluate(() => {
        const c = /** @type {HTMLCanvasElement} */ (document.querySelector('.preview-layer'));
        new MutationObserver(() => {
            if (!c.hidden) window.__previewSeen({left: c.style.left, top: c.style.top, width: c.style.width, height: c.style.height, cw: c.width});
        }).observe(c, {attributes: true});
    });
    await page.locator('#viewport').focus();
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => /^Done/.test(document.querySelector('#progress-text').textContent), null, {timeout: 180000});
    assert.ok(steps.some((t) => /^Step 1 of 2\b/.test(t)), steps.join(' | '));  // int(3 × 0.99) = 2 denoising steps
    assert.ok(steps.some((t) => /^Step 2 of 2\b/.test(t)), steps.join(' | '));
    assert.ok(previews.length >= 1, 'a preview was shown during the steps');
    assert.deepEqual(previews[0], {left: '0px', top: '0px', width: '512px', height: '512px', cw: 512}, 'whole mode: over the whole image');
    assert.equal(await page.locator('.preview-layer').isHidden(), true, 'the preview is gone once the result is shown');
    assert.equal(await coverage(), 0, 'the mask is consumed by the run');
    assert.equal(await page.locator('#strip li').count(), 2);
    await shot('08-result');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    resultFile = path.join(artifacts, 'e2e-result.png');
    await dl.saveAs(resultFile);
    assert.match(dl.suggestedFilename(), /^image-moebius-1\.png$/);
    const png = readPng(resultFile);
    assert.equal(png.width, 512);
    assert.equal(png.height, 512);
});

step('run: the downloaded PNG equals the JS API result for the same inputs', async () => {
    const gluePath = path.join(dist, 'engine/build/wasm/moebius.js');
    const g = /** @type {any} */ (globalThis);
    g.require ??= createRequire(gluePath);
    g.__dirname ??= path.dirname(gluePath);
    const factory = (await import(pathToFileURL(gluePath).href)).default;
    const {convertToModelFile} = await import(pathToFileURL(path.join(root, 'web/app/wasm-engine.js')).href);
    const {createEngine} = await import(pathToFileURL(path.join(dist, 'engine/web/js/moebius.js')).href);
    const wasmBinary = readFileSync(gluePath.replace(/\.js$/, '.wasm'));
    const M = await factory({wasmBinary, print: () => {}, printErr: () => {}});
    const toHeap = (b) => { const p = M._malloc(b.length); M.HEAPU8.set(b, p); return {ptr: p, n: b.length}; };
    const bytes = convertToModelFile(M, {unet: toHeap(readFileSync(path.join(fixtures, 'tiny/removal_model.bin'))),
                                         vae: toHeap(readFileSync(path.join(fixtures, 'tiny/vae/diffusion_pytorch_model.safetensors'))),
                                         vaeConfig: readFileSync(path.join(fixtures, 'tiny/vae/config.json'), 'utf8'),
                                         modelConfig: readFileSync(path.join(fixtures, 'tiny/model_config.json'), 'utf8')});
    const engine = await createEngine({backend: 'cpu', model: bytes, glueUrl: pathToFileURL(gluePath)});
    const image = readPng(path.join(fixtures, 'tiny/image.png'));
    const maskPng = readPng(maskFile);
    const mask = {width: maskPng.width, height: maskPng.height, channels: 1,
                  data: Uint8Array.from({length: maskPng.width * maskPng.height}, (_, i) => maskPng.data[4 * i])};
    const ref = await engine.inpaint(image, mask, {steps: 3, guidance: 2.5, strength: 0.99, seed: 7, mode: 'auto', paste: true, compensate: false});
    const got = readPng(resultFile);
    let maxDiff = 0, differ = 0;
    for (let i = 0; i < got.data.length; i++) {
        const d = Math.abs(got.data[i] - ref.image.data[i]);
        if (d) differ++;
        maxDiff = Math.max(maxDiff, d);
    }
    console.log(`# app vs API: max difference ${maxDiff} level(s), ${differ} of ${got.data.length} values differ`);
    assert.ok(maxDiff <= LEVELS, `max difference ${maxDiff}`);
    // and the run changed the masked area
    const input = image.data;
    let changed = 0;
    for (let i = 0; i < got.data.length; i++) if (got.data[i] !== input[i]) changed++;
    assert.ok(changed > 1000, `${changed} values changed`);
    await engine.dispose();
});

step('results: before/after compare slider and the versions strip', async () => {
    await page.check('#compare-toggle');
    await page.locator('#compare').fill('520');  // the divider crosses the filled area: before on the left, after on the right
    assert.equal(await page.isVisible('#compare'), true);
    await shot('09-compare');
    await page.uncheck('#compare-toggle');
    // back to the original and forth again, undoable
    await page.locator('#strip li').first().locator('button').click();
    assert.equal(await page.evaluate(() => window.moebiusApp.state.currentId), 1);
    await page.keyboard.press('Control+z');
    assert.equal(await page.evaluate(() => window.moebiusApp.state.currentId), 2);
});

step('results: download as JPEG and WebP at full resolution', async () => {
    for (const [type, ext, magic] of [['image/jpeg', 'jpg', [0xff, 0xd8, 0xff]], ['image/webp', 'webp', [0x52, 0x49, 0x46, 0x46]]]) {
        await page.selectOption('#dl-format', type);
        const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
        assert.ok(dl.suggestedFilename().endsWith(`.${ext}`), dl.suggestedFilename());
        const bytes = readFileSync(await dl.path());
        assert.deepEqual([...bytes.subarray(0, 3)], magic.slice(0, 3));
    }
    await page.selectOption('#dl-format', 'image/png');
});

step('run: cancel mid-run keeps the image and the mask', async () => {
    await paint([[100, 100], [140, 120]]);
    const c = await coverage();
    const id = await page.evaluate(() => window.moebiusApp.state.currentId);
    await page.fill('#opt-steps', '400');
    await page.locator('#opt-steps').dispatchEvent('change');
    await page.click('#run');
    await page.waitForFunction(() => /^Step [1-9]\d* of 396/.test(document.querySelector('#progress-text').textContent), null, {timeout: 120000});
    assert.equal(await page.locator('.preview-layer').isVisible(), true, 'the step preview shows over the area');
    await shot('10-running');
    await page.click('#cancel');
    await page.waitForFunction(() => /Cancelled/.test(document.querySelector('#progress-text').textContent), null, {timeout: 60000});
    assert.equal(await page.evaluate(() => window.moebiusApp.state.currentId), id);
    assert.equal(await coverage(), c);
    assert.equal(await page.isEnabled('#run'), true);
    await shot('11-cancelled');
    await page.fill('#opt-steps', '3');
    await page.locator('#opt-steps').dispatchEvent('change');
});

step('errors: empty mask and a wrong model file say what to do', async () => {
    await page.click('#clear');
    await page.click('#run');
    await page.waitForSelector('.alert:has-text("Nothing to remove yet")');
    await page.click('#model-open');
    await page.setInputFiles('#m-files', path.join(fixtures, 'tiny/image.png'));
    await page.waitForSelector('.alert:has-text("Not a usable model file")', {timeout: 60000});
    await shot('12-error-bad-model-file');
    assert.match(await page.textContent('#model-line'), /ft_places2/, 'a bad file keeps the loaded model');
    await page.click('#m-close');
    await dismissAlerts();
});

step('errors: a model URL that does not exist', async () => {
    await page.click('#model-open');
    await page.fill('#m-base', `${srv.url()}__test/nowhere/`);
    await page.locator('#m-base').dispatchEvent('change');
    await page.waitForFunction(() => /size unknown|Could not check/.test(document.querySelector('#m-size').textContent));
    await page.click('#m-download');
    await page.waitForSelector('.alert:has-text("Model file not found")', {timeout: 60000});
    await shot('13-error-404');
    await page.click('#m-defaults');
    await page.click('#m-close');
    await dismissAlerts();
});

step('model from disk: the upstream files, converted in the page', async () => {
    await page.click('#model-open');
    await page.setInputFiles('#m-files', ['tiny/removal_model.bin', 'tiny/vae/diffusion_pytorch_model.safetensors',
                                          'tiny/vae/config.json', 'tiny/model_config.json'].map((f) => path.join(fixtures, f)));
    await modelReady();
    assert.match(await page.textContent('#model-line'), /removal_model\.bin/);
    await dismissAlerts();
});

step('storage panel lists the stored models', async () => {
    await page.click('#storage-open');
    await page.waitForSelector('#s-list tr >> text=ft_places2');
    assert.equal(await page.locator('#s-list tr').count(), 2);
    assert.match(await page.textContent('#s-usage'), /This site uses/);
    await shot('14-storage');
    await page.click('#storage-dialog button[value=close]');
});

step('reload: the model comes from the cache without a network request', async () => {
    // use the downloaded model again (the last one loaded was the disk one)
    const key = await page.evaluate(async () => {
        const c = await caches.open('moebius-models-v1');
        return (await c.keys()).map((r) => r.url).find((u) => u.includes('__test/hf/'));
    });
    await page.evaluate((k) => localStorage.setItem('moebius.lastModel', JSON.stringify({key: k, label: 'ft_places2'})), key);
    // the photo being edited and its mask survive the reload too (IndexedDB)
    await paint([[60, 400], [160, 420]]);
    const c = await coverage();
    const pixels = async () => page.evaluate(() => {
        const d = window.moebiusApp.currentImage().data;
        let h = 0;
        for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) >>> 0;
        return h;
    });
    const before = await pixels();
    await page.waitForTimeout(500);  // the mask is saved 300 ms after the last edit
    const n0 = testRequests().length;
    await page.reload();
    await page.waitForSelector('html[data-ready=true]', {timeout: 60000});
    assert.match(await page.textContent('#model-line'), /ft_places2.*CPU/);
    assert.equal(testRequests().length, n0, 'no request for model files');
    assert.equal(await coverage(), c, 'mask restored');
    assert.equal(await pixels(), before, 'image restored');
    assert.match(await page.textContent('#progress-text'), /Restored/);
    await shot('15-reloaded-from-cache');
});

step('offline: with the server down, the app and the stored model still load (service worker)', async () => {
    await page.evaluate(() => navigator.serviceWorker.ready);
    const port = /** @type {import('node:net').AddressInfo} */ (srv.server.address()).port;
    await new Promise((r) => { srv.server.close(r); srv.server.closeAllConnections(); });
    try {
        await page.reload();
        await page.waitForSelector('html[data-ready=true]', {timeout: 60000});
        assert.equal(await page.evaluate(() => !!navigator.serviceWorker.controller), true);
        assert.match(await page.textContent('#model-line'), /ft_places2/);
        await page.setInputFiles('#image-file', path.join(fixtures, 'tiny/image.png'));
        await page.waitForSelector('.viewport.has-image');
        await shot('16-offline');
    } finally {
        await new Promise((r) => srv.server.listen(port, '127.0.0.1', r));
    }
});

step('editor: drop and paste open images of any aspect ratio; wheel zoom keeps the point under the pointer', async () => {
    const wide = new PNG({width: 300, height: 120});
    for (let i = 0; i < 300 * 120; i++) wide.data.set([i % 300, (i / 300) & 255, 128, 255], 4 * i);
    const b64 = PNG.sync.write(wide).toString('base64');
    const dt = await page.evaluateHandle((b) => {
        const d = new DataTransfer();
        d.items.add(new File([Uint8Array.from(atob(b), (c) => c.charCodeAt(0))], 'wide.png', {type: 'image/png'}));
        return d;
    }, b64);
    await page.dispatchEvent('#viewport', 'dragenter', {dataTransfer: dt});
    assert.equal(await page.isVisible('#drop-hint'), true);
    await page.dispatchEvent('#viewport', 'drop', {dataTransfer: dt});
    await page.waitForFunction(() => window.moebiusApp.editor.width === 300);
    assert.equal(await page.isVisible('#drop-hint'), false);
    const box = await page.locator('.stage').boundingBox();
    assert.ok(Math.abs(box.width / box.height - 2.5) < 0.01, `shown at ${box.width}x${box.height}`);
    await shot('22-dropped-wide-image');
    // wheel zoom about the pointer
    const at = {x: box.x + box.width * 0.25, y: box.y + box.height * 0.5};
    await page.mouse.move(at.x, at.y);
    const before = await page.evaluate(({x, y}) => {
        const e = window.moebiusApp.editor, r = e.viewport.getBoundingClientRect();
        return {s: e.scale, p: e.toImage({x: x - r.left, y: y - r.top})};
    }, at);
    await page.mouse.wheel(0, -400);
    await page.waitForFunction((s) => window.moebiusApp.editor.scale > s, before.s);
    const after = await page.evaluate(({x, y}) => {
        const e = window.moebiusApp.editor, r = e.viewport.getBoundingClientRect();
        return e.toImage({x: x - r.left, y: y - r.top});
    }, at);
    assert.ok(Math.abs(after.x - before.p.x) < 0.5 && Math.abs(after.y - before.p.y) < 0.5, JSON.stringify({before, after}));
    await page.keyboard.press('0');
    // paste
    await page.evaluate((b) => {
        const d = new DataTransfer();
        d.items.add(new File([Uint8Array.from(atob(b), (c) => c.charCodeAt(0))], 'clip.png', {type: 'image/png'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: d, bubbles: true}));
    }, readFileSync(path.join(fixtures, 'tiny/image.png')).toString('base64'));
    await page.waitForFunction(() => window.moebiusApp.editor.width === 512);
});

step('mask: load from an image file, grow and feather controls', async () => {
    await page.setInputFiles('#mask-file', path.join(fixtures, 'tiny/mask.png'));
    const ref = readPng(path.join(fixtures, 'tiny/mask.png'));
    let want = 0;
    for (let i = 0; i < ref.width * ref.height; i++) if (ref.data[4 * i] >= 128) want++;
    await page.waitForFunction((n) => window.moebiusApp.mask().reduce((a, v) => a + (v >= 128 ? 1 : 0), 0) === n, want);
    await page.waitForFunction(() => /Mask: [\d.]+ %/.test(document.querySelector('#mask-info').textContent));
    const pct = async () => Number(/([\d.]+) %/.exec(await page.textContent('#mask-info'))[1]);
    const p0 = await pct();
    await page.locator('#dilate').fill('12');
    await page.waitForFunction((p) => Number(/([\d.]+) %/.exec(document.querySelector('#mask-info').textContent)?.[1]) > p, p0);
    assert.match(await page.textContent('#dilate-out'), /12 px/);
    await page.locator('#feather').fill('6');
    assert.match(await page.textContent('#feather-out'), /6 px/);
    await shot('23-mask-loaded-grown');
    await page.locator('#dilate').fill('0');
    await page.locator('#feather').fill('0');
    await page.click('#undo');
    assert.equal(await coverage(), 0);
});

step('phone width: one column, no horizontal scrolling', async () => {
    const phone = await browser.newContext({viewport: {width: 390, height: 844}, deviceScaleFactor: 2, isMobile: true, hasTouch: true});
    const p = await openPage(phone);
    await p.setInputFiles('#image-file', path.join(fixtures, 'tiny/image.png'));
    await p.waitForSelector('.viewport.has-image');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `horizontal overflow ${overflow}px`);
    await shot('17-phone', p);
    await p.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await shot('18-phone-panel', p);
    await phone.close();
});

step('keyboard: controls are reachable and focus is visible', async () => {
    await page.keyboard.press('Escape');
    await page.locator('#run').focus();
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'run');
    assert.notEqual(outline, 'none');
    await shot('19-focus-visible');
    // every button and form control has an accessible name
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('button, input, select')].filter((el) => {
        const e = /** @type {HTMLElement} */ (el);
        if (e.closest('[hidden]') || (e instanceof HTMLInputElement && e.type === 'file')) return false;
        const label = e.getAttribute('aria-label') || (e.id && document.querySelector(`label[for="${e.id}"]`)?.textContent) ||
            e.closest('label')?.textContent || e.textContent;
        return !label?.trim();
    }).map((e) => e.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, []);
});

step('no WebGPU: CPU engine with a notice', async () => {
    const b2 = await chromium.launch({executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS});
    try {
        const c2 = await b2.newContext({viewport: {width: 1280, height: 800}});
        const p = await openPage(c2);
        assert.match(await p.textContent('#cap'), /No WebGPU/);
        await pointModelAtFixtures(p, 'flaky/hf');  // the connection drops halfway through each file
        await p.waitForFunction(() => /Download/.test(document.querySelector('#m-download').textContent));
        await p.click('#m-download');
        await modelReady(p);
        const resumed = srv.requests.filter((r) => r.url.includes('/__test/flaky/') && r.range && r.status === 206);
        for (const f of ['Moebius/ft_places2/diffusion_pytorch_model.bin', 'PixelHacker/vae/diffusion_pytorch_model.safetensors']) {
            assert.ok(resumed.some((r) => r.url.endsWith(f)), `${f} resumed with a Range request`);
        }
        assert.match(await alertsText(p), /No usable GPU.*CPU.*slow/);
        await shot('20-no-webgpu-cpu-notice', p);
        await c2.close();
    } finally {
        await b2.close();
    }
});

step('WebGPU engine: the model loads on the GPU when chosen', async () => {
    if (!(await page.isVisible('#opt-backend'))) await page.click('#advanced summary');
    await page.selectOption('#opt-backend', 'gpu');
    await pointModelAtFixtures(page);
    await page.waitForFunction(() => /^Load$/.test(document.querySelector('#m-download').textContent));  // stored already
    await page.click('#m-download');
    await modelReady();
    assert.match(await page.textContent('#model-line'), /GPU \(WebGPU, f32\)/);
    assert.match(await page.textContent('#cap'), /GPU \(WebGPU, f32\)/);
    await shot('21-webgpu-engine');
    await page.click('#help-open');
    assert.match(await page.textContent('#device-info'), /WebGPU.*swiftshader.*shader-f16.*no.*GPU limits.*buffer.*Storage.*used of.*CPU threads.*cross-origin isolated/s);
    await shot('24-help-device-info');
    await page.click('#help-dialog button[value=close]');
    await dismissAlerts();
    await page.selectOption('#opt-backend', 'auto');
});

test('no uncaught errors on the pages', () => {
    assert.deepEqual(pageErrors, []);
});
