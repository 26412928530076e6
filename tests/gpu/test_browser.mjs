// test_browser.mjs: the engine in headless Chromium (WebGPU on SwiftShader, or the machine's GPU):
// a tiny static server (node:http, COOP/COEP headers so the page is cross-origin isolated) serves the
// repository and maps /fixtures/ to the fixtures folder; tests/gpu/browser.html imports
// web/js/moebius.js unchanged, loads the tiny model over HTTP (streamed), runs the UNet call at
// t = 900 through WASM + WebGPU and reports its error against unet_out.npy, plus error paths.
//
//   node tests/gpu/test_browser.mjs          (npm run test:gpu runs it after test_webgpu_backend.mjs)
//
// Needs Debian's chromium (/usr/bin/chromium, or $CHROMIUM) and npm playwright-core; without them the
// test says so and exits 0 with "0 passed, 0 failed, 1 skipped". Glue: $MOEBIUS_WASM or
// build/wasm/moebius.js (must lie inside the repository: it is served from there).
// Tolerance: as tests/gpu/test_webgpu_backend.mjs (a): 4 x the 5.5e-6 float32-vs-float64 spread of the
// UNet output (fixtures README).

import {createReadStream, existsSync, statSync} from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixtures = path.resolve(process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures'));
const glue = path.resolve(process.env.MOEBIUS_WASM ?? path.join(root, 'build/wasm/moebius.js'));
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TOL_UNET_F32 = 4 * 5.5e-6;  // 4 x the tiny UNet output's float32-vs-float64 spread (README), as native

let passed = 0, failed = 0;
function report(name, ok, detail = '') {
    if (ok) passed++; else failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name.padEnd(52)} ${detail}`);
}

let playwright = null;
try {
    playwright = await import('playwright-core');
} catch { /* reported below */ }
if (!playwright || !existsSync(chromiumPath)) {
    console.log(`skip browser test: ${!playwright ? 'npm playwright-core is not installed' : `no Chromium at ${chromiumPath}`}`);
    console.log('0 passed, 0 failed, 1 skipped');
    process.exit(0);
}
if (!existsSync(glue) || path.relative(root, glue).startsWith('..')) {
    console.error(`${glue}: not found inside the repository (build it with scripts/build-wasm.sh)`);
    process.exit(2);
}

// ------------------------------------------------------------------ static server

const TYPES = {'.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
               '.json': 'application/json', '.wgsl': 'text/plain', '.png': 'image/png'};
const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const rel = decodeURIComponent(url.pathname);
    const file = rel.startsWith('/fixtures/') ? path.join(fixtures, rel.slice('/fixtures/'.length)) : path.join(root, rel);
    const base = rel.startsWith('/fixtures/') ? fixtures : root;
    if (path.relative(base, file).startsWith('..') || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404).end('not found');
        return;
    }
    res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'Content-Length': statSync(file).size,
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-store',
    });
    createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${/** @type {any} */ (server.address()).port}`;

// ------------------------------------------------------------------ Chromium

const browser = await playwright.chromium.launch({
    executablePath: chromiumPath,
    args: ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--no-sandbox',
           '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-quic', ...(process.env.CHROMIUM_ARGS ?? '').split(/\s+/).filter(Boolean)],
});
let code = 0;
try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    page.on('response', (resp) => { if (resp.status() >= 400) pageErrors.push(`HTTP ${resp.status()} ${resp.url()}`); });
    await page.goto(`${origin}/tests/gpu/browser.html`);
    await page.waitForFunction(() => typeof (/** @type {any} */ (window)).runTest === 'function', null, {timeout: 30000});
    const info = await page.evaluate(async () => {
        const a = await navigator.gpu?.requestAdapter();
        return a ? `${a.info?.vendor} ${a.info?.architecture} ${a.info?.description}` : null;
    });
    console.log(`Chromium ${browser.version()}, WebGPU adapter: ${info}`);
    const swiftshader = /swiftshader/i.test(info ?? '');
    const rows = swiftshader ? [1] : [0, 1];  // one row costs minutes on SwiftShader
    const t0 = performance.now();
    const r = await page.evaluate((p) => (/** @type {any} */ (window)).runTest(p),
                                  {glue: `/${path.relative(root, glue)}`, rows, f16: false});
    report('page: cross-origin isolated, navigator.gpu', r.crossOriginIsolated && r.hasGpu,
           `isolated ${r.crossOriginIsolated}, gpu ${r.hasGpu}`);
    report('model streamed over HTTP and loaded', r.info?.nativeSize === 512 && r.loadEvents > 0,
           `${r.info?.model} (${r.info?.dtype}) in ${(r.loadMs / 1000).toFixed(1)} s, ${r.loadEvents} chunks`);
    report(`unet t=900 rows [${rows}] f32 in Chromium vs unet_out.npy`, r.unetMaxErr <= TOL_UNET_F32,
           `max |err| ${r.unetMaxErr?.toExponential(2)} (tol ${TOL_UNET_F32}; ${(r.unetMs / 1000).toFixed(1)} s)`);
    report('page: a PNG as the model -> bad-model', r.errBadModel === 'bad-model', r.errBadModel);
    report('page: no adapter -> no-adapter', r.errNoAdapter === 'no-adapter', r.errNoAdapter);
    report('page: aborted signal -> cancelled', r.errCancelled === 'cancelled', r.errCancelled);
    report('page: no uncaught errors', pageErrors.length === 0, pageErrors.slice(0, 3).join(' | '));
    console.log(`browser run ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
    report('browser run', false, e?.message ?? String(e));
    code = 1;
} finally {
    await browser.close();
    server.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || code ? 1 : 0);
