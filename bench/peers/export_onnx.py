#!/usr/bin/env python3
"""Export upstream's three graphs to ONNX the way the browser port moebius-web does.

github simonw/moebius-web python/export_onnx.py + python/reexport_unet_no_conv3d.py: torch.onnx's
TorchScript (tracing) exporter, opset 18, a dynamic batch axis, three wrappers that return plain
tensors, and the self-lambda pos_conv Conv3d(1, k, (1, r, r)) replaced by the equivalent Conv2d (Safari's
WebGPU backend cannot compile ORT's Conv3d shader; the Conv2d is also faster everywhere):

  vae_encoder.onnx  image (B,3,512,512) f32            -> moments (B,8,64,64)   quant_conv(encoder(x))
  unet.onnx         latent (B,9,64,64) f32, timesteps (B,) int64, input_ids (B,10) int64 -> noise (B,4,64,64)
  vae_decoder.onnx  latent (B,4,64,64) f32             -> image (B,3,512,512)   decoder(post_quant_conv(z))

Weights: the fixtures' synthetic rule (same models as upstream.py). Only fp32 graphs: moebius-web ships
fp32 only (its models/README.md: fp16 "numerically unstable for this VAE"; its web/src/pipeline.ts
loads the three fp32 files).

Checks: torch wrappers vs the fixtures (moments, unet_out at t=900, decoded); the Conv2d rewrite vs the
original Conv3d in torch; onnx.checker; no 3-D Conv left; then each graph against torch at batch 1 and
2 with onnxruntime when it is installed (else skipped, and said so). Writes <out>/export.json.
"""

import argparse
import inspect
import json
import os
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree (nor in upstream's checkout)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import upstream_env as env  # noqa: E402

WANTED_OPSET = 18  # as moebius-web


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--out", required=True, metavar="DIR")
    ap.add_argument("--fixtures", default=env.default_fixtures())
    ap.add_argument("--upstream", metavar="DIR")
    ap.add_argument("--diffusers-src", metavar="DIR")
    ap.add_argument("--pysrc", metavar="DIR", action="append", default=[])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true", help="skip the onnxruntime and fixture checks")
    args = ap.parse_args(argv)

    fdir = env.fixture_dir(args.fixtures, args.model)
    up_path, commit = env.get_upstream(args.upstream, log=log)
    versions = env.setup_imports(up_path, args.diffusers_src, args.pysrc)
    import torch
    from torch import nn
    import onnx

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    up = env.import_upstream()
    unet, vae, cfg = env.build_models(up, fdir, log=log)
    sf = cfg["vae"]["scaling_factor"]

    # ---- wrappers (as moebius-web) -------------------------------------------------------------
    class VaeEncExport(nn.Module):
        def __init__(self, vae):
            super().__init__()
            self.vae = vae

        def forward(self, image):  # moments = [mean(4), logvar(4)]
            return self.vae.quant_conv(self.vae.encoder(image))

    class VaeDecExport(nn.Module):
        def __init__(self, vae):
            super().__init__()
            self.vae = vae

        def forward(self, latent):
            return self.vae.decoder(self.vae.post_quant_conv(latent))

    class UNetExport(nn.Module):
        def __init__(self, removal_model):
            super().__init__()
            self.m = removal_model

        def forward(self, latent, timesteps, input_ids):
            return self.m(latent, timesteps, input_ids).sample

    class PosConv2d(nn.Module):
        """Conv3d(1, k, (1, r, r)) over V (b, 1, v, hh, ww) is one r x r Conv2d per v-slice with one
        input channel: fold (b, v) into the batch, convolve, put the axes back -> (b, k, v, hh, ww)."""

        def __init__(self, c3):
            super().__init__()
            r = c3.kernel_size[1]
            self.conv = nn.Conv2d(c3.in_channels, c3.out_channels, r, padding=r // 2)
            with torch.no_grad():
                self.conv.weight.copy_(c3.weight.squeeze(2))  # (k, 1, 1, r, r) -> (k, 1, r, r)
                self.conv.bias.copy_(c3.bias)

        def forward(self, V):
            b, u, v, hh, ww = V.shape  # u == 1
            x = self.conv(V.reshape(b * v, 1, hh, ww))
            return x.reshape(b, v, -1, hh, ww).permute(0, 2, 1, 3, 4)

    # ---- reference inputs from the fixtures ---------------------------------------------------------
    from PIL import Image
    img = np.asarray(Image.open(os.path.join(fdir, "image.png")).convert("RGB"), dtype=np.float64) / 255 * 2 - 1
    msk = (np.asarray(Image.open(os.path.join(fdir, "mask.png")).convert("L"), dtype=np.float64) / 255 >= 0.5)
    image = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32))
    masked = torch.from_numpy((img * (1 - msk[..., None])).transpose(2, 0, 1)[None].astype(np.float32))
    unet_in = torch.from_numpy(np.load(os.path.join(fdir, "unet_in.npy")))
    unet_ids = torch.from_numpy(np.load(os.path.join(fdir, "unet_ids.npy"))).long()
    t900 = torch.tensor([900, 900], dtype=torch.int64)
    dec_in = torch.from_numpy(np.load(os.path.join(fdir, "latents_steps.npy"))[-1] / sf).float()

    report = {"model": args.model, "torch": torch.__version__, "onnx": onnx.__version__,
              "upstream_commit": commit, "versions": versions, "shims": dict(env.SHIMS),
              "fixtures": os.path.abspath(fdir), "graphs": {}}

    def amax(a, b):
        return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))

    enc, dec, wrap = VaeEncExport(vae).eval(), VaeDecExport(vae).eval(), UNetExport(unet).eval()
    with torch.no_grad():
        ref_unet_conv3d = wrap(unet_in, t900, unet_ids).numpy()
        n3 = 0
        for mod in list(unet.modules()):
            pc = getattr(mod, "pos_conv", None)
            if isinstance(pc, nn.Conv3d):
                mod.pos_conv = PosConv2d(pc)
                n3 += 1
        ref_unet = wrap(unet_in, t900, unet_ids).numpy()
    report["pos_conv_replaced"] = n3
    report["pos_conv_conv2d_vs_conv3d_max_abs"] = amax(ref_unet, ref_unet_conv3d)
    log(f"[export] {n3} Conv3d pos_conv -> Conv2d; torch self-parity {report['pos_conv_conv2d_vs_conv3d_max_abs']:.2e}")

    # ---- exporter and opset ------------------------------------------------------------------------
    from torch.onnx import _constants as oc
    max_opset = getattr(oc, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", None) or getattr(oc, "ONNX_MAX_OPSET", WANTED_OPSET)
    opset = min(WANTED_OPSET, max_opset)
    report["opset"] = opset
    if opset != WANTED_OPSET:
        report["opset_note"] = f"torch {torch.__version__}'s TorchScript exporter stops at opset {max_opset}; wanted {WANTED_OPSET}"
        log(f"[export] {report['opset_note']}")
    extra = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        extra["dynamo"] = False  # torch >= 2.9 defaults to the dynamo exporter; moebius-web used the tracer
    report["exporter"] = "torch.onnx.export (TorchScript tracer)"

    os.makedirs(args.out, exist_ok=True)
    graphs = [
        ("vae_encoder", enc, (image,), ["image"], ["moments"]),
        ("unet", wrap, (unet_in, t900, unet_ids), ["latent", "timesteps", "input_ids"], ["noise"]),
        ("vae_decoder", dec, (dec_in,), ["latent"], ["image"]),
    ]
    for name, module, inputs, in_names, out_names in graphs:
        path = os.path.join(args.out, f"{name}.onnx")
        tmp = path + ".tmp"
        t0 = time.perf_counter()
        torch.onnx.export(module, inputs, tmp, opset_version=opset, input_names=in_names, output_names=out_names,
                          dynamic_axes={k: {0: "B"} for k in in_names + out_names}, **extra)
        os.replace(tmp, path)
        secs = time.perf_counter() - t0
        onnx.checker.check_model(path)
        m = onnx.load(path, load_external_data=False)
        conv3d = sum(1 for nd in m.graph.node if nd.op_type == "Conv" and any(
            a.name == "kernel_shape" and len(a.ints) == 3 for a in nd.attribute))
        g = {"file": path, "bytes": os.path.getsize(path), "export_s": round(secs, 1),
             "inputs": [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input],
             "outputs": [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output],
             "nodes": len(m.graph.node), "conv3d_nodes": conv3d}
        del m
        report["graphs"][name] = g
        log(f"[export] {name}: {g['bytes'] / 1e6:.1f} MB in {secs:.1f} s, {g['nodes']} nodes, inputs {g['inputs']}")

    # ---- checks ------------------------------------------------------------------------------------
    if not args.no_verify:
        with torch.no_grad():
            both = torch.cat([image, masked])
            t_enc = enc(both).numpy()
            t_dec1 = dec(dec_in).numpy()
        ref = {k: np.load(os.path.join(fdir, f"{k}.npy")) for k in
               ("vae_moments_image", "vae_moments_masked", "unet_out", "decoded")}
        report["torch_vs_fixtures_max_abs"] = {
            "moments_image": amax(t_enc[:1], ref["vae_moments_image"]),
            "moments_masked": amax(t_enc[1:], ref["vae_moments_masked"]),
            "unet_out_t900": amax(ref_unet, ref["unet_out"]),
            "decoded": amax(t_dec1, ref["decoded"]),
        }
        log(f"[check] torch wrappers vs fixtures: {report['torch_vs_fixtures_max_abs']}")
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
            report["onnxruntime"] = "not installed: the graphs were not run (checker and node census only)"
            log(f"[check] {report['onnxruntime']}")
        if ort is not None:
            report["onnxruntime"] = ort.__version__
            feeds = {
                "vae_encoder": [({"image": both[:1].numpy()}, t_enc[:1]), ({"image": both.numpy()}, t_enc)],
                "unet": [({"latent": unet_in[1:].numpy(), "timesteps": t900[1:].numpy(), "input_ids": unet_ids[1:].numpy()},
                          ref_unet[1:]),
                         ({"latent": unet_in.numpy(), "timesteps": t900.numpy(), "input_ids": unet_ids.numpy()}, ref_unet)],
                "vae_decoder": [({"latent": dec_in.numpy()}, t_dec1),
                                ({"latent": np.concatenate([dec_in.numpy()] * 2)}, np.concatenate([t_dec1] * 2))],
            }
            for name, cases in feeds.items():
                sess = ort.InferenceSession(report["graphs"][name]["file"], providers=["CPUExecutionProvider"])
                diffs = {}
                for feed, want in cases:
                    got = sess.run(None, feed)[0]
                    diffs[f"B{got.shape[0]}"] = amax(got, want)
                report["graphs"][name]["ort_cpu_vs_torch_max_abs"] = diffs
                log(f"[check] {name}: onnxruntime CPU vs torch {diffs}")
                del sess

    fp16 = ("not made: moebius-web ships fp32 graphs only (models/README.md: fp16 'numerically unstable for "
            "this VAE'); onnxconverter-common is not installed here either")
    report["fp16"] = fp16
    with open(os.path.join(args.out, "export.json"), "w") as f:
        json.dump(report, f, indent=1)
    log(f"[export] wrote {args.out}/export.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
