// main.js: the app's controller — wires the editor (editor.js), the engine worker (engine-client.js)
// and the DOM-free logic (lib/) to the page (index.html). Plain ES modules, no framework: the UI is
// one page with a handful of controls, and every state change is a function below.

import {Editor} from './editor.js';
import {EngineClient} from './engine-client.js';
import {History} from './lib/history.js';
import * as maskOps from './lib/mask.js';
import {explain} from './lib/messages.js';
import {defaultSettings, formatBytes, formatDuration, formatSpeed, normalizeSettings, resolveSource, VARIANTS} from './lib/model-source.js';
import {DEFAULTS, denoisingSteps, newSeed, validateOptions} from './lib/options.js';
import * as session from './session.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

// ------------------------------------------------------------------ persisted settings

const store = {
    /** @param {string} k */
    get(k) {
        try { return JSON.parse(localStorage.getItem(`moebius.${k}`) ?? 'null'); } catch { return null; }
    },
    /** @param {string} k @param {any} v */
    set(k, v) {
        try { localStorage.setItem(`moebius.${k}`, JSON.stringify(v)); } catch { /* private mode: settings not kept */ }
    },
};

// ------------------------------------------------------------------ state

/** @typedef {{id: number, data: ImageData, label: string, thumb: string}} ImageVersion */

const state = {
    /** @type {Map<number, ImageVersion>} */
    images: new Map(),
    nextImageId: 1,
    originalId: 0,
    currentId: 0,
    /** image shown as "before" in the compare view (the input of the last run) */
    beforeId: 0,
    baseName: 'image',
    /** @type {{key: string, label: string, backend: string, info: any} | null} */
    model: null,
    modelLoading: /** @type {{id: number} | null} */ (null),
    /** @type {{id: number, start: number, stepTimes: number[], steps: number} | null} */
    run: null,
    /** @type {any} */
    caps: null,
    settings: normalizeSettings(store.get('source') ?? defaultSettings()),
};

/** @type {History<{imageId: number, mask: ReturnType<typeof maskOps.encodeRle>}>} */
const history = new History({maxEntries: 300, maxBytes: 256 << 20, sizeOf: (s) => maskOps.rleBytes(s.mask)});

const editor = new Editor($('viewport'));
const client = new EngineClient();

// ------------------------------------------------------------------ messages

/**
 * Shows a message (plain language first, technical detail second); returns its element.
 * @param {{title: string, text: string, detail?: string, severity?: string}} m
 */
function showMessage(m) {
    const box = document.createElement('div');
    box.className = `alert ${m.severity ?? 'error'}`;
    box.setAttribute('role', m.severity === 'info' ? 'status' : 'alert');
    const t = document.createElement('strong');
    t.textContent = m.title;
    const p = document.createElement('p');
    p.textContent = m.text;
    box.append(t, p);
    if (m.detail && m.detail !== m.text) {
        const d = document.createElement('p');
        d.className = 'detail';
        d.textContent = m.detail;
        box.append(d);
    }
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = 'Dismiss';
    close.addEventListener('click', () => box.remove());
    box.append(close);
    // A modal dialog makes the rest of the page inert: show the message inside it then.
    const host = document.querySelector('dialog[open] .dialog-alerts') ?? $('alerts');
    while (host.children.length >= 3) host.firstElementChild.remove();
    host.append(box);
    if (m.severity === 'info') setTimeout(() => box.remove(), 6000);
    return box;
}

/** @param {any} e @param {Parameters<typeof explain>[1]} during */
function showError(e, during) {
    console.warn(`[${during}]`, e);
    return showMessage(explain(e, during));
}

function clearMessages() {
    for (const host of document.querySelectorAll('#alerts, .dialog-alerts')) host.replaceChildren();
}

// ------------------------------------------------------------------ capabilities

async function probe() {
    try {
        state.caps = await client.call('probe');
    } catch (e) {
        $('cap').textContent = 'Engine failed to start';
        $('cap').className = 'badge warn';
        showError(e, 'model');
        return;
    }
    renderCaps();
}

function renderCaps() {
    const c = state.caps, el = $('cap');
    if (!c) return;
    const quota = c.estimate?.quota ? ` · storage ${formatBytes(c.estimate.quota - (c.estimate.usage ?? 0))} free` : '';
    if (state.model) {
        el.textContent = `${backendLabel(state.model.backend)}${quota}`;
        el.className = `badge ${state.model.backend === 'cpu' ? 'warn' : 'ok'}`;
        el.title = `${state.model.info?.model ?? ''}${c.reason ? `\n${c.reason}` : ''}`;
        return;
    }
    if (c.webgpu) {
        const a = c.adapter ?? {};
        const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'GPU';
        el.textContent = `WebGPU: ${name}${c.f16 ? ' · f16' : ' · f32 (no shader-f16)'}${a.fallback ? ' · software' : ''}${quota}`;
        el.className = 'badge ok';
    } else {
        el.textContent = `No WebGPU — CPU engine (slow)${quota}`;
        el.className = 'badge warn';
        el.title = c.reason;
    }
}

/** What was detected, for the help dialog. */
function renderDeviceInfo() {
    const c = state.caps ?? {}, dl = $('device-info');
    const a = c.adapter ?? {};
    const rows = [
        ['WebGPU', c.webgpu ? `${[a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'yes'}${a.fallback ? ' (software)' : ''}` : `no — ${c.reason || 'unknown'}`],
        ['shader-f16', c.webgpu ? (c.f16 ? 'yes (weights and activations stored as float16)' : 'no (float32)') : '—'],
        ['GPU limits', c.limits ? `buffer ${formatBytes(c.limits.maxBufferSize)}, binding ${formatBytes(c.limits.maxStorageBufferBindingSize)}, workgroup memory ${formatBytes(c.limits.maxComputeWorkgroupStorageSize)}` : '—'],
        ['Storage', c.estimate?.quota ? `${formatBytes(c.estimate.usage)} used of ${formatBytes(c.estimate.quota)}${c.estimate.persisted ? ', persistent' : ''}` : 'unknown'],
        ['CPU threads', c.crossOriginIsolated ? `${c.cores ?? '?'} (cross-origin isolated)` : '1 (the page is not cross-origin isolated)'],
        ['Engine in use', state.model ? `${backendLabel(state.model.backend)} — ${state.model.info?.model ?? ''}` : 'no model loaded'],
    ];
    dl.replaceChildren(...rows.flatMap(([k, v]) => {
        const dt = document.createElement('dt'), dd = document.createElement('dd');
        dt.textContent = k;
        dd.textContent = v;
        return [dt, dd];
    }));
}

/** @param {string} b @param {any} [info] */
function backendLabel(b, info = state.model?.info) {
    if (b === 'webgpu-f16') return 'GPU (WebGPU, f16)';
    if (b === 'webgpu-f32') return 'GPU (WebGPU, f32)';
    const t = info?.threads ?? 1;
    return `CPU (WebAssembly, ${t} thread${t === 1 ? '' : 's'} — slow)`;
}

// ------------------------------------------------------------------ model

/** The source the settings describe. */
const currentSource = () => resolveSource(state.settings, location.href);

/**
 * Loads the model: from the cache (allowNetwork false), the network (after the user agreed), or
 * files from disk. Resolves true when loaded.
 * @param {{source?: any, files?: File[], allowNetwork?: boolean, quiet?: boolean}} o
 */
async function loadModel(o) {
    if (state.modelLoading) return false;
    if (state.run) return false;
    const backend = $('opt-backend').value;
    const req = client.request('load', {source: o.source, files: o.files, allowNetwork: !!o.allowNetwork, backend},
                               {onProgress: modelProgress});
    state.modelLoading = {id: req.id};
    state.model = null;
    renderModel();
    setModelProgress(null, 'Starting…');
    try {
        const r = await req.promise;
        state.model = {key: r.key, label: r.label, backend: r.backend, info: r.info};
        store.set('lastModel', {key: r.key, label: r.label});
        setModelProgress(1, `Ready: ${r.label} on ${backendLabel(r.backend, r.info)}${r.fromCache ? ' (from this device\'s storage)' : ''}.`);
        if ($('model-dialog').open) $('model-dialog').close();  // back to the photo; the panel says what is loaded
        // The notice once per explicit load; a silent load from storage shows it in the badge only.
        if (r.notice && !o.quiet) showMessage({title: r.backend === 'cpu' ? 'Running on the CPU' : 'Note', text: r.notice, severity: 'warning'});
        if (r.cacheWarning) showMessage({title: 'Model not stored', text: r.cacheWarning, severity: 'warning'});
        if (!r.fromCache) requestPersistence();
        return true;
    } catch (e) {
        const err = /** @type {any} */ (e);
        // the worker keeps the previous model when the new one could not be read
        state.model = err.model ? {key: err.model.key, label: err.model.label, backend: err.model.backend, info: err.model.info} : null;
        if (err.code === 'not-cached') {
            setModelProgress(0, '');
            if (!o.quiet) showError({code: 'no-model', message: err.message}, 'model');
        } else {
            setModelProgress(0, explain(err, 'model').title);
            showError(err, 'model');
        }
        return false;
    } finally {
        state.modelLoading = null;
        renderModel();
        renderCaps();
    }
}

/** Progress of a model load, honest: bytes for downloads, no bar where nothing is measurable. @param {any} p */
function modelProgress(p) {
    switch (p.stage) {
        case 'cache-check': setModelProgress(null, 'Looking for a stored copy…'); break;
        case 'cache-warning': showMessage({title: 'Stored model was damaged', text: p.message, severity: 'warning'}); break;
        case 'download': {
            const left = p.total && p.rate > 0 ? ` · ${formatDuration((p.total - p.loaded) / p.rate)} left` : '';
            const of = p.total ? ` of ${formatBytes(p.total)}` : '';
            setModelProgress(p.total ? p.loaded / p.total : null,
                             `Downloading ${p.file}: ${formatBytes(p.loaded)}${of} · ${formatSpeed(p.rate)}${left}${p.retries ? ` · reconnected ${p.retries}×` : ''}`);
            break;
        }
        case 'read-files': setModelProgress(null, 'Reading the files…'); break;
        case 'read': setModelProgress(p.total ? p.loaded / p.total : null, `Reading ${p.file} (${formatBytes(p.total)})…`); break;
        case 'convert': setModelProgress(null, 'Converting the weights to float16 on this device…'); break;
        case 'store': setModelProgress(null, `Storing the converted model (${formatBytes(p.size)}) on this device…`); break;
        case 'engine': setModelProgress(null, 'Starting the engine and uploading the weights…'); break;
        default: break;
    }
}

/** @param {number | null} fraction  null: indeterminate @param {string} text */
function setModelProgress(fraction, text) {
    for (const [bar, label] of [[$('m-progress'), $('m-progress-text')]]) {
        if (fraction === null) bar.removeAttribute('value'); else bar.value = fraction;
        label.textContent = text;
    }
    if (state.modelLoading) $('model-line').textContent = `Model: ${text}`;
}

function renderModel() {
    const loading = !!state.modelLoading;
    const box = $('model-line').parentElement;
    box.classList.toggle('ready', !!state.model);
    if (state.model) {
        $('model-line').textContent = `Model: ${state.model.label} · ${backendLabel(state.model.backend)}`;
    } else if (!loading) {
        $('model-line').textContent = 'Model: not loaded yet';
    }
    $('m-download').disabled = loading;
    $('m-files').disabled = loading;
    $('m-cancel').disabled = !loading;
    $('model-get').disabled = loading;
    renderRunState();
}

async function requestPersistence() {
    try {
        if (navigator.storage?.persist && !(await navigator.storage.persisted())) await navigator.storage.persist();
    } catch { /* not granted: the browser may evict under pressure */ }
}

// model dialog

function openModelDialog() {
    const s = state.settings;
    const sel = $('m-variant');
    if (!sel.options.length) {
        for (const v of VARIANTS) sel.append(new Option(v.label, v.id));
    }
    sel.value = s.variant;
    $('m-base').value = s.moebiusBase;
    $('m-vae').value = s.vaeBase;
    $('m-config').value = s.modelConfigUrl;
    $('m-converted').value = s.convertedUrl;
    if (!$('model-dialog').open) $('model-dialog').showModal();
    refreshSizes();
}

function readModelForm() {
    state.settings = normalizeSettings({variant: $('m-variant').value, moebiusBase: $('m-base').value, vaeBase: $('m-vae').value,
                                        modelConfigUrl: $('m-config').value, convertedUrl: $('m-converted').value});
    store.set('source', state.settings);
}

let sizesSeq = 0;
/** Says how big the download is (HEAD requests) or that it is stored already. */
async function refreshSizes() {
    let src;
    try {
        readModelForm();
        src = currentSource();
    } catch (e) {
        $('m-size').textContent = `That address is not valid: ${e instanceof Error ? e.message : e}`;
        $('m-download').disabled = true;
        return;
    }
    const seq = ++sizesSeq;
    $('m-size').textContent = 'Checking the size…';
    $('m-download').textContent = 'Download';
    try {
        const r = await client.call('sizes', {source: src});
        if (seq !== sizesSeq) return;
        if (r.cached) {
            $('m-size').textContent = `Stored on this device (${formatBytes(r.cached.size)}). Loading it needs no download.`;
            $('m-download').textContent = 'Load';
        } else {
            const parts = r.files.map((/** @type {any} */ f) => `${f.url.split('/').pop()} ${formatBytes(f.size)}`).join(' + ');
            // Stored as float16: about half the float32 upstream files (a converted file: its own size).
            const stored = r.total === null ? null : src.kind === 'converted' ? r.total : Math.round(r.total / 2);
            const est = state.caps?.estimate;
            const free = est?.quota ? est.quota - (est.usage ?? 0) : null;
            const room = stored !== null && free !== null && stored > free
                ? ` Only ${formatBytes(free)} of storage is available to this site, so it cannot be kept: it will work for this visit only.` : '';
            $('m-size').textContent = r.total !== null
                ? `Downloads ${formatBytes(r.total)} once (${parts}); it is then stored on this device (about ${formatBytes(stored)}).${room}`
                : `Download size unknown (${parts}).`;
            $('m-download').textContent = r.total !== null ? `Download ${formatBytes(r.total)}` : 'Download';
        }
        $('m-download').disabled = !!state.modelLoading;
    } catch (e) {
        if (seq === sizesSeq) $('m-size').textContent = 'Could not check the size (offline?).';
    }
}

// ------------------------------------------------------------------ images

/** Decodes an image file/blob to ImageData at full resolution (EXIF orientation applied). @param {Blob} blob */
async function decodeImage(blob) {
    let bmp;
    try {
        bmp = await createImageBitmap(blob, {imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none'});
    } catch (e) {
        throw Object.assign(new Error(`cannot decode ${/** @type {any} */ (blob).name ?? 'the file'} (${blob.type || 'unknown type'})`), {code: 'bad-image'});
    }
    try {
        const c = document.createElement('canvas');
        c.width = bmp.width;
        c.height = bmp.height;
        const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d', {willReadFrequently: true}));
        ctx.drawImage(bmp, 0, 0);
        const data = ctx.getImageData(0, 0, bmp.width, bmp.height);
        if (!data || data.width !== bmp.width) throw new Error('canvas too large');
        return data;
    } catch (e) {
        throw Object.assign(new Error(`${bmp.width}x${bmp.height} is larger than this browser can edit`), {code: 'bad-image'});
    } finally {
        bmp.close();
    }
}

/** A small preview URL of an image. @param {ImageData} img */
async function thumbnail(img) {
    const s = Math.min(1, 144 / img.width, 120 / img.height);
    const full = document.createElement('canvas');
    full.width = img.width;
    full.height = img.height;
    /** @type {CanvasRenderingContext2D} */ (full.getContext('2d')).putImageData(img, 0, 0);
    const t = document.createElement('canvas');
    t.width = Math.max(1, Math.round(img.width * s));
    t.height = Math.max(1, Math.round(img.height * s));
    const ctx = /** @type {CanvasRenderingContext2D} */ (t.getContext('2d'));
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(full, 0, 0, t.width, t.height);
    const blob = await new Promise((r) => t.toBlob(r, 'image/png'));
    return blob ? URL.createObjectURL(blob) : '';
}

/** @param {ImageData} data @param {string} label */
async function addImage(data, label) {
    const id = state.nextImageId++;
    state.images.set(id, {id, data, label, thumb: await thumbnail(data)});
    return id;
}

/** Opens a photo: a new document (versions and undo history start over). @param {Blob} file */
async function openImage(file) {
    if (state.run) return;
    let data;
    try {
        data = await decodeImage(file);
    } catch (e) {
        showError(e, 'image');
        return;
    }
    for (const v of state.images.values()) if (v.thumb) URL.revokeObjectURL(v.thumb);
    state.images.clear();
    const name = /** @type {any} */ (file).name ?? 'pasted';
    state.baseName = name.replace(/\.[^.]+$/, '') || 'image';
    const id = await addImage(data, 'Original');
    state.originalId = state.currentId = id;
    state.beforeId = 0;
    editor.setImage(data, {original: data});
    const short = Math.min(data.width, data.height);
    setBrushSize(Math.max(4, Math.round(short / 20)));
    history.reset({imageId: id, mask: maskOps.encodeRle(new Uint8Array(data.width * data.height))});
    saveSession(true);
    $('compare-toggle').checked = false;
    setCompare(false);
    renderStrip();
    renderHistoryButtons();
    updateMaskInfo();
    renderRunState();
    setRunProgress(0, `Opened ${name}: ${data.width} × ${data.height} px. Paint over what should disappear.`);
}

/** Shows a history state (image version + mask). @param {{imageId: number, mask: any}} s */
function showState(s) {
    if (s.imageId !== state.currentId) {
        const v = state.images.get(s.imageId);
        if (v) {
            editor.setImage(v.data);
            state.currentId = s.imageId;
            renderStrip();
        }
    }
    editor.setMask(maskOps.decodeRle(s.mask));
    maskChanged();
    saveSession();
}

function pushState() {
    history.push({imageId: state.currentId, mask: maskOps.encodeRle(editor.getMask())});
    renderHistoryButtons();
    saveSession();
}

let savedImageId = 0, sessionTimer = 0, sessionOpened = false;
/**
 * Keeps the photo, the image shown and the mask in IndexedDB (session.js): pixels only when the
 * image shown changed, the mask (RLE, small) after every edit, debounced.
 * @param {boolean} [opened]  a new photo was opened
 */
function saveSession(opened = false) {
    clearTimeout(sessionTimer);
    sessionOpened ||= opened;
    sessionTimer = window.setTimeout(async () => {
        const cur = state.images.get(state.currentId), orig = state.images.get(state.originalId);
        if (!cur || !orig) return;
        if (sessionOpened) {
            sessionOpened = false;
            await session.save('original', {name: state.baseName, image: orig.data});
            savedImageId = 0;
        }
        if (savedImageId !== state.currentId) {
            await session.save('current', state.currentId === state.originalId ? null : cur.data);
            savedImageId = state.currentId;
        }
        await session.save('mask', {width: editor.width, height: editor.height, rle: history.current?.mask ?? null});
    }, opened ? 0 : 300);
}

/** Brings back the photo and mask of the last visit; true if there was one. */
async function restoreSession() {
    const orig = await session.load('original');
    if (!orig?.image || state.images.size) return false;
    const current = await session.load('current');
    const mask = await session.load('mask');
    state.baseName = orig.name ?? 'image';
    const oid = await addImage(orig.image, 'Original');
    state.originalId = state.currentId = oid;
    if (current && current.width === orig.image.width && current.height === orig.image.height) {
        state.currentId = await addImage(current, 'Result');
        state.beforeId = oid;
    }
    savedImageId = state.currentId;
    const shown = /** @type {ImageVersion} */ (state.images.get(state.currentId)).data;
    editor.setImage(shown, {original: orig.image});
    setBrushSize(Math.max(4, Math.round(Math.min(shown.width, shown.height) / 20)));
    const m = mask?.rle && mask.width === shown.width && mask.height === shown.height ? mask.rle : maskOps.encodeRle(new Uint8Array(shown.width * shown.height));
    history.reset({imageId: state.currentId, mask: m});
    editor.setMask(maskOps.decodeRle(m));
    renderStrip();
    renderHistoryButtons();
    updateMaskInfo();
    renderRunState();
    setRunProgress(0, `Restored ${state.baseName} (${shown.width} × ${shown.height} px) from your last visit.`);
    return true;
}

function undo() {
    if (state.run) return;
    const s = history.undo();
    if (s) showState(s);
    renderHistoryButtons();
}
function redo() {
    if (state.run) return;
    const s = history.redo();
    if (s) showState(s);
    renderHistoryButtons();
}

function renderHistoryButtons() {
    const busy = !!state.run;
    $('undo').disabled = busy || !history.canUndo;
    $('redo').disabled = busy || !history.canRedo;
}

function renderStrip() {
    const ol = $('strip');
    ol.replaceChildren();
    let n = 0;
    for (const v of state.images.values()) {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.setAttribute('aria-current', String(v.id === state.currentId));
        b.setAttribute('aria-label', `${v.label}${v.id === state.currentId ? ' (shown)' : ''}`);
        const img = document.createElement('img');
        img.src = v.thumb;
        img.alt = '';
        const cap = document.createElement('span');
        cap.textContent = n === 0 ? 'Original' : `Result ${n}`;
        b.append(img, cap);
        b.addEventListener('click', () => selectVersion(v.id));
        li.append(b);
        ol.append(li);
        n++;
    }
    const has = editor.hasImage;
    $('download').disabled = !has;
    $('hold-original').disabled = !has;
    $('mask-save').disabled = !has;
    $('mask-invert').disabled = !has;
    $('clear').disabled = !has;
    $('compare-toggle').disabled = !state.beforeId || !has;
}

/** Makes a version the current image (undoable). @param {number} id */
function selectVersion(id) {
    if (state.run || id === state.currentId) return;
    const v = state.images.get(id);
    if (!v) return;
    const mask = editor.getMask();
    editor.setImage(v.data, {keepMask: true});
    editor.setMask(mask);
    state.currentId = id;
    pushState();
    renderStrip();
    setCompare($('compare-toggle').checked);
}

// ------------------------------------------------------------------ mask

let maskTimer = 0;
/** After any mask change: grow preview and coverage line (debounced: dilation is O(pixels)). */
function maskChanged() {
    clearTimeout(maskTimer);
    maskTimer = window.setTimeout(updateMaskInfo, 80);
}

function updateMaskInfo() {
    if (!editor.hasImage) { $('mask-info').textContent = ''; return; }
    const r = Number($('dilate').value);
    const m = editor.getMask();
    const grown = r > 0 ? maskOps.dilate(m, editor.width, editor.height, r) : null;
    editor.setGrowPreview(grown);
    const n = maskOps.coverage(grown ?? m);
    const pct = (100 * n) / (editor.width * editor.height);
    $('mask-info').textContent = n ? `Mask: ${pct < 0.1 ? '<0.1' : pct.toFixed(1)} % of the photo` : 'Mask: empty — paint over what to remove';
}

/** The mask the engine gets: the painted mask, grown by the "Grow" setting. */
function engineMask() {
    const m = editor.getMask();
    const r = Number($('dilate').value);
    return r > 0 ? maskOps.dilate(m, editor.width, editor.height, r) : m;
}

/** @param {Blob} file */
async function loadMaskFile(file) {
    if (!editor.hasImage || state.run) return;
    let img;
    try {
        const bmp = await createImageBitmap(file);
        const c = document.createElement('canvas');
        c.width = editor.width;
        c.height = editor.height;
        const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d', {willReadFrequently: true}));
        ctx.imageSmoothingEnabled = bmp.width !== editor.width || bmp.height !== editor.height;
        ctx.drawImage(bmp, 0, 0, c.width, c.height);  // a mask of another size is stretched to the photo
        bmp.close();
        img = ctx.getImageData(0, 0, c.width, c.height);
    } catch (e) {
        showError({code: 'bad-image', message: e instanceof Error ? e.message : String(e)}, 'mask');
        return;
    }
    editor.setMask(maskOps.fromRgba(img.data));
    pushState();
    maskChanged();
}

// ------------------------------------------------------------------ run

function readOptionsForm() {
    return validateOptions({steps: $('opt-steps').value, guidance: $('opt-guidance').value, strength: $('opt-strength').value,
                            seed: $('opt-seed').value, mode: $('opt-mode').value, paste: $('opt-paste').checked,
                            compensate: $('opt-compensate').checked});
}

function saveOptions() {
    const r = readOptionsForm();
    for (const id of ['opt-steps', 'opt-guidance', 'opt-strength', 'opt-seed']) $(id).removeAttribute('aria-invalid');
    if (r.ok) store.set('options', {...r.options, backend: $('opt-backend').value});
    else for (const k of Object.keys(r.errors)) $(`opt-${k}`)?.setAttribute('aria-invalid', 'true');
}

/** @param {any} o */
function writeOptionsForm(o) {
    $('opt-steps').value = o.steps;
    $('opt-guidance').value = o.guidance;
    $('opt-strength').value = o.strength;
    $('opt-seed').value = o.seed;
    $('opt-mode').value = o.mode;
    $('opt-paste').checked = o.paste;
    $('opt-compensate').checked = o.compensate;
    if (o.backend) $('opt-backend').value = o.backend;
}

async function run() {
    if (state.run || state.modelLoading) return;
    clearMessages();
    if (!editor.hasImage) { showError({code: 'no-image'}, 'run'); return; }
    const opts = readOptionsForm();
    if (!opts.ok) {
        $('advanced').open = true;
        const [k, msg] = Object.entries(opts.errors)[0];
        showMessage({title: 'Check the settings', text: msg, severity: 'error'});
        $(`opt-${k}`)?.focus();
        return;
    }
    const mask = engineMask();
    if (!maskOps.coverage(mask)) { showError({code: 'empty-mask'}, 'run'); return; }
    if (!state.model) {
        // A stored model loads silently (e.g. after a lost GPU); otherwise ask for one.
        const last = store.get('lastModel');
        const ok = last ? await loadModel({source: {kind: 'stored', key: last.key, label: last.label}, quiet: true}) : false;
        if (!ok) {
            showError({code: 'no-model'}, 'run');
            openModelDialog();
            return;
        }
    }
    const input = /** @type {ImageVersion} */ (state.images.get(state.currentId));
    const w = input.data.width, h = input.data.height;
    const image = {width: w, height: h, data: new Uint8ClampedArray(input.data.data)};
    // preview: each step's event carries a small picture of the estimate, shown over the hole
    const req = client.request('run', {image, mask: {width: w, height: h, data: mask, channels: 1},
                                       options: {...opts.options, preview: true}},
                               {onProgress: runProgress, transfer: [image.data.buffer, mask.buffer]});
    state.run = {id: req.id, start: performance.now(), stepTimes: [], steps: denoisingSteps(opts.options)};
    editor.enabled = false;
    renderRunState();
    renderHistoryButtons();
    const n = denoisingSteps(opts.options);
    setRunProgress(0, `Starting (${n} denoising step${n === 1 ? '' : 's'})…`);
    try {
        const r = await req.promise;
        let out = new ImageData(new Uint8ClampedArray(r.image.data.buffer ?? r.image.data), r.image.width, r.image.height);
        const feather = Number($('feather').value);
        if (feather > 0) {
            const alpha = maskOps.feather(maskOps.dilate(editor.getMask(), w, h, Number($('dilate').value)), w, h, feather);
            out = new ImageData(maskOps.blendInto(input.data.data, out.data, alpha), w, h);
        }
        const n = state.images.size;
        const id = await addImage(out, `Result ${n}`);
        state.beforeId = state.currentId;
        state.currentId = id;
        editor.setImage(out);  // same size: the view stays; the mask is consumed
        pushState();
        renderStrip();
        updateMaskInfo();
        const secs = (performance.now() - state.run.start) / 1000;
        setRunProgress(1, `Done in ${formatDuration(secs)} — ${r.timings.steps} step${r.timings.steps === 1 ? '' : 's'}` +
                          `${r.timings.crops > 1 ? ` over ${r.timings.crops} crops` : ''}. Paint again to keep editing.`);
        $('compare-toggle').disabled = false;
        setCompare($('compare-toggle').checked);
    } catch (e) {
        const err = /** @type {any} */ (e);
        if (err.code === 'device-lost' || err.code === 'out-of-memory' && state.model?.backend !== 'cpu') {
            state.model = null;  // reloaded from storage on the next Run
            renderModel();
        }
        setRunProgress(0, err.code === 'cancelled' ? 'Cancelled — nothing changed.' : explain(err, 'run').title);
        if (err.code !== 'cancelled') showError(err, 'run');
    } finally {
        state.run = null;
        editor.setRunPreview(null);
        editor.enabled = true;
        renderRunState();
        renderHistoryButtons();
    }
}

/** Per-stage progress of a run: the bar moves only when a denoising step has finished. @param {any} p */
function runProgress(p) {
    const r = state.run;
    if (!r) return;
    const crops = p.crops || 1, steps = p.steps || r.steps || 1, crop = p.crop || 1;
    if (p.steps) r.steps = p.steps;
    const done = (crop - 1) * steps + (p.stage === 'step' || p.stage === 'decode' ? p.step : 0);
    const cropText = crops > 1 ? ` · area ${crop} of ${crops}` : '';
    if (p.stage === 'encode') {
        setRunProgress(done / (crops * steps), `Encoding the image${cropText}…`);
    } else if (p.stage === 'step') {
        if (p.preview) editor.setRunPreview(p.preview);  // the step's estimate, over the area being filled
        r.stepTimes.push(performance.now());
        const t = r.stepTimes;
        const per = t.length >= 2 ? (t[t.length - 1] - t[0]) / (t.length - 1) / 1000 : NaN;
        const left = Number.isFinite(per) ? ` · about ${formatDuration(per * (crops * steps - done))} left` : '';
        setRunProgress(done / (crops * steps), `Step ${p.step} of ${steps}${cropText}${Number.isFinite(per) ? ` · ${per.toFixed(per < 10 ? 1 : 0)} s/step` : ''}${left}`);
    } else if (p.stage === 'decode') {
        setRunProgress(done / (crops * steps), `Decoding${cropText}…`);
    }
}

/** @param {number} f @param {string} text */
function setRunProgress(f, text) {
    $('progress-bar').value = f;
    $('progress-text').textContent = text;
}

function cancel() {
    if (state.run) {
        client.cancel(state.run.id);
        $('progress-text').textContent = 'Cancelling after the current step…';
    } else if (state.modelLoading) {
        client.cancel(state.modelLoading.id);
    }
}

function renderRunState() {
    const busy = !!state.run;
    $('run').disabled = busy || !!state.modelLoading;
    $('cancel').disabled = !busy;
    $('run').setAttribute('aria-busy', String(busy));
    for (const id of ['clear', 'mask-invert', 'opt-backend']) $(id).disabled = busy || (id !== 'opt-backend' && !editor.hasImage);
    $('image-file').disabled = busy;
}

// ------------------------------------------------------------------ compare, original, download

/** @param {boolean} on */
function setCompare(on) {
    const before = on && state.beforeId ? state.images.get(state.beforeId) : null;
    editor.setCompare(before ? before.data : null);
    $('compare-wrap').hidden = !before;
    if (before) editor.setComparePosition(Number($('compare').value) / 1000);
}

/** @param {boolean} on */
function holdOriginal(on) {
    if (!editor.hasImage) return;
    editor.showOriginal(on);
    $('hold-original').setAttribute('aria-pressed', String(on));
}

async function downloadCurrent() {
    const v = state.images.get(state.currentId);
    if (!v) return;
    const type = $('dl-format').value;
    const ext = {'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp'}[/** @type {string} */ (type)] ?? 'png';
    const c = document.createElement('canvas');
    c.width = v.data.width;
    c.height = v.data.height;
    /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).putImageData(v.data, 0, 0);
    const blob = await new Promise((r) => c.toBlob(r, type, 0.92));
    if (!blob) { showMessage({title: 'Could not save', text: 'The browser could not encode the image.', severity: 'error'}); return; }
    const idx = [...state.images.keys()].indexOf(v.id);
    saveBlob(blob, `${state.baseName}${idx ? `-moebius-${idx}` : ''}.${ext}`);
}

async function saveMask() {
    if (!editor.hasImage) return;
    const c = document.createElement('canvas');
    c.width = editor.width;
    c.height = editor.height;
    /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).putImageData(new ImageData(maskOps.toRgba(editor.getMask()), editor.width, editor.height), 0, 0);
    const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
    if (blob) saveBlob(blob, `${state.baseName}-mask.png`);
}

/** @param {Blob} blob @param {string} name */
function saveBlob(blob, name) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ------------------------------------------------------------------ storage dialog

async function openStorageDialog() {
    if (!$('storage-dialog').open) $('storage-dialog').showModal();
    await renderStorage();
}

async function renderStorage() {
    const tbody = $('s-list');
    let r;
    try {
        r = await client.call('cache-list');
    } catch (e) {
        showError(e, 'cache');
        return;
    }
    tbody.replaceChildren();
    if (!r.entries.length) {
        const tr = document.createElement('tr');
        const td = document.createElement('td');
        td.colSpan = 4;
        td.textContent = r.available ? 'No model stored yet.' : 'This browser window offers no storage for models.';
        tr.append(td);
        tbody.append(tr);
    }
    for (const e of r.entries) {
        const tr = document.createElement('tr');
        const name = document.createElement('td');
        name.textContent = e.label + (e.key === r.current ? ' (in use)' : '');
        name.title = e.key;
        const size = document.createElement('td');
        size.textContent = formatBytes(e.size);
        const date = document.createElement('td');
        date.textContent = e.created ? new Date(e.created).toLocaleDateString() : '';
        const act = document.createElement('td');
        const del = document.createElement('button');
        del.type = 'button';
        del.textContent = 'Remove';
        del.setAttribute('aria-label', `Remove ${e.label}`);
        del.addEventListener('click', async () => {
            await client.call('cache-delete', {key: e.key});
            renderStorage();
        });
        act.append(del);
        tr.append(name, size, date, act);
        tbody.append(tr);
    }
    const est = r.estimate;
    $('s-usage').textContent = est
        ? `This site uses ${formatBytes(est.usage)} of ${formatBytes(est.quota)} the browser allows. ` +
          (est.persisted ? 'Stored data is kept even when space runs low.' : 'The browser may remove stored data when space runs low.')
        : 'The browser does not report storage use.';
    $('s-persist').disabled = !!est?.persisted || !navigator.storage?.persist;
    $('s-clear').disabled = !r.entries.length;
}

// ------------------------------------------------------------------ wiring

/** @param {'brush' | 'eraser' | 'pan'} t */
function setTool(t) {
    editor.tool = t;
    for (const [id, v] of [['tool-brush', 'brush'], ['tool-eraser', 'eraser'], ['tool-pan', 'pan']]) $(id).setAttribute('aria-pressed', String(t === v));
    $('viewport').classList.toggle('tool-pan', t === 'pan');
}

/** @param {number} n */
function setBrushSize(n) {
    editor.setBrushSize(n);
    const slider = $('brush-size');
    if (editor.brushSize > Number(slider.max)) slider.max = String(editor.brushSize);
    slider.value = String(editor.brushSize);
    $('brush-size-out').value = `${editor.brushSize} px`;
}

function isTyping(/** @type {EventTarget | null} */ t) {
    const el = /** @type {HTMLElement | null} */ (t);
    return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) &&
        !['range', 'checkbox', 'file', 'button'].includes(/** @type {HTMLInputElement} */ (el).type));
}

function wire() {
    $('image-file').addEventListener('change', (/** @type {Event} */ e) => {
        const f = /** @type {HTMLInputElement} */ (e.target).files?.[0];
        if (f) openImage(f);
        /** @type {HTMLInputElement} */ (e.target).value = '';
    });
    $('tool-brush').addEventListener('click', () => setTool('brush'));
    $('tool-eraser').addEventListener('click', () => setTool('eraser'));
    $('tool-pan').addEventListener('click', () => setTool('pan'));
    $('brush-size').addEventListener('input', () => setBrushSize(Number($('brush-size').value)));
    $('undo').addEventListener('click', undo);
    $('redo').addEventListener('click', redo);
    $('clear').addEventListener('click', () => {
        if (!editor.hasImage || state.run) return;
        editor.clearMask();
        pushState();
        maskChanged();
    });
    $('zoom-in').addEventListener('click', () => editor.zoomBy(1.25));
    $('zoom-out').addEventListener('click', () => editor.zoomBy(0.8));
    $('zoom-fit').addEventListener('click', () => editor.fit());
    editor.addEventListener('view', () => { $('zoom-level').textContent = `${Math.round(editor.scale * 100)}%`; });
    editor.addEventListener('stroke', () => { pushState(); maskChanged(); });
    editor.addEventListener('cancel-stroke', () => {
        const s = history.current;
        if (s) editor.setMask(maskOps.decodeRle(s.mask));
    });

    const hold = $('hold-original');
    hold.addEventListener('pointerdown', () => holdOriginal(true));
    for (const ev of ['pointerup', 'pointerleave', 'pointercancel', 'blur']) hold.addEventListener(ev, () => holdOriginal(false));
    hold.addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) { e.preventDefault(); holdOriginal(true); } });
    hold.addEventListener('keyup', (/** @type {KeyboardEvent} */ e) => { if (e.key === ' ' || e.key === 'Enter') holdOriginal(false); });

    $('mask-file').addEventListener('change', (/** @type {Event} */ e) => {
        const f = /** @type {HTMLInputElement} */ (e.target).files?.[0];
        if (f) loadMaskFile(f);
        /** @type {HTMLInputElement} */ (e.target).value = '';
        $('mask-menu').open = false;
    });
    $('mask-save').addEventListener('click', () => { saveMask(); $('mask-menu').open = false; });
    $('mask-invert').addEventListener('click', () => {
        if (!editor.hasImage || state.run) return;
        const m = editor.getMask();
        for (let i = 0; i < m.length; i++) m[i] = 255 - m[i];
        editor.setMask(m);
        pushState();
        maskChanged();
        $('mask-menu').open = false;
    });
    $('dilate').addEventListener('input', () => { $('dilate-out').value = `${$('dilate').value} px`; maskChanged(); });
    $('feather').addEventListener('input', () => { $('feather-out').value = `${$('feather').value} px`; });

    $('run').addEventListener('click', run);
    $('cancel').addEventListener('click', cancel);
    $('new-seed').addEventListener('click', () => { $('opt-seed').value = String(newSeed()); saveOptions(); });
    $('opt-reset').addEventListener('click', () => { writeOptionsForm({...DEFAULTS, backend: 'auto'}); saveOptions(); });
    for (const id of ['opt-steps', 'opt-guidance', 'opt-strength', 'opt-seed', 'opt-mode', 'opt-paste', 'opt-compensate']) $(id).addEventListener('change', saveOptions);
    $('opt-backend').addEventListener('change', () => {
        saveOptions();
        if (state.model) { state.model = null; renderModel(); renderCaps(); }  // next Run reloads on the chosen engine
    });

    $('compare-toggle').addEventListener('change', () => setCompare($('compare-toggle').checked));
    $('compare').addEventListener('input', () => editor.setComparePosition(Number($('compare').value) / 1000));
    $('download').addEventListener('click', downloadCurrent);

    $('model-open').addEventListener('click', openModelDialog);
    $('model-get').addEventListener('click', openModelDialog);
    $('m-download').addEventListener('click', () => {
        readModelForm();
        let src;
        try { src = currentSource(); } catch (e) { showError({code: 'bad-option', message: String(e)}, 'model'); return; }
        loadModel({source: src, allowNetwork: true});
    });
    $('m-cancel').addEventListener('click', cancel);
    $('m-files').addEventListener('change', (/** @type {Event} */ e) => {
        const files = [.../** @type {HTMLInputElement} */ (e.target).files ?? []];
        /** @type {HTMLInputElement} */ (e.target).value = '';
        if (files.length) loadModel({files});
    });
    for (const id of ['m-variant', 'm-base', 'm-vae', 'm-config', 'm-converted']) $(id).addEventListener('change', refreshSizes);
    $('m-defaults').addEventListener('click', () => {
        const d = defaultSettings();
        state.settings = {...d, variant: $('m-variant').value};
        store.set('source', state.settings);
        openModelDialog();
    });
    $('storage-open').addEventListener('click', openStorageDialog);
    $('s-clear').addEventListener('click', async () => {
        if (!confirm('Remove every stored model? The next run downloads it again.')) return;
        await client.call('cache-clear');
        renderStorage();
    });
    $('s-persist').addEventListener('click', async () => { await requestPersistence(); renderStorage(); });
    $('help-open').addEventListener('click', () => { renderDeviceInfo(); $('help-dialog').showModal(); });

    // keyboard
    document.addEventListener('keydown', (e) => {
        const mod = e.ctrlKey || e.metaKey;
        if (mod && e.key === 'Enter') { e.preventDefault(); run(); return; }
        if (e.key === 'Escape' && state.run) { e.preventDefault(); cancel(); return; }
        if (isTyping(e.target) || document.querySelector('dialog[open]')) return;
        const k = e.key.toLowerCase();
        if (mod && k === 'z') { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
        if (mod && k === 'y') { e.preventDefault(); redo(); return; }
        if (mod || e.altKey) return;
        const vpFocused = document.activeElement === $('viewport');
        switch (e.key) {
            case '[': setBrushSize(editor.brushSize / 1.2); break;
            case ']': setBrushSize(Math.max(editor.brushSize + 1, editor.brushSize * 1.2)); break;
            case 'b': case 'B': setTool('brush'); break;
            case 'e': case 'E': setTool('eraser'); break;
            case 'h': case 'H': setTool('pan'); break;
            case 'o': case 'O': $('image-file').click(); break;
            case '+': case '=': editor.zoomBy(1.25); break;
            case '-': case '_': editor.zoomBy(0.8); break;
            case '0': editor.fit(); break;
            case '1': editor.actualSize(); break;
            case '\\': if (!e.repeat) holdOriginal(true); break;
            case ' ':
                if (vpFocused || e.target === document.body) { e.preventDefault(); editor.spaceHeld = true; $('viewport').classList.add('tool-pan'); }
                return;
            case 'ArrowLeft': case 'ArrowRight': case 'ArrowUp': case 'ArrowDown': {
                if (!vpFocused) return;
                const d = e.shiftKey ? 200 : 50;
                editor.panBy(e.key === 'ArrowLeft' ? d : e.key === 'ArrowRight' ? -d : 0, e.key === 'ArrowUp' ? d : e.key === 'ArrowDown' ? -d : 0);
                break;
            }
            default: return;
        }
        e.preventDefault();
    });
    document.addEventListener('keyup', (e) => {
        if (e.key === '\\') holdOriginal(false);
        if (e.key === ' ') { editor.spaceHeld = false; $('viewport').classList.toggle('tool-pan', editor.tool === 'pan'); }
    });
    window.addEventListener('blur', () => { holdOriginal(false); editor.spaceHeld = false; });

    // drag and drop, paste
    let dragDepth = 0;
    const hasFiles = (/** @type {DragEvent} */ e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    window.addEventListener('dragenter', (e) => { if (hasFiles(e)) { dragDepth++; $('drop-hint').hidden = false; } });
    window.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; $('drop-hint').hidden = true; } });
    window.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
    window.addEventListener('drop', (e) => {
        e.preventDefault();
        dragDepth = 0;
        $('drop-hint').hidden = true;
        const files = [...(e.dataTransfer?.files ?? [])];
        const image = files.find((f) => f.type.startsWith('image/'));
        if (image) openImage(image);
        else if (files.some((f) => /\.(bin|safetensors|json)$/i.test(f.name))) loadModel({files});
        else if (files.length) showError({code: 'bad-image', message: files.map((f) => f.name).join(', ')}, 'image');
    });
    document.addEventListener('paste', (e) => {
        if (isTyping(e.target)) return;
        const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith('image/'));
        const f = item?.getAsFile();
        if (f) { e.preventDefault(); openImage(f); }
    });
    window.addEventListener('beforeunload', (e) => { if (state.run) e.preventDefault(); });  // the photo itself is kept (session.js)
}

// ------------------------------------------------------------------ start

async function start() {
    wire();
    const saved = store.get('options');
    writeOptionsForm({...DEFAULTS, ...(saved ?? {})});
    setTool('brush');
    setBrushSize(40);
    renderModel();
    renderStrip();
    if ('serviceWorker' in navigator && location.protocol !== 'file:') {
        navigator.serviceWorker.register('sw.js').catch((e) => console.info('offline support unavailable:', e.message));
    }
    await restoreSession();
    await probe();
    // A model stored on an earlier visit loads without asking (no network).
    const last = store.get('lastModel');
    if (last) await loadModel({source: {kind: 'stored', key: last.key, label: last.label}, quiet: true});
    document.documentElement.dataset.ready = 'true';
}

start();

// For the end-to-end tests and debugging: read-only views of the app state.
Object.defineProperty(window, 'moebiusApp', {value: Object.freeze({
    state, history, editor,
    currentImage: () => state.images.get(state.currentId)?.data ?? null,
    mask: () => editor.getMask(),
})});
