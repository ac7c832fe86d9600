"""Compressing trained models and shipping them (SavedModel, LiteRT)."""

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets, export, factorizations

pytestmark = pytest.mark.tf_only  # exporters are TensorFlow's

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}


@pytest.fixture(scope="module")
def data():
    (x, y), (xv, _) = datasets.load_mnist1d(features=8, num_train=256, num_test=64)
    return x, y, xv


def trained(kind, data):
    x, y, _ = data
    keras.utils.set_random_seed(1)
    rnn = CELLS[kind]
    model = keras.Sequential([
        keras.Input((5, 8)),
        rnn(12, return_sequences=True, name="first"),
        keras.layers.Bidirectional(rnn(8), name="bi"),
        keras.layers.Dense(10, name="head"),
    ])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def models(data):
    return {kind: trained(kind, data) for kind in CELLS}


# Every pair runs in the slow run; the default run keeps one cell type per
# decomposition, the cell types taken in turn, so each of both is covered
# (full-rank compression of drawn user models: tests/test_properties.py).
FULL_RANK_CASES = [
    pytest.param(kind, name, id=f"{kind}-{name}",
                 marks=() if kind == list(CELLS)[i % len(CELLS)] else pytest.mark.slow)
    for i, name in enumerate(factorizations.names()) for kind in CELLS]


@pytest.mark.xdist_group("compress")  # its module fixture, built once
@pytest.mark.parametrize("kind, name", FULL_RANK_CASES)
def test_full_rank_compression_reproduces_the_model(kind, name, models, data):
    model = models[kind]
    compressed, report = ktr.compress(model, name, rank="full", d=2, x=data[2])
    np.testing.assert_allclose(compressed.predict(data[2], verbose=0),
                               model.predict(data[2], verbose=0), atol=1e-4)
    assert report.output_error < 1e-5
    assert all(r.kernel_error < 1e-5 and r.recurrent_error < 1e-5 for r in report.layers)
    assert {r.name for r in report.layers} == {"first", "bi"}
    assert type(compressed.get_layer("bi").forward_layer).__name__.startswith("Tensorized")


@pytest.mark.parametrize("name", ["tt", pytest.param("cp", marks=pytest.mark.slow),
                                  pytest.param("tucker", marks=pytest.mark.slow)])
@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_reduced_rank_errors_are_reported_and_monotone(name, models, data):
    errors = []
    for rank in (1, 2, 4):
        compressed, report = ktr.compress(models["lstm"], name, rank=rank, d=2, x=data[2],
                                          fit_steps=0)
        errors.append([r.kernel_error for r in report.layers])
        assert report.params_after < report.params_before
        assert all(r.output_error is not None for r in report.layers)
    for layer in range(2):
        column = [e[layer] for e in errors]
        assert column == sorted(column, reverse=True) and column[-1] < column[0], errors


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_budget_chooses_the_largest_rank_that_fits(models):
    model = models["gru"]
    _, report = ktr.compress(model, "tt", budget=0.5, d=2)
    for r in report.layers:
        assert r.params_after <= 0.5 * r.params_before
    _, report = ktr.compress(model, "tt", budget=600, d=2, layers=["first"])
    assert [r.name for r in report.layers] == ["first"] and report.layers[0].params_after <= 600


def test_an_int_budget_bounds_a_bidirectional_layer_as_a_whole():
    """Its two directions share the budget: the report's one layer is
    within it, as every other replaced layer is."""
    inputs = keras.Input((8, 6))
    h = keras.layers.Bidirectional(keras.layers.LSTM(16, return_sequences=True),
                                   name="bidirectional")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GRU(16)(h)))
    small, report = ktr.compress(model, "cp", budget=400)
    both = small.get_layer("bidirectional")
    forward = both.forward_layer
    larger = type(forward).from_config({**forward.get_config(), "rank": forward.rank + 1})
    assert forward.count_params() <= 200 < larger.count_params_for(6)  # the largest within half
    assert both.count_params() <= 400 and small.layers[-2].count_params() <= 400
    with pytest.raises(ValueError, match=r"No rank of 'cp' fits a budget of 20 parameters "
                                         r"\(2,944 dense, 10 per direction\) for layer "
                                         r"'bidirectional'; rank 1 already has 280\."):
        ktr.compress(model, "cp", budget=20)


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_restricted_compression(models, data):
    model = models["lstm"]
    exact, report = ktr.compress(model, "restricted", shared=0.0, x=data[2])
    assert report.output_error < 1e-5  # nothing shared: a plain LSTM, copied
    half, report = ktr.compress(model, "restricted", shared=0.5, x=data[2], fit_steps=0)
    assert report.params_after < report.params_before
    assert type(half.get_layer("first")).__name__ == "RestrictedLSTM"


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_fine_tuning_uses_the_original_compile_config(models, data):
    x, y, xv = data
    compressed, report = ktr.compress(models["lstm"], "tt", rank=2, d=2, x=xv, fit_steps=0,
                                      fine_tune=(x, y, 1))
    assert np.isfinite(report.history["loss"][-1])
    assert compressed.compiled


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_original_model_is_never_modified(models, data):
    model = models["lstm"]
    before = [w.copy() for w in model.get_weights()]
    ktr.compress(model, "cp", rank=2, d=2, fine_tune=(data[0], data[1], 1))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(model.get_layer("first")) is keras.layers.LSTM


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_bad_input(models):
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="no keras.layers.LSTM, GRU or SimpleRNN"):
        ktr.compress(plain, "tt", rank=2)
    with pytest.raises(ValueError, match=r"Unknown recurrent layer 'frist'.*Did you mean 'first'"):
        ktr.compress(models["lstm"], "tt", rank=2, layers=["frist"])
    with pytest.raises(ValueError, match=r"No rank of 'tt' fits a budget of 10 parameters"):
        ktr.compress(models["lstm"], "tt", budget=10, d=2)
    with pytest.raises(ValueError, match="exactly one of `rank` and `budget`"):
        ktr.compress(models["lstm"], "tt")


# ------------------------------------------------------------------ export


# CI time (50 s): tt in the default run, the others in the slow run (one export path for
# every decomposition; test_properties.py::test_litert_outputs_equal_keras draws more).
@pytest.mark.parametrize("name", ["tt", *(pytest.param(n, marks=pytest.mark.slow)
                                        for n in ("cp", "bt", "restricted"))])
@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_saved_model_and_litert_builtins_match(name, models, data, tmp_path):
    import tensorflow as tf

    model = models["gru"]
    compressed, _ = (ktr.compress(model, "restricted", shared=0.5) if name == "restricted"
                     else ktr.compress(model, name, rank=2, d=2))
    xv = data[2][:8]
    expected = compressed.predict(xv, verbose=0)
    saved = export.export_saved_model(compressed, tmp_path / "sm")
    reloaded = tf.saved_model.load(str(saved))  # keep it alive: it owns the variables
    served = reloaded.serve(xv).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    lite = export.export_litert(compressed, tmp_path / "m.tflite")
    np.testing.assert_allclose(export.litert_predict(lite, xv), expected, atol=1e-5)
    dense_lite = export.export_litert(model, tmp_path / "dense.tflite")
    assert export.file_size(lite) > 0 and export.file_size(dense_lite) > 0


@pytest.mark.parametrize("name", ["tt", "cp"])
def test_litert_file_stores_the_factors_not_the_dense_matrices(name, tmp_path):
    """The LiteRT converter folds whatever is computed from weights alone;
    the export plans every product from the input, so the file holds the
    factors. (Before, at batch 1 the recurrent matrix was rebuilt once per
    sequence, or factors multiplied together before the input, and the file
    was as large as the dense model's.)"""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 256)), keras.layers.LSTM(64), keras.layers.Dense(3)])
    compressed, _ = ktr.compress(model, name, rank=2, d=2)
    dense_bytes = 4 * model.count_params()
    factor_bytes = 4 * compressed.count_params()
    assert 20 * factor_bytes < dense_bytes
    lite = export.export_litert(compressed, tmp_path / "small.tflite")
    x = np.random.default_rng(0).standard_normal((2, 4, 256)).astype("float32")
    np.testing.assert_allclose(export.litert_predict(lite, x), compressed.predict(x, verbose=0),
                               atol=1e-5)
    assert export.file_size(lite) < factor_bytes + LITERT_OVERHEAD < dense_bytes / 4


# A LiteRT file's bytes beyond its weights: the op graph of an unrolled
# 4-step layer and the flatbuffer's tables (measured: 14-20 KB for every decomposition).
LITERT_OVERHEAD = 30_000


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_litert_with_flex_ops_converts(models, tmp_path):
    compressed, _ = ktr.compress(models["lstm"], "tt", rank=2, d=2)
    path = export.export_litert(compressed, tmp_path / "flex.tflite", builtins_only=False)
    assert export.file_size(path) > 1000


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_cli_compress(models, tmp_path, capsys):
    from keras_tensor_rnn import cli

    source = tmp_path / "dense.keras"
    models["lstm"].save(source)
    out = tmp_path / "small.keras"
    code = cli.main(["compress", str(source), "--decomposition", "tt", "--rank", "2", "--d", "2",
                     "-o", str(out), "--litert", str(tmp_path / "small.tflite")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "TensorizedLSTM" in printed and "LiteRT" in printed
    loaded = keras.models.load_model(out)
    assert type(loaded.get_layer("first")).__name__ == "TensorizedLSTM"
    assert cli.main(["compress", str(source), "--layers", "nope", "--rank", "2",
                     "-o", str(out)]) == 2


@pytest.mark.xdist_group("compress")  # its module fixture, built once
def test_cli_compress_fits_on_sample_inputs(models, data, tmp_path, capsys):
    """--x gives the data-aware fit (the report shows both errors), as
    ``ktr.compress(x=...)`` does; a bad file is a clear error."""
    from keras_tensor_rnn import cli

    source, sample = tmp_path / "dense.keras", tmp_path / "x.npz"
    models["lstm"].save(source)
    np.savez(sample, x=data[2])
    out = tmp_path / "small.keras"
    code = cli.main(["compress", str(source), "--rank", "2", "--d", "2", "--x", str(sample),
                     "--fit-steps", "0", "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "weights-only fit:" in printed  # the data fit ran and reports the weights fit beside
    expected, _ = ktr.compress(models["lstm"], "tt", rank=2, d=2, x=data[2], fit_steps=0)
    assert keras.models.load_model(out).count_params() == expected.count_params()
    (tmp_path / "bad.npy").write_text("not an array")
    assert cli.main(["compress", str(source), "--rank", "2", "--x", str(tmp_path / "bad.npy"),
                     "-o", str(out)]) == 2
    assert "Could not read sample inputs" in capsys.readouterr().err


@pytest.mark.slow  # CI time (36 s): each of its steps is a test of test_compress*.py
def test_compress_example_quick(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "compress_lstm.py"
    spec = importlib.util.spec_from_file_location("compress_lstm", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--quick", "--decompositions", "tt", "--output",
                            str(tmp_path / "out.json")])
    assert (tmp_path / "out.json").is_file()
    assert results["compressed"]["params"] < results["dense"]["params"] / 5
    steps = results["steps"]["tt"]
    assert list(steps) == list(example.STEPS)
    assert all(0 <= s["accuracy"] <= 1 for s in steps.values())
    # Allocation shares the same budget over the layer's two sides.
    assert steps["+ rank allocation"]["params"] <= results["dense"]["params"]
