"""Pieces shared by the GPU run's packer, its entry point and ``benchmarks/trainer_gpu.py``.

Standard library only at import time: the packer runs here, the entry point on a machine that
has torch and transformers but not every package the platform uses (see ``DEVICE_PACKAGES``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"

# Peak dense bf16 matrix throughput, FLOP/s. H200: the 8192^3 bf16 product measured on the lent
# machine (769-798 TFLOP/s, /work/.library/device/KINDS.md); H100 SXM is the same chip's spec figure.
PEAK_BF16_FLOPS = {"H200": 790e12, "H100": 989e12, "A100": 312e12}

# What the lent GPU machine has installed (KINDS.md, read 2026-11-17): distributions missing
# from this list that the entry point imports must travel as wheels.
DEVICE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split())

# Travel as wheels although the machine has a version: ours must be at least this new.
#   protobuf: the generated *_pb2 modules check the runtime is >= the protoc that made them (7.35).
#   grpcio: the generated *_pb2_grpc modules refuse a grpcio older than the one that made them (1.85.1).
#   typing-extensions: pydantic 2.x needs a recent one.
NEWER_THAN_DEVICE = ("protobuf", "grpcio", "typing-extensions")


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_jsonl(path: str | Path) -> Iterator[dict]:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def write_jsonl_gz(path: Path, rows: Iterable[dict]) -> int:
    """Rows to ``path`` (gzip, reproducible bytes: no timestamp in the header); returns the count."""
    count = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True).encode() + b"\n")
            count += 1
    return count


def write_json_atomic(path: Path, data: dict) -> None:
    """The whole file or the previous one: a run killed mid-write still returns readable metrics."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(temp, path)


def peak_flops(device: str) -> tuple[float | None, str]:
    """The device's dense peak in FLOP/s and where the figure comes from (None: unknown)."""
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(torch.device(device))
        for key, flops in PEAK_BF16_FLOPS.items():
            if key in name:
                return flops, f"{name}: bf16 dense peak {flops / 1e12:.0f} TFLOP/s (table)"
        return None, f"{name}: no peak figure known (pass --peak-tflops)"
    flops = measure_cpu_peak()
    return flops, f"CPU ({os.cpu_count()} cores, {torch_threads()} torch threads): fp32 matmul measured " \
                  f"{flops / 1e9:.1f} GFLOP/s (1024^3 products, best of 5)"


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def measure_cpu_peak(size: int = 1024, repeats: int = 5) -> float:
    """This CPU's fp32 matmul throughput through torch: the peak CPU training is measured against."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best


def count_parameters(model_dir: str | Path) -> int:
    """Parameters of the HF model at ``model_dir`` (a tied embedding counted once), without loading weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def mfu(parameters: int, tokens_per_s: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: 6 x parameters x tokens/s (forward + backward) over the device's peak."""
    if not peak or not tokens_per_s:
        return None
    return 6 * parameters * tokens_per_s / peak


# Modules a library here imports when present but does without (inside try/except), so a dry
# run here loads them while the GPU machine never needs them: torch's optional ``dill``; grpc's
# optional tools/health/reflection add-ons; this venv's httpx fork's TLS helpers; mistral_common.
OPTIONAL_MODULES = {"dill": "torch.utils._import_utils, optional", "grpc_tools": "grpc, optional",
                    "grpc_health": "grpc, optional", "grpc_reflection": "grpc, optional",
                    "httpcore2": "this venv's httpx stack (the machine has httpx/httpcore)",
                    "httpx2": "this venv's httpx stack", "truststore": "httpcore2, this venv only",
                    "sniffio": "httpcore2, this venv only",
                    # transformers imports mistral_common's tokenizer only when it is installed
                    "mistral_common": "transformers, optional", "jsonschema": "mistral_common's",
                    "jsonschema_specifications": "mistral_common's", "referencing": "mistral_common's",
                    "rpds": "mistral_common's", "pycountry": "mistral_common's",
                    "pydantic_extra_types": "mistral_common's"}


def loaded_modules() -> dict[str, list[str]]:
    """Top-level modules this process imported (not the standard library), each with the installed
    distributions that provide it (several for namespace packages such as ``google``)."""
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    top = {name.split(".")[0] for name in list(sys.modules)}
    return {module: sorted({canonical(d) for d in owners.get(module, ())}) for module in sorted(top)
            if module not in sys.stdlib_module_names and not module.startswith("_") and owners.get(module)}


def missing_on_device(modules: dict[str, list[str]], wheels: Iterable[str]) -> list[str]:
    """Modules no distribution on the GPU machine or among the packed wheels provides."""
    have = DEVICE_PACKAGES | {canonical(w) for w in wheels} | {"distillery"}
    return sorted(f"{module} ({', '.join(dists)})" for module, dists in modules.items()
                  if module not in OPTIONAL_MODULES and not have.intersection(dists) and canonical(module) not in have)


def use_services() -> None:
    """Import ``distillery`` from this checkout (the GPU machine has it as files, not installed)."""
    if str(SERVICES) not in sys.path:
        sys.path.insert(0, str(SERVICES))
