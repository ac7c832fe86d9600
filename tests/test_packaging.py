"""The package as users install it: a wheel that carries its quick start."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(command, cwd, timeout=900, stderr=False):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
    return (done.stdout, done.stderr) if stderr else done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
         str(ROOT)], cwd=out)
    (path,) = out.glob("keras_tensor_rnn-*.whl")
    return path


def test_the_wheel_holds_the_shipped_specs_and_passes_twine_check(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"keras_tensor_rnn/specs/{n}.toml" for n in
            ("quickstart", "mnist_rows", "imdb_reviews", "speech_commands")} <= set(names)
    assert "PASSED" in run([sys.executable, "-m", "twine", "check", str(wheel)], cwd=wheel.parent)


@pytest.mark.tf_only
def test_the_installed_wheel_runs_the_quickstart_outside_the_repository(wheel, tmp_path):
    # A fresh environment that sees this one's dependencies (TensorFlow, MLflow,
    # ...) but not this checkout: the package comes from the wheel alone.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python, ktr = venv / "bin" / "python", venv / "bin" / "ktr"
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall",
         str(wheel)], cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run([str(python), "-c", "import keras_tensor_rnn; print(keras_tensor_rnn.__file__)"],
                cwd=work)
    assert where.strip().startswith(str(venv))
    printed, logged = run([str(ktr), "search", "quickstart", "--max-trials", "1", "--epochs", "1"],
                          cwd=work, stderr=True)
    assert "Pareto front" in printed and (work / "mlflow.db").is_file()
    # The installed entry point starts TensorFlow without its start-up lines.
    assert not any(word in logged for word in ("absl", "oneDNN", "cuda", "cpu_feature")), logged
    failed = subprocess.run([str(ktr), "compress", "missing.keras", "-o", "out.keras",
                             "--rank", "2"], cwd=work, capture_output=True, text=True)
    assert failed.returncode == 2 and "No model file at 'missing.keras'" in failed.stderr
