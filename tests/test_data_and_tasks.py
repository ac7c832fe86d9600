"""Specs on the user's data (npz, module:function, any tfds dataset) and
tasks beyond classification (regression, per-step outputs)."""

import sys

import numpy as np
import pytest
from conftest import search_spec

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets

pytestmark = pytest.mark.tf_only  # the search and tfds need TensorFlow


def small_spec(tmp_path, dataset, **model):
    spec = search_spec(tmp_path, "data", ["tt", "restricted"])
    spec["dataset"] = dataset
    spec["model"] = model
    spec["search"].update(max_trials=2, epochs=1)
    return spec


def write_npz(path, task):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 6, 3)).astype("float32")
    if task == "regression":
        y = x.sum(axis=(1, 2))[:, None].astype("float32")
    else:  # per step: the sign of each step's first value
        y = (x[:, :, 0] > 0).astype("int32")
    np.savez(path, x_train=x[:64], y_train=y[:64], x_val=x[64:], y_val=y[64:])
    return path


@pytest.mark.parametrize("task, objective, direction", [("regression", "val_loss", "min"),
                                                        ("per_step", "val_accuracy", "max")])
def test_npz_spec_runs_each_task_end_to_end(tmp_path, task, objective, direction):
    path = write_npz(tmp_path / "data.npz", task)
    assert datasets.load_npz(path).task == task
    result = ktr.search.run(small_spec(tmp_path, {"path": str(path)}), verbose=False)
    assert result.objective == objective
    assert result.tuner.oracle.objective.direction == direction
    assert len(result.rows) == 2
    model = result.tuner.get_best_models(1)[0]
    out = model.predict(np.load(path)["x_val"][:4], verbose=0)
    assert out.shape == ((4, 1) if task == "regression" else (4, 6, 2))


def test_per_step_language_model_reports_perplexity(tmp_path):
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 20, (80, 9))
    np.savez(tmp_path / "lm.npz", x_train=tokens[:60, :-1], y_train=tokens[:60, 1:],
             x_val=tokens[60:, :-1], y_val=tokens[60:, 1:])
    spec = small_spec(tmp_path, {"path": str(tmp_path / "lm.npz")}, embedding_dim=8)
    spec["search"]["objective"] = "val_perplexity"
    result = ktr.search.run(spec, verbose=False)
    assert result.tuner.oracle.objective.direction == "min"
    assert all(1.0 < row["val_perplexity"] < 100 for row in result.rows)


def test_loader_function_spec(tmp_path, monkeypatch):
    module = tmp_path / "my_data.py"
    module.write_text(
        "import numpy as np\n"
        "def load(n=64, steps=5):\n"
        "    rng = np.random.default_rng(0)\n"
        "    x = rng.standard_normal((n, steps, 2)).astype('float32')\n"
        "    y = (x[:, :, 0].sum(1) > 0).astype('int32')\n"
        "    return x[:48], y[:48], x[48:], y[48:]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = small_spec(tmp_path, {"loader": "my_data:load", "n": 80, "steps": 4})
    result = ktr.search.run(spec, verbose=False)
    assert result.tuner.hypermodel.space.input_shape == (4, 2)
    assert len(result.rows) == 2
    sys.modules.pop("my_data", None)


def test_any_tfds_dataset_by_name_loads_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        data = datasets.load("fashion_mnist", num_train=16, num_test=8)
    assert data.x_train.shape == (16, 28, 28) and data.num_classes == 10
    assert data.task == "classification"


def test_a_tfds_dataset_not_downloaded_offline_fails_in_one_clear_line(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    class ConnectionError(OSError):  # what requests raises without network
        pass

    def offline(*args, **kwargs):
        raise RuntimeError("download failed") from ConnectionError(
            "Failed to establish a new connection: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(ValueError, match=r"Dataset 'mnist' is not in .* and could not be downloaded "
                                         r"\(RuntimeError\)\. Download it once.*data_dir") as error:
        datasets.load("mnist", data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


def test_shipped_tfds_specs_need_only_declared_dependencies():
    """tensorflow-datasets imports importlib_resources when it builds a
    dataset without declaring it: the package declares it."""
    from pathlib import Path

    import tomllib
    from tensorflow_datasets.core import dataset_builder

    root = Path(__file__).parents[1]
    dependencies = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("importlib_resources") for d in dependencies)
    assert dataset_builder.importlib_resources.abc.Traversable  # the lazy import resolves


def test_bad_data_sections():
    with pytest.raises(ValueError, match="lacks the arrays"):
        np.savez("/tmp/_ktr_bad.npz", x=np.zeros(3))
        datasets.load_npz("/tmp/_ktr_bad.npz")
    with pytest.raises(ValueError, match="must be 'module:function'"):
        datasets.load_function("no_colon")
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist2d'.*any tensorflow_datasets name"):
        datasets.load("mnist2d")
