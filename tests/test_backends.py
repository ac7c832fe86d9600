"""What runs without TensorFlow: under JAX and PyTorch, the package, its
layers (built, trained) and factorizations never import TensorFlow, and
TensorFlow-only features say so."""

import importlib.util
import os
import subprocess
import sys

import pytest

BACKENDS = ["jax", pytest.param("torch", marks=pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="PyTorch is not installed"))]


def run_on(backend: str, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.tf_only  # each backend runs in its own process: once per CI run is enough
@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_train_save_and_load_without_importing_tensorflow(backend, tmp_path):
    done = run_on(backend, f"""
import sys, numpy as np, keras
import keras_tensor_rnn as ktr
x, y = np.random.rand(16, 5, 7).astype("float32"), np.random.rand(16, 2).astype("float32")
model = keras.Sequential([keras.Input((5, 7)), keras.layers.Masking(),
                          ktr.layers.TensorizedLSTM(8, rank=2, return_sequences=True),
                          ktr.layers.RestrictedGRU(4), keras.layers.Dense(2)])
model.compile("adam", "mse")
model.fit(x, y, epochs=1, verbose=0)
ktr.factorize(np.random.rand(30, 20), "tt", 2, d=2).matmul(np.ones((2, 30), "float32"))
assert keras.backend.backend() == "{backend}"
assert "tensorflow" not in sys.modules, "tensorflow was imported"
assert "t3f" not in sys.modules
# Keras's own saving imports TensorFlow where it is installed (to recognise
# its types): the round trip is checked after.
model.save(r"{tmp_path}/m.keras")
again = keras.models.load_model(r"{tmp_path}/m.keras")
assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
""")
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.tf_only  # runs its own JAX process: once per CI run is enough
def test_exports_name_the_backend_they_need(tmp_path):
    done = run_on("jax", f"""
import keras, keras_tensor_rnn as ktr
from keras_tensor_rnn import export
model = keras.Sequential([keras.Input((5, 3)), ktr.layers.TensorizedGRU(4, rank=2)])
for call in (lambda: export.export_litert(model, r"{tmp_path}/m.tflite"),
             lambda: export.export_saved_model(model, r"{tmp_path}/saved")):
    try:
        call()
    except NotImplementedError as error:
        assert "needs Keras's TensorFlow backend; this process runs 'jax'" in str(error)
    else:
        raise AssertionError("no error")
""")
    assert done.returncode == 0, done.stderr[-3000:]
