// model-source.js: where the model comes from (DOM-free). The default is upstream's official files
// on the Hugging Face hub, by their stable resolve/main URLs; a mirror can replace either base URL,
// and a converted model file (our f16 safetensors, `moebius convert`) can be given instead.

export const DEFAULT_MOEBIUS_BASE = 'https://huggingface.co/hustvl/Moebius/resolve/main/';
export const DEFAULT_VAE_BASE = 'https://huggingface.co/hustvl/PixelHacker/resolve/main/vae/';

/** Upstream's fine-tuned variants (hustvl/Moebius folders); the first is the default. */
export const VARIANTS = Object.freeze([
    {id: 'ft_places2', label: 'Places2 (scenes, objects) — recommended'},
    {id: 'pretrained', label: 'Pretrained (general)'},
    {id: 'ft_celebahq', label: 'CelebA-HQ (faces)'},
    {id: 'ft_ffhq', label: 'FFHQ (faces)'},
]);

/**
 * @typedef {object} SourceSettings  what the model panel edits (kept in localStorage)
 * @property {string} variant
 * @property {string} moebiusBase    folder holding <variant>/diffusion_pytorch_model.bin
 * @property {string} vaeBase        folder holding config.json + diffusion_pytorch_model.safetensors
 * @property {string} modelConfigUrl optional model_config.json (non-standard sizes; empty = built-in)
 * @property {string} convertedUrl   optional: a converted model file instead of the upstream files
 */

/** @returns {SourceSettings} */
export function defaultSettings() {
    return {variant: VARIANTS[0].id, moebiusBase: DEFAULT_MOEBIUS_BASE, vaeBase: DEFAULT_VAE_BASE,
            modelConfigUrl: '', convertedUrl: ''};
}

/** Settings with missing or invalid fields replaced by defaults. @param {any} s @returns {SourceSettings} */
export function normalizeSettings(s) {
    const d = defaultSettings();
    if (!s || typeof s !== 'object') return d;
    const str = (/** @type {any} */ v, /** @type {string} */ dv) => (typeof v === 'string' ? v.trim() : dv);
    return {
        variant: VARIANTS.some((v) => v.id === s.variant) ? s.variant : d.variant,
        moebiusBase: str(s.moebiusBase, d.moebiusBase) || d.moebiusBase,
        vaeBase: str(s.vaeBase, d.vaeBase) || d.vaeBase,
        modelConfigUrl: str(s.modelConfigUrl, ''),
        convertedUrl: str(s.convertedUrl, ''),
    };
}

/** A folder URL with exactly one trailing slash, resolved against `base`. @param {string} u @param {string} [base] */
export function folderUrl(u, base) {
    const url = new URL(u, base);
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    return url.href;
}

/**
 * @typedef {{kind: 'upstream', unet: string, vaeConfig: string, vaeWeights: string, modelConfig: string | null,
 *            key: string, label: string}
 *         | {kind: 'converted', url: string, key: string, label: string}} ModelSource
 */

/**
 * The files to fetch for some settings, and the cache key of the converted model they give.
 * Relative URLs resolve against `pageUrl` (the app may live under a sub-path).
 * @param {SourceSettings} s @param {string} pageUrl @returns {ModelSource}
 */
export function resolveSource(s, pageUrl) {
    s = normalizeSettings(s);
    if (s.convertedUrl) {
        const url = new URL(s.convertedUrl, pageUrl).href;
        return {kind: 'converted', url, key: url, label: fileName(url)};
    }
    const mb = folderUrl(s.moebiusBase, pageUrl), vb = folderUrl(s.vaeBase, pageUrl);
    const unet = new URL(`${s.variant}/diffusion_pytorch_model.bin`, mb).href;
    const vaeConfig = new URL('config.json', vb).href;
    const vaeWeights = new URL('diffusion_pytorch_model.safetensors', vb).href;
    const modelConfig = s.modelConfigUrl ? new URL(s.modelConfigUrl, pageUrl).href : null;
    return {kind: 'upstream', unet, vaeConfig, vaeWeights, modelConfig,
            key: cacheKey(unet, vaeWeights, modelConfig), label: `${s.variant} (${new URL(mb).host})`};
}

/**
 * The Cache Storage key of a converted model: the UNet URL, with the VAE (and model config) URLs
 * as query parameters so that a different VAE or config never reuses the entry.
 * @param {string} unet @param {string} vae @param {string | null} config
 */
export function cacheKey(unet, vae, config) {
    const u = new URL(unet);
    u.searchParams.set('moebius-converted', 'f16');
    u.searchParams.set('vae', vae);
    if (config) u.searchParams.set('config', config);
    return u.href;
}

/** Last path segment of a URL. @param {string} url */
export function fileName(url) {
    try {
        const p = new URL(url).pathname.split('/').filter(Boolean);
        return decodeURIComponent(p[p.length - 1] ?? url);
    } catch {
        return url;
    }
}

/** "1.2 GB", "350 MB", "12 kB" (SI units, as download sizes are usually given). @param {number | null | undefined} n */
export function formatBytes(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return 'unknown size';
    if (n < 1000) return `${n} B`;
    const units = ['kB', 'MB', 'GB', 'TB'];
    let v = n, u = -1;
    do { v /= 1000; u++; } while (v >= 1000 && u < units.length - 1);
    return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** "3.4 MB/s". @param {number} bytesPerSecond */
export function formatSpeed(bytesPerSecond) {
    return Number.isFinite(bytesPerSecond) && bytesPerSecond > 0 ? `${formatBytes(Math.round(bytesPerSecond))}/s` : '—';
}

/** "1 min 05 s", "42 s". @param {number} seconds */
export function formatDuration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return '—';
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/**
 * Speed over a sliding window of (time, bytes) samples: honest, not smoothed into fiction.
 */
export class SpeedMeter {
    /** @param {number} [windowMs] */
    constructor(windowMs = 3000) {
        this.windowMs = windowMs;
        /** @type {[number, number][]} */
        this.samples = [];
    }
    /** @param {number} t ms @param {number} bytes total so far */
    add(t, bytes) {
        this.samples.push([t, bytes]);
        while (this.samples.length > 2 && t - this.samples[1][0] > this.windowMs) this.samples.shift();
    }
    /** bytes per second over the window (0 before two samples). */
    get rate() {
        const s = this.samples;
        if (s.length < 2) return 0;
        const [t0, b0] = s[0], [t1, b1] = s[s.length - 1];
        return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
    }
}
