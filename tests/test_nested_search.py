"""The nested-rank search: one training per proposal, every lower rank
scored from it, in a real sqlite MLflow store; resume after a kill."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import mlflow_runs, search_spec

import keras_tensor_rnn as ktr
from keras_tensor_rnn.search import ModelBudget, OwnModelHyperModel
from keras_tensor_rnn.search.nested_strategy import RANKS_PER_TRAINING

pytestmark = pytest.mark.tf_only  # keras-tuner + MLflow runs: once, on the default backend


def nested_spec(tmp_path, **search):
    search = {"strategy": "nested", "max_trials": 2, "epochs": 1, "finetune_epochs": 1, **search}
    spec = search_spec(tmp_path, "nested", ["tt", "cp"], **search)
    spec["space"]["rank"] = [1, 6]
    return spec


@pytest.fixture(scope="module")
def nested_search(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("nested")
    # Latency among the objectives: every scored rank is measured too.
    spec = nested_spec(tmp_path, objectives=["val_accuracy", "params", "latency_ms"])
    return tmp_path, ktr.search.run(spec, verbose=False)


@pytest.mark.xdist_group("nested_search")  # its module fixture, built once
def test_one_run_per_training_and_one_per_scored_rank_none_over_budget(nested_search):
    tmp_path, result = nested_search
    runs = mlflow_runs(tmp_path, "nested")
    trials = {r.info.run_id: r for r in runs if r.data.tags.get("ktr.role") == "trial"}
    ranks = [r for r in runs if r.data.tags.get("ktr.role") == "rank"]
    assert len(trials) == 2 and ranks
    for run in ranks:
        trained = trials[run.data.tags["nested_from"]]
        assert run.data.tags["mlflow.parentRunId"] == trained.info.run_id
        assert run.data.tags["trial_id"] == trained.data.tags["trial_id"]
        assert run.data.metrics["params"] < trained.data.metrics["params"] <= 3000
        assert int(run.data.params["rank"]) < int(trained.data.params["rank"])
        assert "val_accuracy" in run.data.metrics
    # Each training scored every lower rank (at most RANKS_PER_TRAINING), once.
    for trained in trials.values():
        mine = [r for r in ranks if r.data.tags["nested_from"] == trained.info.run_id]
        labels = [r.data.tags["ktr.ranks"] for r in mine]
        top = int(trained.data.params["rank"])
        assert len(labels) == len(set(labels)) == min(top - 1, RANKS_PER_TRAINING)
    parent = next(r for r in runs if r.data.tags.get("ktr.role") == "search")
    assert parent.data.metrics["trials_completed"] == 2
    assert parent.data.metrics["ranks_scored"] == len(ranks)


@pytest.mark.xdist_group("nested_search")  # its module fixture, built once
def test_the_front_is_taken_over_the_scored_ranks(nested_search):
    tmp_path, result = nested_search
    scored = [row for row in result.rows if " " in row["trial"]]
    assert len(result.rows) == 2 + len(scored)
    assert all(row["latency_ms"] > 0 for row in scored)
    assert all(row["params"] <= 3000 for row in result.rows)
    front = {row["trial"] for row in result.front}
    # Nothing off the front beats a front point on both objectives.
    for row in result.rows:
        assert row["trial"] in front or any(
            f["val_accuracy"] >= row["val_accuracy"] and f["params"] <= row["params"]
            for f in result.front)
    assert any(" " in trial for trial in front)  # the smallest models come from scored ranks
    # The table's columns: the trial, the hyperparameters, then what was measured;
    # a scored rank's other evaluation metrics (val_loss) are not hyperparameters.
    header = result.table.splitlines()[0].split()
    assert header[:2] == ["trial", "decomposition"] and "val_loss" not in header
    assert header.index("rank") < header.index("val_accuracy") < header.index("params")
    runs = mlflow_runs(tmp_path, "nested")
    for row in result.front:
        if " " in row["trial"]:
            assert 0.0 <= row["finetuned_val_accuracy"] <= 1.0
            trial_id, label = row["trial"].split()
            (run,) = [r for r in runs if r.data.tags.get("ktr.ranks") == label
                      and r.data.tags.get("trial_id") == trial_id]
            assert run.data.metrics["finetuned_val_accuracy"] == pytest.approx(
                row["finetuned_val_accuracy"], abs=1e-5)
    # A scored rank's count is that of the model it names, truncated from its trial.
    row = min(scored, key=lambda r: r["params"])
    model = result.tuner.load_model(result.tuner.oracle.get_trial(row["trial"].split()[0]))
    small = ktr.truncate(model, row["rank"])
    assert small.count_params() == row["params"]


def test_a_budget_space_raises_every_rank_then_repairs():
    def build_model(hp):
        inputs = keras.Input((10, 4))
        h = ktr.search.recurrent(hp, "lstm", units=[8, 16], decompositions=["tt"], rank=(1, 8),
                                 d=[2], return_sequences=True)(inputs)
        h = ktr.search.recurrent(hp, "gru", units=[8], decompositions=["cp"], rank=(1, 8))(h)
        model = keras.Model(inputs, keras.layers.Dense(2)(h))
        model.compile("adam", "mse")
        return model

    space = ModelBudget(OwnModelHyperModel(build_model, nested_ranks=True), 1500)
    values = {"rnn0/decomposition": "tt", "rnn0/d": 2, "rnn0/rank": 1, "rnn0/units": 16,
              "rnn1/decomposition": "cp", "rnn1/rank": 1}
    top = space.at_largest_ranks(values)
    assert space.fits(top) and top["rnn0/units"] == 16
    assert not space.fits({**top, "rnn0/rank": top["rnn0/rank"] + 1, "rnn1/rank": 8}) or (
        top["rnn0/rank"] == 8)
    points = space.nested_points(top, 5)
    assert len(points) == 5 and points[0]["rnn0/rank"] == points[0]["rnn1/rank"] == 1
    assert all(space.fits(p) for p in points) and top not in points
    layers = [layer for layer in
              ktr.search.recurrent_layers(space.hypermodel.build(space.hp.copy()))]
    assert all(layer.cell.weight_scheme.nested_ranks for layer in layers)


def test_nested_trainings_are_sized_from_the_budget_down_at_their_largest_ranks():
    """Each nested training's largest model is sized to a target: the first
    at the budget, the next spread below it; its units are the largest
    that fit the target at the largest ranks (raised or lowered from the
    oracle's), and below the least units' largest model the rank is capped."""
    from keras_tensor_rnn.search import SearchSpace
    from keras_tensor_rnn.search.oracle import make_oracle

    space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=12000, nested_ranks=True,
                        decompositions=["tt", "cp"], units_choices=[32, 64, 128],
                        d_choices=[2], rank_range=(1, 12))
    oracle = make_oracle("random", space, "val_accuracy", max_trials=9, epochs=1, seed=0,
                         nested=True)
    targets = [oracle.target_size(k) for k in range(9)]
    assert targets[0] == 12000 and targets[1:] != sorted(targets[1:])  # spread, not ordered
    low = space.smallest_count()
    assert all(low <= t <= 12000 for t in targets)
    proposal = {"decomposition": "tt", "d": 2, "rank": 3, "units": 32, "learning_rate": 0.01}
    for target in targets:
        top = space.at_largest_ranks(proposal, target)
        assert space.count_params(top) <= max(target, low)
        if top["rank"] < 12:  # capped: only at the least units
            assert top["units"] == 32
        else:  # the largest units that fit at rank 12
            bigger = [u for u in (32, 64, 128) if u > top["units"]]
            assert not bigger or space.count_params({**top, "units": bigger[0]}) > target
    assert space.at_largest_ranks(proposal, 12000)["units"] == 128  # raised from 32
    assert space.at_largest_ranks(proposal) == {**proposal, "rank": 12}  # no target: its units


def test_a_nested_spec_template_counts_its_state_weights_in_closed_form():
    from keras_tensor_rnn.search import SearchSpace

    space = SearchSpace(input_shape=(10, 4), num_classes=3, budget=5000, num_layers=2,
                        decompositions=["tt", "cp", "dense"], d_choices=[2],
                        units_choices=[8, 16], nested_ranks=True)
    for values in ({"decomposition": "tt", "d": 2, "rank": 3, "units": 16},
                   {"decomposition": "dense", "units": 8}):
        model = space.model({**values, "learning_rate": 0.01})
        assert model.count_params() == space.count_params(values)
    nested = ktr.search.recurrent_layers(space.model({"decomposition": "cp", "rank": 2,
                                                      "units": 8, "learning_rate": 0.01}))
    assert all(layer.cell.weight_scheme.nested_ranks for layer in nested)


@pytest.mark.xdist_group("nested_search")  # its module fixture, built once
def test_a_finished_nested_search_reruns_to_the_same_front(nested_search):
    """Resumed with nothing left to train, the front is the same, its
    fine-tuned values those logged on its ranks' runs (not fine-tuned, nor
    logged, a second time)."""
    import mlflow

    tmp_path, result = nested_search
    spec = nested_spec(tmp_path, objectives=["val_accuracy", "params", "latency_ms"])
    again = ktr.search.run(spec, verbose=False)
    assert again.front == result.front
    assert "2 trials and" in repr(again)
    ranks = [r for r in mlflow_runs(tmp_path, "nested") if "finetuned_val_accuracy" in
             r.data.metrics]
    assert ranks and all(len(mlflow.MlflowClient().get_metric_history(
        r.info.run_id, "finetuned_val_accuracy")) == 1 for r in ranks)


def gru_search(tmp_path, budget, verbose=False, wrapped=False, search=None, **recurrent):
    """A nested search (2 trials of 1 epoch) on a one-GRU ``build_model(hp)``
    (``recurrent``: its ``ktr.search.recurrent`` arguments; ``wrapped``: the
    GRU in a Sequential sub-model, ``encoder``; ``search``: more arguments
    of the search), 64 random sequences."""
    def build_model(hp):
        inputs = keras.Input((10, 4))
        layer = ktr.search.recurrent(hp, "gru", **recurrent)
        if wrapped:
            layer = keras.Sequential([keras.Input((10, 4)), layer], name="encoder")
        model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 10, 4)).astype("float32"), rng.integers(0, 2, 64)
    return ktr.search.run(build_model, x=x, y=y, validation_data=(x, y), budget=budget,
                          strategy="Nested", max_trials=2, epochs=1, verbose=verbose,
                          directory=str(tmp_path / "runs"),
                          tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                          **{"finetune_epochs": 0, "objective": "val_accuracy", **(search or {})})


def test_a_sub_models_tuned_layer_is_scored_and_said_not_fine_tuned(tmp_path, capsys):
    """The tuned GRU inside a sub-model: its ranks are scored and counted as
    the sub-model truncated would count them; ``ktr.truncate`` does not take
    a sub-model's layers out, so the front's ranks are not fine-tuned (the
    console says why), and latency, measured on each rank's own model, is
    refused before the search starts."""
    tuned = dict(units=[8], decompositions=["tt"], rank=(1, 4), d=[2])
    result = gru_search(tmp_path, 5000, verbose=True, wrapped=True,
                        search={"finetune_epochs": 1}, **tuned)
    (trained,) = [row for row in result.rows if " " not in row["trial"]]
    model = result.tuner.load_model(result.tuner.oracle.get_trial(trained["trial"]))
    encoder = model.get_layer("encoder")
    scored = [row for row in result.rows if " " in row["trial"]]
    assert [row["rnn0/rank"] for row in scored] == [1, 2, 3]
    for row in scored:
        small = ktr.truncate(encoder, row["rnn0/rank"])
        assert row["params"] == model.count_params() - encoder.count_params() + \
            small.count_params()
    assert "not fine-tuned: its nested-rank layers sit in sub-model(s) ['encoder']" in \
        capsys.readouterr().out
    with pytest.raises(ValueError, match=r"sub-model\(s\) \['encoder'\] cannot be taken out"):
        gru_search(tmp_path / "latency", 5000, wrapped=True,
                   search={"objectives": ["val_accuracy", "params", "latency_ms"]}, **tuned)
    assert not (tmp_path / "latency").exists()  # refused before the store or any run


def test_proposals_without_a_rank_are_one_point_each(tmp_path):
    result = gru_search(tmp_path, 2000, units=[4, 8], decompositions=["dense", "restricted"])
    assert len(result.rows) == 2 and all(" " not in row["trial"] for row in result.rows)


def test_bad_strategy_and_finetune_epochs_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\[search\] strategy must be one of \('independent', "
                                         r"'nested'\). Received: strategy='nestled'"):
        ktr.search.run(nested_spec(tmp_path), strategy="nestled", verbose=False)
    with pytest.raises(ValueError, match=r"Received: strategy=''"):
        ktr.search.run(nested_spec(tmp_path), strategy="", verbose=False)
    with pytest.raises(ValueError, match=r"finetune_epochs must be an int >= 0. Received: "
                                         r"finetune_epochs=-1"):
        ktr.search.run(nested_spec(tmp_path), finetune_epochs=-1, verbose=False)
    with pytest.raises(ValueError, match=r"Received: finetune_epochs=1.5"):
        ktr.search.run(nested_spec(tmp_path), finetune_epochs=1.5, verbose=False)
    assert not (tmp_path / "mlflow.db").exists()


KILLED = """
import json, os, signal, sys
import keras_tensor_rnn as ktr
from keras_tensor_rnn.search.reporting import ConsoleReporter

scored = ConsoleReporter.ranks_scored
def kill_after_scoring(self, trial, rows):
    scored(self, trial, rows)
    if trial.trial_id == os.environ.get("KTR_KILL"):
        os.kill(os.getpid(), signal.SIGKILL)   # the ranks are logged, the trial is not ended
ConsoleReporter.ranks_scored = kill_after_scoring
ktr.search.run(json.loads(sys.argv[1]), verbose=True, progress=False)
"""


# Trial 0: killed before keras-tuner saved any trial (its tuner file is
# written when a trial ends), so only MLflow knows the search had begun.
@pytest.mark.parametrize("killed", ["0", "1"])
def test_a_nested_search_killed_after_scoring_resumes_and_loses_nothing(tmp_path, killed):
    spec = json.dumps(nested_spec(tmp_path, finetune_epochs=0))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.run([sys.executable, "-c", KILLED, spec], env={**env, "KTR_KILL": killed},
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == -signal.SIGKILL, first.stdout[-3000:] + first.stderr[-3000:]
    before = mlflow_runs(tmp_path, "nested")
    logged = {r.info.run_id for r in before if r.data.tags.get("ktr.role") == "rank"}
    (attempt,) = [r for r in before if r.data.tags.get("trial_id") == killed
                  and r.data.tags.get("ktr.role") == "trial"]
    resumed = subprocess.run([sys.executable, "-c", KILLED, spec], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    runs = mlflow_runs(tmp_path, "nested")
    (parent,) = [r for r in runs if r.data.tags.get("ktr.role") == "search"]  # reopened
    assert parent.info.status == "FINISHED" and "ktr.superseded" not in parent.data.tags
    trials = {r.info.run_id: r for r in runs if r.data.tags.get("ktr.role") == "trial"}
    # The killed attempt keeps its run; the trial ran again in a run of its own.
    assert trials.pop(attempt.info.run_id).info.status == "KILLED"
    assert sorted(r.data.tags["trial_id"] for r in trials.values()) == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in trials.values())
    (again,) = [r for r in trials.values() if r.data.tags.get("resumed") == "true"]
    assert again.data.tags["trial_id"] == killed
    assert again.data.tags["ktr.resumed_from"] == attempt.info.run_id
    ranks = [r for r in runs if r.data.tags.get("ktr.role") == "rank"]
    labels = [(r.data.tags["trial_id"], r.data.tags["ktr.ranks"]) for r in ranks]
    assert len(labels) == len(set(labels))  # the re-run took over its attempt's rank runs
    assert logged <= {r.info.run_id for r in ranks}  # nothing logged before is lost
    assert {r.data.tags["nested_from"] for r in ranks} == set(trials)
    if killed == "1":
        assert "[ktr] trial 0:" not in resumed.stdout  # the finished training is not scored again
    assert np.isfinite([r.data.metrics["val_accuracy"] for r in ranks]).all()


def test_scored_ranks_stop_at_the_rank_a_layer_holds():
    from keras_tensor_rnn.search.nested_strategy import useful_ranks

    def build_model(hp):
        inputs = keras.Input((5, 2))
        # A dense recurrent side: the input side's rank is lowered to what it holds.
        h = ktr.search.recurrent(hp, "gru", units=[4], decompositions=["cp"], rank=(1, 16),
                                 recurrent_decomposition="dense")(inputs)
        return keras.Model(inputs, keras.layers.Dense(2)(h))

    hypermodel = OwnModelHyperModel(build_model, nested_ranks=True)
    hp = hypermodel.discover_space().copy()
    hp.values.update({"rnn0/rank": 16})
    model = hypermodel.build(hp)
    held = ktr.search.recurrent_layers(model)[0].cell.weight_scheme.largest_slot_rank
    assert held < 16
    assert useful_ranks(hypermodel, model, {"rnn0/rank": 16, "rnn0/units": 4}) == {
        "rnn0/rank": held, "rnn0/units": 4}


@pytest.mark.parametrize("weighted", [False, True])
def test_scored_ranks_read_the_validation_data_as_fit_does(weighted):
    """The validation arrays, batched once for every rank, give each rank
    the metrics ``evaluate`` gives (sample weights included, as ``fit``'s
    validation uses them), on a dict input too."""
    from keras_tensor_rnn.search.nested_strategy import evaluated, scoring_data

    rng = np.random.default_rng(0)
    x = {"seq": rng.normal(size=(37, 5, 3)).astype("float32")}
    y, w = rng.integers(0, 2, 37), rng.uniform(0, 2, 37).astype("float32")
    inputs = keras.Input((5, 3), name="seq")
    layer = ktr.layers.TensorizedGRU(4, decomposition="tt", rank=3, nested_ranks=True)
    model = keras.Model({"seq": inputs}, keras.layers.Dense(2)(layer(inputs)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], weighted_metrics=["accuracy"] if weighted else None)
    data = (x, y, w) if weighted else (x, y)
    layer.inference_rank = 2
    expected = model.evaluate(x, y, sample_weight=w if weighted else None, batch_size=8,
                              verbose=0, return_dict=True)
    scored = evaluated(model, scoring_data(data, 8), 8)
    assert scored == pytest.approx({f"val_{k}": v for k, v in expected.items()}, abs=1e-6)


def test_a_trial_recorded_before_a_kill_is_settled_in_mlflow_when_the_search_resumes(
        tmp_path, monkeypatch):
    """Stopped after the oracle recorded trial 0 as completed but before its
    run was closed: keras-tuner will not re-run it, so the resumed search
    gives its run what a finished trial's has (status, best objective), and
    its scored ranks are runs a COMPLETED filter finds too."""
    from keras_tensor_rnn.search.tracking import MLflowTrackingMixin

    spec = nested_spec(tmp_path, max_trials=1, finetune_epochs=0)
    ended = MLflowTrackingMixin._log_trial_end

    def interrupted(self, trial):
        raise KeyboardInterrupt  # as a kill between the oracle's record and the run's end

    monkeypatch.setattr(MLflowTrackingMixin, "_log_trial_end", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ktr.search.run(spec, verbose=False)
    (run,) = [r for r in mlflow_runs(tmp_path, "nested") if r.data.tags.get("ktr.role") == "trial"]
    assert run.data.tags["status"] == "RUNNING" and "best_val_accuracy" not in run.data.metrics
    monkeypatch.setattr(MLflowTrackingMixin, "_log_trial_end", ended)
    result = ktr.search.run(spec, verbose=False)
    assert len(result.rows) > 1
    runs = mlflow_runs(tmp_path, "nested")
    (run,) = [r for r in runs if r.data.tags.get("ktr.role") == "trial"]
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "COMPLETED"
    assert run.data.metrics["best_val_accuracy"] == pytest.approx(result.rows[0]["val_accuracy"],
                                                                  abs=1e-4)
    ranks = [r for r in runs if r.data.tags.get("ktr.role") == "rank"]
    assert ranks and all(r.data.tags["status"] == "COMPLETED" for r in ranks)
    assert all(r.data.metrics["best_val_accuracy"] == r.data.metrics["val_accuracy"]
               for r in ranks)


def test_the_cli_takes_a_strategy_in_any_case_as_the_spec_does():
    from keras_tensor_rnn import cli

    parser = cli.build_parser()
    assert parser.parse_args(["search", "quickstart", "--strategy", "Nested"]).strategy == "nested"
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "quickstart", "--strategy", "sandwich"])


def test_a_space_with_fewer_points_than_max_trials_says_so(tmp_path, capsys):
    """Only the rank is free, and a nested search sets it to its largest:
    one point, so one trial of two, and the console says why."""
    result = gru_search(tmp_path, 5000, verbose=True, units=8, decompositions=["tt"],
                        rank=(1, 3), d=[2])
    assert sum(" " not in row["trial"] for row in result.rows) == 1
    # No latency objective: each rank is counted without being taken out,
    # to what the model taken out measures.
    (trained,) = [row for row in result.rows if " " not in row["trial"]]
    model = result.tuner.load_model(result.tuner.oracle.get_trial(trained["trial"]))
    for row in result.rows:
        if " " in row["trial"]:
            small = ktr.truncate(model, row["rnn0/rank"])
            measured = result.tuner.hypermodel.measure(small, {})
            assert {k: row[k] for k in measured} == pytest.approx(measured, rel=1e-6)
            assert row["params"] == small.count_params()
    assert ("1 trial of max_trials 2: the space has no other point within the budget (a nested "
            "search sets every rank to its largest") in capsys.readouterr().out
