// download.js: fetch with byte progress, speed and resume (DOM-free; runs in the worker and in Node
// tests). A dropped connection is retried with `Range: bytes=N-` so the download continues where it
// stopped when the server allows ranges (206); a server that answers 200 instead starts over.

import {SpeedMeter} from './model-source.js';

export class DownloadError extends Error {
    /** @param {'http' | 'network' | 'cancelled' | 'size'} code @param {string} message @param {number} [status] */
    constructor(code, message, status) {
        super(message);
        this.name = code === 'cancelled' ? 'AbortError' : 'DownloadError';
        this.code = code;
        this.status = status;
    }
}

/**
 * Where downloaded bytes go. The default collects into one Uint8Array (preallocated when the size
 * is known); the worker streams straight into WebAssembly memory instead.
 * @typedef {object} Sink
 * @property {(total: number | null) => void} begin   called before the first byte (and again after a restart)
 * @property {(chunk: Uint8Array, offset: number) => void} write
 * @property {() => any} finish                        returns the download's value
 */

/** @returns {Sink} */
export function arraySink() {
    /** @type {Uint8Array | null} */
    let buf = null;
    /** @type {Uint8Array[]} */
    let parts = [];
    let n = 0;
    return {
        begin(total) {
            buf = total !== null ? new Uint8Array(total) : null;
            parts = [];
            n = 0;
        },
        write(chunk, offset) {
            if (buf) {
                if (offset + chunk.byteLength > buf.byteLength) throw new DownloadError('size', `more bytes than the announced ${buf.byteLength}`);
                buf.set(chunk, offset);
            } else {
                parts.push(chunk.slice());
            }
            n = Math.max(n, offset + chunk.byteLength);
        },
        finish() {
            if (buf) return buf;
            const out = new Uint8Array(n);
            let o = 0;
            for (const p of parts) { out.set(p, o); o += p.byteLength; }
            return out;
        },
    };
}

/**
 * @typedef {object} DownloadProgress
 * @property {string} url
 * @property {number} loaded
 * @property {number | null} total
 * @property {number} rate     bytes/s over the last seconds
 * @property {number} retries  reconnections so far
 */

/**
 * Total size of a URL without downloading it: HEAD's Content-Length (following redirects), or the
 * hub's X-Linked-Size; null when the server does not tell.
 * @param {string} url @param {{fetch?: typeof fetch, signal?: AbortSignal}} [o]
 */
export async function probeSize(url, o = {}) {
    const f = o.fetch ?? globalThis.fetch;
    try {
        const r = await f(url, {method: 'HEAD', signal: o.signal});
        if (!r.ok) return null;
        const n = Number(r.headers.get('x-linked-size') ?? r.headers.get('content-length'));
        return Number.isFinite(n) && n > 0 ? n : null;
    } catch {
        return null;
    }
}

/**
 * Downloads `url` into `sink`, reporting progress, resuming after dropped connections.
 * @param {string} url
 * @param {{fetch?: typeof fetch, signal?: AbortSignal, onProgress?: (p: DownloadProgress) => void,
 *          sink?: Sink, retries?: number, retryDelayMs?: number, now?: () => number}} [o]
 * @returns {Promise<any>} sink.finish()
 */
export async function download(url, o = {}) {
    const f = o.fetch ?? globalThis.fetch;
    const sink = o.sink ?? arraySink();
    const maxRetries = o.retries ?? 5;
    const delay = o.retryDelayMs ?? 1000;
    const now = o.now ?? (() => Date.now());
    const meter = new SpeedMeter();
    const signal = o.signal;
    let loaded = 0, retries = 0;
    /** @type {number | null} */
    let total = null;
    let begun = false;
    const cancelled = () => new DownloadError('cancelled', 'download cancelled');
    const report = () => o.onProgress?.({url, loaded, total, rate: meter.rate, retries});

    for (;;) {
        if (signal?.aborted) throw cancelled();
        /** @type {Response} */
        let r;
        const headers = loaded > 0 ? {Range: `bytes=${loaded}-`} : undefined;
        try {
            r = await f(url, {signal, headers, cache: 'no-store'});
        } catch (e) {
            if (signal?.aborted) throw cancelled();
            if (retries < maxRetries) { retries++; await sleep(delay * retries, signal); continue; }
            throw new DownloadError('network', `cannot reach ${url}: ${e instanceof Error ? e.message : e}`);
        }
        if (loaded > 0 && r.status === 206) {
            const m = /bytes (\d+)-\d+\/(\d+|\*)/.exec(r.headers.get('content-range') ?? '');
            if (!m || Number(m[1]) !== loaded) {  // not the range asked for: start over
                await r.body?.cancel();
                loaded = 0;
                begun = false;
                continue;
            }
        } else if (r.ok) {
            if (loaded > 0 || begun) { loaded = 0; begun = false; }  // no ranges: from the start
            const len = Number(r.headers.get('content-length'));
            total = Number.isFinite(len) && len > 0 && !r.headers.get('content-encoding') ? len : null;
        } else {
            await r.body?.cancel();
            // 5xx and 429 are worth retrying; 4xx (404 missing file, 403) are not.
            if ((r.status >= 500 || r.status === 429) && retries < maxRetries) {
                retries++;
                await sleep(delay * retries, signal);
                continue;
            }
            throw new DownloadError('http', `${url}: the server answered ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`, r.status);
        }
        if (!begun) { sink.begin(total); begun = true; }
        if (!r.body) throw new DownloadError('network', `${url}: empty response`);
        const reader = r.body.getReader();
        meter.add(now(), loaded);
        report();
        try {
            for (;;) {
                const {done, value} = await reader.read();
                if (done) break;
                sink.write(value, loaded);
                loaded += value.byteLength;
                meter.add(now(), loaded);
                report();
            }
        } catch (e) {
            if (signal?.aborted) throw cancelled();
            if (e instanceof DownloadError) throw e;
            if (retries < maxRetries) { retries++; await sleep(delay * retries, signal); continue; }
            throw new DownloadError('network', `the connection to ${url} dropped ${maxRetries} times ` +
                                    `(${loaded} bytes received): ${e instanceof Error ? e.message : e}`);
        }
        if (total !== null && loaded !== total) {
            if (retries < maxRetries) { retries++; await sleep(delay * retries, signal); continue; }
            throw new DownloadError('size', `${url}: ${loaded} of ${total} bytes received`);
        }
        return sink.finish();
    }
}

/** @param {number} ms @param {AbortSignal | undefined} signal */
function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => { clearTimeout(t); reject(new DownloadError('cancelled', 'download cancelled')); }, {once: true});
    });
}
