// options.js: the run options of the Advanced section (DOM-free): upstream's defaults, validation
// with messages, and seeds.

/** Upstream's defaults (removal/v1_2/pipeline.py; moebius_options_default). */
export const DEFAULTS = Object.freeze({steps: 20, guidance: 2.5, strength: 0.99, seed: 0, mode: 'auto', paste: true, compensate: false});

const MAX_SEED = 2 ** 53 - 1;  // the engine takes integer seeds exact in a double (mw_options_set)

/**
 * Checks raw values (strings from inputs or numbers) and returns engine options or the problems.
 * @param {Record<string, any>} raw
 * @returns {{ok: true, options: typeof DEFAULTS & {}} | {ok: false, errors: Record<string, string>}}
 */
export function validateOptions(raw) {
    /** @type {Record<string, string>} */
    const errors = {};
    const num = (/** @type {any} */ v) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
    const steps = num(raw.steps ?? DEFAULTS.steps);
    const guidance = num(raw.guidance ?? DEFAULTS.guidance);
    const strength = num(raw.strength ?? DEFAULTS.strength);
    const seed = num(raw.seed ?? DEFAULTS.seed);
    if (!Number.isInteger(steps) || steps < 1 || steps > 1000) errors.steps = 'Steps must be a whole number from 1 to 1000.';
    if (!Number.isFinite(guidance) || guidance < 0 || guidance > 50) errors.guidance = 'Guidance must be a number from 0 to 50.';
    if (!Number.isFinite(strength) || strength <= 0 || strength > 1) errors.strength = 'Strength must be above 0 and at most 1.';
    // diffusers' img2img timesteps: int(steps * strength) denoising steps; 0 leaves nothing to do.
    if (!errors.steps && !errors.strength && Math.floor(steps * strength) < 1) {
        errors.steps = `Steps × strength must reach at least 1 (${steps} × ${strength} gives no denoising step).`;
    }
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) errors.seed = `Seed must be a whole number from 0 to ${MAX_SEED}.`;
    const mode = raw.mode ?? DEFAULTS.mode;
    if (!['auto', 'whole', 'crop'].includes(mode)) errors.mode = 'Mode must be auto, crop or whole.';
    if (Object.keys(errors).length) return {ok: false, errors};
    const paste = raw.paste === undefined ? DEFAULTS.paste : !!raw.paste;
    const compensate = raw.compensate === undefined ? DEFAULTS.compensate : !!raw.compensate;
    return {ok: true, options: {steps, guidance, strength, seed, mode, paste, compensate}};
}

/** Denoising steps the engine will run per crop window for these options. @param {{steps: number, strength: number}} o */
export function denoisingSteps(o) {
    return Math.min(Math.floor(o.steps * o.strength), o.steps);
}

/** A new random seed (32 bits: short enough to read out and type). @param {() => number} [rand] */
export function newSeed(rand) {
    if (rand) return Math.floor(rand() * 2 ** 32);
    const a = new Uint32Array(1);
    globalThis.crypto.getRandomValues(a);
    return a[0];
}
