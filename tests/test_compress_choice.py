"""``decomposition="auto"``, the defaults that follow the data's size, and a
quiet ``compress``."""

import logging
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn import cli, datasets, output_fit, predictions
from keras_tensor_rnn.compression import FineTune, auto

# compress's logic is backend-neutral and runs under JAX in test_user_models.py;
# the retracing warning is TensorFlow's.
pytestmark = pytest.mark.tf_only

BUDGET = 0.3


@pytest.fixture(scope="module")
def data():
    (x, y), _ = datasets.load_mnist1d(features=4, num_train=512, num_test=16)
    return x, y


@pytest.fixture(scope="module")
def model(data):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((10, 4)), keras.layers.LSTM(16, name="rnn"),
                              keras.layers.Dense(10, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(*data, epochs=2, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def chosen(model, data):
    keras.utils.set_random_seed(0)
    return ktr.compress(model, ["tt", "CP", "lowrank"], budget=BUDGET, x=data[0][:96],
                        fit_steps=0)


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_auto_keeps_the_candidate_with_the_lowest_output_error(chosen):
    small, report = chosen
    table = report.candidates
    assert list(table) == ["tt", "cp", "lowrank"]
    errors = {name: row["output_error"] for name, row in table.items()}
    assert report.decomposition == min(errors, key=errors.get)
    assert small.get_layer("rnn").decomposition == report.decomposition
    assert f"{report.decomposition} {errors[report.decomposition]:.3g} (chosen)" in str(report)


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
@pytest.mark.parametrize("name", ["tt", "cp", "lowrank"])
def test_auto_reports_each_candidates_own_fit(name, chosen, model, data):
    """A candidate's reported error and size are what compress gives for it
    alone with the same fit (here the products fit: deterministic)."""
    row = chosen[1].candidates[name]
    _, alone = ktr.compress(model, name, budget=BUDGET, x=data[0][:96], fit_steps=0)
    assert row["output_error"] == pytest.approx(alone.output_error, rel=1e-3)
    assert row["params"] == sum(layer.params_after for layer in alone.layers)
    assert row["params"] <= BUDGET * model.get_layer("rnn").count_params()


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_auto_tries_candidates_with_a_short_output_fit(chosen, model, data):
    """By default each candidate gets TRIAL_STEPS of the output fit, which
    only ever lowers its error from the products fit's."""
    assert [auto.trial_steps(s) for s in (None, 0, 50, 10**4)] == [auto.TRIAL_STEPS, 0, 50,
                                                                    auto.TRIAL_STEPS]
    _, report = ktr.compress(model, ["tt", "lowrank"], budget=BUDGET, x=data[0][:96],
                             fit_steps=20)
    for name, row in report.candidates.items():
        assert row["output_error"] < chosen[1].candidates[name]["output_error"]


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_a_chosen_candidate_fit_with_the_steps_asked_for_is_not_converted_again(
        model, data, monkeypatch):
    """``fit_steps`` up to TRIAL_STEPS: each candidate's trial is the whole
    fit, so the chosen one's is the result (one conversion per candidate,
    not one more), its error the one its candidate row reports. (With more
    steps, or the default, the chosen one is fit again with them.)"""
    from keras_tensor_rnn.compression import convert

    calls, plans = [], []
    converted, make_plan = convert._converted, convert.make_plan
    monkeypatch.setattr(convert, "_converted", lambda *a: calls.append(a) or converted(*a))
    monkeypatch.setattr(convert, "make_plan", lambda *a: plans.append(a) or make_plan(*a))
    small, report = ktr.compress(model, ["tt", "lowrank"], budget=BUDGET, x=data[0][:64],
                                 fit_steps=5)
    assert len(calls) == len(plans) == 2  # nor planned again (a sensitivity allocation)
    assert report.output_error == report.candidates[report.decomposition]["output_error"]


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
@pytest.mark.parametrize("name", ["tt", "cp", "lowrank"])
def test_the_data_fit_never_ends_farther_from_the_model_than_the_weights_fit(name, model, data):
    _, report = ktr.compress(model, name, budget=BUDGET, x=data[0][:64], fit_steps=5)
    assert report.output_error <= report.weights_fit_output_error


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_the_default_decomposition_is_auto_given_a_budget_and_sample_inputs(model, data,
                                                                          monkeypatch):
    """``decomposition=None`` chooses by the data where there is data and a
    size to choose at; without them it is tt (and says nothing of a choice).
    (Two candidates instead of seven, for time.)"""
    monkeypatch.setattr(auto, "CANDIDATES", ("tt", "lowrank"))
    _, chosen = ktr.compress(model, budget=BUDGET, x=data[0][:32], fit_steps=0)
    assert list(chosen.candidates) == list(auto.CANDIDATES)
    errors = {n: r["output_error"] for n, r in chosen.candidates.items() if "output_error" in r}
    assert chosen.decomposition == min(errors, key=errors.get)
    for arguments in (dict(rank=2), dict(budget=BUDGET), dict(rank=2, x=data[0][:32])):
        small, report = ktr.compress(model, fit_steps=0, **arguments)
        assert report.decomposition == auto.WITHOUT_DATA == "tt" and report.candidates is None
        assert small.get_layer("rnn").decomposition == "tt"
    assert auto.resolve_default("cp", rank=None, budget=0.1, x=data[0]) == "cp"


@pytest.fixture(scope="module")
def narrow_model():
    """One feature per step: the input kernel is a small part of the layer."""
    keras.utils.set_random_seed(4)
    x = np.cumsum(np.random.default_rng(4).normal(size=(256, 12, 1)), axis=1).astype("float32")
    model = keras.Sequential([keras.Input((12, 1)), keras.layers.LSTM(16, name="rnn"),
                              keras.layers.Dense(3, name="head")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, (x[:, -1, 0] > 0).astype("int32") + (x[:, -1, 0] > 2), epochs=1, verbose=0)
    return model, x


def test_a_dense_input_side_with_a_factorized_recurrent_side_meets_a_budget(narrow_model):
    model, x = narrow_model
    dense_count = model.get_layer("rnn").count_params()
    small, report = ktr.compress(model, "dense", recurrent_decomposition="cp", budget=0.25,
                                 x=x[:64], fit_steps=0)
    layer = small.get_layer("rnn")
    assert layer.count_params() <= 0.25 * dense_count
    assert report.layers[0].kernel_error < 1e-6  # the input kernel is kept as it was
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.cell.dense_kernels()[0]),
                               keras.ops.convert_to_numpy(model.get_layer("rnn").cell.kernel),
                               atol=1e-6)
    # One rank more would not fit: the largest that does was chosen.
    config = {**layer.get_config(), "rank": layer.get_config()["rank"] + 1}
    assert type(layer).from_config(config).count_params_for(1) > 0.25 * dense_count


def test_dense_plus_names_the_two_sides(narrow_model):
    model, x = narrow_model
    chosen, report = ktr.compress(model, ["cp", "dense+cp"], budget=0.25, x=x[:32], fit_steps=0)
    errors = {name: row["output_error"] for name, row in report.candidates.items()}
    assert report.decomposition == min(errors, key=errors.get)
    layer = chosen.get_layer("rnn")
    assert auto.joined(layer.decomposition, layer.get_config()["recurrent_decomposition"]) == (
        report.decomposition)
    small, report = ktr.compress(model, "Dense+CP", rank=2)
    layer = small.get_layer("rnn")
    assert (layer.decomposition, layer.get_config()["recurrent_decomposition"]) == ("dense", "cp")
    assert report.decomposition == "dense+cp" and ", dense+cp" in str(report)
    _, same = ktr.compress(model, "dense", recurrent_decomposition="cp", rank=2)
    assert same.decomposition == "dense+cp" and same.params_after == report.params_after
    for arguments, words in [
            (dict(decomposition="dense+tuker"), "Unknown decomposition 'tuker' in 'dense\\+tuker'"),
            (dict(decomposition="dense+cp", recurrent_decomposition="tt"), "not both"),
            (dict(decomposition="dense", budget=0.3, rank=None), "'dense\\+cp' \\(or recurrent_"),
            (dict(decomposition=["dense+dense"], budget=0.3, rank=None, x=np.zeros((2, 12, 1))),
             "or a dense input side with one of them on the recurrent side \\('dense\\+cp'\\)")]:
        with pytest.raises(ValueError, match=words):
            ktr.compress(model, **{"rank": 2, **arguments})


def test_cli_budget_reads_a_point_as_a_fraction():
    assert [cli._parse_budget(t) for t in ("1.0", "0.05", "5000", "1")] == [1.0, 0.05, 5000, 1]
    with pytest.raises(Exception, match="neither a number of parameters"):
        cli._parse_budget("5%")


def test_names_of_two_sides():
    assert auto.sides("dense+cp") == ("dense", "cp") and auto.sides("cp") == ("cp", None)
    assert auto.joined("dense", "cp") == "dense+cp" and auto.joined("cp", "cp") == "cp"
    assert auto.joined("tt", None) == "tt"
    assert auto.candidates_of(["dense+CP", "tt"]) == ("dense+cp", "tt")
    with pytest.raises(ValueError, match="Unknown decomposition 'cq' in 'dense\\+cq' in the list"):
        auto.candidates_of(["dense+cq"])


def test_auto_lists_every_candidate_by_default():
    assert auto.candidates_of("auto") == ("tt", "mps", "tr", "cp", "tucker", "bt", "lowrank")
    assert auto.candidates_of(["cp", "tt", "cp"]) == ("cp", "tt")


@pytest.mark.parametrize("arguments, words", [
    (dict(rank=4, budget=None), "give `budget`"),
    (dict(budget=0.3, x=None), "pass them as `x`"),
    (dict(decomposition=["tt", "restricted"]), "each must have a rank"),
    (dict(decomposition=[]), "The list of decompositions to choose among is empty"),
    (dict(decomposition="atuo"), "Did you mean 'auto'"),
    (dict(budget=1.5), "an int >= 1, or a float in"),
    (dict(budget=20), "No candidate decomposition fits the budget. tt: No rank"),
    # Said as themselves, not as "no candidate fits":
    (dict(fit_steps=-1), "`fit_steps` is the number of optimizer steps"),
    (dict(budget="20%"), "`budget` is the most parameters"),
])
@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_auto_bad_input(arguments, words, model, data):
    given = dict(decomposition="auto", budget=BUDGET, x=data[0][:32], fit_steps=0)
    with pytest.raises(ValueError, match=words):
        ktr.compress(model, **{**given, **arguments})


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_cli_compress_auto(model, data, tmp_path, capsys):
    model.save(tmp_path / "dense.keras")
    np.save(tmp_path / "x.npy", data[0][:64])
    code = cli.main(["compress", str(tmp_path / "dense.keras"), "-o", str(tmp_path / "s.keras"),
                     "--decomposition", "tt,lowrank", "--budget", "0.3", "--x",
                     str(tmp_path / "x.npy"), "--fit-steps", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "decomposition chosen by output error on x: tt " in out and "(chosen)" in out
    assert "lowrank " in out.splitlines()[-2] and "mps" not in out


@pytest.mark.parametrize("sequences, steps", [(1, 200), (96, 200), (97, 256), (270, 576),
                                              (992, 1984), (993, 2000), (10**6, 2000)])
def test_output_fit_steps_follow_the_sample_size(sequences, steps):
    assert output_fit.steps_for(sequences) == steps


@pytest.mark.parametrize("rows, split", [(1999, 0.0), (2000, 0.1), (50_000, 0.1)])
def test_distillation_holds_out_a_tenth_from_2000_rows(rows, split):
    assert FineTune(None).split_for(rows) == split
    assert FineTune(None, validation_split=0.25).split_for(rows) == 0.25


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
@pytest.mark.parametrize("rows, stops_early", [(1999, False), (2000, True)])
def test_distillation_stops_early_only_on_enough_rows(rows, stops_early, model, data):
    x = np.resize(data[0], (rows, *data[0].shape[1:]))
    _, report = ktr.compress(model, "tt", budget=BUDGET, fine_tune=(x, None, 1))
    assert ("val_loss" in report.history) == stops_early


@pytest.mark.parametrize("field, value, valid", [
    ("epochs", 1.5, "an int >= 1"), ("temperature", 0, "a number > 0"),
    ("learning_rate", -1.0, "None or a number > 0"), ("learning_rate", "1e-3", "None or a number"),
    ("label_weight", -1, "None or a number >= 0"), ("feature_weight", None, "a number >= 0"),
    ("validation_split", 1.0, r"None or a fraction in \[0, 1\)"),
    ("patience", -1, "an int >= 0"), ("batch_size", 0, "None or an int >= 1")])
def test_fine_tune_fields_are_checked(field, value, valid):
    with pytest.raises(ValueError, match=f"`fine_tune`'s {field} must be {valid}"):
        FineTune(None, **{field: value}).checked()
    tune = FineTune(None, epochs=np.int64(2), learning_rate=1e-3, label_weight=0,
                    feature_weight=0.0, validation_split=0, patience=0, batch_size=8)
    assert tune.checked() is tune


@pytest.mark.parametrize("time_steps, rate", [(1, 3e-3), (64, 3e-3), (65, 3e-3 * 64 / 65),
                                               (427, 3e-3 * 64 / 427)])
def test_distillation_rate_is_lower_beyond_64_steps(time_steps, rate):
    assert FineTune(None).learning_rate_for(3e-3, time_steps) == pytest.approx(rate, rel=1e-12)
    assert FineTune(None, learning_rate=1e-2).learning_rate_for(3e-3, time_steps) == 1e-2


@pytest.mark.parametrize("with_x", [True, False])
def test_distillation_reads_the_longest_sequence_a_layer_takes(monkeypatch, with_x):
    """The rate follows the replaced layers' own sequences (here a
    Conv1D halves 260 steps to 130), read from ``x``'s samples or, without
    ``x``, from the fine-tuning inputs."""
    from keras_tensor_rnn.compression import distill

    starts, scheduled = [], distill._scheduled_optimizer

    def spy(config, options, steps, time_steps):
        optimizer = scheduled(config, options, steps, time_steps)
        starts.append((time_steps, float(keras.ops.convert_to_numpy(optimizer.learning_rate))))
        return optimizer

    monkeypatch.setattr(distill, "_scheduled_optimizer", spy)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 2)), keras.layers.Conv1D(3, 2, strides=2),
                              keras.layers.LSTM(8, name="rnn"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    x = np.random.default_rng(0).standard_normal((8, 260, 2)).astype("float32")
    ktr.compress(model, "tt", rank=2, x=x if with_x else None, fit_steps=0,
                 fine_tune=(x, None, 1))
    assert starts == [(130, pytest.approx(2e-3 * 64 / 130))]


def test_quiet_retracing_drops_only_that_warning():
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = logging.getLogger("tensorflow")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        with predictions.quiet_retracing():
            logger.warning("5 out of the last 5 calls to f triggered tf.function retracing.")
            logger.warning("something else")
        logger.warning("after: 5 calls triggered tf.function retracing.")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    expected = ["something else", "after: 5 calls triggered tf.function retracing."]
    assert seen == (expected if keras.backend.backend() == "tensorflow" else
                    ["5 out of the last 5 calls to f triggered tf.function retracing.", *expected])


@pytest.mark.xdist_group("compress_choice")  # its module fixture, built once
def test_predict_pads_to_equal_batches(model, data):
    x = data[0][:300]
    assert predictions.batch_for(300) == 150 and predictions.batch_for(513) == 171
    np.testing.assert_allclose(predictions.predict(model, x), model.predict(x, verbose=0),
                               atol=1e-6)


# In the slow run (about 50 s: a fresh process and three compressions with
# fine-tuning). The default run keeps the filter that hides the warning
# (test_quiet_retracing_drops_only_that_warning above) and the padding to
# equal batches that avoids retraces (test_predict_pads_to_equal_batches).
@pytest.mark.slow
def test_compress_prints_no_retracing_warning(tmp_path):
    """A user's loop of compressions, in a fresh process: nothing from
    TensorFlow's retracing detector on either stream."""
    script = textwrap.dedent("""
        import keras, numpy as np
        import keras_tensor_rnn as ktr
        rng = np.random.default_rng(0)
        x = rng.normal(size=(300, 12, 6)).astype("float32")
        y = rng.integers(0, 3, 300)
        inputs = keras.Input((12, 6))
        h = keras.layers.LSTM(16)(keras.layers.Masking(0.0)(inputs))
        model = keras.Model(inputs, keras.layers.Dense(3)(h))
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=1, verbose=0)
        for name in ("tt", ["tt", "cp"]):
            ktr.compress(model, name, budget=0.3, x=x[:200], fit_steps=5,
                         fine_tune=(x, y, 1))
        print("done")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done" in done.stdout
    assert "retracing" not in done.stdout + done.stderr
