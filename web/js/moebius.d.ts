// Type declarations of moebius.js: Moebius image inpainting on WebGPU or the CPU (moebius.cpp, WebAssembly).

/** Why a call failed. */
export type ErrorCodeValue =
    | 'no-adapter'     // no WebGPU (no navigator.gpu, no adapter, or requestDevice failed)
    | 'device-lost'    // the GPU device was lost (driver reset, another tab, destroy)
    | 'out-of-memory'  // GPU memory, a device limit, or the 4 GB WebAssembly heap
    | 'bad-model'      // not a Moebius model, corrupt, or weights that do not match the configuration
    | 'bad-image'      // image/mask of the wrong size or layout, or no mask and no alpha channel
    | 'bad-option'     // an option out of range or of the wrong type
    | 'io'             // a model URL or file that cannot be read
    | 'cancelled'      // the AbortSignal fired (error.name is 'AbortError'), or the engine was disposed
    | 'internal';

export declare const ErrorCode: Readonly<{
    NO_ADAPTER: 'no-adapter'; DEVICE_LOST: 'device-lost'; OUT_OF_MEMORY: 'out-of-memory'; BAD_MODEL: 'bad-model';
    BAD_IMAGE: 'bad-image'; BAD_OPTION: 'bad-option'; IO: 'io'; CANCELLED: 'cancelled'; INTERNAL: 'internal';
}>;

export declare class MoebiusError extends Error {
    constructor(code: ErrorCodeValue, message: string, cause?: unknown);
    /** 'AbortError' for code 'cancelled', else 'MoebiusError'. */
    name: 'MoebiusError' | 'AbortError';
    code: ErrorCodeValue;
}

/** Bytes of a file, or where to read them: a URL (http(s); file: or a plain path in Node), a
 *  fetch Response, a Blob, or a ReadableStream of chunks. Streams are copied straight into the
 *  WebAssembly heap when their length is known. */
export type Source = Uint8Array | ArrayBuffer | ArrayBufferView | URL | string | Response | Blob | ReadableStream<Uint8Array>;

/** Upstream checkpoint files: RemovalModel state dict + the diffusers VAE folder's files. */
export interface UpstreamModel {
    /** diffusion_pytorch_model.bin / .safetensors of the RemovalModel */
    unet: Source;
    vae: {
        /** the VAE folder's config.json (a Source, or the parsed object) */
        config: Source | object;
        /** the VAE folder's diffusion_pytorch_model.safetensors / .bin */
        weights: Source;
    };
    /** model_config.json ({"unet": ..., "vae": ...}) for non-standard sizes; default the real Moebius */
    config?: Source | object;
}

/** The reference fixtures' synthetic weights (shared/fixtures README rule), made in memory. */
export interface SynthModel {
    /** 'tiny', 'full', or a model_config.json ({"unet": ..., "vae": ...}) as text or object */
    synth: 'tiny' | 'full' | string | object;
    /** default 1 (the fixtures') */
    unetSeed?: number;
    /** default 2 (the fixtures') */
    vaeSeed?: number;
}

export interface ProgressEvent {
    stage: 'load' | 'encode' | 'step' | 'decode';
    /** denoising steps done (1-based) of this crop ('step'; 0 at 'encode', `steps` at 'decode') */
    step?: number;
    /** denoising steps per crop */
    steps?: number;
    /** crop window (1-based) and how many */
    crop?: number;
    crops?: number;
    /** 'load': bytes read so far, and in all when known */
    loaded?: number;
    total?: number | null;
    /** 'step' with InpaintOptions.preview: the step's estimate of the current crop */
    preview?: Preview;
}

/** A rough picture of the result so far: the step's predicted clean latents (DDIM's
 *  pred_original_sample) mapped to RGB by latentToRgba, nativeSize/8 pixels square (64 × 64). */
export interface Preview {
    width: number;
    height: number;
    /** RGBA (ImageData layout) */
    data: Uint8ClampedArray;
    /** the image area it covers: the crop window (whole mode: the whole image, which the model sees
     *  stretched to a square — draw the preview stretched onto this rectangle) */
    window: {x: number; y: number; width: number; height: number};
}

export interface EngineOptions {
    /** our single-file model (see `moebius convert`) or upstream files */
    model: Source | UpstreamModel | SynthModel;
    /** 'webgpu' (default), or 'cpu': the WebAssembly CPU backend, no GPU needed (slow: a fallback) */
    backend?: 'webgpu' | 'cpu';
    /** 'cpu': the pthreads build (build/wasm/moebius-mt.js, GEMMs on all cores) where threads are
     *  possible (Node, a cross-origin-isolated page); else the single-threaded build. Default false */
    threads?: boolean;
    /** a GPU: navigator.gpu (default), npm webgpu's create([...]), a GPUAdapter or a GPUDevice
     *  (a device given here is destroyed by dispose()) */
    gpu?: unknown;
    /** float16 storage where the adapter has shader-f16 (default true) */
    preferF16?: boolean;
    /** moebius.wasm (the glue moebius.js is looked up next to it) */
    wasmUrl?: URL | string;
    /** the emscripten glue (ES module); default build/wasm/moebius.js of the repository */
    glueUrl?: URL | string;
    wasmBinary?: Uint8Array | ArrayBuffer;
    /** the glue's default export, when already imported */
    moduleFactory?: (moduleArg: object) => Promise<unknown>;
    /** WGSL sources by kernel name (default: fetched next to bridge.js) */
    kernelSources?: Record<string, string>;
    onProgress?: (e: ProgressEvent) => void;
    /** cancels loading */
    signal?: AbortSignal;
    /** GpuBridge.create options (bridge.js), e.g. {maxStorageBindingBytes} to lower a device limit */
    bridgeOptions?: {maxBatchDispatches?: number; maxWorkgroupsPerDim?: number; maxStorageBindingBytes?: number;
                     powerPreference?: string};
    print?: (s: string) => void;
    printErr?: (s: string) => void;
}

/** ImageData-like pixels, rows top to bottom, interleaved. */
export interface ImageLike {
    width: number;
    height: number;
    data: Uint8ClampedArray | Uint8Array;
    /** 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA); default data.length / (width * height) */
    channels?: number;
}

export interface InpaintOptions {
    /** DDIM steps before strength (upstream 20) */
    steps?: number;
    /** classifier-free guidance scale (upstream 2.5) */
    guidance?: number;
    /** denoising strength (upstream 0.99) */
    strength?: number;
    /** seed of the initial noise, an integer below 2^53 */
    seed?: number | bigint;
    /** initial latent noise (1,4,S/8,S/8), noise offset included; overrides seed */
    noise?: Float32Array;
    /** upstream 0.0357 */
    noiseOffset?: number;
    /** auto: crop-around-mask above the model size, else whole (upstream) */
    mode?: 'auto' | 'whole' | 'crop' | 0 | 1 | 2;
    /** blend into the input with the blurred mask (default true) */
    paste?: boolean;
    /** upstream colour compensation (implies paste) */
    compensate?: boolean;
    /** 'step' events carry a Preview (on WebGPU: one readback of 4×64×64 values per step); models with 4 latent channels */
    preview?: boolean;
    /** sample the VAE posterior like upstream instead of its mean (CPU backend only) */
    sampleLatents?: boolean;
    /** cancels between stages without waiting for the GPU; rejects with code 'cancelled' */
    signal?: AbortSignal;
    onProgress?: (e: ProgressEvent) => void;
}

/** Milliseconds, summed over crop windows. On WebGPU the stages overlap a little (step 1 is recorded
 *  while the GPU runs the encode, the decode while it runs the last step); each ends when its GPU work is done. */
export interface Timings {
    encode: number;
    denoise: number;
    /** of which in the step calls: recording the GPU work (WASM + JS, overlapped with the GPU), or
     *  computing the steps (CPU backend) */
    record: number;
    decode: number;
    post: number;
    total: number;
    steps: number;
    crops: number;
}

export interface InpaintResult {
    /** RGBA (ImageData layout), the input's size */
    image: {width: number; height: number; data: Uint8ClampedArray};
    timings: Timings;
}

export interface EngineInfo {
    backend: 'webgpu' | 'cpu';
    /** the GPU (null on the CPU backend) */
    adapter: {vendor: string; architecture: string; device: string; description: string} | null;
    features: {f16: boolean; subgroups: boolean; timestampQuery: boolean};
    /** tensor storage (always f32 on the CPU) */
    dtype: 'f32' | 'f16';
    /** CPU threads the CPU backend's GEMMs use (1 but for the pthreads build; 1 on WebGPU) */
    threads: number;
    /** channels of the VAE latents (4) */
    latentChannels: number;
    /** model summary (widths, native size, backend) */
    model: string;
    /** the model works on nativeSize x nativeSize pixels (512) */
    nativeSize: number;
    /** length of InpaintOptions.noise */
    noiseCount: number;
}

export declare class Engine {
    readonly info: EngineInfo;
    /**
     * Inpaints `image` where `mask` is white (>= 128 after gray conversion), or — without a mask —
     * where the image is transparent (alpha < 128). Calls are queued: one runs at a time.
     */
    inpaint(image: ImageLike, mask?: ImageLike | null, options?: InpaintOptions): Promise<InpaintResult>;
    /** Frees the GPU memory kept for reuse between steps and calls (the weights stay): on WebGPU the
     *  tensor arena, one buffer of the largest inpaint's live tensors that the next inpaint would reuse
     *  (~0.45 GB for the full model in f16), once a running inpaint has stopped. The next inpaint makes
     *  it again. No-op on the CPU backend. */
    trim(): Promise<void>;
    /** Frees the model and the GPU device once a running inpaint has stopped. */
    dispose(): Promise<unknown>;
}

/** Loads the WebAssembly engine, creates the WebGPU device (or the CPU backend) and loads the model. */
export declare function createEngine(options: EngineOptions): Promise<Engine>;

/** ComfyUI's latent-to-RGB factors for the SDXL VAE (comfy/latent_formats.py, class SDXL): rows are
 *  latent channels, columns R, G, B; applied to latents × scaling factor 0.13025. */
export declare const SDXL_LATENT_RGB: Readonly<{factors: readonly (readonly number[])[]; bias: readonly number[]}>;

/** Latents (1, C, H, W) to RGBA: rgb = clamp(bias + latentᵀ · factors, −1, 1), then (v + 1) · 127.5 rounded. */
export declare function latentToRgba(latent: Float32Array, channels: number, height: number, width: number,
                                     map?: {factors: readonly (readonly number[])[]; bias: readonly number[]}):
    {width: number; height: number; data: Uint8ClampedArray};
