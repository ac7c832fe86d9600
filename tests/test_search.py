"""The budgeted search: sampling, MLflow records, failures, Pareto, specs, CLI."""

import json
from pathlib import Path

import keras
import keras_tuner
import mlflow
import numpy as np
import pytest
from conftest import cli_spec, mlflow_runs, search_spec

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets
from keras_tensor_rnn.search import (
    SearchSpace,
    SearchTuner,
    TensorizedRNNHyperModel,
    load_spec,
    make_oracle,
    pareto_front,
    shipped_specs,
)

pytestmark = pytest.mark.tf_only  # keras-tuner + MLflow runs: once, on the default backend


def tiny_spec(tmp_path, **search):
    return search_spec(tmp_path, "tiny", ["tt", "cp", "restricted"], **search)


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("search")
    result = ktr.search.run(tiny_spec(tmp_path), verbose=False)
    return tmp_path, result


def runs_of(tmp_path, experiment="tiny"):
    return mlflow_runs(tmp_path, experiment)


@pytest.mark.xdist_group("search")  # its module fixture, built once
def test_one_parent_run_and_one_nested_run_per_trial(finished_search):
    tmp_path, result = finished_search
    runs = runs_of(tmp_path)
    parents = [r for r in runs if r.data.tags.get("ktr.role") == "search"]
    trials = [r for r in runs if r.data.tags.get("ktr.role") == "trial"]
    assert len(parents) == 1 and len(trials) == 3 and len(runs) == 4
    parent = parents[0]
    assert parent.info.run_id == result.parent_run_id
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parent.info.run_id}
    assert sorted(r.data.tags["trial_id"] for r in trials) == ["0", "1", "2"]
    client = mlflow.MlflowClient()
    for run in trials:
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "COMPLETED"
        params, metrics = run.data.params, run.data.metrics
        assert params["decomposition"] in ("tt", "cp", "restricted")
        assert {"units", "learning_rate"} <= set(params)
        if params["decomposition"] != "restricted":
            assert {"rank", "d", "kernel_rank", "kernel_in_modes", "kernel_out_modes"} <= set(params)
        assert {"params", "compression", "latency_ms", "best_val_accuracy"} <= set(metrics)
        assert metrics["params"] <= 3000 and metrics["latency_ms"] > 0
        for name in ("loss", "val_accuracy"):  # per-epoch history, the objective's too
            history = client.get_metric_history(run.info.run_id, name)
            assert [m.step for m in history] == [0, 1], name
    assert parent.data.metrics["trials_completed"] == 3
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"pareto.png", "pareto.txt"} <= artifacts


@pytest.mark.xdist_group("search")  # its module fixture, built once
def test_best_model_loads_back_from_mlflow_and_predicts_the_same(finished_search, monkeypatch):
    tmp_path, result = finished_search
    # set_tracking_uri exports MLFLOW_TRACKING_URI; monkeypatch undoes that.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    loaded = mlflow.keras.load_model(result.best_model_uri)
    (x, _), _ = datasets.load_mnist1d(features=4, num_train=32)
    best = result.tuner.get_best_models(1)[0]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), best.predict(x, verbose=0), atol=1e-6)


@pytest.mark.xdist_group("search")  # its module fixture, built once
def test_pareto_front_and_plot_of_the_search(finished_search):
    _, result = finished_search
    assert len(result.rows) == 3 and 1 <= len(result.front) <= 3
    assert result.plot_path.is_file() and result.plot_path.stat().st_size > 1000
    assert "val_accuracy" in result.table and "params" in result.table


# ------------------------------------------------------------------ budget


def budget_space(**kwargs):
    defaults = dict(input_shape=(10, 4), num_classes=10, budget=6000,
                    decompositions=["dense", "tt", "mps", "tr", "cp", "tucker", "bt", "lowrank", "restricted"],
                    rank_range=(1, 16), d_choices=[2], units_choices=[16, 32, 64])
    return SearchSpace(**{**defaults, **kwargs})


def draw_points(kind, n, tmp_path, seed=0, spread=True):
    """Points proposed through the oracle's own protocol (create, report,
    end), without training."""
    space = budget_space()
    oracle = make_oracle(kind, space, objective=keras_tuner.Objective("val_accuracy", "max"),
                         max_trials=n, epochs=27, seed=seed, spread=spread)
    oracle._set_project_dir(str(tmp_path), f"p{seed}")
    hp = oracle.get_space()
    TensorizedRNNHyperModel(space).declare_hyperparameters(hp)
    oracle.update_space(hp)
    rng = np.random.default_rng(0)
    draws = []
    while len(draws) < n:
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        draws.append({k: v for k, v in trial.hyperparameters.values.items()
                      if not k.startswith("tuner/")})
        oracle.update_trial(trial.trial_id, {"val_accuracy": float(rng.random())})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return space, draws


@pytest.mark.parametrize("kind, n", [
    ("random", 200),
    pytest.param("bayesian", 40, marks=pytest.mark.slow),  # CI time: the same repair as random
    ("hyperband", 60)])
def test_sampled_points_never_exceed_the_budget_and_reach_its_boundary(kind, n, tmp_path):
    """None over budget, and the space is not collapsed. Without spread
    targets (which shrink proposals below the budget on purpose: tested in
    test_objectives), repaired proposals land on the budget's boundary."""
    space, draws = draw_points(kind, n, tmp_path, spread=False)
    assert len(draws) >= min(n, 40)
    counts = [space.count_params(d) for d in draws]
    assert max(counts) <= space.budget
    # Not collapsed to a corner: distinct points, several decompositions, and
    # ranks right at the budget boundary (one more would not fit).
    assert len({json.dumps(d, sort_keys=True) for d in draws}) > len(draws) // 2
    assert len({d["decomposition"] for d in draws}) >= 5
    at_boundary = [d for d in draws if "rank" in d and d["rank"] < 16
                   and not space.fits({**d, "rank": d["rank"] + 1})]
    assert len(at_boundary) >= 5
    assert max(counts) > 0.8 * space.budget
    if kind == "random":
        assert {d["decomposition"] for d in draws} == set(space.decompositions)


@pytest.mark.parametrize("kind", ["random", "bayesian"])
def test_seed_zero_repeats_the_search(kind, tmp_path):
    """keras-tuner reads seed=0 as "no seed"; ours (the spec default) repeats."""
    first = draw_points(kind, 30, tmp_path / "a", seed=0)[1]
    assert draw_points(kind, 30, tmp_path / "b", seed=0)[1] == first
    assert draw_points(kind, 30, tmp_path / "c", seed=1)[1] != first


def test_repair_lowers_rank_then_units():
    space = budget_space(budget=2500)
    fixed = space.repair({"decomposition": "tt", "d": 2, "rank": 16, "units": 64,
                          "learning_rate": 0.01})
    assert space.count_params(fixed) <= 2500
    assert not space.fits({**fixed, "rank": fixed["rank"] + 1}) or fixed["rank"] == 16
    dense = space.repair({"decomposition": "dense", "units": 64, "learning_rate": 0.01})
    assert dense["units"] == 16 and space.fits(dense)
    assert budget_space(budget=1000).repair({"decomposition": "dense", "units": 64}) is None


def test_budget_no_configuration_fits_names_the_smallest(tmp_path):
    space = budget_space(budget=50)
    with pytest.raises(ValueError, match=r"smallest feasible model is .* with [\d,]+ parameters"):
        space.check_budget()
    spec = tiny_spec(tmp_path)
    spec["budget"]["max_params"] = 100
    with pytest.raises(ValueError, match="No model in the search space fits the budget of 100"):
        ktr.search.run(spec, verbose=False)
    assert not (tmp_path / "mlflow.db").exists()  # failed before anything was tracked


def test_counts_are_the_built_models_counts():
    space = budget_space()
    for values in ({"decomposition": "tt", "d": 2, "rank": 3, "units": 16},
                   {"decomposition": "restricted", "shared": 0.5, "units": 16},
                   {"decomposition": "dense", "units": 16}):
        model = space.model({**values, "learning_rate": 0.01})
        assert model.count_params() == space.count_params(values)


def test_the_spec_template_is_a_build_model_on_the_one_search_path():
    """A spec's template is a ``build_model(hp)`` made with
    ``ktr.search.recurrent``: the same hyperparameters (names, order,
    conditions) as before, and counting it by building (a user model's
    budget) gives the closed form's counts."""
    from keras_tensor_rnn.search import ModelBudget, OwnModelHyperModel

    space = budget_space(num_layers=2, ranks="per_layer", budget=9000)
    hypermodel = TensorizedRNNHyperModel(space)
    assert isinstance(hypermodel, OwnModelHyperModel)
    declared = {p.name: p for p in hypermodel.discover_space().space}
    assert list(declared) == ["decomposition", "d", "rank_0", "shared", "units", "rank_1",
                              "learning_rate"]
    assert declared["rank_1"].conditions[0].values == space.factorized
    assert declared["shared"].conditions[0].values == ["restricted"]
    built = ModelBudget(OwnModelHyperModel(space.build_model), 9000)
    for values in ({"decomposition": "tt", "d": 2, "rank_0": 5, "rank_1": 2, "units": 32},
                   {"decomposition": "cp", "rank_0": 7, "rank_1": 1, "units": 16},
                   {"decomposition": "restricted", "shared": 0.25, "units": 64},
                   {"decomposition": "dense", "units": 16}):
        assert built.count_params(values) == space.count_params(values)
        assert built.role_keys(values, "rank") == space.role_keys(values, "rank")


def test_per_layer_ranks_in_a_stacked_model():
    space = budget_space(num_layers=2, ranks="per_layer", decompositions=["tt", "cp"],
                         budget=9000)
    values = {"decomposition": "tt", "d": 2, "rank_0": 16, "rank_1": 2, "units": 64,
              "learning_rate": 0.01}
    fixed = space.repair(values)
    assert space.count_params(fixed) <= 9000 and fixed["rank_1"] == min(2, fixed["rank_0"])
    model = space.model(fixed)
    recurrent = [layer for layer in model.layers if isinstance(layer, ktr.layers.TensorizedLSTM)]
    assert [layer.rank for layer in recurrent] == [fixed["rank_0"], fixed["rank_1"]]
    assert model.count_params() == space.count_params(fixed)


# ---------------------------------------------------------------- failures


class FlakyHyperModel(TensorizedRNNHyperModel):
    """Fails in the three ways a real search meets: an exception in user
    model code (cp), out of memory (mps) and a loss that becomes NaN (tr)."""

    def build(self, hp):
        values = hp.values
        if values.get("decomposition") == "cp":
            raise RuntimeError("user model code exploded")
        if values.get("decomposition") == "mps":
            import tensorflow as tf

            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        model = super().build(hp)
        if values.get("decomposition") == "tr":
            kernel = model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))
        return model


FAILURES = {"cp": "user model code exploded", "mps": "Out of memory", "tr": "not finite"}


def test_failing_trials_are_recorded_with_their_reason_and_the_search_continues(tmp_path):
    space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=3000,
                        # tt first: the space's discovery builds its default, which must not fail
                        decompositions=["tt", "cp", "mps", "tr"], rank_range=(1, 2),
                        d_choices=[2], units_choices=[8])
    oracle = make_oracle("random", space, objective=keras_tuner.Objective("val_accuracy", "max"),
                         max_trials=12, epochs=1, seed=0)
    tuner = SearchTuner(oracle=oracle, hypermodel=FlakyHyperModel(space),
                        directory=str(tmp_path / "runs"), project_name="flaky", overwrite=True,
                        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", experiment="flaky")
    (x, y), (xv, yv) = datasets.load_mnist1d(features=4, num_train=128, num_test=64)
    result = tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=64)
    trials = tuner.oracle.trials.values()
    decompositions = {t.trial_id: t.hyperparameters.values["decomposition"] for t in trials}
    statuses = {t.trial_id: t.status for t in trials}
    assert len(statuses) == 12  # every failure was followed by more trials
    assert len(set(decompositions.values())) >= 3  # random sampling: most kinds appear
    assert {statuses[i] for i, d in decompositions.items() if d in FAILURES} == {"FAILED"}
    assert {statuses[i] for i, d in decompositions.items() if d == "tt"} == {"COMPLETED"}
    runs = {r.data.tags["trial_id"]: r for r in runs_of(tmp_path, "flaky")
            if r.data.tags.get("ktr.role") == "trial"}
    assert len(runs) == 12
    for trial_id, decomposition in decompositions.items():
        run = runs[trial_id]
        if decomposition in FAILURES:
            assert run.info.status == "FAILED" and run.data.tags["status"] == "FAILED"
            assert FAILURES[decomposition] in run.data.tags["error"], run.data.tags["error"]
        else:
            assert run.info.status == "FINISHED"
    assert len(result.rows) == sum(d == "tt" for d in decompositions.values())


def test_tensorboard_is_installed_so_no_trial_fails_on_its_import():
    import tensorboard  # noqa: F401  (keras-tuner imports it for every trial)
    from keras_tuner.src.engine import tuner_utils

    assert tuner_utils.TunerCallback is not None


def test_unreachable_tracking_store_fails_fast(tmp_path):
    spec = tiny_spec(tmp_path)
    spec["tracking"]["tracking_uri"] = "http://127.0.0.1:9/"
    with pytest.raises(keras_tuner.errors.FatalError, match="Cannot reach the MLflow tracking"):
        ktr.search.run(spec, verbose=False)
    assert not (tmp_path / "runs").exists()


def test_cli_says_an_unreachable_store_in_one_line(tmp_path, capsys):
    from keras_tensor_rnn import cli

    spec = cli_spec(tmp_path, max_trials=1, epochs=1)
    assert cli.main(["search", str(spec), "--tracking-uri", "http://127.0.0.1:9/", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ktr search: error: Cannot reach the MLflow tracking store")
    assert "Traceback" not in err


# ------------------------------------------------------------------ pareto


def test_pareto_front_on_hand_made_points():
    points = [
        {"id": "a", "acc": 0.90, "params": 1000},
        {"id": "b", "acc": 0.85, "params": 200},
        {"id": "c", "acc": 0.80, "params": 300},   # dominated by b
        {"id": "d", "acc": 0.90, "params": 1500},  # dominated by a (equal acc, more params)
        {"id": "e", "acc": 0.95, "params": 5000},
        {"id": "f", "acc": 0.70, "params": 100},
    ]
    front = pareto_front(points, {"acc": "max", "params": "min"})
    assert [p["id"] for p in front] == ["f", "b", "a", "e"]
    three = pareto_front([{**p, "ms": 1.0} for p in points[:2]] + [{"id": "g", "acc": 0.5,
                          "params": 5000, "ms": 0.1}], {"acc": "max", "params": "min", "ms": "min"})
    assert {p["id"] for p in three} == {"a", "b", "g"}
    with pytest.raises(ValueError, match="'max' or 'min'"):
        pareto_front(points, {"acc": "up"})


# ------------------------------------------------------------------- specs


def test_shipped_specs_are_valid():

    specs = sorted(shipped_specs().values())
    assert {p.stem for p in specs} >= {"quickstart", "mnist_rows", "imdb_reviews", "speech_commands"}
    for path in specs:
        spec = load_spec(path)
        assert spec["dataset"]["name"] in datasets.names()
        assert spec["tracking"]["tracking_uri"]


def _set(section, **values):
    return lambda spec: spec.setdefault(section, {}).update(values)


def _npz_of_two_widths(spec):
    """A dataset file whose validation rows are narrower than its training rows."""
    path = Path(spec["search"]["directory"]).parent / "two_widths.npz"
    labels = np.zeros(8, "int32")
    np.savez(path, x_train=np.zeros((8, 6, 5), "float32"), y_train=labels,
             x_val=np.zeros((8, 6, 4), "float32"), y_val=labels)
    spec["dataset"] = {"path": str(path)}


# The bad-input checklist of docs/errors.md, one test per line:
# (id, spec mutation, run() keywords, what the error must say).
CHECKLIST = [
    ("key-typo", _set("search", max_trails=3), {}, r"Unknown key 'max_trails'.*Did you mean 'max_trials'"),
    ("section-typo", _set("serach"), {}, r"Unknown spec section \[serach\].*Did you mean 'search'"),
    ("negative-trials", _set("search", max_trials=-2), {}, "max_trials must be >= 1"),
    ("negative-trials-api", None, {"max_trials": -1}, "`max_trials` must be >= 1"),
    ("zero-epochs", _set("search", epochs=0), {}, "epochs must be >= 1"),
    ("wrong-type-int", _set("search", epochs="five"), {}, "epochs must be of type int"),
    ("wrong-type-budget", _set("budget", max_params=1.5), {}, "max_params must be of type int"),
    ("wrong-type-list", _set("space", units=64), {}, "units must be of type list"),
    ("unknown-dataset", _set("dataset", name="mnist2d"), {}, r"Unknown dataset 'mnist2d'.*Did you mean 'mnist1d'"),
    ("dataset-option-typo", _set("dataset", featurs=4), {}, r"Unknown option\(s\) \['featurs'\]"),
    ("unknown-decomposition", _set("space", decompositions=["tt", "svd"]), {}, r"Unknown decomposition\(s\) \['svd'\]"),
    ("unknown-oracle", _set("search", oracle="grid"), {}, "`oracle` must be one of"),
    ("unknown-distribution", _set("search", distribution="mirroredd"), {}, r"Unknown distribution 'mirroredd'.*Did you mean 'mirrored'"),
    ("budget-below-any-model", _set("budget", max_params=50), {}, r"No model in the search space fits the budget of 50.*smallest feasible model"),
    ("bad-role", None, {"role": "boss"}, r"`role` must be one of \('chief', 'worker'\)"),
    ("bad-oracle-address", None, {"role": "worker", "oracle_address": "localhost"}, "must be host:port"),
    ("rank-range", _set("space", rank=[5, 2]), {}, r"\[space\] rank must be \[min, max\] with 1 <= min <= max"),
    ("units-not-positive", _set("space", units=[0, 8]), {}, r"\[space\] units must be a non-empty list of positive ints"),
    ("max-params-not-positive", _set("budget", max_params=0), {}, r"\[budget\] max_params must be a positive int"),
    ("objective-not-logged", _set("search", objective="val_acc"), {},
     r"Unknown objective 'val_acc' in \[search\]\. Valid objectives \(the metrics a trial logs\): "
     r"loss, accuracy, val_loss, val_accuracy\. Did you mean 'val_accuracy'\?"),
    ("objectives-typo", _set("search", objectives=["val_accuracy", "latencyms"]), {},
     r"\[search\] objectives: .*Did you mean 'latency_ms'"),
    ("validation-of-another-shape", _npz_of_two_widths, {},
     r"\[dataset\] the validation inputs' rows have shape \(6, 4\), the training inputs' "
     r"\(6, 5\): both splits must have one shape"),
    ("unknown-cell", _set("model", cell="lstmm"), {},
     r"Unknown cell 'lstmm' in \[model\]\. Valid names: gru, lstm, simple_rnn\. Did you mean 'lstm'"),
    ("unknown-budget-scope", _set("budget", scope="recurent"), {},
     r"Unknown scope 'recurent' in \[budget\]\. Valid names: model, recurrent\. Did you mean"),
    ("spec-changed-on-resume", None, {"_resume_changed": True}, r"\[budget\] max_params changed.*--overwrite"),
]


@pytest.mark.parametrize("mutate, kwargs, message", [c[1:] for c in CHECKLIST],
                         ids=[c[0] for c in CHECKLIST])
def test_bad_input_fails_before_training_with_a_clear_error(tmp_path, mutate, kwargs, message):
    spec = tiny_spec(tmp_path)
    if kwargs.pop("_resume_changed", False):
        # A finished project, then the same project with another budget.
        from keras_tensor_rnn.search.runner import record_search

        recorded = load_spec(tiny_spec(tmp_path))
        recorded["model"]["task"], recorded["search"]["objective"] = "classification", "val_accuracy"
        record_search(recorded, tmp_path / "runs" / "tiny")
        spec["budget"]["max_params"] += 1
        with pytest.raises(ValueError, match=message):
            ktr.search.run(spec, verbose=False)
        return
    if mutate:
        mutate(spec)
    with pytest.raises(ValueError, match=message):
        ktr.search.run(spec, verbose=False, **kwargs)
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "mlflow.db").exists()  # the store is not touched either


def test_errors_doc_lists_exactly_the_tested_checklist():
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    doc = doc.split("## Layers, factorizations and compression")[0]
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", doc, flags=re.M)
    assert sorted(listed) == sorted(c[0] for c in CHECKLIST)


def test_tracking_uri_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    spec = tiny_spec(tmp_path)
    del spec["tracking"]["tracking_uri"]
    assert load_spec(spec)["tracking"]["tracking_uri"] == f"sqlite:///{tmp_path}/env.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    assert load_spec(spec)["tracking"]["tracking_uri"] == f"sqlite:///{tmp_path}/mlflow.db"


# --------------------------------------------------------------------- cli


def test_cli_search_runs_a_spec_and_prints_the_front(tmp_path, capsys, monkeypatch):
    from keras_tensor_rnn import cli

    monkeypatch.chdir(tmp_path)
    spec = cli_spec(tmp_path, max_trials=2, epochs=1)
    assert cli.main(["search", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "trial 1 (2/2)" in out and "best so far" in out
    assert (tmp_path / "mlflow.db").is_file()  # the default store, in the working directory
    import os

    assert "MLFLOW_TRACKING_URI" not in os.environ  # not leaked to the next search
    assert cli.main(["search", str(tmp_path / "missing.toml")]) == 2


def test_cli_version_and_help(capsys):
    from keras_tensor_rnn import cli

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert ktr.__version__ in capsys.readouterr().out
    assert cli.main([]) == 0
    assert "search" in capsys.readouterr().out


# -------------------------------------------------------------------- tfds


@pytest.mark.parametrize("name, options, shape, classes", [
    ("mnist", {}, (28, 28), 10),
    ("imdb_reviews", {"vocab_size": 60, "sequence_length": 24}, (24,), 2),
    ("speech_commands", {"frame_length": 320}, (50, 320), 12),
])
def test_tfds_loaders_offline_with_mock_data(name, options, shape, classes):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=16):
        data = datasets.load(name, **options)
    assert data.x_train.shape == (16,) + shape and data.x_val.shape == (16,) + shape
    assert data.num_classes == classes
    assert data.y_train.min() >= 0 and data.y_train.max() < classes
    if name == "imdb_reviews":
        assert data.x_train.dtype == np.int32 and data.x_train.max() < 60
    else:
        assert data.x_train.dtype == np.float32 and np.abs(data.x_train).max() <= 1.0


def test_token_inputs_build_an_embedding_model():
    space = SearchSpace(input_shape=(24,), num_classes=2, vocab_size=60, embedding_dim=8,
                        budget=5000, budget_scope="recurrent", decompositions=["mps"],
                        units_choices=[8], d_choices=[2])
    values = {"decomposition": "mps", "d": 2, "rank": 2, "units": 8, "learning_rate": 0.01}
    model = space.model(values)
    assert isinstance(model.layers[1], keras.layers.Embedding)
    assert model.count_params() == space.count_params(values, scope="model")


def test_quickstart_spec_runs_end_to_end_offline(tmp_path, monkeypatch):
    """The README's main job, on its own spec (fewer trials and epochs)."""

    monkeypatch.chdir(tmp_path)
    result = ktr.search.run("quickstart", max_trials=1, epochs=1, verbose=False)
    assert len(result.rows) == 1 and result.front
    assert all(row["params"] <= 12000 for row in result.rows)
    assert (tmp_path / "mlflow.db").is_file()
    assert (tmp_path / "ktr_runs" / "quickstart" / "pareto.png").is_file()


def test_the_tuner_names_the_hypermodels_it_takes(tmp_path):
    space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=3000)
    oracle = make_oracle("random", space, "val_accuracy", max_trials=1, epochs=1)
    with pytest.raises(TypeError, match="TensorizedRNNHyperModel.*OwnModelHyperModel.*function"):
        SearchTuner(oracle=oracle, hypermodel=lambda hp: None, directory=str(tmp_path))


@pytest.mark.tf_only
def test_a_project_made_by_0_4_before_the_search_was_restructured_resumes(tmp_path, monkeypatch):
    """tests/fixtures/search_0_4: a 2-trial spec search run by the code of
    commit a7ae2d6 (its keras-tuner project: oracle, trials, checkpoints,
    the recorded spec). Raising max_trials resumes it: the two trials are
    kept as they were, one more runs, nothing is refused as a changed spec."""
    import shutil
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "search_0_4"
    shutil.copytree(fixture, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    before = {trial: json.loads((fixture / "runs" / "before" / trial / "trial.json").read_text())
              for trial in ("trial_0", "trial_1")}
    result = ktr.search.run("spec.toml", max_trials=3, verbose=False)
    trials = result.tuner.oracle.trials
    assert sorted(trials) == ["0", "1", "2"]
    for trial_id in ("0", "1"):
        kept = trials[trial_id]
        old = before[f"trial_{trial_id}"]
        assert kept.hyperparameters.values == old["hyperparameters"]["values"]
        assert kept.score == old["score"]
    assert trials["2"].status == "COMPLETED"
    assert result.tuner.oracle.space.fits(trials["2"].hyperparameters.values)


def test_arguments_override_a_specs_values_and_arrays_are_refused_beside_it(monkeypatch):
    """``ktr.search.run(spec, directory=..., ...)``: every argument a spec
    has a key for overrides it (what the trials would run with); arrays
    belong to a ``build_model`` search, not beside a spec."""
    from keras_tensor_rnn.search import runner

    monkeypatch.setattr(runner, "_spec_problem", lambda spec: None)
    monkeypatch.setattr(runner, "_run", lambda spec, *args: spec)
    spec = ktr.search.run("quickstart", directory="elsewhere", project_name="mine", seed=7,
                          budget=9000, oracle="bayesian", batch_size=32, experiment="exp",
                          objective="val_loss", spread=False, register_as="model")
    search = spec["search"]
    assert (search["directory"], search["project_name"], search["seed"], search["oracle"],
            search["batch_size"], search["objective"], search["spread"]) == (
        "elsewhere", "mine", 7, "bayesian", 32, "val_loss", False)
    assert spec["budget"]["max_params"] == 9000
    assert (spec["tracking"]["experiment"], spec["tracking"]["register_as"]) == ("exp", "model")
    kept = ktr.search.run("quickstart")  # nothing given: the spec's own values
    assert (kept["search"]["directory"], kept["search"]["project_name"]) == ("ktr_runs",
                                                                            "quickstart")
    with pytest.raises(ValueError, match=r"`x`, `y` go with your own `build_model\(hp\)`: a "
                                         r"spec's data are its \[dataset\] section"):
        ktr.search.run("quickstart", x=np.zeros((4, 10, 4)), y=np.zeros(4))
    with pytest.raises(ValueError, match=r"\[search\] seed must be of type int. Received: "
                                         r"seed='7'"):
        ktr.search.run("quickstart", seed="7")


@pytest.mark.tf_only
def test_a_search_leaves_op_determinism_as_it_found_it(tmp_path):
    """The search turns TensorFlow's op determinism on while it runs
    (process-wide) and restores it: left on, a later unseeded ``fit`` in
    the same process raised "Random ops require a seed"."""
    from keras_tensor_rnn._private_api import op_determinism

    spec = search_spec(tmp_path, "determinism", ["cp"], max_trials=1, epochs=1)
    try:
        for before in (False, True):
            op_determinism(before)
            ktr.search.run(spec, verbose=False, overwrite=True)
            assert op_determinism() is before
        op_determinism(False)
        model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        model.fit(np.ones((16, 5, 3)), np.ones((16, 2)), batch_size=4, verbose=0)  # shuffles
    finally:
        op_determinism(False)


def test_a_spec_without_a_budget_searches_the_whole_space(tmp_path):
    """`[budget] max_params` left out is no budget (the spec reference's
    None): proposals the units cannot take are still repaired, to the
    largest ranks that are valid."""
    spec = tiny_spec(tmp_path, max_trials=2, epochs=1)
    del spec["budget"]
    spec["space"].update(units=[8], rank=[1, 16], decompositions=["tt", "cp"])
    result = ktr.search.run(spec, verbose=False)
    assert len(result.rows) == 2
    assert result.tuner.oracle.space.budget is None


def test_regression_asked_of_class_labels_gets_a_head_of_the_targets_width(tmp_path):
    """`[model] task = "regression"` on integer labels: one linear output
    (the targets' width), not one per class the labels would make."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 4)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64")
    np.savez(tmp_path / "labels.npz", x_train=x[:48], y_train=y[:48], x_val=x[48:], y_val=y[48:])
    spec = tiny_spec(tmp_path, max_trials=1, epochs=1, objective="val_loss")
    spec["dataset"] = {"path": str(tmp_path / "labels.npz")}
    spec["model"] = {"task": "regression"}
    result = ktr.search.run(spec, verbose=False)
    assert len(result.rows) == 1
    assert result.tuner.oracle.space.num_classes == 1


def test_a_failed_trials_reason_is_the_line_before_tensorflows_op_annotations():
    from keras_tensor_rnn.search.reporting import last_line

    message = ("Traceback (most recent call last):\n  ...\nInvalidArgumentError: Graph execution "
               "error:\n\nIncompatible shapes: [128] vs. [128,2]\n\t [[{{node sub}}]] "
               "[Op:__inference_multi_step_on_iterator_2428]\n")
    assert last_line(message) == "Incompatible shapes: [128] vs. [128,2]"
    assert last_line("ValueError: bad\n") == "ValueError: bad"


def test_a_resume_with_other_epochs_is_refused_and_older_records_are_not(tmp_path):
    """Trials of 1 and of 3 epochs on one front would not compare; a project
    recorded before epochs were recorded resumes as it did."""
    from keras_tensor_rnn.search.runner import check_same_search, record_search

    spec = load_spec(tiny_spec(tmp_path))
    project = tmp_path / "runs" / "tiny"
    record_search(spec, project)
    longer = load_spec(tiny_spec(tmp_path, epochs=3))
    with pytest.raises(ValueError, match=r"\[search\] epochs changed"):
        check_same_search(longer, project)
    recorded = json.loads((project / "ktr_spec.json").read_text())
    del recorded["search"]["epochs"], recorded["search"]["finetune_epochs"]
    (project / "ktr_spec.json").write_text(json.dumps(recorded))
    check_same_search(longer, project)


def test_a_recurrent_budget_says_its_references_count_the_recurrent_layers(tmp_path):
    spec = tiny_spec(tmp_path, max_trials=1, epochs=1)
    spec["budget"]["scope"] = "recurrent"
    result = ktr.search.run(spec, verbose=False)
    assert "dense, same structure: " in result.table
    assert result.table.rstrip().endswith("parameters (recurrent layers)")
