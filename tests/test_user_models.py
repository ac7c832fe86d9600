"""The public API on the models users write (issue: seven crashes found by
models written outside this project). Each test here failed before its fix."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn.layer_samples import sample_layer

RNG = np.random.default_rng(0)


def run_fresh(code: str, cwd) -> str:
    """Run ``code`` in a new Python process that imports only what the code
    imports (as a deployment script would); its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def padded(batch=12, time=7, features=5, seed=0):
    """Sequences with zero padding after each one's length (at least 2)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, features)).astype("float32")
    lengths = rng.integers(2, time + 1, size=batch)
    for row, length in enumerate(lengths):
        x[row, length:] = 0.0
    return x, lengths


# ------------------------------------------------------- 1. loading anew

def test_saved_model_loads_in_a_fresh_process_after_importing_the_package(tmp_path):
    model = keras.Sequential([keras.Input((6, 3)),
                              ktr.layers.TensorizedLSTM(8, rank=2, return_sequences=True),
                              ktr.layers.RestrictedGRU(4), keras.layers.Dense(2)])
    x = RNG.normal(size=(4, 6, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    out = run_fresh("""
        import keras, numpy as np
        import keras_tensor_rnn
        model = keras.models.load_model("m.keras")
        y = model.predict(np.load("x.npy"), verbose=0)
        print(float(np.abs(y - np.load("y.npy")).max()))
    """, tmp_path)
    assert float(out.split()[-1]) < 1e-6


# ------------------------------------------- 2. the first decomposition

@pytest.mark.tf_only
@pytest.mark.parametrize("decompositions", [["dense", "tt"], ["restricted", "tt"],
                                            ["dense", "restricted", "cp"]])
def test_own_model_space_does_not_depend_on_the_order_of_decompositions(decompositions):
    from keras_tensor_rnn.search.own_model import ModelBudget, OwnModelHyperModel

    def build_model(hp):
        model = keras.Sequential([keras.Input((6, 3)), ktr.search.recurrent(
            hp, "lstm", units=[4, 8], decompositions=decompositions), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        return model

    budget = ModelBudget(OwnModelHyperModel(build_model), 2000)
    budget.check_budget()
    assert {"rnn0/decomposition", "rnn0/units"} <= set(budget.ranges)
    ranked = [d for d in decompositions if d not in ("dense", "restricted")]
    assert {"rnn0/rank", "rnn0/d"} <= set(budget.ranges) if ranked else True
    # A rank the 4-unit layer cannot have is repaired, not a crash.
    values = {"rnn0/decomposition": ranked[0], "rnn0/units": 4, "rnn0/rank": 16, "rnn0/d": 2}
    repaired = budget.repair(values)
    assert repaired is not None and repaired["rnn0/rank"] < 16
    assert budget.count_params(repaired) <= 2000


@pytest.mark.tf_only
def test_own_model_space_holds_layers_under_a_users_own_condition():
    from keras_tensor_rnn.search.own_model import ModelBudget, OwnModelHyperModel

    def build_model(hp):
        inputs = keras.Input((6, 3))
        depth = hp.Choice("depth", [1, 2])
        h = ktr.search.recurrent(hp, "gru", units=[4], decompositions=["dense", "cp"],
                                 return_sequences=depth == 2)(inputs)
        with hp.conditional_scope("depth", [2]):
            if depth == 2:
                h = ktr.search.recurrent(hp, "lstm", units=[4, 8], name="second",
                                         decompositions=["restricted", "tt"])(h)
        model = keras.Model(inputs, keras.layers.Dense(1)(h))
        model.compile("adam", "mse")
        return model

    budget = ModelBudget(OwnModelHyperModel(build_model), 5000)
    assert {"depth", "rnn0/rank", "second/decomposition", "second/shared", "second/rank",
            "second/units"} <= set(budget.ranges)
    assert budget.layers == ["rnn0", "second"]
    two = budget.count_params({"depth": 2, "second/decomposition": "tt"})
    assert two > budget.count_params({"depth": 1})


# ----------------------------------------------- 3. masks before the layer

def test_masked_samples_keep_only_real_steps_and_their_states():
    x, lengths = padded()
    model = keras.Sequential([keras.Input((7, 5)), keras.layers.Masking(),
                              keras.layers.LSTM(6), keras.layers.Dense(1)])
    (sample,) = sample_layer(model, model.layers[1], x)
    assert sample.mask.sum() == lengths.sum()
    assert sample.input_rows.shape == (lengths.sum(), 5)
    # h_{t-1} of each real step equals the layer run on the unpadded sequence.
    lstm = model.layers[1]
    copy = keras.layers.LSTM(6, return_sequences=True)
    copy.build((None, None, 5))
    copy.set_weights(lstm.get_weights())
    expected = []
    for row, length in enumerate(lengths):
        h = keras.ops.convert_to_numpy(copy(x[row:row + 1, :length]))[0]
        expected.append(np.concatenate([np.zeros((1, 6), "float32"), h[:-1]]))
    np.testing.assert_allclose(sample.state_rows, np.concatenate(expected), atol=1e-5)


def test_go_backwards_samples_follow_the_processing_order():
    x, lengths = padded(seed=1)
    model = keras.Sequential([keras.Input((7, 5)), keras.layers.Masking(),
                              keras.layers.Bidirectional(keras.layers.GRU(3)),
                              keras.layers.Dense(1)])
    forward, backward = sample_layer(model, model.layers[1], x)
    assert backward.layer.go_backwards
    assert len(backward.state_rows) == len(forward.state_rows) == lengths.sum()
    gru = backward.layer
    copy = keras.layers.GRU(3, return_sequences=True, go_backwards=True)
    copy.build((None, None, 5))
    copy.set_weights(gru.get_weights())
    row, length = 0, lengths[0]
    h = keras.ops.convert_to_numpy(copy(x[row:row + 1, :length]))[0]
    expected = np.concatenate([np.zeros((1, 3), "float32"), h[:-1]])
    np.testing.assert_allclose(backward.state_rows[:length], expected, atol=1e-5)


@pytest.fixture(scope="module")
def masked_models():
    """User-style models whose recurrent layers see masks, several inputs
    or initial states, with sample inputs."""
    x, _ = padded(batch=16)
    tokens = RNG.integers(1, 30, size=(16, 7))
    tokens[:6, 4:] = 0
    masking = keras.Sequential([keras.Input((7, 5)), keras.layers.Masking(),
                                keras.layers.LSTM(8, return_sequences=True),
                                keras.layers.GRU(4), keras.layers.Dense(2)])
    embedding = keras.Sequential([keras.Input((7,), dtype="int32"),
                                  keras.layers.Embedding(30, 6, mask_zero=True),
                                  keras.layers.Bidirectional(keras.layers.SimpleRNN(5)),
                                  keras.layers.Dense(2)])
    series, extra = keras.Input((7, 5)), keras.Input((3,))
    summary = keras.layers.LSTM(6)(series)
    multi = keras.Model([series, extra], keras.layers.Dense(1)(
        keras.layers.Concatenate()([summary, extra])))
    encoder_in, decoder_in = keras.Input((7, 5)), keras.Input((4, 3))
    _, h, c = keras.layers.LSTM(6, return_state=True)(keras.layers.Masking()(encoder_in))
    decoded = keras.layers.LSTM(6, return_sequences=True)(decoder_in, initial_state=[h, c])
    seq2seq = keras.Model([encoder_in, decoder_in], keras.layers.Dense(2)(decoded))
    return {
        "masking": (masking, x),
        "embedding": (embedding, tokens),
        "multi-input": (multi, [x, RNG.normal(size=(16, 3)).astype("float32")]),
        "seq2seq": (seq2seq, [x, RNG.normal(size=(16, 4, 3)).astype("float32")]),
    }


@pytest.mark.parametrize("kind", ["masking", "embedding", "multi-input", "seq2seq"])
def test_compress_at_full_rank_equals_the_original_on_masked_and_multi_input_models(
        masked_models, kind):
    model, x = masked_models[kind]
    full, report = ktr.compress(model, "tt", rank="full", x=x, fit_steps=0)
    np.testing.assert_allclose(full.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)
    assert report.output_error < 1e-5


@pytest.mark.parametrize("kind", ["masking", "seq2seq"])
def test_output_fit_runs_from_the_mask_and_initial_state_the_layer_sees(masked_models, kind):
    from keras_tensor_rnn import output_fit

    model, x = masked_models[kind]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)][-1]
    (sample,) = sample_layer(model, dense, x)
    assert (sample.mask is not None) == (kind == "masking")
    assert (sample.initial_state is not None) == (kind == "seq2seq")
    small, _ = ktr.compress(model, "cp", rank=1, fit="weights")
    before, after = output_fit.fit_outputs(dense, small.get_layer(dense.name), sample.inputs,
                                           steps=30, mask=sample.mask,
                                           initial_state=sample.initial_state)
    assert after < before
    # The error it reports is the compressed layer's on the same call.
    replaced = small.get_layer(dense.name)
    call = dict(mask=sample.mask, initial_state=sample.initial_state)
    ours = keras.ops.convert_to_numpy(replaced(sample.inputs, **call))
    theirs = keras.ops.convert_to_numpy(dense(sample.inputs, **call))
    real = np.ones(ours.shape[:2], bool) if sample.mask is None else sample.mask
    np.testing.assert_allclose(output_fit.relative_error(ours[real], theirs[real]), after,
                               rtol=1e-3)


# ------------------------------------------------ 5. default input names

def test_compress_a_functional_model_with_default_names_built_in_this_process():
    for _ in range(2):  # the second model's input layer is "input_layer_1", etc.
        inputs = keras.Input((6, 3))
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.LSTM(4)(inputs)))
    x = RNG.normal(size=(8, 6, 3)).astype("float32")
    full, _ = ktr.compress(model, "cp", rank="full")
    np.testing.assert_allclose(full.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


# ------------------------------------------------------ 6. any case

@pytest.mark.parametrize("name", ["TT", "Tt", "Restricted", "CP"])
def test_compress_takes_decomposition_names_in_any_case(name):
    model = keras.Sequential([keras.Input((6, 3)), keras.layers.GRU(4), keras.layers.Dense(1)])
    small, report = ktr.compress(model, name, **({} if name == "Restricted" else {"rank": 1}))
    assert small.count_params() == report.params_after < model.count_params()


# ------------------------------------------------------ 7. clear errors

# (The messages of a subclassed model and of a rank the recurrent kernel cannot
# take are in tests/test_user_experience.py's API_CHECKLIST.)


def test_report_columns_stay_apart():
    report = ktr.compression.CompressionReport(
        [ktr.compression.LayerReport("a_long_layer_name", "TensorizedLSTM", 12345, 678,
                                     0.645123, 0.645123, 0.591, 0.939)], 12345, 678, 0.59, None,
        0.93)
    header, row = str(report).splitlines()[:2]
    assert "0.645  0.939 -> 0.591" in row
    assert len(header) == len(row)


def test_numbers_in_search_lines_keep_their_trailing_zeros():
    from keras_tensor_rnn.search.pareto import format_number

    assert [format_number(v) for v in (0.303, 0.2087, 1.0, 12345.0, 7)] == \
        ["0.3030", "0.2087", "1.000", "12,345", "7"]


@pytest.mark.tf_only
def test_litert_export_of_an_input_without_a_time_length_names_time_steps(tmp_path):
    from keras_tensor_rnn import export

    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, keras.layers.Dense(1)(
        ktr.layers.TensorizedGRU(4, rank=2)(inputs)))
    with pytest.raises(ValueError, match="time_steps=") as error:
        export.export_litert(model, tmp_path / "m.tflite")
    assert "builtins_only=False" in str(error.value)
    path = export.export_litert(model, tmp_path / "m.tflite", time_steps=5)
    x = RNG.normal(size=(3, 5, 3)).astype("float32")
    np.testing.assert_allclose(export.litert_predict(path, x), model.predict(x, verbose=0),
                               atol=1e-5)


def _tiny_build_model(hp):
    model = keras.Sequential([keras.Input((6, 3)), ktr.search.recurrent(
        hp, "gru", units=[4], decompositions=["dense", "tt"], rank=(1, 2), d=(2,)),
        keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


@pytest.mark.tf_only
@pytest.mark.parametrize("data", ["dataset", "validation_split"])
def test_own_model_search_takes_datasets_and_validation_split_quietly(tmp_path, data, capsys):
    import tensorflow as tf

    x = RNG.normal(size=(40, 6, 3)).astype("float32")
    y = RNG.normal(size=(40, 1)).astype("float32")
    given = (dict(x=tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(8), y=None,
                  validation_data=tf.data.Dataset.from_tensor_slices((x[32:], y[32:])).batch(8))
             if data == "dataset" else dict(x=x, y=y, validation_split=0.2))
    result = ktr.search.run(_tiny_build_model, **given, budget=500, max_trials=1, epochs=1,
                            tracking_uri=f"sqlite:///{tmp_path}/m.db",
                            directory=str(tmp_path / "runs"), verbose=False)
    assert len(result.rows) == 1 and result.rows[0]["params"] <= 500
    assert "[ktr]" not in capsys.readouterr().out


@pytest.mark.tf_only
def test_hyperband_trial_lines_show_no_missing_total(tmp_path, capsys):
    x = RNG.normal(size=(24, 6, 3)).astype("float32")
    y = RNG.normal(size=(24, 1)).astype("float32")
    ktr.search.run(_tiny_build_model, x=x, y=y, validation_split=0.25, budget=500, epochs=2,
                   oracle="hyperband", tracking_uri=f"sqlite:///{tmp_path}/m.db",
                   directory=str(tmp_path / "runs"), progress=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if "[ktr] trial" in line]
    assert lines and not any("None" in line for line in lines)


# ------------------------------------------ found by a new user's models

@pytest.mark.tf_only
@pytest.mark.parametrize("labels", ["sparse", None])
def test_distillation_on_an_output_per_time_step(labels):
    x = RNG.normal(size=(96, 7, 6)).astype("float32")
    y = RNG.integers(0, 4, size=(96, 7)) if labels else None
    model = keras.Sequential([keras.Input((7, 6)), keras.layers.LSTM(8, return_sequences=True),
                              keras.layers.Dense(4)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    small, report = ktr.compress(model, "tt", rank=2, x=x[:32], fit_steps=0,
                                 fine_tune=(x, y, 1))
    assert report.history["loss"] and small.predict(x[:4], verbose=0).shape == (4, 7, 4)


def test_compress_a_model_of_several_outputs_and_a_stateful_one():
    x = RNG.normal(size=(32, 7, 6)).astype("float32")
    inputs = keras.Input((7, 6))
    h = keras.layers.LSTM(8)(inputs)
    several = keras.Model(inputs, [keras.layers.Dense(3)(h), keras.layers.Dense(1)(h)])
    _, report = ktr.compress(several, "tt", rank="full", x=x, fit_steps=0)
    assert report.output_error < 1e-5
    stateful = keras.Sequential([keras.Input(batch_shape=(8, 7, 6)),
                                 keras.layers.GRU(4, stateful=True), keras.layers.Dense(2)])
    _, report = ktr.compress(stateful, "cp", rank="full", x=x, fit_steps=0,
                             layers=stateful.layers[0].name)  # one name, not a list
    assert report.output_error < 1e-5


@pytest.mark.slow  # CI time (45 s): dict inputs go through LiteRT in test_deploy's calibration
@pytest.mark.tf_only
def test_litert_export_of_a_dict_input_model(tmp_path):
    from keras_tensor_rnn import export

    a, b = keras.Input((5, 3), name="a"), keras.Input((2,), name="b")
    h = ktr.layers.TensorizedGRU(4, rank=2)(a)
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(
        keras.layers.Concatenate()([h, b])))
    path = export.export_litert(model, tmp_path / "m.tflite")

    runner = export.litert_interpreter(path).get_signature_runner()
    x = {"a": RNG.normal(size=(1, 5, 3)).astype("float32"),
         "b": RNG.normal(size=(1, 2)).astype("float32")}
    (out,) = runner(**x).values()
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="signature runner"):
        export.litert_predict(path, [x["a"], x["b"]])


@pytest.mark.tf_only
@pytest.mark.parametrize("recurrent", ["keras", "tt"])
def test_litert_export_of_a_masked_bidirectional_sequence_equals_keras(recurrent, tmp_path):
    """Padded text into Bidirectional(return_sequences=True), then another
    layer: the LiteRT file gives Keras's outputs (the unrolled backward
    layer once zeroed real steps)."""
    from keras_tensor_rnn import export

    inner = (keras.layers.LSTM(6, return_sequences=True) if recurrent == "keras" else
             ktr.layers.TensorizedLSTM(6, rank=2, return_sequences=True))
    model = keras.Sequential([keras.Input((10, 5)), keras.layers.Masking(),
                              keras.layers.Bidirectional(inner), keras.layers.LSTM(6),
                              keras.layers.Dense(2)])
    x, _ = padded(batch=4, time=10, features=5, seed=3)
    x[:, 6:] = 0.0  # every row padded after step 6 at least
    path = export.export_litert(model, tmp_path / "m.tflite")
    on_device = np.concatenate([export.litert_predict(path, row[None]) for row in x])
    np.testing.assert_allclose(on_device, model.predict(x, verbose=0), atol=1e-5)


def test_shipped_specs_load_by_name_from_any_folder(tmp_path, monkeypatch):
    from keras_tensor_rnn.search.spec import load_spec, shipped_specs

    monkeypatch.chdir(tmp_path)
    assert set(shipped_specs()) == {"quickstart", "mnist_rows", "imdb_reviews", "speech_commands"}
    assert load_spec("quickstart")["dataset"]["name"] == "mnist1d"


@pytest.mark.tf_only
def test_distillation_of_a_masked_sequence_pooled_after_the_layer():
    tokens = RNG.integers(1, 50, size=(64, 14))
    tokens[:32, 8:] = 0
    y = RNG.integers(0, 2, size=64)
    inputs = keras.Input((14,), dtype="int32")
    h = keras.layers.Embedding(50, 8, mask_zero=True)(inputs)
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.LSTM(8, return_sequences=True)(h))
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    small, report = ktr.compress(model, "tt", rank=2, fine_tune=(tokens, y, 1))
    assert report.history["loss"] and np.isfinite(report.history["loss"][-1])


@pytest.mark.tf_only
def test_time_steps_on_a_fixed_length_and_the_cli_litert_errors(tmp_path, capsys):
    from keras_tensor_rnn import cli, export

    fixed = keras.Sequential([keras.Input((6, 3)), keras.layers.GRU(4)])
    with pytest.raises(ValueError, match="Leave `time_steps` unset"):
        export.export_litert(fixed, tmp_path / "f.tflite", time_steps=5)
    inputs = keras.Input((None, 3))
    free = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GRU(4)(inputs)))
    free.save(tmp_path / "free.keras")
    code = cli.main(["compress", str(tmp_path / "free.keras"), "--rank", "1", "-o",
                     str(tmp_path / "small.keras"), "--litert", str(tmp_path / "s.tflite")])
    assert code == 2 and "--time-steps" in capsys.readouterr().err
    assert not (tmp_path / "small.keras").exists()  # refused before compressing


def test_fine_tune_fields_are_named_when_misspelt():
    with pytest.raises(ValueError, match=r"Unknown fine_tune field 'epoch'.*Did you mean 'epochs'"):
        ktr.compression.FineTune.parse({"x": None, "epoch": 1})


@pytest.mark.tf_only
@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_distillation_of_a_binary_classifier_learns_the_teachers_output(activation):
    """One sigmoid unit (or one logit, ``from_logits=True``) is two classes
    to distil: the output loss alone (no layer features) moves the student
    towards the teacher (a softmax over one unit has no gradient)."""
    x = RNG.normal(size=(256, 6, 5)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("float32")
    model = keras.Sequential([keras.Input((6, 5)), keras.layers.LSTM(12),
                              keras.layers.Dense(1, activation=activation)])
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=activation is None))
    model.fit(x, y, epochs=3, verbose=0)
    tune = ktr.compression.FineTune(x, None, epochs=3, feature_weight=0.0, validation_split=0.0)
    _, before = ktr.compress(model, "tt", rank=1, d=2, x=x[:64], fit="weights")
    _, after = ktr.compress(model, "tt", rank=1, d=2, x=x[:64], fit="weights", fine_tune=tune)
    assert after.output_error < 0.9 * before.output_error
