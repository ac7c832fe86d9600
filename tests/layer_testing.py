"""Shared test helpers, in the spirit of Keras's ``run_layer_test``: every
layer class and every decomposition is checked the same way."""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np

from keras_tensor_rnn import factorizations


def constructor_arguments(cls) -> list[str]:
    """The named arguments of ``cls.__init__`` (``self`` and ``**kwargs`` left out)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD,
                                                                          p.VAR_POSITIONAL)]


def assert_config_has_every_argument(obj):
    """Every constructor argument of ``type(obj)`` is a key of ``obj.get_config()``."""
    missing = set(constructor_arguments(type(obj))) - set(obj.get_config())
    assert not missing, f"{type(obj).__name__}.get_config() lacks {sorted(missing)}"


def run_layer_test(layer_cls, init_kwargs, tmp_path, *, input_shape=(4, 5, 12),
                   mixed_precision=True):
    """Check one layer class with one set of arguments:

    - the config holds every constructor argument and round-trips exactly;
    - ``count_params_for(width)`` equals the built layer's weight count;
    - a jit-compiled training step runs, gives a finite loss and moves every
      trainable weight;
    - ``.keras`` save and load give identical predictions;
    - under ``mixed_float16`` the weights stay float32, the outputs are float16
      and a training step is finite.
    """
    layer = layer_cls(**init_kwargs)
    assert_config_has_every_argument(layer)
    assert_config_has_every_argument(layer.cell)
    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config

    width = input_shape[-1]
    x = np.random.default_rng(0).standard_normal(input_shape).astype("float32")
    y = np.arange(input_shape[0]) % 3
    model = _model(layer_cls(**init_kwargs), input_shape)
    assert model.layers[0].count_params() == model.layers[0].count_params_for(width)
    assert model.layers[0].count_params() == sum(math.prod(w.shape) for w in model.layers[0].weights)

    before = [np.array(w) for w in model.layers[0].trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    moved = [not np.array_equal(b, np.array(w))
             for b, w in zip(before, model.layers[0].trainable_weights)]
    assert all(moved), f"weights not trained: {[w.path for w, m in zip(model.layers[0].trainable_weights, moved) if not m]}"

    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[0]) is layer_cls
    # Called directly: `predict` would compile each model's predict step
    # (XLA), which the training step above has already exercised.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6)

    if mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
        try:
            mixed = _model(layer_cls(**init_kwargs), input_shape)
            recurrent = mixed.layers[0]
            assert all(w.dtype == "float32" for w in recurrent.weights)
            out = recurrent(x[:2])
            out = out[0] if isinstance(out, (list, tuple)) else out
            assert keras.backend.standardize_dtype(out.dtype) == "float16"
            assert np.isfinite(mixed.train_on_batch(x, y))
        finally:
            keras.config.set_dtype_policy("float32")


def _model(layer, input_shape):
    model = keras.Sequential([keras.Input(input_shape[1:]), layer,
                              keras.layers.Flatten(), keras.layers.Dense(3, dtype="float32")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def run_factorization_test(name, shape, rank, rng, **kwargs):
    """Check one registered decomposition on one shape and rank:

    - it implements the whole interface (no abstract method left);
    - counts: ``num_params`` = the factors' sizes = ``params_at`` the rank;
    - ``matmul`` equals ``x @ full()`` on both paths;
    - ``from_dense`` at full rank is exact, and its config round-trips;
    - values are immutable: ``with_factors`` returns a new object.
    """
    cls = factorizations.get(name)
    assert not inspect.isabstract(cls)
    matrix = cls(shape, rank, **kwargs).initialize(seed=1)
    assert matrix.num_params == sum(math.prod(s) for s in matrix.factor_shapes)
    assert [tuple(f.shape) for f in matrix.factors] == matrix.factor_shapes
    if isinstance(rank, int) and matrix.rank:
        assert matrix.params_at(rank) == matrix.num_params
    x = rng.standard_normal((7, shape[0])).astype("float32")
    full = np.asarray(keras.ops.convert_to_numpy(matrix.full()))
    assert full.shape == tuple(shape)
    for path in ("factorized", "reconstructed"):
        forced = cls.from_config({**matrix.get_config(), "implementation": path,
                                  "factors": matrix.factors})
        np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(forced.matmul(x))),
                                   x @ full, rtol=1e-4, atol=1e-4)
    w = rng.standard_normal(shape)
    exact = cls.from_dense(w, "full", **kwargs)
    assert exact.reconstruction_error(w) < 1e-5
    assert cls.from_config(exact.get_config()).get_config() == exact.get_config()
    other = matrix.with_factors(exact.factors) if exact.factor_shapes == matrix.factor_shapes else None
    if other is not None:
        assert other is not matrix and matrix.factors is not other.factors
