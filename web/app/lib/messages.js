// messages.js: plain-language messages for every failure the app can meet (DOM-free). Each says what
// happened and what to do; the technical detail is kept for a "details" line.

/**
 * @param {{code?: string, message?: string, status?: number}} e  an error from the worker (code from
 *   moebius.js MoebiusError, lib/download.js DownloadError, lib/model-cache.js CacheError) or the page
 * @param {'model' | 'run' | 'image' | 'mask' | 'download' | 'cache'} during
 * @returns {{title: string, text: string, detail: string, severity: 'error' | 'warning' | 'info'}}
 */
export function explain(e, during) {
    const code = e?.code ?? 'internal';
    const detail = e?.message ?? String(e);
    const keep = during === 'run' ? ' Your image and mask are kept.' : '';
    /** @type {(title: string, text: string, severity?: 'error' | 'warning' | 'info') => ReturnType<typeof explain>} */
    const m = (title, text, severity = 'error') => ({title, text, detail, severity});
    switch (code) {
        case 'cancelled':
            return m('Cancelled', during === 'run' ? 'Stopped; nothing was changed.' : 'Stopped before it finished; nothing was changed.', 'info');
        case 'no-adapter':
            return m('No usable GPU', 'This browser cannot use the graphics card here (WebGPU is off or unsupported). ' +
                     'Choose "CPU" as the engine in Advanced — it works everywhere, only slower — or try a recent Chrome or Edge.' + keep);
        case 'device-lost':
            return m('The GPU stopped responding', 'The graphics driver reset or the GPU ran out of memory. ' +
                     'Press Run again: the model is reloaded first. If it keeps happening, close other tabs or choose the CPU engine.' + keep);
        case 'out-of-memory':
            return m('Not enough memory', 'The browser ran out of memory for this job. Close other tabs, ' +
                     'use "crop" mode (Advanced) so only the area around the mask is processed, or a smaller image.' + keep);
        case 'quota':
            return m('Not enough storage space', 'The model could not be stored on this device, so it will download again next visit. ' +
                     'Free some disk space or clear other sites\' data, then reload.', 'warning');
        case 'corrupt':
            return m('Stored model was damaged', 'It failed its integrity check, was removed, and is downloaded again.', 'warning');
        case 'unavailable':
            return m('Storage unavailable', 'This browser window does not allow storing the model (private mode?). It works for this visit only.', 'warning');
        case 'http':
            if (e.status === 404) {
                return m('Model file not found', 'The server has no file at that address. Check the model source in "Model…" (base URL and variant).');
            }
            if (e.status === 401 || e.status === 403) {
                return m('Download refused', 'The server refused the model download (it may need a login or block other sites). Check the model source, or open the files from disk.');
            }
            return m('Download failed', 'The server answered with an error. Try again later or use a mirror in "Model…".');
        case 'network':
            return m('Download interrupted', 'The connection dropped and could not be resumed. Check your connection and press Download again; ' +
                     'it continues where it stopped where the server allows it.');
        case 'size':
            return m('Download incomplete', 'The file arrived shorter than announced. Press Download again.');
        case 'io':
            return during === 'model'
                ? m('Could not read the model', 'A model file could not be fetched or read. Check the address or the files you picked.')
                : m('Could not load the engine', 'The app\'s engine files did not load. Reload the page; if you are offline, open it once online first.');
        case 'bad-model':
            return m('Not a usable model file', 'The file(s) are not a Moebius model this app can read. Pick our converted .safetensors file, ' +
                     'or the upstream diffusion_pytorch_model.bin plus the VAE\'s config.json and diffusion_pytorch_model.safetensors.');
        case 'bad-image':
            return during === 'mask'
                ? m('Could not use that mask', 'Open an image of the same picture (white = remove).')
                : m('Could not use that image', 'The file is not an image this browser can open, or it is too large. Try PNG, JPEG or WebP.');
        case 'bad-option':
            return m('Invalid setting', 'One of the options is out of range. Check the Advanced settings.' + keep);
        case 'empty-mask':
            return m('Nothing to remove yet', 'Paint over the part of the photo that should disappear, then press Run.', 'info');
        case 'no-image':
            return m('No photo open', 'Open a photo first: use "Open", drop a file on the page, or paste one.', 'info');
        case 'no-model':
            return m('No model loaded', 'Get the model first ("Model…"): download it once, or open the files from disk.', 'info');
        default:
            return m('Something went wrong', 'An unexpected error happened in the engine.' + keep + ' Reloading the page usually helps.');
    }
}
