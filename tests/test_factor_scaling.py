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


@pytest.mark.parametrize("decomposition", ["tt", "tr", "cp", "tucker", "bt", "mps"])
def test_loaded_factors_share_one_scale_and_keep_their_product(decomposition):
    """A fit leaves its norm where its algorithm puts it (TT-SVD: all in the
    last core). Loading rescales the factors to a common RMS, which Adam
    needs to step each factor at the same relative rate; the matrix is
    unchanged."""
    from keras_tensor_rnn import factorizations

    layer = ktr.layers.TensorizedLSTM(16, decomposition=decomposition, rank=3, d=2)
    keras.Sequential([keras.Input((4, 24)), layer])
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((24, 64)).astype("float32") * 0.2
    recurrent = rng.standard_normal((16, 64)).astype("float32") * 0.2
    layer.cell.load_dense_weights(kernel, recurrent)
    scheme = layer.cell.weight_scheme
    rebuilt = [keras.ops.convert_to_numpy(k) for k in layer.cell.dense_kernels()]
    for side, dense, got in zip(("kernel", "recurrent"), (kernel, recurrent), rebuilt):
        (matrix,), (variables,) = scheme.matrices[side], scheme.factors[side]
        expected = matrix.fit(dense).full()
        np.testing.assert_allclose(got, np.asarray(expected)[:, :got.shape[1]], atol=1e-4)
        rms = [float(np.sqrt(np.mean(keras.ops.convert_to_numpy(v) ** 2))) for v in variables]
        assert max(rms) == pytest.approx(min(rms), rel=1e-4), rms
    # What loading replaced: the fit's own norms, far apart for a TT-SVD.
    if decomposition == "tt":
        fitted = factorizations.get("tt")((24, 64), rank=3, d=2).fit(kernel)
        raw = [float(np.sqrt(np.mean(np.square(f)))) for f in fitted.factors]
        assert max(raw) > 2 * min(raw)


def test_balanced_norms_keeps_zero_factors_and_single_factors():
    from keras_tensor_rnn.weight_schemes.tensorized import balanced_norms

    zero, other = np.zeros((2, 3)), np.ones((3, 2))
    assert all(a is b for a, b in zip(balanced_norms([zero, other]), [zero, other]))
    single = [np.full((2, 2), 5.0)]
    np.testing.assert_array_equal(balanced_norms(single)[0], single[0])
    a, b = balanced_norms([np.full((2, 2), 4.0), np.full((2, 2), 0.25)])
    np.testing.assert_allclose([a[0, 0], b[0, 0]], [1.0, 1.0])
