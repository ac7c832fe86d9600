import os

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


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
