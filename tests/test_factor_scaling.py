"""Factors stored at the dense kernel's scale (``scale_factors``): same
products, dense-like optimizer steps, old configs unchanged."""

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn.factorizations import initializers


def _built(**kwargs):
    layer = ktr.layers.TensorizedLSTM(64, decomposition="tt", rank=8, d=3, **kwargs)
    model = keras.Sequential([keras.Input((5, 48)), layer])
    return layer, model


def test_factor_variables_start_at_the_dense_kernels_scale():
    layer, _ = _built()
    scheme = layer.cell.weight_scheme
    dense_std = initializers.target_variance("glorot_uniform", 48, 256) ** 0.5
    for variable in scheme.factors["kernel"][0]:
        rms = float(np.sqrt(np.mean(keras.ops.convert_to_numpy(variable) ** 2)))
        assert rms == pytest.approx(dense_std, rel=0.35)
    unscaled, _ = _built(scale_factors=False)
    raw = [float(np.sqrt(np.mean(keras.ops.convert_to_numpy(v) ** 2)))
           for v in unscaled.cell.weight_scheme.factors["kernel"][0]]
    assert min(raw) > 2 * dense_std  # what Adam saw before: factors far larger than dense


def test_scaling_changes_what_the_optimizer_sees_not_the_products():
    x = np.random.default_rng(0).standard_normal((3, 5, 48)).astype("float32")
    keras.utils.set_random_seed(0)
    scaled, scaled_model = _built()
    keras.utils.set_random_seed(0)
    plain, plain_model = _built(scale_factors=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scaled_model(x)),
                               keras.ops.convert_to_numpy(plain_model(x)), rtol=1e-4, atol=1e-6)
    # The same dense kernels are loaded into both: the products still agree.
    kernel = np.random.default_rng(1).standard_normal((48, 256)).astype("float32") * 0.05
    recurrent = np.random.default_rng(2).standard_normal((64, 256)).astype("float32") * 0.05
    for layer in (scaled, plain):
        layer.cell.load_dense_weights(kernel, recurrent)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scaled_model(x)),
                               keras.ops.convert_to_numpy(plain_model(x)), rtol=1e-4, atol=1e-6)


def test_one_adam_step_moves_the_rebuilt_kernel_like_a_dense_one():
    """Adam's first step is about the learning rate per variable: with scaled
    factors the rebuilt kernel moves by a relative amount of the dense
    kernel's order; unscaled it moves several times less."""
    x = np.random.default_rng(0).standard_normal((16, 5, 48)).astype("float32")
    y = np.random.default_rng(1).standard_normal((16, 64)).astype("float32")

    def relative_move(**kwargs):
        keras.utils.set_random_seed(0)
        layer, model = _built(**kwargs)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        before = keras.ops.convert_to_numpy(layer.cell.dense_kernels()[0])
        model.train_on_batch(x, y)
        after = keras.ops.convert_to_numpy(layer.cell.dense_kernels()[0])
        return np.linalg.norm(after - before) / np.linalg.norm(before)

    scaled, plain = relative_move(), relative_move(scale_factors=False)
    assert scaled > 2 * plain


def test_configs_without_scale_factors_load_unscaled():
    config = ktr.layers.TensorizedGRU(16, rank=2).get_config()
    assert config["scale_factors"] is True
    del config["scale_factors"]
    assert ktr.layers.TensorizedGRU.from_config(config).scale_factors is False
