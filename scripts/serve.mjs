#!/usr/bin/env node
// serve.mjs: a small static server for the web app (no dependencies). It sends the COOP/COEP
// headers that cross-origin isolation (threads, SharedArrayBuffer) needs, byte ranges (resumable
// downloads) and correct MIME types (application/wasm), and prints its URL.
//
//   node scripts/serve.mjs [--root web/dist] [--port 8080] [--host 127.0.0.1] [--base /]
//                          [--fixtures ../shared/fixtures]
//
//   --base /moebius/   serve the site under a sub-path (as a Pages site would)
//   --port 0           any free port
//   --fixtures DIR     TEST ONLY: also serve the reference fixtures and the tiny model laid out like
//                      the Hugging Face hub:  <base>__test/hf/Moebius/<variant>/diffusion_pytorch_model.bin
//                      -> DIR/tiny/removal_model.bin, <base>__test/hf/PixelHacker/vae/<f> -> DIR/tiny/vae/<f>,
//                      <base>__test/fixtures/<path> -> DIR/<path>; <base>__test/flaky/... is the same
//                      as __test/... but drops the first full (non-range) GET of each file halfway.
//
// Imported by the tests: createServer({root, base, fixtures}) -> {server, requests, url()}.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const TYPES = {
    '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.webmanifest': 'application/manifest+json',
    '.wasm': 'application/wasm', '.wgsl': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
    '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
    '.bin': 'application/octet-stream', '.safetensors': 'application/octet-stream', '.npy': 'application/octet-stream',
};

/**
 * @param {{root: string, base?: string, fixtures?: string | null, isolation?: boolean}} o
 */
export function createServer(o) {
    const root = path.resolve(o.root);
    const base = normalizeBase(o.base ?? '/');
    const fixtures = o.fixtures ? path.resolve(o.fixtures) : null;
    const isolation = o.isolation ?? true;
    /** @type {{method: string, url: string, range: string | null, status: number}[]} */
    const requests = [];
    /** @type {Set<string>} files already dropped once by the flaky route */
    const dropped = new Set();

    const server = http.createServer((req, res) => {
        const entry = {method: req.method ?? 'GET', url: req.url ?? '/', range: req.headers.range ?? null, status: 0};
        requests.push(entry);
        res.on('finish', () => { entry.status = res.statusCode; });
        if (isolation) {
            res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
            res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
            res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        }
        res.setHeader('X-Content-Type-Options', 'nosniff');
        if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
        let pathname;
        try {
            pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
        } catch {
            return send(res, 400, 'bad URL');
        }
        if (pathname.includes('\0')) return send(res, 400, 'bad URL');
        if (base !== '/' && (pathname === base.slice(0, -1))) {
            res.setHeader('Location', base);
            return send(res, 301, '');
        }
        if (!pathname.startsWith(base)) return send(res, 404, 'not found');
        let rel = pathname.slice(base.length);

        let file = null, flaky = false;
        if (rel.startsWith('__test/')) {
            if (!fixtures) return send(res, 404, 'not found');
            rel = rel.slice('__test/'.length);
            if (rel.startsWith('flaky/')) { flaky = true; rel = rel.slice('flaky/'.length); }
            file = testFile(fixtures, rel);
            if (!file) return send(res, 404, 'not found');
        } else {
            file = inside(root, rel === '' || rel.endsWith('/') ? `${rel}index.html` : rel);
            if (!file) return send(res, 404, 'not found');
        }
        fs.stat(file, (err, st) => {
            if (err || !st.isFile()) return send(res, 404, 'not found');
            serveFile(req, res, file, st, flaky && !req.headers.range && !dropped.has(file) ? () => dropped.add(file) : null);
        });
    });

    return {
        server, requests, base,
        /** The app's URL once listening. */
        url() {
            const a = /** @type {import('node:net').AddressInfo} */ (server.address());
            const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' || a.address === '127.0.0.1' ? 'localhost' : a.address;
            return `http://${host}:${a.port}${base}`;
        },
    };
}

/** '/' or '/sub/path/'. @param {string} b */
function normalizeBase(b) {
    let s = b.trim();
    if (!s.startsWith('/')) s = `/${s}`;
    if (!s.endsWith('/')) s += '/';
    return s.replace(/\/+/g, '/');
}

/** `rel` resolved under `dir`, or null when it escapes it. @param {string} dir @param {string} rel */
function inside(dir, rel) {
    const p = path.resolve(dir, `.${path.posix.sep}${rel}`);
    return p === dir || p.startsWith(dir + path.sep) ? p : null;
}

/** The test-only routes (see the header). @param {string} fixtures @param {string} rel */
function testFile(fixtures, rel) {
    let m;
    if ((m = /^hf\/Moebius\/[A-Za-z0-9_-]+\/diffusion_pytorch_model\.bin$/.exec(rel))) return inside(fixtures, 'tiny/removal_model.bin');
    if ((m = /^hf\/PixelHacker\/vae\/([A-Za-z0-9_.-]+)$/.exec(rel))) return inside(fixtures, `tiny/vae/${m[1]}`);
    if (rel.startsWith('fixtures/')) return inside(fixtures, rel.slice('fixtures/'.length));
    return null;
}

/**
 * @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {string} file @param {fs.Stats} st
 * @param {(() => void) | null} drop  drop the connection halfway (test route), then call it
 */
function serveFile(req, res, file, st, drop) {
    res.setHeader('Content-Type', TYPES[/** @type {keyof typeof TYPES} */ (path.extname(file).toLowerCase())] ?? 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Last-Modified', st.mtime.toUTCString());
    let start = 0, end = st.size - 1;
    const range = req.headers.range;
    if (range) {
        const m = /^bytes=(\d*)-(\d*)$/.exec(range);
        if (!m || (m[1] === '' && m[2] === '')) {
            res.setHeader('Content-Range', `bytes */${st.size}`);
            return send(res, 416, 'bad range');
        }
        if (m[1] === '') { start = Math.max(0, st.size - Number(m[2])); } else { start = Number(m[1]); if (m[2] !== '') end = Math.min(end, Number(m[2])); }
        if (start > end || start >= st.size) {
            res.setHeader('Content-Range', `bytes */${st.size}`);
            return send(res, 416, 'range not satisfiable');
        }
        res.statusCode = 206;
        res.setHeader('Content-Range', `bytes ${start}-${end}/${st.size}`);
    } else {
        res.statusCode = 200;
    }
    res.setHeader('Content-Length', String(end - start + 1));
    if (req.method === 'HEAD') { res.end(); return; }
    if (drop) {
        const half = Math.floor(st.size / 2);
        const s = fs.createReadStream(file, {start: 0, end: Math.max(0, half - 1)});
        s.pipe(res, {end: false});
        s.on('end', () => { drop(); res.socket?.destroy(); });
        return;
    }
    const s = fs.createReadStream(file, {start, end});
    s.on('error', () => res.destroy());
    s.pipe(res);
}

/** @param {http.ServerResponse} res @param {number} code @param {string} text */
function send(res, code, text) {
    res.statusCode = code;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(text);
}

// ------------------------------------------------------------------ command line

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const args = process.argv.slice(2);
    const opt = (/** @type {string} */ name, /** @type {string | null} */ dflt) => {
        const i = args.indexOf(name);
        return i >= 0 ? args[i + 1] : dflt;
    };
    if (args.includes('--help') || args.includes('-h')) {
        console.log('usage: node scripts/serve.mjs [--root web/dist] [--port 8080] [--host 127.0.0.1] [--base /] [--fixtures DIR] [--no-isolation]');
        process.exit(0);
    }
    const here = path.dirname(fileURLToPath(import.meta.url));
    const root = opt('--root', path.join(here, '..', 'web', 'dist'));
    if (!fs.existsSync(path.join(/** @type {string} */ (root), 'index.html'))) {
        console.error(`${root}/index.html not found: build the site first (scripts/build-web.sh)`);
        process.exit(2);
    }
    const s = createServer({root: /** @type {string} */ (root), base: opt('--base', '/') ?? '/', fixtures: opt('--fixtures', null),
                            isolation: !args.includes('--no-isolation')});
    const port = Number(opt('--port', process.env.PORT ?? '8080'));
    const host = opt('--host', '127.0.0.1') ?? '127.0.0.1';
    s.server.on('error', (e) => {
        console.error(`cannot listen on ${host}:${port}: ${e.message}${/** @type {any} */ (e).code === 'EADDRINUSE' ? ' (try --port 0)' : ''}`);
        process.exit(1);
    });
    s.server.listen(port, host, () => {
        console.log(`Moebius web app: ${s.url()}`);
        if (opt('--fixtures', null)) console.log(`  test routes: ${s.url()}__test/ (fixtures: ${opt('--fixtures', null)})`);
    });
}
