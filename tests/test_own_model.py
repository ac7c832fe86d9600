"""The budgeted search on a user's own build_model(hp): budget over the whole
model, repair to the boundary, keras-tuner's oracles, MLflow runs."""

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn.search import ModelBudget, OwnModelHyperModel, recurrent
from keras_tensor_rnn.search.runner import objective_direction

pytestmark = pytest.mark.tf_only  # the search needs TensorFlow (keras-tuner's trials)

BUDGET = 1500


def build_model(hp):
    """A user-style model: a Conv1D front end, two recurrent layers, attention,
    a regression head."""
    inputs = keras.Input((12, 5))
    h = keras.layers.Conv1D(8, 3, padding="same", activation="relu")(inputs)
    h = recurrent(hp, "lstm", units=[8, 16, 32], decompositions=["tt", "cp", "restricted"],
                  rank=(1, 6), d=[2], return_sequences=True)(h)
    h = recurrent(hp, "gru", units=[8, 16], decompositions=["mps", "lowrank", "dense"], rank=(1, 4), d=[2],
                  return_sequences=True)(h)
    h = keras.layers.Attention()([h, h])
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")),
                  "mse", metrics=["mae"])
    return model


@pytest.fixture(scope="module")
def budget():
    return ModelBudget(OwnModelHyperModel(build_model), BUDGET)


def test_recurrent_names_its_hyperparameters_after_the_layer(budget):
    names = {p.name for p in budget.hp.space}
    assert {"rnn0/decomposition", "rnn0/rank", "rnn0/d", "rnn0/shared", "rnn0/units",
            "rnn1/decomposition", "rnn1/rank", "rnn1/units", "learning_rate"} <= names
    assert budget.layers == ["rnn0", "rnn1"]


def test_repair_reaches_the_budget_boundary(budget):
    largest = {"rnn0/decomposition": "tt", "rnn0/d": 2, "rnn0/rank": 6, "rnn0/units": 32,
               "rnn1/decomposition": "mps", "rnn1/d": 2, "rnn1/rank": 4, "rnn1/units": 16}
    assert budget.count_params(largest) > BUDGET
    fixed = budget.repair(largest)
    assert budget.count_params(fixed) <= BUDGET
    # Ranks were lowered first: one more on the common cap would not fit.
    cap = max(fixed["rnn0/rank"], fixed["rnn1/rank"])
    higher = {**fixed, **{k: min(largest[k], cap + 1) for k in ("rnn0/rank", "rnn1/rank")}}
    assert higher == fixed or budget.count_params(higher) > BUDGET
    # A proposal that fits is kept as it is.
    small = {**largest, "rnn0/rank": 1, "rnn0/units": 8, "rnn1/rank": 1, "rnn1/units": 8}
    assert budget.repair(small) == small


def test_the_largest_dense_reference_is_the_largest_combination_of_units(budget):
    """Not one cap on every layer's units: (32, 8) may fit where (16, 16) does not."""
    dense = budget.dense_equivalent({"rnn0/decomposition": "tt", "rnn0/d": 2, "rnn0/rank": 2,
                                     "rnn0/units": 8, "rnn1/decomposition": "mps", "rnn1/d": 2,
                                     "rnn1/rank": 2, "rnn1/units": 8})
    counts = {(a, b): budget.count_params({**dense, "rnn0/units": a, "rnn1/units": b})
              for a in (8, 16, 32) for b in (8, 16)}
    best = max(count for count in counts.values() if count <= 2500)
    assert best > counts[8, 8]  # (16, 16) is over 2,500, a combination is not
    wide = ModelBudget(OwnModelHyperModel(build_model), 2500)
    assert wide.dense_references(dense)["largest dense within budget"] == best
    # Past the combinations' limit, the climb ends where no single raise fits.
    climbed = wide.largest_dense(dense, limit=1)
    assert wide.fits(climbed) and not any(
        wide.fits({**climbed, key: up}) for key, up in (("rnn0/units", 2 * climbed["rnn0/units"]),
                                                         ("rnn1/units", 2 * climbed["rnn1/units"]))
        if up <= {"rnn0/units": 32, "rnn1/units": 16}[key])


def test_a_numpy_integer_budget_is_a_budget():
    budget = ModelBudget(OwnModelHyperModel(build_model), np.int64(BUDGET)).budget
    assert budget == BUDGET and type(budget) is int


def test_a_budget_nothing_fits_fails_before_training():
    with pytest.raises(ValueError, match=r"No configuration of `build_model` fits the budget of 100"):
        ModelBudget(OwnModelHyperModel(build_model), 100).check_budget()


def test_the_smallest_model_is_sought_over_every_mode_depth():
    """tt at 16 units and rank 1 is smaller at d=3 than at d=2 (the
    default d choices are both): a budget between the two fits."""
    def flat(hp):
        inputs = keras.Input((10, 4))
        h = recurrent(hp, "lstm", units=[16, 32], decompositions=["tt"], rank=(1, 4))(inputs)
        model = keras.Model(inputs, keras.layers.Dense(10)(h))
        model.compile("adam", "mse")
        return model

    space = ModelBudget(OwnModelHyperModel(flat), 330)
    values, params = space.smallest_configuration()
    at_two = space.count_params({**values, "rnn0/d": 2})
    assert values["rnn0/d"] == 3 and params < 330 < at_two
    space.check_budget()


@pytest.mark.parametrize("oracle", ["random", pytest.param("bayesian", marks=pytest.mark.slow)])
def test_search_on_own_model_every_trial_within_budget_one_run_each(tmp_path, oracle):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 12, 5)).astype("float32")
    y = x[:, :, 0].sum(1, keepdims=True).astype("float32")
    result = ktr.search.run(build_model, x=x, y=y, validation_data=(x[:32], y[:32]),
                            budget=BUDGET, objective="val_loss", max_trials=3, epochs=1, seed=2,
                            oracle=oracle, directory=str(tmp_path / "runs"),
                            tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", verbose=False)
    assert len(result.rows) == 3
    assert result.tuner.oracle.objective.direction == "min"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("ktr-build_model").experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags.get("ktr.role") == "search"]
    trials = [r for r in runs if r.data.tags.get("ktr.role") == "trial"]
    assert len(parents) == 1 and len(trials) == 3
    for run in trials:
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.metrics["params"] <= BUDGET
        assert run.data.metrics["recurrent_params"] < run.data.metrics["params"]
        assert run.info.run_name.split()[1:2] == ["rnn0"], (run.info.run_name, run.data.params)


def small_model(features):
    def build(hp):
        inputs = keras.Input((12, features))
        h = recurrent(hp, "gru", units=[4], decompositions=["tt"], rank=(1, 2), d=[2])(inputs)
        model = keras.Model(inputs, keras.layers.Dense(3)(h))
        model.compile("adam", "mse")
        return model

    return build


def test_a_resume_with_another_build_model_or_other_data_is_refused(tmp_path):
    """The same function and data resume (nothing left to run); other units
    choices, another head, or other labels would mix trials of two searches."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 12, 2)).astype("float32")
    y = x[:, :2, 0]

    def units_of(choices, activation=None):
        def build(hp):
            inputs = keras.Input((12, 2))
            h = recurrent(hp, "gru", units=choices, decompositions=["dense"])(inputs)
            model = keras.Model(inputs, keras.layers.Dense(2, activation=activation)(h))
            model.compile("adam", "mse")
            return model
        return build

    def search(build, labels):
        return ktr.search.run(build, x=x, y=labels, validation_split=0.25, max_trials=1, epochs=1,
                              project_name="same", directory=str(tmp_path / "runs"),
                              tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", verbose=False)

    first = search(units_of([4, 8]), y)
    assert search(units_of([4, 8]), y).best_trial_id == first.best_trial_id
    for build, labels, changed in ((units_of([4, 12]), y, r"\[build_model\] hyperparameters"),
                                   (units_of([4, 8], "tanh"), y, r"\[build_model\] layers"),
                                   (units_of([4, 8]), -y, r"\[data\] validation, \[data\] y")):
        with pytest.raises(ValueError, match=changed + r" changed\), so its finished trials"):
            search(build, labels)


def test_validation_data_of_another_shape_is_refused_before_anything_is_logged(tmp_path):
    """(`x` of another shape: docs/errors.md's `search-x-of-another-shape`.)"""
    data = dict(x=np.zeros((8, 12, 5)), y=np.zeros((8, 3)),
                validation_data=(np.zeros((4, 12, 4)), np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"`validation_data`'s x does not fit the model's input: "
                                         r"its rows have shape \(12, 4\)"):
        ktr.search.run(small_model(5), **data, budget=BUDGET, max_trials=2, epochs=1,
                       directory=str(tmp_path / "runs"),
                       tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", verbose=False)
    assert not (tmp_path / "mlflow.db").exists()


def test_a_search_whose_every_trial_fails_raises_and_keeps_their_runs(tmp_path, capsys):
    """Targets of another width (2 for 3 outputs) fail in `fit`, every trial alike: the search
    records each failed run, prints no traceback when quiet, and raises
    rather than returning an empty front."""
    x = np.zeros((16, 12, 5), "float32")
    with pytest.raises(RuntimeError, match=r"Every trial of the search failed \(2 of 2\), "
                                           r"the first with: ValueError: .*error.txt"):
        ktr.search.run(small_model(5), x=x, y=np.zeros((16, 2)), validation_split=0.25,
                       budget=BUDGET, max_trials=2, epochs=1, directory=str(tmp_path / "runs"),
                       tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", verbose=False)
    assert "Traceback" not in capsys.readouterr().err
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db").search_runs(
        [MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
         .get_experiment_by_name("ktr-build").experiment_id])
    trials = [r for r in runs if r.data.tags.get("ktr.role") == "trial"]
    assert [r.info.status for r in trials] == ["FAILED", "FAILED"]
    assert all("Dimensions must be equal" in r.data.tags["error"] for r in trials)


@pytest.mark.parametrize("objective, direction", [("val_loss", "min"), ("val_mae", "min"),
                                                  ("val_accuracy", "max"),
                                                  ("val_perplexity", "min")])
def test_objective_direction_is_keras_tuners(objective, direction):
    assert objective_direction(objective) == direction


# ------------------------------------------------- hyperparameters shared by name


def shared_width_model(hp, second_units=(8, 16)):
    """Two layers that share their decomposition and units (``hp_names``),
    each with a rank of its own."""
    inputs = keras.Input((6, 3))
    tied = {"decomposition": "kind", "units": "width"}
    h = recurrent(hp, "lstm", units=[8, 16], decompositions=["tt", "cp"], rank=(1, 6), d=[2],
                  hp_names=tied, return_sequences=True)(inputs)
    h = recurrent(hp, "gru", units=list(second_units), decompositions=["tt", "cp"], rank=(1, 6),
                  d=[2], hp_names=tied)(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile("adam", "mse")
    return model


def test_layers_that_name_a_hyperparameter_alike_share_one_value():
    hypermodel = OwnModelHyperModel(shared_width_model)
    space = ModelBudget(hypermodel, 900)
    assert [p.name for p in space.hp.space] == ["kind", "rnn0/d", "rnn0/rank", "width",
                                                "rnn1/d", "rnn1/rank"]
    proposal = {"kind": "tt", "width": 16, "rnn0/d": 2, "rnn0/rank": 6, "rnn1/d": 2,
                "rnn1/rank": 6}
    assert space.count_params(proposal) > 900
    assert space.role_keys(proposal, "units") == ["width"]
    assert space.role_keys(proposal, "rank") == ["rnn0/rank", "rnn1/rank"]
    fixed = space.repair(proposal)
    assert space.count_params(fixed) <= 900
    hp = space.hp.copy()
    hp.values.update(fixed)
    first, second = ktr.search.recurrent_layers(hypermodel.build(hp))
    assert first.units == second.units == fixed["width"]
    assert first.cell.weight_scheme.decomposition == second.cell.weight_scheme.decomposition == "tt"
    assert [first.rank, second.rank] == [fixed["rnn0/rank"], fixed["rnn1/rank"]]


def test_a_shared_hyperparameter_declared_with_other_choices_is_refused():
    import keras_tuner

    with pytest.raises(ValueError, match=r"share the hyperparameter 'width' must declare it "
                                         r"alike: Choice \{'values': \[8, 32\]\} here"):
        shared_width_model(keras_tuner.HyperParameters(), second_units=(8, 32))
    for wrong in ({"width": "w"}, "units"):
        with pytest.raises(ValueError, match=r"`hp_names` of layer 'rnn0' is a dict that maps "
                                             r"roles \(decomposition, d, rank, shared, units\)"):
            recurrent(keras_tuner.HyperParameters(), "lstm", hp_names=wrong)
    with pytest.raises(ValueError, match=r"gives the roles \['rank', 'units'\] one name \('x'\)"):
        recurrent(keras_tuner.HyperParameters(), "lstm", hp_names={"units": "x", "rank": "x"})


def test_describe_names_each_layers_resolved_weights():
    hypermodel = OwnModelHyperModel(shared_width_model)
    hp = hypermodel.discover_space().copy()
    described = hypermodel.describe(hypermodel.build(hp))
    assert described["rnn0/kernel_decomposition"] == described["rnn1/kernel_decomposition"] == "tt"
    assert described["rnn0/kernel_in_modes"] != described["rnn1/kernel_in_modes"]  # 3 vs 8 wide


def shared_rank_model(hp):
    """One rank (``hp_names``) for a layer that may be restricted and one
    that always has a rank: active whatever the first layer draws."""
    inputs = keras.Input((6, 3))
    h = recurrent(hp, "lstm", units=[8], decompositions=["restricted", "mps"],
                  hp_names={"rank": "rank"}, return_sequences=True)(inputs)
    h = recurrent(hp, "simple_rnn", units=[8], decompositions=["mps"], hp_names={"rank": "rank"})(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile("adam", "mse")
    return model


def test_a_rank_shared_with_a_layer_that_may_have_none_is_kept_and_repaired():
    from keras_tensor_rnn.search.nested_strategy import layer_ranks

    hypermodel = OwnModelHyperModel(shared_rank_model, nested_ranks=True)
    budget = ModelBudget(hypermodel, 3000)
    declared = [p for p in budget.hp.space if p.name == "rank"]
    assert len(declared) == 1 and declared[0].conditions == []
    proposal = {"rnn0/decomposition": "restricted", "rnn0/shared": 0.5, "rnn0/units": 8,
                "rnn1/decomposition": "mps", "rnn1/d": 2, "rnn1/units": 8, "rank": 10}
    # keras-tuner's own clean-up of a trial's values keeps the shared rank.
    hp = budget.hp.copy()
    hp.values = dict(proposal)
    hp.ensure_active_values()
    assert hp.values["rank"] == 10
    fixed = budget.repair(proposal)
    assert fixed["rank"] == 8 and budget.count_params(fixed) <= 3000  # 8: the 8 x 8 kernel's most
    assert layer_ranks(hypermodel, fixed) == {"rnn1": 8}  # the restricted layer has no rank
    assert layer_ranks(hypermodel, {**fixed, "rnn0/decomposition": "mps"}) == {"rnn0": 8,
                                                                            "rnn1": 8}


def units_only_model(hp):
    """Only the units are free: two points, both within a budget of 3,000."""
    inputs = keras.Input((6, 4))
    h = recurrent(hp, "gru", units=[4, 8], decompositions=["dense"])(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(h))
    model.compile("adam", "mse")
    return model


@pytest.mark.parametrize("nested", [False, True])
def test_every_point_is_tried_when_the_size_targets_map_every_draw_to_one(tmp_path, nested):
    """Each trial's target size sets the units, so here every draw at the
    second trial's target is the first trial's point: the search goes on
    at the other size rather than stopping one trial short."""
    import keras_tuner

    from keras_tensor_rnn.search.oracle import make_oracle

    hypermodel = OwnModelHyperModel(units_only_model, nested_ranks=nested)
    space = ModelBudget(hypermodel, 3000)
    oracle = make_oracle("random", space, keras_tuner.Objective("val_loss", "min"), max_trials=3,
                         epochs=1, seed=0, nested=nested)
    oracle._set_project_dir(str(tmp_path), "units")
    oracle.update_space(space.hp)
    tried = []
    for _ in range(3):
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        tried.append(trial.hyperparameters.values["rnn0/units"])
        oracle.update_trial(trial.trial_id, {"val_loss": 1.0})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert sorted(tried) == [4, 8]
