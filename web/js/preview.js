// preview.js: a cheap picture of the latents for per-step previews — a fixed linear map of the four
// latent channels to RGB, no VAE decode (a 64×64 image for a 512×512 crop).
//
// The factors are ComfyUI's for the SDXL VAE: comfy/latent_formats.py, class SDXL
// (latent_rgb_factors, latent_rgb_factors_bias), applied by latent_preview.py's Latent2RGBPreviewer
// to the sampler's x0 in the scaled latent space (VAE latents × scaling_factor 0.13025), then clamped
// to [-1, 1] and mapped to 0..255 by (v + 1) · 127.5, rounded. Moebius's VAE (hustvl/PixelHacker/vae)
// is the SDXL-style AutoencoderKL with that scaling factor, and the engine previews exactly that x0
// (DDIM's pred_original_sample). With the fixtures' synthetic weights the colours mean nothing.

/** Rows: latent channels 0..3; columns: R, G, B. */
export const SDXL_LATENT_RGB = Object.freeze({
    factors: Object.freeze([
        Object.freeze([0.3651, 0.4232, 0.4341]),
        Object.freeze([-0.2533, -0.0042, 0.1068]),
        Object.freeze([0.1076, 0.1111, -0.0362]),
        Object.freeze([-0.3165, -0.2492, -0.2188]),
    ]),
    bias: Object.freeze([0.1084, -0.0175, -0.0011]),
});

/**
 * Latents (1, C, H, W), C-major like the engine's tensors, to RGBA pixels (ImageData layout).
 * @param {Float32Array} latent  C·H·W values, scaled as the UNet sees them
 * @param {number} channels @param {number} height @param {number} width
 * @param {{factors: readonly (readonly number[])[], bias: readonly number[]}} [map]  C rows of [R, G, B]
 * @returns {{width: number, height: number, data: Uint8ClampedArray}}
 */
export function latentToRgba(latent, channels, height, width, map = SDXL_LATENT_RGB) {
    const plane = height * width;
    if (channels !== map.factors.length) {
        throw new RangeError(`latent preview: the map is for ${map.factors.length} channels, the latents have ${channels}`);
    }
    if (latent.length !== channels * plane) {
        throw new RangeError(`latent preview: ${latent.length} values for (${channels}, ${height}, ${width})`);
    }
    const out = new Uint8ClampedArray(4 * plane);
    for (let i = 0; i < plane; i++) {
        for (let c = 0; c < 3; c++) {
            let v = map.bias[c];
            for (let k = 0; k < channels; k++) v += latent[k * plane + i] * map.factors[k][c];
            out[4 * i + c] = Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
        }
        out[4 * i + 3] = 255;
    }
    return {width, height, data: out};
}
