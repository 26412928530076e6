"""Shared set-up for the PyTorch peers (upstream.py, export_onnx.py).

What it does, in order:
  1. finds or fetches upstream's code (github hustvl/Moebius at UPSTREAM_COMMIT) -- it is never copied
     into this repository;
  2. puts diffusers and any extra source folders on sys.path;
  3. stands in for the few modules that only upstream's training code, its teacher model, or the
     download client need (each stand-in is listed in `SHIMS` and reported by the callers);
  4. builds upstream's RemovalModel and diffusers' AutoencoderKL from a fixture model_config.json and
     loads the fixtures' synthetic weights (the rule in shared/fixtures/README.md) with strict=True.

Only the standard library, numpy and torch are imported at module level.
"""

import importlib
import importlib.machinery
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import numpy as np

UPSTREAM_URL = "https://github.com/hustvl/Moebius"
UPSTREAM_COMMIT = "390735d"
DIFFUSERS_VERSION = "0.38.0"

# name -> why; filled by install_shims() and read by the callers for their notes.
SHIMS = {}

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

def default_fixtures():
    """MOEBIUS_FIXTURES, else ../shared/fixtures next to the repository (as the C++ tests)."""
    env = os.environ.get("MOEBIUS_FIXTURES")
    if env:
        return env
    return os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "fixtures"))


def fixture_dir(fixtures, model):
    d = os.path.join(fixtures, model)
    if not os.path.isfile(os.path.join(d, "model_config.json")):
        raise SystemExit(f"no {model}/model_config.json under {fixtures} (--fixtures or MOEBIUS_FIXTURES)")
    return d


def load_json(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# Synthetic weights: the fixtures' rule, bit-exact with src/io/state_dict.cpp (synth_tensor)
# ---------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & _M64
    return h


def synth_array(name, shape, dtype, seed, chunk=1 << 22):
    """One tensor of the rule as a numpy array (float32, or int64 zeros for integer tensors)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if dtype.startswith("int"):
        return np.zeros(shape, dtype=np.int64)  # num_batches_tracked
    base = np.uint64((fnv1a64(name) + seed * 0xD1B54A32D192ED03) & _M64)
    fan_in = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) >= 2 else 1
    scale = math.sqrt(3.0 / fan_in)
    out = np.empty(n, dtype=np.float32)
    with np.errstate(over="ignore"):
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            # z = h + seed*0xD1B5.. + (i+1)*0x9E37..  (mod 2^64); uint64 arrays wrap silently
            z = np.arange(start + 1, stop + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + base
            z ^= z >> np.uint64(30)
            z *= np.uint64(0xBF58476D1CE4E5B9)
            z ^= z >> np.uint64(27)
            z *= np.uint64(0x94D049BB133111EB)
            z ^= z >> np.uint64(31)
            u = (z >> np.uint64(40)).astype(np.float64) * (1.0 / 16777216.0) * 2.0 - 1.0
            if name.endswith("running_var"):
                v = 1.0 + 0.25 * (u + 1.0)
            elif name.endswith("running_mean"):
                v = 0.1 * u
            elif len(shape) >= 2:
                v = u * scale
            elif len(shape) == 1 and name.endswith(".weight"):
                v = 1.0 + 0.1 * u
            else:
                v = 0.02 * u
            out[start:stop] = v  # double -> float32, rounded once
    return out.reshape(shape)


def synth_state_dict(table, seed):
    """table: the fixture's keys_*.json list of {name, shape, dtype}. Returns {name: torch tensor}."""
    import torch
    return {p["name"]: torch.from_numpy(synth_array(p["name"], p["shape"], p["dtype"], seed))
            for p in table}


# ---------------------------------------------------------------------------------------------
# Upstream checkout
# ---------------------------------------------------------------------------------------------

def _git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def default_cache_dir():
    base = os.environ.get("MOEBIUS_PEERS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "moebius-peers")
    return base


def get_upstream(upstream_dir=None, log=print):
    """Returns (path, commit). Without upstream_dir: clone hustvl/Moebius into the cache (once) and
    check out UPSTREAM_COMMIT. Only the code is fetched: a blobless clone, the assets/ folder of
    large pictures left out of the work tree."""
    if upstream_dir:
        path = os.path.abspath(upstream_dir)
        if not os.path.isdir(os.path.join(path, "removal", "v1_2")):
            raise SystemExit(f"--upstream {path}: no removal/v1_2 there (not a Moebius checkout?)")
    else:
        path = os.path.join(default_cache_dir(), "Moebius")
        if not os.path.isdir(os.path.join(path, ".git")):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            log(f"[upstream] cloning {UPSTREAM_URL} into {path}")
            subprocess.run(["git", "clone", "--quiet", "--filter=blob:none", "--no-checkout",
                            UPSTREAM_URL, path], check=True)
            _git("sparse-checkout", "set", "--no-cone", "/*", "!/assets/", cwd=path)
            _git("checkout", "--quiet", UPSTREAM_COMMIT, cwd=path)
    try:
        commit = _git("rev-parse", "HEAD", cwd=path)
    except (subprocess.CalledProcessError, FileNotFoundError):
        commit = "unknown (not a git checkout)"
    if commit.startswith("unknown"):
        log(f"[upstream] {path} is not a git checkout: its commit cannot be checked (the fixtures: {UPSTREAM_COMMIT})")
    elif not commit.startswith(UPSTREAM_COMMIT):
        log(f"[upstream] warning: {path} is at {commit[:12]}, the fixtures were made at {UPSTREAM_COMMIT}")
    return path, commit


# ---------------------------------------------------------------------------------------------
# Stand-ins for modules the inference path does not use
# ---------------------------------------------------------------------------------------------

def _refuse(what):
    def f(*_a, **_k):
        raise RuntimeError(f"{what} is a stand-in made by bench/peers/upstream_env.py; it cannot be used")
    return f


def _stub_module(name, attrs, why, package=False):
    m = types.ModuleType(name)
    m.__file__ = f"<stand-in: {why}>"
    m.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=package)
    if package:
        m.__path__ = []
    for a in attrs:
        setattr(m, a, type(a, (), {"__init__": _refuse(f"{name}.{a}")}))
    sys.modules[name] = m
    SHIMS[name] = why
    return m


def _have(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def setup_imports(upstream_path, diffusers_src=None, pysrc=()):
    """sys.path and stand-ins; returns a dict of versions for the report."""
    for d in reversed(list(pysrc)):
        sys.path.insert(0, os.path.abspath(d))
    if diffusers_src:
        sys.path.insert(0, os.path.abspath(diffusers_src))
    sys.path.insert(0, upstream_path)

    import torch

    # torch < 2 lacks torch.xpu (and, before 1.12-ish, torch.mps): diffusers 0.38 reads their
    # functions into device tables when it is imported. Neither device is used here.
    for dev in ("xpu", "mps"):
        mod = getattr(torch, dev, None)
        if mod is None:
            mod = types.SimpleNamespace(is_available=lambda: False)
            setattr(torch, dev, mod)
            SHIMS[f"torch.{dev}"] = f"torch {torch.__version__} has no torch.{dev}; diffusers only lists its functions"
        for fn in ("empty_cache", "device_count", "manual_seed", "synchronize"):
            if not hasattr(mod, fn):
                setattr(mod, fn, _refuse(f"torch.{dev}.{fn}"))
                SHIMS.setdefault(f"torch.{dev}", f"torch {torch.__version__} lacks torch.{dev}.{fn}; "
                                                 "diffusers only lists it")

    # torch < 2.1 lacks the float8 dtypes; diffusers 0.38 names torch.float8_e4m3fn as a default
    # argument (layerwise casting, unused here). A placeholder lets the module load.
    for name in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, name):
            setattr(torch, name, torch.uint8)
            SHIMS[f"torch.{name}"] = (f"torch {torch.__version__} has no {name}; a placeholder for a diffusers "
                                      "default argument that is never used here")

    # torch < 2.2 lacks torch.distributed.device_mesh; diffusers 0.38 names DeviceMesh in annotations of its
    # context-parallel code, evaluated at import.
    import torch.distributed as dist
    if not hasattr(dist, "device_mesh"):
        dist.device_mesh = types.SimpleNamespace(DeviceMesh=type("DeviceMesh", (), {}),
                                                 init_device_mesh=_refuse("torch.distributed.device_mesh"))
        SHIMS["torch.distributed.device_mesh"] = (f"torch {torch.__version__} has none; diffusers names "
                                                  "DeviceMesh in type annotations only (context parallelism)")

    # torch < 2.1 lacks torch.distributed._functional_collectives; diffusers 0.38 imports it for context
    # parallelism (not used here).
    if dist.is_available() and not _have("torch.distributed._functional_collectives"):
        _stub_module("torch.distributed._functional_collectives", [],
                     f"torch {torch.__version__} has none; diffusers imports it for context parallelism only")

    # torch < 2.1 lacks torch.compiler; diffusers 0.38 decorates hooks with torch.compiler.disable at import.
    # Without a compiler, "disable" is the identity and nothing is ever compiling.
    if not hasattr(torch, "compiler"):
        def _disable(fn=None, *a, **k):
            return fn if callable(fn) else (lambda f: f)
        torch.compiler = types.SimpleNamespace(disable=_disable, is_compiling=lambda: False,
                                               is_dynamo_compiling=lambda: False,
                                               allow_in_graph=lambda f: f, assume_constant_result=lambda f: f)
        SHIMS["torch.compiler"] = (f"torch {torch.__version__} has none; identity decorators for diffusers' "
                                   "import-time uses")

    # torch < 2.0 has no torch._dynamo; upstream's lambda layers import it to set
    # torch._dynamo.config.suppress_errors = True (a torch.compile setting; no compiler here).
    if not _have("torch._dynamo"):
        dyn = _stub_module("torch._dynamo", [], f"torch {torch.__version__} has none; upstream only sets "
                                                "torch._dynamo.config.suppress_errors", package=True)
        dyn.config = types.SimpleNamespace(suppress_errors=False)
        torch._dynamo = dyn

    # torch < 2.0: no_grad cannot decorate without parentheses; upstream's utils_infer.py writes
    # `@torch.no_grad`. The same subclass torch 2 uses: called with a function, it decorates it.
    try:
        torch.no_grad(lambda: None)
    except TypeError:
        base = torch.no_grad

        class no_grad(base):
            def __new__(cls, orig_func=None):
                if orig_func is None:
                    return super().__new__(cls)
                return cls()(orig_func)

            def __init__(self, orig_func=None):
                super().__init__()

        torch.no_grad = no_grad
        SHIMS["torch.no_grad"] = (f"torch {torch.__version__}: bare @torch.no_grad (upstream utils_infer.py) "
                                  "needs torch 2's no-parenthesis form; added")

    # safetensors is a compiled package; diffusers imports it at module level to read/write weight
    # files. Weights here come from the rule, never from a file.
    if not _have("safetensors"):
        m = _stub_module("safetensors", [], "not installed; diffusers imports it, no .safetensors file is "
                                            "read or written here", package=True)
        st = types.ModuleType("safetensors.torch")
        st.__spec__ = importlib.machinery.ModuleSpec("safetensors.torch", None)
        st.load_file = st.save_file = st.load = st.save = _refuse("safetensors.torch")
        st.safe_open = m.safe_open = _refuse("safetensors.safe_open")
        m.torch = st
        sys.modules["safetensors.torch"] = st

    # accelerate: upstream's utils_infer.py imports Accelerator only for a type hint.
    if not _have("accelerate"):
        _stub_module("accelerate", ["Accelerator"], "not installed; upstream utils_infer.py imports "
                                                    "Accelerator only as a type hint", package=True)

    missing = [m for m in ("diffusers", "huggingface_hub", "einops", "timm") if not _have(m)]
    if missing:
        raise SystemExit(
            "missing Python modules: " + ", ".join(missing) + ". Install them (pip install "
            f"diffusers=={DIFFUSERS_VERSION} einops timm), or pass their source folders: "
            "--diffusers-src DIR (diffusers/src) and --pysrc DIR (a folder holding huggingface_hub/, "
            "einops/, timm/ packages). See bench/peers/README.md.")

    # Upstream modules that the Moebius inference path never runs, and that need packages it does not
    # need: the PixelHacker teacher (flash-linear-attention, transformers) imported by
    # model_lib/__init__.py, and the training dataset (einops, transformers via upstream utils.py)
    # imported by removal/v1_2/__init__.py. Putting a stand-in in sys.modules first lets upstream's
    # own __init__ files run unmodified.
    _stub_module("model_lib.nets.unet_gla", ["UNet2DGLAConditionModel"],
                 "upstream's PixelHacker teacher (needs fla, transformers); not part of Moebius inference")
    _stub_module("removal.v1_2.dataset", ["RemovalDataset", "RemovalDataset_v1_2"],
                 "upstream's training dataset (needs transformers via utils.py); not used for inference")

    import diffusers
    import huggingface_hub
    versions = {"torch": torch.__version__, "diffusers": diffusers.__version__,
                "huggingface_hub": huggingface_hub.__version__, "numpy": np.__version__}
    for m in ("einops", "timm"):
        versions[m] = getattr(importlib.import_module(m), "__version__", "?")
    versions["diffusers_path"] = os.path.dirname(diffusers.__file__)
    return versions


def import_upstream():
    """Upstream's modules used by the harness (imported after setup_imports)."""
    removal_model = importlib.import_module("removal.v1_2.removal_model")
    pipeline = importlib.import_module("removal.v1_2.pipeline")
    utils_infer = importlib.import_module("utils_infer")
    return types.SimpleNamespace(removal_model=removal_model, pipeline=pipeline, utils_infer=utils_infer)


# ---------------------------------------------------------------------------------------------
# Models with the rule's weights
# ---------------------------------------------------------------------------------------------

def build_models(up, fdir, log=print):
    """Upstream RemovalModel (build_removal_model) and diffusers AutoencoderKL from
    <fdir>/model_config.json, with the fixture rule's weights loaded strictly (names and shapes
    must equal the fixtures' keys_unet.json / keys_vae.json). CPU, float32, eval()."""
    import yaml
    from diffusers.models import AutoencoderKL

    cfg = load_json(os.path.join(fdir, "model_config.json"))
    ucfg = dict(cfg["unet"])
    num_embeddings = ucfg.pop("num_embeddings")
    sample_size = ucfg.pop("sample_size")
    # build_removal_model reads a yaml shaped like upstream's config/model_cfg/moebius.yaml and
    # derives sample_size = data.image_size // vae.downsample_ratio (64 here).
    doc = {"data": {"image_size": sample_size * 8}, "vae": {"downsample_ratio": 8}, "model": ucfg}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(doc, f)
        ypath = f.name
    try:
        unet = up.removal_model.build_removal_model(ypath, num_embeddings)
    finally:
        os.unlink(ypath)
    vae = AutoencoderKL(**cfg["vae"])

    seeds = cfg.get("seeds", {"unet": 1, "vae": 2})
    for module, keys, seed, what in ((unet, "keys_unet.json", seeds["unet"], "unet"),
                                     (vae, "keys_vae.json", seeds["vae"], "vae")):
        table = load_json(os.path.join(fdir, keys))[what]
        sd = synth_state_dict(table, seed)
        module.load_state_dict(sd, strict=True)
        n = sum(v.numel() for v in sd.values() if v.is_floating_point())
        log(f"[weights] {what}: {len(sd)} tensors, {n:,} values from the rule (seed {seed})")
        del sd
    return unet.eval(), vae.eval(), cfg
