"""Files for devices: LiteRT (WHILE loop or unrolled, quantized), ONNX, and
the runtimes users deploy (ai-edge-litert, onnxruntime)."""

import warnings

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn import export

pytestmark = pytest.mark.tf_only  # LiteRT and tf2onnx convert TensorFlow graphs

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 10, 8)).astype("float32")
X[:3, 7:] = 0.0  # padded rows, for the masked models


@pytest.fixture(scope="module")
def tt_model():
    keras.utils.set_random_seed(0)  # the quantized files' tolerances hold for these weights
    inputs = keras.Input((10, 8))
    h = ktr.layers.TensorizedLSTM(32, decomposition="tt", rank=4)(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(h))


@pytest.fixture(scope="module")
def masked_model():
    """Dynamic time, Masking, a Bidirectional low-rank GRU and a backward CP LSTM."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, 8))
    h = keras.layers.Masking()(inputs)
    h = keras.layers.Bidirectional(ktr.layers.TensorizedGRU(
        16, decomposition="lowrank", rank=3, return_sequences=True))(h)
    h = ktr.layers.TensorizedLSTM(8, decomposition="cp", rank=3, go_backwards=True)(h)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_litert_equals_keras_and_the_loop_does_not_grow_with_the_steps(masked_model, tmp_path):
    """Looped or unrolled, the file gives Keras's outputs (masks, Bidirectional,
    go_backwards); the loop's file stays one step long."""
    def size(steps, unroll):
        path = export.export_litert(masked_model, tmp_path / f"{steps}_{unroll}.tflite",
                                    time_steps=steps, unroll=unroll)
        if steps == X.shape[1]:
            np.testing.assert_allclose(export.litert_predict(path, X),
                                       masked_model.predict(X, verbose=0), atol=1e-5)
        return export.file_size(path)

    # Per step, the loop stores a few time-long constants (the mask's
    # reversal: 64 bytes); the unrolled file every op of the step.
    sizes = {(steps, unroll): size(steps, unroll) for steps in (10, 20) for unroll in (False, True)}
    loop = (sizes[20, False] - sizes[10, False]) / 10
    unrolled = (sizes[20, True] - sizes[10, True]) / 10
    assert loop <= 100 and unrolled > 10 * max(loop, 100)
    assert sizes[10, False] < sizes[10, True]


@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_quantized_litert_files(tt_model, tmp_path, capfd):
    reference = tt_model.predict(X, verbose=0)
    float_path = export.export_litert(tt_model, tmp_path / "f.tflite")
    for quantize, tolerance in (("dynamic", 0.03), ("float16", 1e-2), ("int8", 0.1)):
        capfd.readouterr()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = export.export_litert(tt_model, tmp_path / f"{quantize}.tflite",
                                        quantize=quantize,
                                        representative_data=X if quantize == "int8" else None)
        # TensorFlow's calibration warns of its own deprecated interpreter,
        # and its C++ calibrator prints its settings to stderr.
        assert not [w for w in caught if "Interpreter is deprecated" in str(w.message)]
        assert "fully_quantize" not in capfd.readouterr().err
        got = export.litert_predict(path, X)
        np.testing.assert_allclose(got, reference, atol=tolerance * np.abs(reference).max())
    # float16 halves what the converter stores of the weights.
    assert export.file_size(tmp_path / "float16.tflite") < export.file_size(float_path)


def test_a_mixed_precision_model_exports_a_float32_litert_file(tmp_path):
    """LiteRT's builtins have no float16 recurrent step: the file computes
    in float32, from the same float32 weights."""
    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        inputs = keras.Input((10, 8))
        h = keras.layers.Bidirectional(ktr.layers.TensorizedLSTM(
            8, rank=2, return_sequences=True))(inputs)
        h = ktr.layers.TensorizedGRU(4, decomposition="cp", rank=2)(h)
        model = keras.Model(inputs, keras.layers.Dense(3, dtype="float32")(h))
    finally:
        keras.config.set_dtype_policy("float32")
    path = export.export_litert(model, tmp_path / "mixed.tflite")
    np.testing.assert_allclose(export.litert_predict(path, X), model.predict(X, verbose=0),
                               atol=2e-3)
    assert model.layers[1].dtype_policy.name == "mixed_float16"  # the model is as it was


@pytest.mark.parametrize("quantize, data, message", [
    ("int4", None, r"Unknown `quantize` value 'int4'. Valid values: 'dynamic', 'float16', 'int8'"),
    ("int8", None, r"pass `representative_data=`"),
    ("dynamic", X, r"calibrates quantize='int8' or 'int16x8' only"),
])
@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_quantize_errors_say_what_is_valid(tt_model, quantize, data, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export.export_litert(tt_model, tmp_path / "q.tflite", quantize=quantize,
                             representative_data=data)


def float_weights(path) -> list:
    """Shapes of the float32 constants of two or more dimensions in a LiteRT
    file, but zeros (the loop's initial states)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    data = [(t, model.buffers[t.buffer].data) for g in model.subgraphs for t in g.tensors]
    return [list(t.shape) for t, d in data
            if t.type == 0 and len(t.shape) >= 2 and d is not None and np.any(d)]


@pytest.mark.parametrize("decomposition", ["tt", "lowrank"])
def test_dynamic_quantization_stores_the_small_factors_as_int8(decomposition, tmp_path):
    """LiteRT's converter leaves weights under 1,024 elements float; every
    factor here is smaller, and the file stores them all as int8."""
    keras.utils.set_random_seed(0)  # int8 rounding of random factors: one draw, not any
    inputs = keras.Input((10, 8))
    h = ktr.layers.TensorizedLSTM(64, decomposition=decomposition, rank=8)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(h))
    float_path = export.export_litert(model, tmp_path / "f.tflite")
    path = export.export_litert(model, tmp_path / "q.tflite", quantize="dynamic")
    assert float_weights(float_path) and not float_weights(path)
    saved = export.file_size(float_path) - export.file_size(path)
    weights = sum(int(np.prod(w.shape)) for w in model.layers[1].weights if len(w.shape) >= 2)
    # 3 of every 4 bytes, less each int8 tensor's metadata (about 180 bytes:
    # its entry, scales, the DEQUANTIZE op)
    assert saved >= 0.6 * 3 * weights
    reference = model.predict(X, verbose=0)
    np.testing.assert_allclose(export.litert_predict(path, X), reference,
                               atol=0.02 * np.abs(reference).max())


def test_every_decomposition_at_its_default_d_converts_to_builtin_ops(tmp_path):
    """Every ranked decomposition at its default ``d`` (3 on a 16-wide input
    and 32 units) in one builtins-only file, equal to Keras (a block-term
    product there once needed a 7-axis Transpose, which builtin LiteRT lacks)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 16))
    h = inputs
    for cell, name in (("lstm", "bt"), ("gru", "tt"), ("simple_rnn", "mps"), ("lstm", "tr"),
                       ("gru", "cp"), ("simple_rnn", "tucker"), ("gru", "bt")):
        h = ktr.layers.layer_class(cell, "tensorized")(32, decomposition=name, rank=2,
                                                       return_sequences=True)(h)
        h = keras.layers.Dense(16)(h)
    model = keras.Model(inputs, h)
    x = RNG.standard_normal((1, 6, 16)).astype("float32")
    path = export.export_litert(model, tmp_path / "every.tflite")
    np.testing.assert_allclose(export.litert_predict(path, x), model.predict(x, verbose=0),
                               atol=1e-5)


def test_a_stateful_model_exports_from_zero_states_and_keeps_its_own(tmp_path):
    """A file holds no state between calls: LiteRT and ONNX files both start
    from zeros (as Keras after ``reset_state()``), whatever state the model
    held, and the model keeps that state."""
    inputs = keras.Input((10, 8), batch_size=1)
    layer = ktr.layers.TensorizedGRU(8, decomposition="tt", rank=2, stateful=True)
    model = keras.Model(inputs, layer(inputs))
    x = X[3:4]
    model.predict(x, verbose=0)  # the state moves on
    held = keras.ops.convert_to_numpy(layer.states[0])
    onnx_path = export.export_onnx(model, tmp_path / "m.onnx")
    litert_path = export.export_litert(model, tmp_path / "m.tflite")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.states[0]), held)
    layer.reset_state()
    from_zeros = model.predict(x, verbose=0)
    assert np.abs(held).max() > 0.05  # a state the files would differ by
    for predict, path in ((export.onnx_predict, onnx_path), (export.litert_predict, litert_path)):
        np.testing.assert_allclose(predict(path, x), from_zeros, atol=1e-5)


def test_onnx_predict_returns_every_output_as_predict_does(tmp_path):
    inputs = keras.Input((10, 8))
    sequences, h, c = ktr.layers.TensorizedLSTM(8, decomposition="cp", rank=2,
                                                return_sequences=True, return_state=True)(inputs)
    model = keras.Model(inputs, [sequences, h, c])
    path = export.export_onnx(model, tmp_path / "states.onnx")
    got, expected = export.onnx_predict(path, X), model.predict(X, verbose=0)
    assert len(got) == len(expected) == 3
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5)
    with pytest.raises(ValueError, match=r"takes 1 input\(s\).*`x` gives 2"):
        export.onnx_predict(path, [X, X])


@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_the_predict_helpers_take_any_rows_on_a_file_of_a_static_batch(tt_model, tmp_path):
    """As `model.predict`: rows in batches of the file's (the last one
    padded), one array or a list of one, no rows giving no rows; a missing
    folder is made, as Keras's own exports make it."""
    expected = tt_model.predict(X[:5], verbose=0)
    litert = export.export_litert(tt_model, tmp_path / "new" / "m.tflite", batch_size=2)
    onnx = export.export_onnx(tt_model, tmp_path / "m.onnx", unroll=True, batch_size=2)
    for predict, path in ((export.litert_predict, litert), (export.onnx_predict, onnx)):
        np.testing.assert_allclose(predict(path, X[:5]), expected, atol=1e-5)
        np.testing.assert_allclose(predict(path, [X[:5]]), expected, atol=1e-5)
        assert predict(path, X[:0]).shape == (0, *expected.shape[1:])


def test_exports_refuse_what_they_cannot_take_before_converting(tmp_path):
    """A .keras path, Keras's own int8 Dense, a variable length to unroll
    without `time_steps`: each said before any conversion; a size of
    nothing is an error, not 0."""
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4),
                              keras.layers.Dense(2, name="dense")])
    with pytest.raises(TypeError, match=r"`export_onnx` takes a Keras model: load a .keras file "
                                        r"first with `keras.models.load_model\(path\)`"):
        export.export_onnx(str(tmp_path / "m.keras"), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"no fixed time length.*`export_onnx` without "
                                         r"`unroll=True`"):
        export.export_onnx(model, tmp_path / "m.onnx", unroll=True)
    model.quantize("int8", filters=lambda layer: isinstance(layer, keras.layers.Dense))
    with pytest.raises(ValueError, match=r"Layers \['dense'\] hold Keras's own int8 weights.*"
                                         r"ktr.cells.RecurrentCell"):
        export.export_litert(model, tmp_path / "m.tflite", time_steps=5)
    with pytest.raises(FileNotFoundError, match=r"No file or folder at"):
        export.file_size(tmp_path / "m.tflite")


@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_litert_runs_in_the_standalone_runtime(tt_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path = export.export_litert(tt_model, tmp_path / "m.tflite")
    assert isinstance(export.litert_interpreter(path), Interpreter)


@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_onnx_equals_keras_and_keeps_the_factors(tt_model, tmp_path):
    import onnx

    path = export.export_onnx(tt_model, tmp_path / "m.onnx")
    np.testing.assert_allclose(export.onnx_predict(path, X), tt_model.predict(X, verbose=0),
                               atol=1e-5)
    stored = sum(np.prod(t.dims, dtype=int) for t in onnx.load(str(path)).graph.initializer)
    dense = 8 * 128 + 32 * 128  # the two matrices the factors make
    assert stored < 1.2 * tt_model.count_params() < dense


@pytest.mark.xdist_group("deploy")  # its module fixture, built once
def test_onnx_of_a_masked_model_takes_any_batch_and_length(masked_model, tmp_path):
    path = export.export_onnx(masked_model, tmp_path / "m.onnx")
    for x in (X, X[:2, :6]):
        np.testing.assert_allclose(export.onnx_predict(path, x), masked_model.predict(x, verbose=0),
                                   atol=1e-5)
    unrolled = export.export_onnx(masked_model, tmp_path / "u.onnx", unroll=True, batch_size=6,
                                  time_steps=10)
    np.testing.assert_allclose(export.onnx_predict(unrolled, X),
                               masked_model.predict(X, verbose=0), atol=1e-5)


def test_cli_writes_quantized_litert_and_onnx(tmp_path, capsys):
    from keras_tensor_rnn import cli

    dense = keras.Sequential([keras.Input((10, 8)), keras.layers.LSTM(16), keras.layers.Dense(3)])
    dense.save(tmp_path / "dense.keras")
    np.save(tmp_path / "x.npy", X)
    command = ["compress", str(tmp_path / "dense.keras"), "-o", str(tmp_path / "small.keras"),
               "--decomposition", "lowrank", "--rank", "2"]
    assert cli.main(command + ["--litert", str(tmp_path / "q.tflite"), "--quantize", "int8"]) == 2
    assert "--quantize int8 calibrates on sample inputs" in capsys.readouterr().err
    assert cli.main(command + ["--x", str(tmp_path / "x.npy"), "--fit-steps", "0",
                               "--litert", str(tmp_path / "q.tflite"), "--quantize", "int8",
                               "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "LiteRT (builtin ops only, int8)" in capsys.readouterr().out
    small = keras.saving.load_model(tmp_path / "small.keras")
    for predict, path in ((export.litert_predict, "q.tflite"), (export.onnx_predict, "m.onnx")):
        got = predict(tmp_path / path, X)
        np.testing.assert_allclose(got, small.predict(X, verbose=0), atol=0.1)


@pytest.fixture(scope="module")
def two_input_model():
    """Token ids and features, a dict of inputs."""
    tokens = keras.Input((6,), name="tokens", dtype="int32")
    feats = keras.Input((6, 3), name="feats")
    h1 = ktr.layers.TensorizedSimpleRNN(8, rank=2)(keras.layers.Embedding(20, 4)(tokens))
    h2 = ktr.layers.TensorizedGRU(8, decomposition="lowrank", rank=2)(feats)
    return keras.Model({"tokens": tokens, "feats": feats},
                       keras.layers.Dense(1)(keras.layers.Concatenate()([h1, h2])))


def test_full_int8_calibrates_a_dict_of_inputs(two_input_model, tmp_path):
    data = {"feats": RNG.standard_normal((32, 6, 3)).astype("float32"),
            "tokens": RNG.integers(0, 20, (32, 6)).astype("int32")}
    path = export.export_litert(two_input_model, tmp_path / "m.tflite", quantize="int8",
                                representative_data=data)
    runner = export.litert_interpreter(path).get_signature_runner()
    (got,) = runner(**{k: v[:1] for k, v in data.items()}).values()
    expected = two_input_model.predict({k: v[:1] for k, v in data.items()}, verbose=0)
    np.testing.assert_allclose(got, expected, atol=0.05 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("change, message", [
    (lambda d: {**d, "feats": d["feats"][:, :, :2]},
     r"for input 'feats' must be rows of shape \(6, 3\).*shape \(32, 6, 2\)"),
    (lambda d: {k: v[:0] for k, v in d.items()}, r"has 0 rows: calibration needs at least one"),
    (lambda d: {**d, "feats": np.full_like(d["feats"], np.nan)}, r"'feats' holds NaN or inf"),
    (lambda d: {"feats": d["feats"]}, r"a key per model input .*Missing: \['tokens'\]"),
    (lambda d: {**d, "feats": d["feats"][:7]},
     r"as many rows for every input .*Received: \{'feats': 7, 'tokens': 32\}"),
    (lambda d: {**d, "feats": d["feats"].tolist()},
     r"Received Python numbers \(a nested list\?\): pass np.asarray\(representative_data\)"),
])
def test_calibration_data_is_checked(two_input_model, change, message, tmp_path):
    data = {"feats": np.zeros((32, 6, 3), "float32"), "tokens": np.zeros((32, 6), "int32")}
    with pytest.raises(ValueError, match=message):
        export.export_litert(two_input_model, tmp_path / "m.tflite", quantize="int8",
                             representative_data=change(data))


def test_int16x8_names_integer_inputs_and_other_arguments_are_checked(two_input_model, tmp_path):
    with pytest.raises(ValueError, match=r"int16x8'` calibrates float inputs.*token ids"):
        export.export_litert(two_input_model, tmp_path / "m.tflite", quantize="INT16X8",
                             representative_data={})
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive int"):
        export.export_litert(two_input_model, tmp_path / "m.tflite", batch_size=0)
    with pytest.raises(ValueError, match=r"`unroll=True` writes the steps of a builtins-only"):
        export.export_litert(two_input_model, tmp_path / "m.tflite", unroll=True,
                             builtins_only=False)


def test_cli_refuses_bad_export_options_before_compressing(tmp_path, capsys):
    from keras_tensor_rnn import cli

    tokens = keras.Input((6,), name="tokens", dtype="int32")
    feats = keras.Input((6, 3), name="feats")
    h = keras.layers.Concatenate()([keras.layers.SimpleRNN(4)(keras.layers.Embedding(20, 4)(tokens)),
                                    keras.layers.GRU(4)(feats)])
    source, out = tmp_path / "two.keras", tmp_path / "small.keras"
    keras.Model({"tokens": tokens, "feats": feats}, keras.layers.Dense(1)(h)).save(source)
    base = ["compress", str(source), "-o", str(out)]
    for extra, message in ((["--rank", "2", "--quantize", "dynamic"],
                            "--quantize applies to the LiteRT file"),
                           (["--budget", "1.5"], "an int >= 1, or a float in (0, 1]"),
                           (["--rank", "2", "--fit-steps", "50"],
                            "--fit-steps sets the output fit on the sample inputs of --x")):
        assert cli.main(base + extra) == 2 and message in capsys.readouterr().err
        assert not out.exists()
    with pytest.raises(SystemExit):  # argparse's exit, with the forms a rank takes
        cli.main(base + ["--rank", "abc"])
    assert "argument --rank: 'abc' is not a rank: an int (e.g. 4)" in capsys.readouterr().err
    # Sample inputs of a model of several inputs: one array per input, by name.
    np.savez(tmp_path / "x.npz", tokens=np.zeros((16, 6), "int32"),
             feats=RNG.standard_normal((16, 6, 3)).astype("float32"))
    assert cli.main(base + ["--rank", "2", "--x", str(tmp_path / "x.npz"), "--fit-steps", "0"]) == 0
    assert "weights-only fit:" in capsys.readouterr().out
