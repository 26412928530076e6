#!/usr/bin/env python3
"""Peer benchmark: upstream's own PyTorch pipeline on the fixture work, timed and checked.

Runs github hustvl/Moebius (commit 390735d; fetched at bench time, never copied here) with diffusers
0.38.0 on the same job as our engine: the fixtures' image.png + mask.png, their noise.npy, DDIM
(upstream's scheduler settings) 20 steps at strength 0.99 = 19 steps (t = 900, 850, ..., 0),
guidance 2.5, CFG as one batch-2 UNet call, synthetic weights from the fixtures' rule.

Upstream code does the work: RemovalSDXLPipeline_BatchMode._preprocess / _denoise_steps /
_post_process, utils_infer.encode_clean_latents / predict_noise, diffusers' DDIMScheduler and
AutoencoderKL. The harness adds only:
  - model construction with in-memory weights (upstream's build_pipeline reads weight files);
  - the fixtures' noise instead of torch.randn_like (the pipeline module's `torch.randn_like` is
    the only name replaced; noise.npy already includes upstream's noise offset);
  - the VAE posterior mean instead of latent_dist.sample() (DiagonalGaussianDistribution.sample
    returns mode()), as the fixtures do;
  - observers (scheduler.step, vae.decode, forward hooks) on the checked run only.

Prints a summary and, with --json, writes the numbers (see README.md for what each one means).
Exit status: 0 ok (also when a configuration cannot run: its numbers are null with a reason),
2 usage or set-up error, 3 the peer ran but its outputs do not match the fixtures.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
import types

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree (nor in upstream's checkout)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upstream_env as env  # noqa: E402

NUM_STEPS, STRENGTH, GUIDANCE = 20, 0.99, 2.5  # 20 steps at strength 0.99 -> t = 900..0, 19 steps
IMAGE_SIZE = 512


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["tiny", "full"], default="full")
    ap.add_argument("--fixtures", default=env.default_fixtures(),
                    help="fixture root holding tiny/ and full/ (default: $MOEBIUS_FIXTURES or ../shared/fixtures)")
    ap.add_argument("--upstream", metavar="DIR",
                    help="existing hustvl/Moebius checkout (default: clone into the cache, see README)")
    ap.add_argument("--diffusers-src", metavar="DIR", help="diffusers source folder (its src/) to put on sys.path")
    ap.add_argument("--pysrc", metavar="DIR", action="append", default=[],
                    help="extra folder on sys.path holding pure-Python packages (huggingface_hub, einops, timm); repeatable")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32")
    ap.add_argument("--tf32", choices=["off", "on"], default="off",
                    help="CUDA fp32 only: allow TF32 in matmuls and cuDNN convolutions (torch's own default "
                         "lets cuDNN use TF32); off keeps true fp32, comparable with the fixtures")
    ap.add_argument("--cudnn-benchmark", choices=["off", "on"], default="off",
                    help="torch.backends.cudnn.benchmark (off: torch's default, as upstream runs)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the UNet and the VAE encoder/decoder")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per stage; the median is reported")
    ap.add_argument("--json", metavar="OUT.json", help="write the results here")
    ap.add_argument("--save-outputs", metavar="DIR", help="write latents_steps.npy, decoded.npy, result.png")
    return ap.parse_args(argv)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def device_name(torch, device):
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    model = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores"


# ---- CPU peak memory: VmHWM of this process, reset before the timed inpaint where Linux allows --------

def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux >= 4.0: reset the peak resident set size (VmHWM) to the current RSS
        return True
    except OSError:
        return False


def peak_rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- replacements for the two random draws (see module docstring) ---------------------------------

class TorchWithFixtureNoise(types.ModuleType):
    """Stands for `torch` inside upstream's pipeline module: everything is torch's, except
    randn_like, which returns the fixtures' noise (cast to the latents' device and dtype)."""

    def __init__(self, torch, noise):
        super().__init__("torch")
        self._torch, self._noise = torch, noise

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def randn_like(self, x, *args, **kwargs):
        if tuple(x.shape) != tuple(self._noise.shape):
            raise RuntimeError(f"fixture noise is {tuple(self._noise.shape)}, latents are {tuple(x.shape)}")
        return self._noise.to(device=x.device, dtype=x.dtype).clone()


def use_posterior_mean():
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
    DiagonalGaussianDistribution.sample = lambda self, generator=None: self.mode()


# ---- timing -------------------------------------------------------------------------------------------

def timed(fn, repeat, sync):
    samples = []
    out = None
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples), samples, out


def max_abs(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise RuntimeError(f"shape {a.shape} vs reference {b.shape}")
    return float(np.max(np.abs(a - b)))


def main(argv=None):
    args = parse_args(argv)
    notes = []
    result = {
        "peer": f"pytorch_{'compile' if args.compile else 'eager'}_{args.dtype}",
        "model": args.model, "device": None, "dtype": args.dtype, "torch_version": None,
        "threads": None, "unet_step_ms": None, "encode_ms": None, "decode_ms": None, "inpaint_ms": None,
        "peak_mem_bytes": None, "max_abs_diff_latents": None, "max_abs_diff_decoded": None,
        "ok": None, "notes": notes,
    }

    def finish(status):
        result["notes"] = notes
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(result, f, indent=1)
            os.replace(tmp, args.json)
            log(f"[json] {args.json}")
        return status

    fdir = env.fixture_dir(args.fixtures, args.model)
    meta = env.load_json(os.path.join(fdir, "meta.json"))
    up_path, commit = env.get_upstream(args.upstream, log=log)
    versions = env.setup_imports(up_path, args.diffusers_src, args.pysrc)
    import torch
    from PIL import Image
    from diffusers import DDIMScheduler

    result.update(torch_version=torch.__version__, upstream_commit=commit, versions=versions,
                  compile=args.compile, repeat=args.repeat, fixtures=os.path.abspath(fdir))
    if versions["diffusers"] != env.DIFFUSERS_VERSION:
        notes.append(f"diffusers {versions['diffusers']}, not {env.DIFFUSERS_VERSION} as the fixtures")
    for name, why in env.SHIMS.items():
        notes.append(f"stand-in module {name}: {why}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    result["threads"] = torch.get_num_threads()
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        notes.append("CUDA not available in this torch build / machine")
        log("error: --device cuda but torch.cuda.is_available() is False")
        return finish(2)
    result["device"] = f"{device} ({device_name(torch, device)})"
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    if device == "cuda":
        tf32 = args.tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        result["tf32"] = tf32
        torch.backends.cudnn.benchmark = args.cudnn_benchmark == "on"
        result["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        sync = torch.cuda.synchronize
    else:
        result["tf32"] = None
        sync = lambda: None  # noqa: E731

    up = env.import_upstream()
    t0 = time.perf_counter()
    unet, vae, cfg = env.build_models(up, fdir, log=log)
    result["build_s"] = round(time.perf_counter() - t0, 2)

    # As upstream infer/utils.py build_pipeline, with the models built above.
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, clip_sample=False)
    pipe = up.pipeline.RemovalSDXLPipeline_BatchMode(removal_model=unet, vae=vae, scheduler=scheduler,
                                                     device=device, dtype=dtype)
    noise = torch.from_numpy(np.load(os.path.join(fdir, "noise.npy")))
    up.pipeline.torch = TorchWithFixtureNoise(torch, noise)
    use_posterior_mean()
    notes.append("noise: fixture noise.npy (includes upstream's 0.0357 offset) in place of torch.randn_like; "
                 "VAE latents: posterior mean in place of latent_dist.sample(), as the fixtures")

    if dtype != torch.float32:
        # Upstream's loop passes t with shape (1,), so DDIMScheduler.step multiplies the latents by a
        # float32 (1,)-tensor alphas_cumprod[t] and returns float32 latents; the next UNet call then
        # fails (time embedding in float32, weights in float16). diffusers' own pipelines cast the step
        # output back to the latents' dtype; so does the harness, and only in fp16.
        step_fp32 = pipe.noise_scheduler.step

        def step_keep_dtype(model_output, timestep, sample, *a, **k):
            out = step_fp32(model_output, timestep, sample, *a, **k)
            return (out[0].to(sample.dtype), *out[1:]) if isinstance(out, tuple) else out

        pipe.noise_scheduler.step = step_keep_dtype
        notes.append("fp16: DDIMScheduler.step output cast back to the latents' dtype, as diffusers' pipelines "
                     "do (upstream's loop turns the latents into float32 after step 1 and its next UNet call "
                     "fails: 'mat1 and mat2 must have the same dtype')")

    image_pil = Image.open(os.path.join(fdir, "image.png")).convert("RGB")
    mask_pil = Image.open(os.path.join(fdir, "mask.png")).convert("L")

    def preprocess():
        return pipe._preprocess(image_pil, mask_pil, IMAGE_SIZE)

    def denoise(image, mask, masked_image):
        return pipe._denoise_steps(image, mask, masked_image, num_steps=NUM_STEPS, strength=STRENGTH,
                                   noise_offset=None, guidance_scale=GUIDANCE, mute=True)

    def postprocess(images, info):
        return pipe._post_process(images, info, paste=True, compensate=False)

    if args.compile:
        if not hasattr(torch, "compile"):
            notes.append(f"torch.compile: not available in torch {torch.__version__}")
            log(notes[-1])
            return finish(0)
        # Upstream's lambda layers set torch._dynamo.config.suppress_errors = True, which turns a failed
        # compilation into silent eager execution; keep failures visible so they are reported.
        torch._dynamo.config.suppress_errors = False
        pipe.removal_model = torch.compile(pipe.removal_model)
        pipe.vae.encoder = torch.compile(pipe.vae.encoder)
        pipe.vae.decoder = torch.compile(pipe.vae.decoder)
        notes.append("torch.compile (default mode) on RemovalModel, vae.encoder, vae.decoder; "
                     "compilation happens in the checked run, before any timing")

    # ---- checked run (also the warm-up) -----------------------------------------------------------
    steps, seen_t, captured = [], [], {}
    orig_step = pipe.noise_scheduler.step

    def recording_step(model_output, timestep, sample, *a, **k):
        out = orig_step(model_output, timestep, sample, *a, **k)
        seen_t.append(int(timestep.reshape(-1)[0]) if torch.is_tensor(timestep) else int(timestep))
        steps.append(out[0] if isinstance(out, tuple) else out.prev_sample)
        return out

    orig_decode = pipe.vae.decode

    def recording_decode(z, *a, **k):
        out = orig_decode(z, *a, **k)
        captured["decoded"] = out.sample
        return out

    orig_predict = up.pipeline.predict_noise

    def recording_predict(*a, **k):
        captured.setdefault("predict_args", (a, k))
        return orig_predict(*a, **k)

    hooks = []
    if not args.compile:  # forward hooks on compiled modules would break their graphs
        moments = []
        def keep_moments(module, inputs, output):  # forward hooks must return None (else: new output)
            moments.append(output)

        def keep_unet_out(module, inputs, output):
            captured.setdefault("unet_out", output.sample)

        hooks.append(pipe.vae.quant_conv.register_forward_hook(keep_moments))
        hooks.append(pipe.removal_model.register_forward_hook(keep_unet_out))
    pipe.noise_scheduler.step = recording_step
    pipe.vae.decode = recording_decode
    up.pipeline.predict_noise = recording_predict
    log(f"[run] checked run: {args.model} model, {device}, {args.dtype}"
        + (", torch.compile" if args.compile else ""))
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            image, mask, masked_image, info = preprocess()
            images = denoise(image, mask, masked_image)
            out_png = postprocess(images, info)
    except Exception as e:  # a configuration this machine / torch cannot run: report, don't crash
        notes.append(f"run failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:400])
        if "predict_args" in captured:  # where a dtype or device mix-up came from
            pa, pk = captured["predict_args"]
            notes.append("first predict_noise inputs: " + ", ".join(
                f"{k} {tuple(v.shape)} {v.dtype}" for k, v in [("noisy_latents", pa[1]), *pk.items()]
                if torch.is_tensor(v)))
        log(traceback.format_exc())
        return finish(0)
    finally:
        for h in hooks:
            h.remove()
        pipe.noise_scheduler.step = orig_step
        pipe.vae.decode = orig_decode
        up.pipeline.predict_noise = orig_predict
    result["checked_run_s"] = round(time.perf_counter() - t0, 2)

    # ---- check against the fixtures ---------------------------------------------------------------
    ref_steps = np.load(os.path.join(fdir, "latents_steps.npy"))
    ref_decoded = np.load(os.path.join(fdir, "decoded.npy"))
    got_steps = np.stack([s.float().cpu().numpy() for s in steps])
    got_decoded = captured["decoded"].float().cpu().numpy()
    checks = {}
    if seen_t != [int(t) for t in meta["timesteps"]]:
        notes.append(f"timesteps {seen_t} differ from the fixtures' {meta['timesteps']}")
        checks["timesteps"] = False
    result["max_abs_diff_latents"] = max_abs(got_steps[-1], ref_steps[-1])
    result["max_abs_diff_latents_all_steps"] = max_abs(got_steps, ref_steps)
    result["max_abs_diff_decoded"] = max_abs(got_decoded, ref_decoded)
    if not args.compile:
        result["max_abs_diff_moments_image"] = max_abs(moments[0].float().cpu().numpy(),
                                                       np.load(os.path.join(fdir, "vae_moments_image.npy")))
        result["max_abs_diff_moments_masked"] = max_abs(moments[1].float().cpu().numpy(),
                                                        np.load(os.path.join(fdir, "vae_moments_masked.npy")))
        result["max_abs_diff_unet_out_t900"] = max_abs(captured["unet_out"].float().cpu().numpy(),
                                                       np.load(os.path.join(fdir, "unet_out.npy")))
    ref_png = np.asarray(Image.open(os.path.join(fdir, "result.png")).convert("RGB"), dtype=np.int16)
    got_png = np.asarray(out_png.convert("RGB"), dtype=np.int16)
    result["result_png_max_level_diff"] = int(np.abs(got_png - ref_png).max())
    result["result_png_values_differing"] = int(np.count_nonzero(got_png != ref_png))

    # Tolerances. Strict float32: 8x the fixtures' own float32-vs-float64 spread (meta.json), as the
    # GPU parity checks in NOTES.md. fp16 or TF32 (11-bit significands): 128 * 2^-11 * max|ref|,
    # the bound NOTES.md uses for 19 steps + decode in f16 (it catches gross errors only).
    spread = meta["float32_vs_float64_max_abs_diff"]
    reduced = args.dtype == "fp16" or result["tf32"]
    if reduced:
        tol_lat = 128 * 2.0 ** -11 * meta["max_abs"]["latents_steps"]
        tol_dec = 128 * 2.0 ** -11 * meta["max_abs"]["decoded"]
        result["tolerance_rule"] = "128 * 2^-11 * max|ref| (fp16 / TF32)"
    else:
        tol_lat = 8 * spread["latents_last_step"]
        tol_dec = 8 * spread["decoded"]
        result["tolerance_rule"] = "8 x the fixtures' float32-vs-float64 spread"
    result["tolerance_latents"], result["tolerance_decoded"] = tol_lat, tol_dec
    finite = bool(np.isfinite(got_steps).all() and np.isfinite(got_decoded).all())
    checks["finite"] = finite
    checks["latents"] = result["max_abs_diff_latents"] <= tol_lat
    checks["decoded"] = result["max_abs_diff_decoded"] <= tol_dec
    result["ok"] = all(checks.values())
    if not result["ok"]:
        notes.append("PEER OUTPUT IS WRONG: " + ", ".join(k for k, v in checks.items() if not v)
                     + " outside tolerance; its timings compare different work")

    if args.save_outputs:
        os.makedirs(args.save_outputs, exist_ok=True)
        np.save(os.path.join(args.save_outputs, "latents_steps.npy"), got_steps.astype(np.float32))
        np.save(os.path.join(args.save_outputs, "decoded.npy"), got_decoded.astype(np.float32))
        out_png.save(os.path.join(args.save_outputs, "result.png"))

    # ---- timings ----------------------------------------------------------------------------------
    n = max(1, args.repeat)
    with torch.no_grad():
        # One denoising step as upstream's loop runs it at t = 900: utils_infer.predict_noise (the
        # batch-2 CFG UNet call + guidance) and the DDIM step, on the inputs the checked run built.
        (pa, pk) = captured["predict_args"]
        lat0 = pa[1] if len(pa) > 1 else pk["noisy_latents"]
        t900 = pk["timesteps"]

        def one_step():
            eps = up.utils_infer.predict_noise(*pa, **pk)
            return pipe.noise_scheduler.step(eps, t900, lat0, return_dict=False)[0]

        result["unet_step_ms"], result["unet_step_samples_ms"], _ = timed(one_step, n, sync)
        log(f"[time] unet CFG step {result['unet_step_ms']:.1f} ms")

        # VAE encode x2 as upstream: two separate vae.encode calls (image, masked image).
        def encode():
            return up.utils_infer.encode_clean_latents(dict(images=image, masked_images=masked_image),
                                                       vae=pipe.vae)

        result["encode_ms"], result["encode_samples_ms"], _ = timed(encode, n, sync)
        log(f"[time] encode x2 {result['encode_ms']:.1f} ms")

        last = steps[-1]

        def decode():
            return pipe.vae.decode((last / pipe.vae.config.scaling_factor).to(pipe.dtype)).sample

        result["decode_ms"], result["decode_samples_ms"], _ = timed(decode, n, sync)
        log(f"[time] decode {result['decode_ms']:.1f} ms")

        # Whole inpaint: _denoise_steps = encode x2 -> 19 steps -> decode (on the device, inputs
        # already there); the CPU pre- and post-processing around it is timed on its own.
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            mem_note = "torch.cuda.max_memory_allocated over the timed inpaint runs"
        else:
            mem_note = ("peak RSS (VmHWM) over the timed inpaint runs" if reset_peak_rss()
                        else "peak RSS of the whole process (VmHWM could not be reset)")
        pre, inp, post = [], [], []
        for _ in range(n):
            ms, _, (image, mask, masked_image, info) = timed(preprocess, 1, sync)
            pre.append(ms)
            ms, _, images = timed(lambda: denoise(image, mask, masked_image), 1, sync)
            inp.append(ms)
            ms, _, _ = timed(lambda: postprocess(images, info), 1, sync)
            post.append(ms)
        result["inpaint_ms"] = statistics.median(inp)
        result["inpaint_samples_ms"] = inp
        result["preprocess_ms"] = statistics.median(pre)
        result["postprocess_ms"] = statistics.median(post)
        if device == "cuda":
            result["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated())
            result["peak_mem_reserved_bytes"] = int(torch.cuda.max_memory_reserved())
        else:
            result["peak_mem_bytes"] = peak_rss_bytes()
        result["peak_mem_what"] = mem_note
        log(f"[time] inpaint {result['inpaint_ms']:.1f} ms (pre {result['preprocess_ms']:.1f}, "
            f"post {result['postprocess_ms']:.1f})")

    summary = (f"{result['peer']} {args.model} on {result['device']}: step {result['unet_step_ms']:.1f} ms, "
               f"encode x2 {result['encode_ms']:.1f} ms, decode {result['decode_ms']:.1f} ms, "
               f"inpaint {result['inpaint_ms']:.1f} ms, peak {result['peak_mem_bytes'] / 2**30:.2f} GiB; "
               f"max|diff| latents {result['max_abs_diff_latents']:.2e} (tol {tol_lat:.1e}), "
               f"decoded {result['max_abs_diff_decoded']:.2e} (tol {tol_dec:.1e}) -> "
               + ("OK" if result["ok"] else "WRONG"))
    print(summary, flush=True)
    for note in notes:
        log(f"[note] {note}")
    return finish(0 if result["ok"] else 3)


if __name__ == "__main__":
    sys.exit(main())
