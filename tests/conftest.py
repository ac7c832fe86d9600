import os
import shutil
import sqlite3
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend (running {BACKEND})")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def migrated_mlflow_stores(tmp_path_factory):
    """Each new sqlite MLflow store of a test starts as a copy of one store
    migrated once per worker.

    MLflow takes a new sqlite store through its whole schema history
    (about 2 s), and the search tests make dozens of stores. The copy is
    the file that migration writes, with the Default experiment's artifact
    location the new store would have given it; every other experiment is
    made by the test itself. The tests that run a search in a new process
    (packaging, examples, the docs) still migrate their stores as users'
    first searches do.
    """
    if BACKEND != "tensorflow":  # the searches run on TensorFlow only
        yield
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.utils.uri import append_to_uri_path

    folder = tmp_path_factory.mktemp("mlflow_template")
    template = folder / "mlflow.db"
    migrate = SqlAlchemyStore.__init__
    migrate(SqlAlchemyStore.__new__(SqlAlchemyStore), f"sqlite:///{template}",
            str(folder / "mlruns"))

    def from_template(self, db_uri, default_artifact_root):
        path = db_uri.removeprefix("sqlite:///") if db_uri.startswith("sqlite:///") else None
        if path and not os.path.exists(path) and os.path.isdir(os.path.dirname(path) or "."):
            shutil.copyfile(template, path)
            db = sqlite3.connect(path)
            with db:
                db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                           (append_to_uri_path(default_artifact_root, "0"),))
            db.close()
        migrate(self, db_uri, default_artifact_root)

    SqlAlchemyStore.__init__ = from_template
    yield
    SqlAlchemyStore.__init__ = migrate


def gradients(loss_fn, arrays):
    """Gradients of ``loss_fn(tensors)`` w.r.t. each of ``arrays`` (numpy) on the
    active backend, returned as numpy arrays."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = loss_fn(tensors)
        return [g.numpy() for g in tape.gradient(loss, tensors)]
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        grads = jax.grad(loss_fn)([jnp.asarray(a) for a in arrays])
        return [np.asarray(g) for g in grads]
    if BACKEND == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        loss_fn(tensors).backward()
        return [t.grad.numpy() for t in tensors]
    raise NotImplementedError(BACKEND)  # pragma: no cover


def search_spec(tmp_path, project, decompositions, **search):
    """A small MNIST-1D search spec (project and MLflow experiment both
    named ``project``) writing its runs and sqlite store under ``tmp_path``."""
    return {
        "dataset": {"name": "mnist1d", "features": 4, "num_train": 256, "num_test": 128},
        "space": {"decompositions": list(decompositions), "rank": [1, 4], "d": [2],
                  "units": [8, 16], "learning_rate": [1e-2, 2e-2]},
        "budget": {"max_params": 3000},
        "search": {"max_trials": 3, "epochs": 2, "batch_size": 64, "seed": 3,
                   "directory": str(tmp_path / "runs"), "project_name": project, **search},
        "tracking": {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": project},
    }


def cli_spec(tmp_path, max_trials, epochs):
    """A one-decomposition MNIST-1D spec file for the CLI tests."""
    spec = tmp_path / "s.toml"
    spec.write_text(
        '[dataset]\nname = "mnist1d"\nfeatures = 4\nnum_train = 128\nnum_test = 64\n'
        '[space]\ndecompositions = ["tt"]\nrank = [1, 3]\nd = [2]\nunits = [8]\n'
        f'[budget]\nmax_params = 2000\n[search]\nmax_trials = {max_trials}\nepochs = {epochs}\n')
    return spec


def mlflow_runs(tmp_path, experiment):
    """Every run of ``experiment`` in the sqlite store under ``tmp_path``.

    A client, not ``mlflow.set_tracking_uri``: that exports
    ``MLFLOW_TRACKING_URI`` to every later test of this process."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def write_fake_vader(folder, sentences_per_domain=300, seed=0):
    """A file laid out exactly like the vaderSentiment 3.3.2 source
    distribution (the ``vader`` corpus: an sdist holding a tarball of
    tab-separated ``id, mean rating, sentence`` files), with made-up
    sentences whose rating follows their words. Returns its path."""
    import io
    import tarfile

    from keras_tensor_rnn import corpora

    rng = np.random.default_rng(seed)
    good, bad = ["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "poor"]
    filler = ["the", "film", "was", "a", "plot", "and", "very", "it", "story", "cast"]

    def add(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for filename in corpora.VADER_DOMAINS.values():
            lines = []
            for i in range(sentences_per_domain):
                positive = rng.random() < 0.5
                words = list(rng.choice(filler, rng.integers(4, 12)))
                words.insert(int(rng.integers(len(words))), rng.choice(good if positive else bad))
                score = rng.uniform(0.1, 3) * (1 if positive else -1)
                lines.append(f"{i + 1}\t{score:.4f}\t{' '.join(words)} .")
            add(tar, f"hutto_ICWSM_2014/{filename}", "\r\n".join(lines).encode())
    path = Path(folder) / corpora.VADER_FILE
    with tarfile.open(path, "w:gz") as tar:
        add(tar, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
            inner.getvalue())
    return path


@pytest.fixture
def fake_vader(tmp_path, monkeypatch):
    """KTR_DATA pointed at a fake ``vader`` corpus (see write_fake_vader)."""
    folder = tmp_path / "ktr_data"
    folder.mkdir()
    path = write_fake_vader(folder)
    monkeypatch.setenv("KTR_DATA", str(folder))
    return path
