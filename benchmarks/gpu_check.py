"""The GPU check, prepared to run in one call: on a machine with JAX and an
NVIDIA GPU, without TensorFlow and without network, it installs what the
package needs from wheels carried beside the tree, then runs, each step
within its time and all within 8 minutes:

1. ``environment``: Python, Keras, JAX, the devices JAX sees, ``nvidia-smi -L``;
2. ``tests``: the JAX test subset (layers, factorizations, backends);
3. ``speed``: ``benchmarks/rnn_speed.py`` at the UCF11 shape (batch 16) and
   the small shape, then at UCF11 with batch 256, the device in each JSON;
4. ``search``: a 2-trial search of the ``quickstart`` spec, tracked in a
   sqlite MLflow store.

Everything it writes lands in ``--output`` (at most 8 files, flat):
``summary.json`` (each step's status, seconds and output tail, the
environment), ``tests.log``, ``search.log``, and the speed JSONs and plots.
It exits non-zero when a step failed or ran out of time.

    # here, with network (once, before the GPU run): the wheels the GPU image lacks
    python benchmarks/gpu_check.py --download-wheels .whl
    # on the GPU machine, from the repository root
    python3 benchmarks/gpu_check.py --wheels .whl --output "$OUT/gpu_check"
    # anywhere, in a minute (CI runs this on CPU)
    python benchmarks/gpu_check.py --quick --output /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOTAL_SECONDS = 480
TAIL_CHARACTERS = 3000

# What the package needs on a JAX machine (its dependencies less TensorFlow,
# t3f and tensorflow-datasets, which load only on the TensorFlow backend).
REQUIREMENTS = ["keras>=3.3", "keras-tuner>=1.4.7", "mlflow>=2.12", "mnist1d>=0.0.2",
                "tensorly>=0.8", "opt_einsum>=3.3", "scipy>=1.11", "matplotlib>=3.7"]
# Python packages of the lent GPU machines' image ('cuda'), as the device tool's
# KINDS.md lists them (read 2026-11-17): the wheels to carry are the requirements'
# less these (a carried copy would shadow the image's own build, jaxlib's numpy say).
GPU_IMAGE = set("""absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py
mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja
numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver
nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless
opt-einsum opt-einsum-fx optax optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil py-cpuinfo pyarrow
pybind11 pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov
pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests
rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn
sentence-transformers sentencepiece setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl
tifffile tiktoken timm tokenizers toolz torch torch-geometric torchaudio torchdiffeq
torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions
typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split())
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
            *[arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                              "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                              "manylinux1_x86_64") for arg in ("--platform", tag)]]
SPEED_VARIANTS = ["dense", "reconstructed", "tt", "mps", "tr", "cp", "tucker", "bt", "tt_balanced"]
SEARCH = """
import tomllib
import keras_tensor_rnn as ktr
from keras_tensor_rnn.search.spec import spec_path

spec = tomllib.loads(spec_path("quickstart").read_text())
spec["dataset"]["num_train"] = {num_train}
spec["search"].update(max_trials=2, epochs={epochs}, overwrite=True, deterministic=False)
spec["tracking"]["tracking_uri"] = "sqlite:///mlflow.db"
result = ktr.search.run(spec)
completed = [t for t in result.tuner.oracle.trials.values() if t.status == "COMPLETED"]
print("completed trials:", len(completed))
assert len(completed) == 2, "a trial failed"
"""


@dataclass
class Step:
    """One part of the check: a command, run in ``cwd`` within ``seconds``."""

    name: str
    command: list
    seconds: int
    log: str | None = None
    cwd: Path = ROOT


def steps(output: Path, scratch: Path, quick: bool) -> list:
    python = sys.executable
    speed = [python, "benchmarks/rnn_speed.py", "--jit-only"]
    if quick:
        tests = ["-n", "0", "tests/test_layers.py::test_dense_stateful_reproduces_keras"]
        speed_runs = [("speed", [*speed, "--quick", "--variants", "dense", "tt"], 90)]
        search_sizes = dict(num_train=128, epochs=1)
    else:
        tests = ["-n", "4", "tests/test_layers.py", "tests/test_factorizations.py",
                 "tests/test_backends.py"]
        common = [*speed, "--max-rounds", "6", "--variants", *SPEED_VARIANTS]
        speed_runs = [("speed", [*common, "--shapes", "ucf11", "small"], 110),
                      ("speed_b256", [*common, "--shapes", "ucf11", "--batch-size", "256"], 70)]
        search_sizes = dict(num_train=4000, epochs=2)
    return [
        Step("environment", [python, __file__, "--describe"], 60),
        Step("tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "-m", "not slow and not tf_only", *tests], 180, log="tests.log"),
        *[Step(name, [*command, "--output", str(output / f"rnn_speed_{name}.json")], seconds)
          for name, command, seconds in speed_runs],
        Step("search", [python, "-c", SEARCH.format(**search_sizes)], 100, log="search.log",
             cwd=scratch),
    ]


def run_step(step: Step, env: dict, deadline: float, output: Path) -> dict:
    """Run ``step`` until it ends or its time (or the whole check's) is up."""
    seconds = max(1.0, min(step.seconds, deadline - time.monotonic()))
    start = time.monotonic()
    try:
        done = subprocess.run(step.command, cwd=step.cwd, env=env, capture_output=True,
                              text=True, timeout=seconds)
        status = "passed" if done.returncode == 0 else f"failed (exit {done.returncode})"
        stdout, text = done.stdout, done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        status = f"timed out after {seconds:.0f} s"
        stdout = _text(error.stdout)
        text = stdout + _text(error.stderr)
    if step.log:
        (output / step.log).write_text(text)
    return {"status": status, "seconds": round(time.monotonic() - start, 1),
            "command": " ".join(map(str, step.command)), "tail": text[-TAIL_CHARACTERS:],
            "last_line": (stdout.strip().splitlines() or [""])[-1]}


def _text(stream) -> str:
    return stream.decode(errors="replace") if isinstance(stream, bytes) else (stream or "")


def install_wheels(wheels: Path, site: Path) -> None:
    """Install every wheel in ``wheels`` into ``site`` (no index, no
    dependency resolution: the folder holds exactly what is missing)."""
    found = sorted(wheels.glob("*.whl"))
    if not found:
        raise SystemExit(f"--wheels {wheels}: no .whl files there. Make them with "
                         "`python benchmarks/gpu_check.py --download-wheels DIR` where pip "
                         "reaches PyPI.")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--no-compile", "--target", str(site), *map(str, found)], check=True)


def download_wheels(folder: Path) -> list:
    """Download, for CPython 3.12 on x86-64 Linux, the wheels of
    :data:`REQUIREMENTS` and their dependencies that the GPU image lacks."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                        "-q", "--report", str(report), "--target", scratch, *PLATFORM,
                        *REQUIREMENTS], check=True)
        chosen = [(item["metadata"]["name"], item["metadata"]["version"])
                  for item in json.loads(report.read_text())["install"]]
    missing = [f"{name}=={version}" for name, version in chosen
               if re.sub(r"[-_.]+", "-", name.lower()) not in GPU_IMAGE]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PLATFORM,
                    "-d", str(folder), *missing], check=True)
    return missing


def describe() -> dict:
    """The machine as the check saw it."""
    import jax
    import keras

    try:
        gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        gpus = "nvidia-smi: not available"
    return {"python": platform.python_version(), "keras": keras.__version__,
            "backend": keras.backend.backend(), "jax": jax.__version__,
            "devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()],
            "nvidia_smi": gpus, "tensorflow_importable": _importable("tensorflow"),
            "cpus": os.cpu_count()}


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def check(output: Path, quick: bool, wheels: Path | None) -> int:
    """Run every step; write ``summary.json``; 0 when all passed."""
    output.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ktr_gpu_check_"))
    paths = [str(ROOT)]
    if wheels is not None:
        install_wheels(wheels, scratch / "site")
        paths.insert(0, str(scratch / "site"))
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(
               os.pathsep)}
    deadline = time.monotonic() + TOTAL_SECONDS
    summary = {"quick": quick, "date": time.strftime("%Y-%m-%d %H:%M"), "steps": {}}
    for step in steps(output, scratch, quick):
        result = run_step(step, env, deadline, output)
        last_line = result.pop("last_line")
        summary["steps"][step.name] = result
        print(f"[gpu_check] {step.name}: {result['status']} in {result['seconds']} s", flush=True)
        if step.name == "environment" and result["status"] == "passed":
            summary["environment"] = json.loads(last_line)
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    failed = [name for name, result in summary["steps"].items() if result["status"] != "passed"]
    print(f"[gpu_check] {'failed: ' + ', '.join(failed) if failed else 'all passed'}; "
          f"results in {output}")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("gpu_check"),
                        help="folder for summary.json, the logs and the speed results")
    parser.add_argument("--quick", action="store_true",
                        help="the smallest run of every step (a minute on a CPU; no timing to quote)")
    parser.add_argument("--wheels", type=Path, default=None,
                        help="install these wheels first (on the GPU machine, without network)")
    parser.add_argument("--download-wheels", type=Path, metavar="DIR",
                        help="download the wheels the GPU image lacks into DIR, then exit")
    parser.add_argument("--describe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.describe:
        print(json.dumps(describe()))
        return 0
    if args.download_wheels:
        print("\n".join(download_wheels(args.download_wheels)))
        return 0
    return check(args.output, args.quick, args.wheels)


if __name__ == "__main__":
    sys.exit(main())
