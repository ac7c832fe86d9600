"""The layers against Keras's own: parity, training, serialization, errors."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets, factorizations

L = ktr.layers
PAIRS = {
    "lstm": (L.TensorizedLSTM, keras.layers.LSTM, {}),
    "gru": (L.TensorizedGRU, keras.layers.GRU, {}),
    "gru-reset-before": (L.TensorizedGRU, keras.layers.GRU, {"reset_after": False}),
    "simple": (L.TensorizedSimpleRNN, keras.layers.SimpleRNN, {}),
}
VARIANTS = {
    "plain": {},
    "sequences-state": {"return_sequences": True, "return_state": True},
    "backwards": {"go_backwards": True, "return_sequences": True},
    "unroll": {"unroll": True, "return_state": True},
}


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_same_outputs(a, b, atol=1e-5):
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_allclose(to_np(p), to_np(q), atol=atol, rtol=1e-5)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 7, 10)).astype("float32")
    mask = np.ones((4, 7), bool)
    mask[1, 5:] = False
    mask[3, 2:] = False
    return x, mask


@pytest.fixture(scope="module")
def mnist1d():
    (x, y), _ = datasets.load_mnist1d(features=8, num_train=500)
    return x, y


# ------------------------------------------------------------------ parity


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("pair", PAIRS)
def test_dense_decomposition_reproduces_keras(pair, variant, batch):
    ours_cls, keras_cls, kw = PAIRS[pair]
    x, mask = batch
    kwargs = {**kw, **VARIANTS[variant]}
    theirs = keras_cls(6, **kwargs)
    ours = ours_cls(6, decomposition="dense", **kwargs)
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert ours.count_params() == theirs.count_params()
    assert_same_outputs(ours(x), theirs(x))
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))


@pytest.mark.parametrize("pair", PAIRS)
def test_dense_bidirectional_reproduces_keras(pair, batch):
    ours_cls, keras_cls, kw = PAIRS[pair]
    x, mask = batch
    theirs = keras.layers.Bidirectional(keras_cls(5, return_sequences=True, **kw))
    ours = keras.layers.Bidirectional(ours_cls(5, decomposition="dense", return_sequences=True, **kw))
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))


def test_dense_stateful_reproduces_keras(batch):
    x, _ = batch
    theirs = keras.layers.LSTM(6, stateful=True)
    ours = L.TensorizedLSTM(6, decomposition="dense", stateful=True)
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    ours.reset_state()
    theirs.reset_state()
    for _ in range(2):  # the second call continues from the first's state
        assert_same_outputs(ours(x), theirs(x))


@pytest.mark.parametrize("gates", ["joint", "separate"])
@pytest.mark.parametrize("name", factorizations.names())
@pytest.mark.parametrize("pair", ["lstm"] + [pytest.param(p, marks=pytest.mark.tf_only)
                                             for p in ("gru", "gru-reset-before", "simple")])
def test_factorized_layer_equals_keras_with_reconstructed_weights(pair, name, gates, batch):
    """The factorized products (planned contractions, gate slicing, padding)
    give exactly Keras's recurrence on the dense equivalent weights."""
    ours_cls, keras_cls, kw = PAIRS[pair]
    x, mask = batch
    ours = ours_cls(6, decomposition=name, rank=2, d=2, gates=gates, return_sequences=True,
                    bias_initializer="random_normal", **kw)
    theirs = keras_cls(6, return_sequences=True, **kw)
    ours(x)
    theirs(x)
    kernel, recurrent = ours.cell.dense_kernels()
    theirs.set_weights([to_np(kernel), to_np(recurrent)] + [to_np(ours.cell.bias)])
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask), atol=1e-5)


@pytest.mark.parametrize("gates", ["joint", "separate"])
@pytest.mark.parametrize("name", factorizations.names())
def test_rebuilt_kernels_are_the_products_with_the_identity(name, gates):
    """`dense_kernels` (what a rebuilt matrix and every conversion use) is
    built from each matrix's `full()`; it must equal the products the layer
    computes, `eye @ W`, gate columns, padding and factor scales included."""
    layer = L.TensorizedLSTM(5, decomposition=name, rank=2, d=2, gates=gates)
    layer.build((2, 3, 7))
    scheme = layer.cell.weight_scheme
    kernel, recurrent = layer.cell.dense_kernels()
    np.testing.assert_allclose(to_np(kernel), to_np(scheme.kernel_matmul(keras.ops.eye(7))),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(recurrent),
                               to_np(scheme.recurrent_matmul(keras.ops.eye(5))),
                               rtol=1e-5, atol=1e-6)
    assert tuple(kernel.shape) == (7, 20) and tuple(recurrent.shape) == (5, 20)


@pytest.mark.parametrize("units", [3, 5, 7])
@pytest.mark.parametrize("pair", ["lstm"] + [pytest.param(p, marks=pytest.mark.tf_only)
                                             for p in ("gru", "simple")])
def test_padded_units_with_default_arguments_equal_keras(pair, units, batch):
    """Units that do not factorize into balanced modes are padded inside the
    matrices (each gate's padding sliced away), with every argument at its
    default, the rank included."""
    import math

    ours_cls, keras_cls, kw = PAIRS[pair]
    x, mask = batch
    ours = ours_cls(units, return_sequences=True, bias_initializer="random_normal", **kw)
    theirs = keras_cls(units, return_sequences=True, **kw)
    ours(x)
    theirs(x)
    assert math.prod(ours.cell.weight_scheme.hidden_modes_in_use) > units  # really padded
    kernel, recurrent = ours.cell.dense_kernels()
    theirs.set_weights([to_np(kernel), to_np(recurrent)] + [to_np(ours.cell.bias)])
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask), atol=1e-5)


def test_default_rank_is_capped_where_a_small_layer_cannot_use_it():
    """The default (8) never makes a layer unbuildable: a matrix that cannot
    use rank 8 gets its largest useful ranks. A rank given above that is
    still an error that names the limit."""
    x = np.ones((2, 3, 3), "float32")
    small, full = L.TensorizedGRU(4), L.TensorizedGRU(4, rank="full")
    small(x)
    full(x)
    assert small.describe_weights(3) == full.describe_weights(3)
    assert small.rank is None and L.TensorizedGRU.from_config(small.get_config()).rank is None
    wide = L.TensorizedLSTM(64)
    wide(np.ones((2, 3, 32), "float32"))
    assert max(wide.describe_weights(32)["kernel_rank"]) == 8
    with pytest.raises(ValueError, match="largest useful rank"):
        L.TensorizedGRU(4, rank=8)(x)


@pytest.mark.parametrize("pair", ["lstm", "gru", "simple"])
def test_restricted_layer_equals_keras_with_assembled_weights(pair, batch):
    ours_cls = {"lstm": L.RestrictedLSTM, "gru": L.RestrictedGRU, "simple": L.RestrictedSimpleRNN}[pair]
    _, keras_cls, kw = PAIRS[pair]
    x, _ = batch
    ours = ours_cls(6, shared=0.5, return_sequences=True, bias_initializer="random_normal")
    theirs = keras_cls(6, return_sequences=True, **kw)
    ours(x)
    theirs(x)
    kernel, recurrent = ours.cell.dense_kernels()
    theirs.set_weights([to_np(kernel), to_np(recurrent), to_np(ours.cell.bias)])
    assert_same_outputs(ours(x), theirs(x))
    # The shared units really are shared: identical rows of the input and
    # recurrent matrices (on the common width) for the first 3 units per gate.
    k, u = to_np(kernel).reshape(10, -1, 6), to_np(recurrent).reshape(6, -1, 6)
    np.testing.assert_array_equal(k[:6, :, :3], u[:, :, :3])
    assert not np.allclose(k[:6, :, 3:], u[:, :, 3:])


def test_dropout_is_active_only_in_training(batch):
    x, _ = batch
    layer = L.TensorizedLSTM(6, rank=2, d=2, dropout=0.5, recurrent_dropout=0.5, seed=1)
    inference = to_np(layer(x))
    np.testing.assert_array_equal(inference, to_np(layer(x, training=False)))
    assert not np.allclose(to_np(layer(x, training=True)), inference)


# ------------------------------------------------------------- parameters


@pytest.mark.parametrize("mode_choice, smaller", [("balanced", 10_000), ("speed", 5_000)])
def test_ucf11_input_side_is_thousands_of_times_smaller_than_keras(mode_choice, smaller):
    """Balanced modes (the paper's setting): over 10,000x. Speed modes let the
    input side grow beside the dense recurrent matrix (the layer within 10%
    of its balanced count): still over 5,000x."""
    layer = L.TensorizedLSTM(256, decomposition="tt", rank=4, d=4, recurrent_decomposition="dense",
                             mode_choice=mode_choice)
    layer.build((None, 6, 57600))
    kernel_params = sum(int(np.prod(w.shape)) for w in layer.weights if "recurrent" not in w.path
                        and "bias" not in w.path)
    dense_kernel = 57600 * 4 * 256
    assert dense_kernel == 58_982_400
    assert kernel_params * smaller <= dense_kernel, kernel_params
    assert layer.count_params() == layer.count_params_for(57600)
    assert layer.count_params() == kernel_params + 256 * 1024 + 1024


@pytest.mark.tf_only  # counts are the backend's weight shapes, checked on every backend by layer_testing
@pytest.mark.parametrize("name", factorizations.names())
@pytest.mark.parametrize("cls", [L.TensorizedLSTM, L.TensorizedGRU, L.TensorizedSimpleRNN])
def test_count_params_is_exact(cls, name):
    layer = cls(12, decomposition=name, rank=2, d=2)
    layer.build((None, 5, 20))
    assert layer.count_params() == layer.count_params_for(20)
    assert layer.count_params() == sum(int(np.prod(w.shape)) for w in layer.weights)


@pytest.mark.tf_only  # a formula of the shapes: backend-neutral
@pytest.mark.parametrize("shared", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("cls, gates, bias", [(L.RestrictedLSTM, 4, 4), (L.RestrictedGRU, 3, 6),
                                              (L.RestrictedSimpleRNN, 1, 1)])
def test_restricted_param_count_matches_formula(cls, gates, bias, shared):
    units, width = 20, 20
    layer = cls(units, shared=shared)
    layer.build((None, 3, width))
    expected = gates * units * units * (2 - shared) + bias * units
    assert layer.count_params() == expected
    # A narrower input: shared rows are as wide as the wider of x and h.
    s = round(shared * units)
    narrow = cls(units, shared=shared)
    narrow.build((None, 3, 8))
    assert narrow.count_params() == gates * (s * units + (units - s) * (8 + units)) + bias * units


def test_table_of_parameter_counts_per_decomposition():
    """The table of docs/guides/layers.md: 256 units on a 1,024-wide input, rank 4, d = 3."""
    counts = {}
    for name in factorizations.names():
        layer = L.TensorizedLSTM(256, decomposition=name, rank=4, d=3)
        counts[name] = layer.count_params_for(1024)
    assert counts["dense"] == keras.layers.LSTM(256).cell.units * 0 + 4 * 256 * (1024 + 256 + 1)
    assert all(counts[n] < counts["dense"] / 10 for n in counts if n != "dense")


# -------------------------------------------------------- train / save / jit

TRAIN_CASES = [(cls, name) for cls in ("TensorizedLSTM", "TensorizedGRU", "TensorizedSimpleRNN")
               for name in factorizations.names()] + [
    (cls, None) for cls in ("RestrictedLSTM", "RestrictedGRU", "RestrictedSimpleRNN")]
# Every class and decomposition trains in the slow run; the default run keeps
# one cell type per decomposition (the shared layer test in
# test_architecture.py covers every class, with mixed precision, by default).
DEFAULT_CASES = {("TensorizedLSTM", name) for name in factorizations.names()} | {
    ("TensorizedGRU", "tt"), ("TensorizedSimpleRNN", "cp"), ("RestrictedGRU", None)}
# torch.compile (Keras's `jit_compile` on torch) takes 30 to 45 s per model
# on 2 cores, against 3 s eagerly: the torch run compiles one case and trains
# the others eagerly; XLA (TensorFlow, JAX) compiles every case.
TORCH_COMPILED = {("TensorizedLSTM", "tt")}
TRAIN_PARAMS = [pytest.param(c, n, id=f"{c}-{n}",
                             marks=() if (c, n) in DEFAULT_CASES else pytest.mark.slow)
                for c, n in TRAIN_CASES]


def make_layer(cls_name, name, **kwargs):
    cls = getattr(L, cls_name)
    if name is None:
        return cls(16, shared=0.5, **kwargs)
    return cls(16, decomposition=name, rank=4, d=2, **kwargs)


@pytest.mark.parametrize("cls_name, name", TRAIN_PARAMS)
def test_trains_saves_and_jit_compiles(cls_name, name, mnist1d, tmp_path):
    x, y = mnist1d
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(x.shape[1:]), make_layer(cls_name, name),
                              keras.layers.Dense(10)])
    jit = keras.backend.backend() != "torch" or (cls_name, name) in TORCH_COMPILED
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=jit,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=4, batch_size=50, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.95 * before, (before, after)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[0]) is type(model.layers[0])
    # Called directly: `predict` would compile each model's predict step
    # again (XLA), which the training above has already exercised.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x[:32])),
                               keras.ops.convert_to_numpy(model(x[:32])), atol=1e-6)


@pytest.mark.tf_only
@pytest.mark.parametrize("cls_name, name", TRAIN_PARAMS)
def test_mixed_float16(cls_name, name, mnist1d):
    x, y = mnist1d
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = make_layer(cls_name, name, return_sequences=True)
        model = keras.Sequential([keras.Input(x.shape[1:]), layer,
                                  keras.layers.GlobalAveragePooling1D(),
                                  keras.layers.Dense(10, dtype="float32")])
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        loss = model.train_on_batch(x[:32], y[:32])
        assert np.isfinite(loss)
        assert all(w.dtype == "float32" for w in layer.weights)
        assert keras.backend.standardize_dtype(layer(x[:2]).dtype) == "float16"
    finally:
        keras.config.set_dtype_policy("float32")


def test_layer_config_round_trip():
    layer = L.TensorizedGRU(12, decomposition="bt", rank=[2, 2], d=2, gates="separate",
                            recurrent_decomposition="dense", reset_after=False,
                            decomposition_options={"blocks": 3}, return_sequences=True)
    clone = L.TensorizedGRU.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.count_params_for(20) == layer.count_params_for(20)
    assert layer.rank == [2, 2] and layer.gates == "separate" and layer.reset_after is False


# --------------------------------------------------------------- bad input


def test_wrong_input_rank():
    with pytest.raises(ValueError, match="ndim=3"):
        L.TensorizedLSTM(4, rank=2, d=2)(np.ones((2, 8), "float32"))


def test_input_width_differs_from_built_one():
    layer = L.TensorizedLSTM(4, rank=2, d=2)
    layer(np.ones((2, 3, 8), "float32"))
    with pytest.raises(ValueError, match="axis -1.*8"):
        layer(np.ones((2, 3, 9), "float32"))


def test_units_not_splittable_into_hidden_modes():
    with pytest.raises(ValueError, match=r"units`=30 cannot be split into hidden_modes=\(4, 4\)"):
        L.TensorizedLSTM(30, hidden_modes=(4, 4))


@pytest.mark.parametrize("shared", [-0.1, 1.5, "half"])
def test_shared_outside_unit_interval(shared):
    with pytest.raises(ValueError, match=r"`shared`.*must be in \[0, 1\]"):
        L.RestrictedLSTM(8, shared=shared)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="Valid names"):
        L.TensorizedLSTM(8, decomposition="ttm")
    with pytest.raises(ValueError, match="`gates` must be one of"):
        L.TensorizedLSTM(8, gates="shared")
    with pytest.raises(ValueError, match="positive integer"):
        L.TensorizedGRU(0)
    with pytest.raises(ValueError, match="largest useful rank"):
        L.TensorizedLSTM(16, rank=1000, d=2)
    with pytest.raises(ValueError, match="cuDNN"):
        L.TensorizedLSTM(8, use_cudnn=True)


def test_backend(tmp_path):
    assert BACKEND in ("tensorflow", "jax", "torch")


@pytest.mark.parametrize("name", factorizations.names())
def test_execution_plans_agree(name, batch):
    """Hoisted or per-step projection, factors or rebuilt matrices: the
    planner's choices change the cost, never the numbers."""
    x, mask = batch
    wide = np.concatenate([x, x, x], axis=-1)  # 30 >= 4 * 6: hoisting pays
    layers = {impl: L.TensorizedLSTM(6, decomposition=name, rank=2, d=2, implementation=impl,
                                     return_sequences=True, bias_initializer="random_normal")
              for impl in ("factorized", "reconstructed", "auto")}
    for layer in layers.values():
        layer.build(x.shape)
    reference = layers["factorized"]
    cell = reference.cell
    if name != "dense":
        assert cell.input_operator(3, 5) is None                  # hoisted, factorized
        assert not cell.weight_scheme.rebuilds_recurrent(3, 5)
    rebuilt = layers["reconstructed"].cell
    assert rebuilt.input_operator(3, 5) is not None               # narrow input: per step
    assert rebuilt.weight_scheme.rebuilds_recurrent(3, 5)
    for layer in layers.values():
        layer.set_weights(reference.get_weights())
    expected = reference(x, mask=mask)
    for impl in ("reconstructed", "auto"):
        assert_same_outputs(layers[impl](x, mask=mask), expected, atol=1e-5)
    wide_layers = {impl: L.TensorizedLSTM(6, decomposition=name, rank=2, d=2, implementation=impl,
                                          return_sequences=True) for impl in ("factorized", "reconstructed")}
    for layer in wide_layers.values():
        layer.build(wide.shape)
    wide_layers["reconstructed"].set_weights(wide_layers["factorized"].get_weights())
    assert wide_layers["reconstructed"].cell.input_operator(3, 5) is None  # wide: hoisted
    assert_same_outputs(wide_layers["reconstructed"](wide), wide_layers["factorized"](wide), atol=1e-5)


def test_a_rank_above_a_narrow_inputs_largest_is_lowered_on_the_input_kernel():
    """4 features: the input kernel of a low-rank layer is exact from rank 4
    on; a rank of 16 keeps growing the recurrent side only."""
    layer = ktr.layers.TensorizedLSTM(32, decomposition="lowrank", rank=16)
    layer.build((None, 10, 4))
    shapes = [tuple(w.shape) for w in layer.weights]
    assert shapes == [(4, 4), (4, 128), (32, 16), (16, 128), (128,)]
    # With a recurrent rank of its own, `rank` is the kernel's alone: too large is an error.
    with pytest.raises(ValueError, match=r"input kernel \(4 x 128\) cannot take `rank=16`"):
        ktr.layers.TensorizedLSTM(32, decomposition="lowrank", rank=16,
                                  recurrent_rank=2).build((None, 10, 4))


VALID_RANKS = (r"must be an int >= 1, a list of such ints \(one per rank slot\), a float in "
               r"\(0, 1\] \(a fraction of the dense parameter count\) or 'full'\. ")


@pytest.mark.parametrize("arguments, message", [
    (dict(rank=2, recurrent_rank=0), r"^`recurrent_rank` " + VALID_RANKS
     + r"Received: recurrent_rank=0$"),
    *[(dict(rank=rank), r"^`rank` " + VALID_RANKS + rf"Received: rank={shown}$")
      for rank, shown in ((0, "0"), (1.5, "1.5"), ("ful", "'ful'"), (True, "True"),
                          ([2, 0], r"\[2, 0\]"))],
])
def test_a_rank_no_kernel_can_take_is_refused_as_made(arguments, message):
    """Refused when the layer is made, whatever its input, without naming a
    kernel (a recurrent rank of 0 once became `rank`)."""
    with pytest.raises(ValueError, match=message):
        ktr.layers.TensorizedLSTM(8, **arguments)
