"""Keras's own int8 quantization on models with our layers.

``model.quantize("int8")`` reaches each cell (Keras visits leaf layers): the
factor variables become int8 with float scales, dequantized in the products.
One quantized model per case is shared by the tests below (module fixture);
backend-neutral, so the JAX CI run covers them too.
"""

from types import SimpleNamespace

import keras
import numpy as np
import pytest
from test_user_models import run_fresh

import keras_tensor_rnn as ktr

# Keras warns for every leaf layer without a `quantize` of its own.
pytestmark = [pytest.mark.filterwarnings("ignore:Layer (InputLayer|Masking) does not have"),
              pytest.mark.xdist_group("quantize")]  # one worker builds the module fixture

L = ktr.layers
STEPS, FEATURES = 6, 12

# Every decomposition, every cell type and both weight schemes (shared 1.0 and
# 0.0: the restricted scheme without private, then without shared units).
CASES = {
    "tt-lstm": lambda: L.TensorizedLSTM(32, decomposition="tt", rank=4),
    "mps-gru": lambda: L.TensorizedGRU(32, decomposition="mps", rank=4),
    "tr-simple": lambda: L.TensorizedSimpleRNN(32, decomposition="tr", rank=4),
    "cp-lstm": lambda: L.TensorizedLSTM(32, decomposition="cp", rank=4),
    "tucker-gru": lambda: L.TensorizedGRU(32, decomposition="tucker", rank=4),
    "bt-simple": lambda: L.TensorizedSimpleRNN(32, decomposition="bt", rank=4),
    "lowrank-gru": lambda: L.TensorizedGRU(32, decomposition="lowrank", rank=4,
                                           gates="separate", reset_after=False),
    "dense-lstm": lambda: L.TensorizedLSTM(32, decomposition="dense"),
    "restricted-lstm": lambda: L.RestrictedLSTM(32),
    "restricted-gru": lambda: L.RestrictedGRU(32, shared=1.0),
    "restricted-simple": lambda: L.RestrictedSimpleRNN(32, shared=0.0),
    "masked-bidirectional": lambda: keras.layers.Bidirectional(
        L.TensorizedGRU(16, decomposition="tt", rank=3, return_sequences=True)),
    "keras-rnn": lambda: keras.layers.RNN(ktr.cells.TensorizedSimpleRNNCell(16, rank=3)),
}
MASKED = "masked-bidirectional"
# Under JAX (its CI run) a subset: each model compiles its start-up code there,
# and the backend-neutral code paths are the same for every case.
RUN = (CASES if keras.backend.backend() == "tensorflow" else
       {case: CASES[case] for case in ("tt-lstm", "restricted-gru", MASKED)})


def padded_inputs(batch=8, seed=0):
    """Sequences zero-padded after each one's length (what `Masking` drops)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, STEPS, FEATURES)).astype("float32")
    for row, length in enumerate(rng.integers(2, STEPS + 1, size=batch)):
        x[row, length:] = 0.0
    return x


def build(case):
    layers = [keras.Input((STEPS, FEATURES))]
    layers += [keras.layers.Masking(0.0)] if case == MASKED else []
    return keras.Sequential(layers + [CASES[case](), keras.layers.Dense(3)])


def cells(model):
    """The model's recurrent cells (both directions of a Bidirectional)."""
    layers = [part for layer in model.layers for part in (
        (layer.forward_layer, layer.backward_layer)
        if isinstance(layer, keras.layers.Bidirectional) else (layer,))]
    return [layer.cell for layer in layers if isinstance(layer, keras.layers.RNN)]


def kernel_variables(cell):
    """The cell's kernel variables, with their scales once quantized."""
    return cell.weight_scheme.kernel_variables() + list(cell.weight_scheme.int8_scales.values())


def kernel_bytes(cell):
    return sum(np.dtype(v.dtype).itemsize * int(np.prod(v.shape)) for v in kernel_variables(cell))


def outputs(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x)))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """``folder``, the inputs ``x`` (saved there) and ``records``: per case,
    the model quantized in place (and saved in ``folder``), its float
    outputs and kernel bytes before and its outputs after."""
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("quantized")
    x = padded_inputs()
    np.save(folder / "x.npy", x)
    records = {}
    for case in RUN:
        model = build(case)
        before, float_bytes = outputs(model, x), sum(kernel_bytes(c) for c in cells(model))
        model.quantize("int8")
        after = outputs(model, x)
        model.save(folder / f"{case}.keras")
        np.save(folder / f"{case}.npy", after)
        records[case] = dict(model=model, before=before, after=after, float_bytes=float_bytes)
    return SimpleNamespace(folder=folder, x=x, records=records)


def test_the_cases_cover_every_decomposition_and_cell():
    layers = [CASES[case]() for case in CASES]
    decompositions = {layer.decomposition for layer in layers
                      if isinstance(layer, L.RecurrentLayer)}
    assert set(ktr.factorizations.names()) <= decompositions
    assert {type(layer) for layer in layers} >= set(L.LAYERS)


@pytest.mark.parametrize("case", RUN)
def test_factors_become_int8_and_the_outputs_stay_close(quantized, case):
    record = quantized.records[case]
    for cell in cells(record["model"]):
        assert cell.dtype_policy.name == "int8_from_float32"
        stored = cell.weight_scheme.kernel_variables()
        assert stored and all(v.dtype == "int8" and not v.trainable for v in stored)
        assert all(v.dtype == "float32" for v in cell.weight_scheme.int8_scales.values())
        assert [v.name for v in cell.trainable_weights] == ["bias"]
    # The layers themselves keep float policies: only the cell is quantized.
    assert all(layer.dtype_policy.quantization_mode is None for layer in record["model"].layers
               if not isinstance(layer, keras.layers.Dense))
    scale = np.abs(record["before"]).max()
    assert np.abs(record["after"] - record["before"]).max() < 0.05 * scale


@pytest.mark.parametrize("case", RUN)
def test_quantized_kernels_take_about_a_quarter_of_the_bytes(quantized, case):
    record = quantized.records[case]
    ratio = sum(kernel_bytes(c) for c in cells(record["model"])) / record["float_bytes"]
    assert 0.25 < ratio < 0.32


def int8_state(model):
    """The values of every cell's int8 factors and scales."""
    return [np.array(keras.ops.convert_to_numpy(v)) for cell in cells(model)
            for v in kernel_variables(cell)]


def fit(model, x, epochs=2):
    """Train a quantized model on random targets (compiled anew: its
    variables changed, so the optimizer must be built for them, as for
    Keras's quantized Dense on JAX); the loss history."""
    y = np.random.default_rng(1).normal(size=outputs(model, x).shape).astype("float32")
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model.fit(x, y, epochs=epochs, verbose=0)


@pytest.mark.parametrize("case", ["tt-lstm", "restricted-gru", MASKED])
def test_fit_trains_the_rest_and_leaves_the_int8_factors_unchanged(quantized, case):
    x, model = quantized.x, quantized.records[case]["model"]
    frozen, bias = int8_state(model), np.array(keras.ops.convert_to_numpy(cells(model)[0].bias))
    assert np.isfinite(fit(model, x).history["loss"]).all()
    assert np.isfinite(model.evaluate(x, model.predict(x, verbose=0), verbose=0))
    assert all(np.array_equal(a, b) for a, b in zip(frozen, int8_state(model)))
    assert not np.array_equal(bias, keras.ops.convert_to_numpy(cells(model)[0].bias))


def test_saved_models_load_in_a_fresh_process_with_identical_outputs(quantized):
    """Every case as quantized, and one trained after quantize (saved with
    its optimizer state, which must load and train on)."""
    folder, x = quantized.folder, quantized.x
    trained = build("restricted-lstm")
    trained.quantize("int8")
    fit(trained, x, epochs=1)
    trained.save(folder / "trained.keras")
    np.save(folder / "trained.npy", outputs(trained, x))
    # The number of int8 variables (our factors and the Dense head's kernel).
    models = {**{case: record["model"] for case, record in quantized.records.items()},
              "trained": trained}
    int8 = {name: sum(v.dtype == "int8" for v in model.weights) for name, model in models.items()}
    names = list(int8)
    out = run_fresh(f"""
        import keras, numpy as np
        import keras_tensor_rnn
        x = np.load("x.npy")
        for name, count in {int8!r}.items():
            model = keras.saving.load_model(name + ".keras")
            assert sum(v.dtype == "int8" for v in model.weights) == count, name
            y, saved = np.asarray(keras.ops.convert_to_numpy(model(x))), np.load(name + ".npy")
            assert np.array_equal(y, saved), (name, np.abs(y - saved).max())
            if name == "trained":
                assert np.isfinite(model.train_on_batch(x, y))
            print("ok", name)
    """, folder)
    assert out.split() == [word for name in names for word in ("ok", name)]


def test_unsupported_modes_raise_and_leave_the_model_float():
    model = build("tt-lstm")
    for mode in ("float8", "int4"):
        expected = r"Expected one of \('int8',\).*Received: mode=" + mode
        with pytest.raises(ValueError, match=expected):
            model.quantize(mode)
    assert cells(model)[0].dtype_policy.name == "float32"
    assert all(v.dtype == "float32" for v in cells(model)[0].weights)


def test_the_layer_quantizes_its_cell_once():
    model = build("restricted-simple")
    model.layers[0].quantize("int8")
    assert cells(model)[0].dtype_policy.name == "int8_from_float32"
    with pytest.raises(ValueError, match="already quantized"):
        model.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        model.layers[0].quantize("int8")


def test_a_cell_subclass_is_skipped_unless_type_check_is_off():
    class Custom(ktr.cells.TensorizedSimpleRNNCell):
        pass

    def model():
        return keras.Sequential([keras.Input((STEPS, FEATURES)),
                                 keras.layers.RNN(Custom(8, rank=2))])

    skipped = model()
    with pytest.warns(UserWarning, match="Custom does not have a `quantize` method"):
        skipped.quantize("int8")
    assert cells(skipped)[0].quantization_mode is None
    checked_off = model()
    checked_off.quantize("int8", type_check=False)
    assert cells(checked_off)[0].quantization_mode == "int8"
