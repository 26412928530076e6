// model-files.js: tells which model file is which when the user opens files from disk (DOM-free).
// Sniffs the first bytes, never trusts the extension alone:
//   - our converted model: safetensors whose __metadata__.format is "moebius"  -> {converted}
//   - a safetensors / torch.save zip whose tensor names are the VAE's (encoder.down_blocks...) -> vae weights
//   - the same with the UNet's names (diff_model..., embedding_layer...) -> unet weights
//   - config.json of diffusers' AutoencoderKL -> vae config; model_config.json ({unet, vae}) -> model config

/** Bytes of each file to read for sniffing: a torch.save zip stores data.pkl (all tensor names) first. */
export const SNIFF_BYTES = 1 << 20;

/**
 * @typedef {'converted' | 'unet' | 'vae' | 'vae-config' | 'model-config' | 'unknown'} FileRole
 */

/**
 * What a file is, from its name and first bytes.
 * @param {string} name @param {Uint8Array} head  the first SNIFF_BYTES (or the whole file if shorter)
 * @returns {{role: FileRole, why: string}}
 */
export function sniffModelFile(name, head) {
    const text = (/** @type {Uint8Array} */ b) => new TextDecoder('utf-8', {fatal: false}).decode(b);
    if (head.length >= 2 && head[0] === 0x7b) {  // '{': JSON
        let j;
        try { j = JSON.parse(text(head)); } catch { return {role: 'unknown', why: 'JSON that does not parse (or is cut off)'}; }
        if (j && typeof j === 'object' && j.unet && typeof j.unet === 'object') return {role: 'model-config', why: 'model_config.json ({unet, vae})'};
        if (j && (j._class_name === 'AutoencoderKL' || (Array.isArray(j.block_out_channels) && 'latent_channels' in j))) {
            return {role: 'vae-config', why: 'diffusers AutoencoderKL config.json'};
        }
        return {role: 'unknown', why: 'a JSON file that is neither the VAE config nor a model config'};
    }
    if (head.length >= 16 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {  // PK..: torch.save zip
        return byTensorNames(text(head), 'PyTorch .bin');
    }
    if (head.length >= 10) {  // safetensors: u64 LE header length, then a JSON object
        const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
        const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
        if (n > 1 && n < 1e8 && head[8] === 0x7b) {
            const header = text(head.subarray(8, Math.min(head.length, 8 + n)));
            let format = null;
            try {
                format = JSON.parse(header).__metadata__?.format ?? null;  // whole header in `head`
            } catch {
                // cut off: the metadata holds the config as an escaped JSON string, so look for the key
                format = /"format"\s*:\s*"moebius"/.test(header) ? 'moebius' : null;
            }
            if (format === 'moebius') return {role: 'converted', why: 'a converted Moebius model file'};
            return byTensorNames(header, 'safetensors');
        }
    }
    return {role: 'unknown', why: 'not a model file this app knows (expected .bin, .safetensors or .json)'};
}

/** @param {string} s @param {string} kind */
function byTensorNames(s, kind) {
    if (/decoder\.up_blocks|encoder\.down_blocks|post_quant_conv/.test(s)) return {role: /** @type {FileRole} */ ('vae'), why: `${kind} with the VAE's tensors`};
    if (/diff_model\.|embedding_layer/.test(s)) return {role: /** @type {FileRole} */ ('unet'), why: `${kind} with the Moebius UNet's tensors`};
    return {role: /** @type {FileRole} */ ('unknown'), why: `${kind} whose tensor names are neither Moebius' nor the VAE's`};
}

/**
 * Groups sniffed files into something the engine can load, or says what is missing.
 * @template F
 * @param {{file: F, name: string, role: FileRole, why: string}[]} files
 * @returns {{ok: true, converted: F} | {ok: true, unet: F, vae: F, vaeConfig: F, modelConfig: F | null}
 *          | {ok: false, message: string}}
 */
export function groupModelFiles(files) {
    const by = (/** @type {FileRole} */ r) => files.filter((f) => f.role === r);
    const unknown = by('unknown');
    if (unknown.length) return {ok: false, message: unknown.map((f) => `${f.name}: ${f.why}`).join('; ')};
    const conv = by('converted');
    if (conv.length === 1 && files.length === 1) return {ok: true, converted: conv[0].file};
    if (conv.length) return {ok: false, message: 'open either one converted model file, or the upstream files — not both'};
    const unet = by('unet'), vae = by('vae'), vc = by('vae-config'), mc = by('model-config');
    for (const [list, what] of /** @type {const} */ ([[unet, 'UNet weights'], [vae, 'VAE weights'], [vc, 'VAE config.json'], [mc, 'model_config.json']])) {
        if (list.length > 1) return {ok: false, message: `${list.length} files look like the ${what}: ${list.map((f) => f.name).join(', ')}`};
    }
    const missing = [];
    if (!unet.length) missing.push('the Moebius weights (diffusion_pytorch_model.bin)');
    if (!vae.length) missing.push('the VAE weights (vae/diffusion_pytorch_model.safetensors)');
    if (!vc.length) missing.push('the VAE config (vae/config.json)');
    if (missing.length) return {ok: false, message: `missing ${missing.join(', ')}`};
    return {ok: true, unet: unet[0].file, vae: vae[0].file, vaeConfig: vc[0].file, modelConfig: mc.length ? mc[0].file : null};
}
