"""What a user sees: MLflow 3's model-training view, named trial runs, one
basis for every metric, resume and overwrite, repeatable seeded searches, a
quiet CLI, and a clear error for every bad input (docs/errors.md)."""

import re
import warnings
import zipfile

import keras
import numpy as np
import pytest
from conftest import cli_spec, search_spec

import keras_tensor_rnn as ktr
from keras_tensor_rnn import cli

pytestmark = pytest.mark.tf_only  # the search needs TensorFlow (keras-tuner's trials)


def client_for(tmp_path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")


def spec_for(tmp_path, project="ux", **search):
    spec = search_spec(tmp_path, project, ["TT", "mps", "restricted", "dense"], **search)
    spec["search"].update(max_trials=3, epochs=2)
    return spec


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ux")
    result = ktr.search.run(spec_for(tmp_path), verbose=False)
    return tmp_path, result


def runs(tmp_path, role, experiment="ux"):
    client = client_for(tmp_path)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return [r for r in client.search_runs([experiment_id]) if r.data.tags.get("ktr.role") == role]


@pytest.mark.xdist_group("user_experience")  # its module fixture, built once
def test_experiment_opens_in_mlflow_3s_model_training_view(searched):
    tmp_path, result = searched
    experiment = client_for(tmp_path).get_experiment_by_name("ux")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert result.ui_url() == (f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}"
                               "/runs?workflowType=machine_learning")


@pytest.mark.xdist_group("user_experience")  # its module fixture, built once
def test_trial_runs_are_named_after_what_they_try(searched):
    tmp_path, _ = searched
    trials = runs(tmp_path, "trial")
    assert len(trials) == 3
    for run in trials:
        params = run.data.params
        name = run.info.run_name
        assert re.fullmatch(r"\d+ (tt|mps|restricted|dense)( r\d+)?( s[\d.]+)? u\d+", name), name
        assert name.split()[1] == params["decomposition"] == params["decomposition"].lower()
        assert name.endswith(f"u{params['units']}")


@pytest.mark.xdist_group("user_experience")  # its module fixture, built once
def test_metrics_share_one_basis_with_the_cli_and_counts_are_integers(searched):
    tmp_path, result = searched
    rows = {row["trial"]: row for row in result.rows}
    for run in runs(tmp_path, "trial"):
        metrics, trial = run.data.metrics, run.data.tags["trial_id"]
        row = rows[trial]
        # The value the CLI prints and the front uses: the best epoch's.
        history = [m.value for m in client_for(tmp_path).get_metric_history(run.info.run_id,
                                                                            "val_accuracy")]
        assert metrics["best_val_accuracy"] == pytest.approx(max(history), abs=1e-6)
        assert metrics["best_val_accuracy"] == pytest.approx(row["val_accuracy"], abs=1e-6)
        for count in ("params", "recurrent_params"):
            assert metrics[count] == int(metrics[count]) == row[count]
            assert isinstance(row[count], int)
        assert metrics["recurrent_params"] < metrics["params"]
        # compression: the same model with dense recurrent kernels over this one.
        space = result.tuner.hypermodel.space
        values = {k: v for k, v in result.tuner.oracle.trials[trial].hyperparameters.values.items()}
        dense = space.count_params(space.dense_equivalent(values))
        assert metrics["compression"] == pytest.approx(dense / metrics["params"], rel=1e-5)
        assert all(len(f"{v}") < 12 for v in metrics.values()), metrics  # no float32 noise
    assert "1.063e+04" not in ktr.search.format_table([{"params": 10630}], ["params"])


@pytest.mark.xdist_group("user_experience")  # its module fixture, built once
def test_parent_logs_the_spec_the_front_and_the_best_model_once(searched, tmp_path):
    store, result = searched
    (parent,) = runs(store, "search")
    params = parent.data.params
    assert params["space.rank"] == "[1, 4]" and params["budget.max_params"] == "3000"
    assert params["search.seed"] == "3" and params["space.units"] == "[8, 16]"
    client = client_for(store)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"spec.json", "pareto.png", "pareto.txt", "best_model_input_example.json"} <= artifacts
    assert parent.data.tags["best_trial_id"] == result.best_trial_id
    experiment = client.get_experiment_by_name("ux").experiment_id
    assert len(client.search_logged_models(experiment_ids=[experiment])) == 1
    # The same command again: nothing to run, no second best model.
    again = ktr.search.run(spec_for(store), verbose=False)
    assert again.best_model_uri == result.best_model_uri
    assert len(client.search_logged_models(experiment_ids=[experiment])) == 1


def test_resume_messages_and_a_changed_spec_is_refused(tmp_path, capsys):
    spec = spec_for(tmp_path, "resume")
    spec["search"]["max_trials"] = 2
    ktr.search.run(spec, verbose=False)
    smaller = spec_for(tmp_path, "resume")
    smaller["search"]["max_trials"] = 1
    ktr.search.run(smaller)
    out = capsys.readouterr().out
    assert "1 trial (2 already finished)" in out and "2 trials are already finished" in out
    assert "Reloading Tuner" not in out  # keras-tuner's own line says the same
    changed = spec_for(tmp_path, "resume")
    changed["budget"]["max_params"] = 2500
    with pytest.raises(ValueError, match=r"\[budget\] max_params changed.*--overwrite"):
        ktr.search.run(changed, verbose=False)
    ktr.search.run(changed, verbose=False, overwrite=True)
    parents = runs(tmp_path, "search", "resume")
    live = [r for r in parents if r.data.tags.get("ktr.superseded") != "true"]
    assert len(parents) == 2 and len(live) == 1
    assert live[0].data.params["budget.max_params"] == "2500"
    assert all(r.info.status != "RUNNING" for r in parents)


def test_one_seed_gives_the_same_trials_and_the_same_metrics(tmp_path, monkeypatch):
    import random

    from keras_tensor_rnn import datasets

    # Whatever the process's random state when the trials start (here made
    # different for each search after the data are generated), the seed decides.
    load, states = datasets.load, iter([11, 22])

    def load_then_disturb(*args, **kwargs):
        loaded = load(*args, **kwargs)
        state = next(states)
        random.seed(state)
        np.random.seed(state)
        keras.utils.set_random_seed(state)
        return loaded

    monkeypatch.setattr(datasets, "load", load_then_disturb)
    specs = [spec_for(tmp_path / name, "seeded") for name in ("a", "b")]
    for spec in specs:
        spec["search"].update(max_trials=2, epochs=1)
    results = [ktr.search.run(spec, verbose=False) for spec in specs]
    first, second = ([{k: v for k, v in row.items() if k != "latency_ms"} for row in r.rows]
                     for r in results)
    assert first == second


def test_cli_is_quiet_with_progress_and_q_keeps_trial_lines_only(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = cli_spec(tmp_path, max_trials=1, epochs=2)
    assert cli.main(["search", str(spec)]) == 0
    out = capsys.readouterr()
    assert re.search(r"trial 0 epoch 2/2 [\d.]+s, ETA \d+s: .*val_accuracy=", out.out)
    assert "http://127.0.0.1:5000/#/experiments/" in out.out
    assert "Skipping variable loading" not in out.out + out.err
    assert cli.main(["search", str(spec), "-q", "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "trial 0 completed" in out and "epoch 1/2" not in out


# ------------------------------------------------------------ bad inputs

def _write(path, text):
    path.write_text(text)
    return path


API_CHECKLIST = [
    ("factorize-nan", lambda tmp: ktr.factorize(np.full((8, 6), np.nan), "tt", rank=2, d=2),
     ValueError, r"non-finite values \(NaN or inf\)"),
    ("factorize-inf", lambda tmp: ktr.factorize(np.where(np.eye(8, 6), np.inf, 1.0), "cp", rank=2,
                                                d=2), ValueError, "non-finite values"),
    ("compress-not-a-model", lambda tmp: ktr.compress(_write(tmp / "m.keras", "no model")),
     ValueError, r"is not a Keras model file: a \.keras file is the zip archive"),
    ("compress-not-a-model-object", lambda tmp: ktr.compress(42), TypeError,
     "must be a Keras model or the path of a .keras file"),
    ("max-trials-string", lambda tmp: ktr.search.run(spec_for(tmp), max_trials="3"), TypeError,
     r"`max_trials` must be a positive int. Received: max_trials='3'"),
    ("zero-d", lambda tmp: ktr.layers.TensorizedLSTM(32, d=0), ValueError,
     r"`d` must be a positive int. Received: d=0"),
    ("decomposition-option-typo", lambda tmp: ktr.layers.TensorizedLSTM(
        32, decomposition="bt", decomposition_options={"block": 4}), ValueError,
     r"Unknown decomposition option 'block'.*Valid options: blocks. Did you mean 'blocks'"),
    ("bad-mode-choice", lambda tmp: ktr.layers.TensorizedLSTM(32, mode_choice="fast"), ValueError,
     r"`mode_choice` must be one of \('speed', 'balanced'\). Received: mode_choice='fast'"),
    ("compress-data-fit-without-x", lambda tmp: ktr.compress(_small_lstm(), "tt", rank=2,
                                                             fit="data"),
     ValueError, r"`fit='data'` fits the factors on sample inputs: pass them as `x`"),
    ("compress-allocation-without-budget", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, allocation="sensitivity"), ValueError,
     r"`allocation='sensitivity'` shares a `budget`.*give `budget`, `x`"),
    ("compress-negative-fit-steps", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, x=np.zeros((4, 3, 4), "float32"), fit_steps=-1), ValueError,
     r"`fit_steps` is the number of optimizer steps .*an int >= 0 \(0: no output fit\)"),
    ("compress-x-of-another-width", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, x=np.zeros((4, 3, 6), "float32")), ValueError,
     r"`x` does not fit the model's input: its rows have shape \(3, 6\), the model takes "
     r"\(3, 4\)"),
    ("compress-dense-recurrent-over-budget", lambda tmp: ktr.compress(
        _small_lstm(), "tt", budget=0.5, recurrent_decomposition="dense"), ValueError,
     r"No rank of 'tt\+dense' fits budget=0.5 \(208 of the layer's 416 parameters\).*dense "
     r"recurrent side alone"),
    ("compress-dense-input-over-budget", lambda tmp: ktr.compress(
        _small_lstm(), "dense+cp", budget=0.3), ValueError,
     r"No rank of 'dense\+cp' fits budget=0.3 \(125 of the layer's 416 parameters\).*Its dense "
     r"input side alone has 128 \(decomposition='dense'\)"),
    ("compress-subclassed-model", lambda tmp: ktr.compress(_subclassed_lstm(), "tt", rank=2),
     ValueError, r"supports Sequential and functional models.*set_weights\(model.get_weights"),
    ("rank-no-kernel-can-take", lambda tmp: ktr.layers.TensorizedLSTM(16, rank=0), ValueError,
     r"^`rank` must be an int >= 1, .* or 'full'\. Received: rank=0$"),
    ("recurrent-rank-too-large", lambda tmp: ktr.layers.TensorizedLSTM(1, rank=2), ValueError,
     r"The recurrent kernel \(1 x 4, from units=1\) cannot take `rank=2`.*`recurrent_rank`"),
    ("search-without-validation", lambda tmp: ktr.search.run(
        _build_model, x=np.zeros((4, 3, 4)), y=np.zeros((4, 2)), budget=500), ValueError,
     r"give `validation_data=\(x_val, y_val\)` or `validation_split=`"),
    ("search-validation-split-range", lambda tmp: ktr.search.run(
        _build_model, x=np.zeros((4, 3, 4)), y=np.zeros((4, 2)), validation_split=1.5,
        budget=500), ValueError, r"`validation_split` is the fraction .* a float in \(0, 1\)"),
    ("compress-nested-model", lambda tmp: ktr.compress(_nested_gru(), "tt", rank=2), ValueError,
     r"inside the nested model\(s\) \['encoder'\] are not replaced"),
    ("compress-unbuilt-model", lambda tmp: ktr.compress(keras.Sequential([keras.layers.LSTM(4)]),
                                                        "tt", rank=2), ValueError,
     r"is not built.*keras.Input\(shape\)"),
    ("compress-restricted-with-rank", lambda tmp: ktr.compress(_small_lstm(), "restricted",
                                                                rank=2), ValueError,
     r"'restricted' has no rank: its size is set by `shared`"),
    ("compress-auto-with-rank", lambda tmp: ktr.compress(
        _small_lstm(), "auto", rank=2, x=np.zeros((4, 3, 4), "float32")), ValueError,
     r"Choosing the decomposition \(decomposition='auto' or a list\) compares the candidates "
     r"at the same size: give `budget`"),
    ("compress-auto-without-x", lambda tmp: ktr.compress(_small_lstm(), "auto", budget=0.5),
     ValueError, r"Choosing the decomposition .* pass them as `x`"),
    ("compress-auto-list-without-rank", lambda tmp: ktr.compress(
        _small_lstm(), ["tt", "dense"], budget=0.5, x=np.zeros((4, 3, 4), "float32")),
     ValueError, r"A list of decompositions is chosen among at one budget: each must have a rank"),
    ("compress-auto-misspelled", lambda tmp: ktr.compress(
        _small_lstm(), ["tt", "cpp"], budget=0.5, x=np.zeros((4, 3, 4), "float32")),
     ValueError, r"Unknown decomposition 'cpp' in the list\. .* Did you mean 'cp'\?"),
    ("compress-two-sides-misspelled", lambda tmp: ktr.compress(
        _small_lstm(), "dense+tuker", rank=2), ValueError,
     r"Unknown decomposition 'tuker' in 'dense\+tuker': '<input side>\+<recurrent side>' "
     r"names each side's decomposition \(e\.g\. 'dense\+cp'\).* Did you mean 'tucker'\?"),
    ("compress-dense-with-budget", lambda tmp: ktr.compress(_small_lstm(), "dense", budget=0.5),
     ValueError, r"'dense' has no rank: it stores each kernel whole\. .* A dense input side "
                 r"with a factorized recurrent one has a rank: 'dense\+cp'"),
    ("compress-auto-nothing-fits", lambda tmp: ktr.compress(
        _small_lstm(), "auto", budget=0.001, x=np.zeros((4, 3, 4), "float32"), fit_steps=0),
     ValueError, r"No candidate decomposition fits the budget\. tt: No rank of 'tt' .* The others "
                 r"\(mps, tr, cp, tucker, bt, lowrank\) do not fit either\."),
    ("compress-x-list-for-one-input", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, x=[np.zeros((4, 3, 4), "float32")] * 2), ValueError,
     r"`x` does not fit the model's input: the model takes 1 input\(s\), `x` holds 2 array"),
    ("compress-budget-string", lambda tmp: ktr.compress(_small_lstm(), "tt", budget="20%"),
     ValueError, r"`budget` is the most parameters .* an int >= 1, or a float in \(0, 1\]"),
    ("compress-empty-x", lambda tmp: ktr.compress(_small_lstm(), "tt", rank=2,
                                                  x=np.zeros((0, 3, 4), "float32")),
     ValueError, r"`x` holds no rows"),
    ("compress-fine-tune-zero-epochs", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, fine_tune=(np.zeros((8, 3, 4)), None, 0)), ValueError,
     r"`fine_tune`'s epochs must be an int >= 1"),
    ("compress-fine-tune-field", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, fine_tune=ktr.compression.FineTune(
            np.zeros((8, 3, 4)), None, temperature=0)), ValueError,
     r"`fine_tune`'s temperature must be a number > 0\. Received: 0"),
    ("compress-fine-tune-x-shape", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, fine_tune=(np.zeros((8, 3)), None, 1)), ValueError,
     r"`fine_tune`'s x does not fit the model's input: its rows have shape \(3,\), the model "
     r"takes \(3, 4\)"),
    ("compress-fine-tune-label-rows", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, fine_tune=(np.zeros((8, 3, 4)), np.zeros((5, 2)), 1)),
     ValueError, r"`fine_tune`'s y must hold the labels of x's 8 rows"),
    ("compress-fine-tune-label-shape", lambda tmp: ktr.compress(
        _small_classifier(), "tt", rank=2, fine_tune=(np.zeros((8, 3, 4)), np.eye(2)[[0, 1] * 4],
                                                      1)), ValueError,
     r"`fine_tune`'s y does not fit the model's loss \(sparse_categorical_crossentropy\) for "
     r"outputs of shape \(2,\): give the labels as for `model.fit`\. Received: y of shape \(8, 2\)"),
    ("compress-fine-tune-nan", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, fine_tune=(_with_a_nan(np.zeros((8, 3, 4))), None, 1)),
     ValueError, r"`fine_tune`'s x has 1 non-finite values \(NaN or inf\): distilling on them "
                 r"makes every weight NaN"),
    ("compress-x-nan", lambda tmp: ktr.compress(_small_lstm(), "tt", rank=2,
                                                x=_with_a_nan(np.zeros((8, 3, 4)))),
     ValueError, r"`x` has 1 non-finite values \(NaN or inf\): the data-aware fit needs finite"),
    ("compress-fit-steps-without-x", lambda tmp: ktr.compress(_small_lstm(), "tt", rank=2,
                                                              fit_steps=50), ValueError,
     r"`fit_steps` sets the output fit on the sample inputs `x`: pass `x` .* Received: "
     r"fit_steps=50 with x=None"),
    ("compress-shared-with-a-rank", lambda tmp: ktr.compress(_small_lstm(), "tt", rank=2,
                                                             shared=0.3), ValueError,
     r"`shared` sizes 'restricted' layers \(the rows each gate shares\); "
     r"decomposition='tt' is sized by `rank` or `budget`\. Received: shared=0\.3"),
    ("compress-wrapped-recurrent", lambda tmp: ktr.compress(keras.Sequential([
        keras.Input((2, 3, 4)), keras.layers.TimeDistributed(keras.layers.LSTM(8))]), "tt",
        rank=2), ValueError,
     r"Layer\(s\) \['time_distributed'\] wrap a recurrent layer \(e\.g\. in TimeDistributed\): "
     r"only LSTM, GRU and SimpleRNN layers \(alone or in Bidirectional\) are replaced"),
    ("compress-shared-layer-with-x", lambda tmp: ktr.compress(
        _siamese_lstm(), "tt", rank=2, x=[np.zeros((4, 3, 4))] * 2), ValueError,
     r"Layer 'lstm' is called 2 times .* compress with x=None \(the weights-only fit\)"),
    ("inputs-dict-key-typo", lambda tmp: ktr.compress(
        _two_named_inputs(), "tt", rank=2, x={"seq": np.zeros((4, 3, 4)), "statik": np.zeros((4, 2))}),
     ValueError, r"`x` does not fit the model's inputs: a dict's keys name them, \['seq', "
                 r"'static'\]\. Received keys: \['seq', 'statik'\]\. Did you mean 'static'\?"),
    ("compress-x-python-lists", lambda tmp: ktr.compress(
        _small_lstm(), "tt", rank=2, x=np.zeros((4, 3, 4)).tolist()), ValueError,
     r"`x` holds arrays \(numpy or tensors\).*pass np\.asarray\(x\)"),
    ("too-deep-d", lambda tmp: ktr.compress(_small_lstm(), "tt", rank=2, d=20), ValueError,
     r"`d=20` modes is deeper than kernels of 4 inputs and 8 units can split.*Use d <= 6"),
    ("search-rows-differ", lambda tmp: ktr.search.run(
        _build_model, x=np.zeros((4, 3, 4)), y=np.zeros((3, 2)), validation_split=0.5,
        budget=500), ValueError, r"`x` and `y` must have as many rows"),
    ("search-x-of-another-shape", lambda tmp: ktr.search.run(
        _build_model, x=np.zeros((4, 3, 6)), y=np.zeros((4, 2)), validation_split=0.5,
        budget=500, directory=str(tmp)), ValueError,
     r"`x` does not fit the model's input: its rows have shape \(3, 6\), the model takes "
     r"\(3, 4\) \(None: any size\)"),
    ("search-recurrent-rank-range", lambda tmp: ktr.search.recurrent(
        _hyperparameters(), "gru", rank=[4, 2]), ValueError,
     r"`rank` of layer 'rnn0' must be \(min, max\) with 1 <= min <= max \(ints\), e\.g\. "
     r"\(1, 16\)\. Received: rank=\[4, 2\]"),
    ("search-recurrent-units", lambda tmp: ktr.search.recurrent(
        _hyperparameters(), "gru", units=[8, 0]), ValueError,
     r"`units` of layer 'rnn0' is a positive int or a list of positive ints \(the choices\)\. "
     r"Received: units=\[8, 0\]"),
    ("search-recurrent-argument-typo", lambda tmp: ktr.search.recurrent(
        _hyperparameters(), "gru", return_sequence=True), ValueError,
     r"Unknown argument 'return_sequence' of `recurrent\(\.\.\.\)` for layer 'rnn0'\. Valid "
     r"arguments: .* Did you mean 'return_sequences'\?"),
    ("search-recurrent-chosen-argument", lambda tmp: ktr.search.recurrent(
        _hyperparameters(), "gru", decomposition=["tt"]), ValueError,
     r"`recurrent\(\.\.\.\)` for layer 'rnn0' chooses the decomposition itself: give its "
     r"choices as `decompositions=`"),
    ("search-arrays-with-dataset-validation", lambda tmp: ktr.search.run(
        _build_model, x=np.zeros((4, 3, 4)), y=np.zeros((4, 2)), validation_data=_dataset(),
        budget=500), ValueError,
     r"With arrays as `x` and `y`, `validation_data` is arrays too: a tuple \(x_val, y_val\)"),
    ("search-no-recurrent-layer", lambda tmp: ktr.search.run(
        _dense_only_model, x=np.zeros((4, 3, 4)), y=np.zeros((4, 2)), validation_split=0.5,
        budget=500, directory=str(tmp)), ValueError,
     r"`build_model` has no `ktr.search.recurrent\(hp, ...\)` layer"),
    ("search-budget-fraction", lambda tmp: ktr.search.run(
        _build_model, x=np.zeros((4, 3, 4)), y=np.zeros((4, 2)), validation_split=0.5,
        budget=0.2), ValueError, r"`budget` must be a positive int. Received: budget=0.2"),
    ("unknown-shipped-spec", lambda tmp: ktr.search.run("quickstrat"), ValueError,
     r"Unknown search spec 'quickstrat'.*Valid shipped specs: .*Did you mean 'quickstart'"),
    ("search-dataset-with-y", lambda tmp: ktr.search.run(
        _build_model, x=_dataset(), y=np.zeros((4, 2)), validation_data=_dataset(), budget=500),
     ValueError, r"With a dataset as `x`.*give `y=None`"),
    ("search-strategy-unknown", lambda tmp: ktr.search.run(spec_for(tmp), strategy="nestled"),
     ValueError, r"\[search\] strategy must be one of \('independent', 'nested'\)"),
    ("search-finetune-epochs", lambda tmp: ktr.search.run(spec_for(tmp), finetune_epochs=1.5),
     ValueError, r"\[search\] finetune_epochs must be an int >= 0. Received: finetune_epochs=1.5"),
    ("truncate-rank-above", lambda tmp: _nested_lstm().truncated(5), ValueError,
     r"A truncated `rank` is an int from 1 to the layer's largest rank 3"),
    ("truncate-no-nested-layer", lambda tmp: ktr.truncate(_small_lstm(), 1), ValueError,
     r"has no layer of its own made with `nested_ranks=True`"),
    ("truncate-float-rank", lambda tmp: ktr.truncate(_nested_model(), 1.5), ValueError,
     r"`ranks` is an int \(every nested layer\) or a dict \{layer name: int\}"),
    ("truncate-ranks-none", lambda tmp: ktr.truncate(_nested_model(), None), ValueError,
     r"the ranks to take out. Received: ranks=None \(to copy a model, use "),
    ("truncate-unbuilt-model", lambda tmp: ktr.truncate(keras.Sequential([
        ktr.layers.TensorizedLSTM(4, decomposition="cp", rank=3, nested_ranks=True)]), 2),
     ValueError, r"has nested-rank layers that are not built \(\['tensorized_lstm.*'\]\)"),
    ("truncate-truncated-model", lambda tmp: ktr.truncate(ktr.truncate(_nested_model(), 2), 1),
     ValueError, r"a model taken out by `ktr.truncate` has none: truncate the nested original"),
    ("truncate-two-names-two-ranks", lambda tmp: ktr.truncate(_nested_bidirectional(), {
        "bi": 2, "forward_gru": 1}), ValueError,
     r"`ranks` gives layer 'bi' two ranks under two of its names \(2 and 1\): name it once"),
    ("counts-ranks-none", lambda tmp: ktr.nested.truncated_counts(_nested_model(), None),
     ValueError, r"the ranks to count. Received: ranks=None"),
    ("nested-ranks-restricted", lambda tmp: ktr.layers.RestrictedGRU(4, nested_ranks=True),
     ValueError, r"`nested_ranks` is an argument of the Tensorized layers: RestrictedGRU has no "
                 r"rank to nest.*Use TensorizedGRU"),
    ("inference-rank-not-nested", lambda tmp: _built(ktr.layers.TensorizedLSTM(
        4, rank=2, d=2)).__setattr__("inference_rank", 1), ValueError,
     r"has no inference rank: only a built layer made with `nested_ranks=True` has one"),
    ("nested-ranks-dense", lambda tmp: ktr.layers.TensorizedLSTM(
        4, decomposition="dense", nested_ranks=True), ValueError,
     r"`nested_ranks=True` needs a decomposition with a rank"),
    ("hp-names-one-name-two-roles", lambda tmp: ktr.search.recurrent(
        __import__("keras_tuner").HyperParameters(), hp_names={"units": "x", "rank": "x"}),
     ValueError, r"gives the roles \['rank', 'units'\] one name"),
]


def _built(layer):
    layer(np.zeros((2, 3, 4), "float32"))
    return layer


def _nested_lstm():
    return _built(ktr.layers.TensorizedLSTM(4, decomposition="cp", rank=3, nested_ranks=True))


def _nested_bidirectional():
    return keras.Sequential([keras.Input((3, 4)), keras.layers.Bidirectional(
        ktr.layers.TensorizedGRU(4, decomposition="tt", rank=3, nested_ranks=True, name="gru"),
        name="bi")])


def _nested_model():
    return keras.Sequential([keras.Input((3, 4)), ktr.layers.TensorizedLSTM(
        4, decomposition="cp", rank=3, nested_ranks=True)])


def _subclassed_lstm():
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = keras.layers.LSTM(4), keras.layers.Dense(2)

        def call(self, x):
            return self.head(self.rnn(x))

    model = Classifier()
    model(np.zeros((1, 3, 4), "float32"))
    return model


def _nested_gru():
    encoder = keras.Sequential([keras.Input((3, 4)), keras.layers.GRU(4)], name="encoder")
    inputs = keras.Input((3, 4))
    return keras.Model(inputs, keras.layers.Dense(2)(encoder(inputs)))


def _dense_only_model(hp):
    model = keras.Sequential([keras.Input((3, 4)), keras.layers.Flatten(),
                              keras.layers.Dense(hp.Choice("width", [2, 4]))])
    model.compile("adam", "mse")
    return model


def _two_named_inputs():
    seq, static = keras.Input((3, 4), name="seq"), keras.Input((2,), name="static")
    h = keras.layers.Concatenate()([keras.layers.LSTM(8)(seq), static])
    return keras.Model({"seq": seq, "static": static}, keras.layers.Dense(2)(h))


def _siamese_lstm():
    """One LSTM called on two inputs (shared weights)."""
    first, second = keras.Input((3, 4)), keras.Input((3, 4))
    lstm = keras.layers.LSTM(8, name="lstm")
    return keras.Model([first, second], keras.layers.Concatenate()([lstm(first), lstm(second)]))


def _hyperparameters():
    import keras_tuner

    return keras_tuner.HyperParameters()


def _build_model(hp):
    model = keras.Sequential([keras.Input((3, 4)), ktr.search.recurrent(hp, "gru", units=[4]),
                              keras.layers.Dense(2)])
    model.compile("adam", "mse")
    return model


def _dataset():
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((np.zeros((4, 3, 4)), np.zeros((4, 2)))).batch(2)


def _small_classifier():
    model = keras.Sequential([keras.Input((3, 4)), keras.layers.LSTM(8),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def _with_a_nan(x):
    x = np.array(x, "float32")
    x.flat[0] = np.nan
    return x


def _small_lstm():
    model = keras.Sequential([keras.Input((3, 4)), keras.layers.LSTM(8), keras.layers.Dense(2)])
    model.compile(loss="mse")
    return model


@pytest.mark.parametrize("make, error, message", [c[1:] for c in API_CHECKLIST],
                         ids=[c[0] for c in API_CHECKLIST])
def test_bad_api_input_gets_a_clear_error(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        make(tmp_path)


def test_nan_training_data_fails_the_trial_with_its_reason(tmp_path):
    from keras_tensor_rnn.search import (
        SearchSpace,
        SearchTuner,
        TensorizedRNNHyperModel,
        make_oracle,
    )

    x = np.random.default_rng(0).standard_normal((64, 5, 3)).astype("float32")
    x[3, 2, 1] = np.nan
    y = np.arange(64) % 2
    space = SearchSpace(input_shape=(5, 3), num_classes=2, budget=2000, decompositions=["tt"],
                        units_choices=[4], d_choices=[2], rank_range=(1, 2))
    tuner = SearchTuner(oracle=make_oracle("random", space, "val_accuracy", max_trials=1, epochs=1,
                                           seed=0),
                        hypermodel=TensorizedRNNHyperModel(space), directory=str(tmp_path),
                        project_name="nan", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                        experiment="nan", progress=False)
    tuner.search(x, y, validation_data=(x, y), epochs=1)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "FAILED" and "`x` has 1 non-finite values" in trial.message
    (run,) = runs(tmp_path, "trial", "nan")
    assert "non-finite" in run.data.tags["error"]


def test_cli_compress_names_what_is_wrong_with_the_file(tmp_path, capsys):
    bad = _write(tmp_path / "notamodel.keras", "text")
    assert cli.main(["compress", str(bad), "-o", str(tmp_path / "out.keras")]) == 2
    assert "is not a Keras model file" in capsys.readouterr().err
    assert not zipfile.is_zipfile(bad)


@pytest.mark.parametrize("output, message", [
    ("out.onnx", r"-o/--output is the compressed model's \.keras file"),
    ("missing/out.keras", r"-o/--output: the folder .*missing does not exist"),
])
def test_cli_compress_checks_its_output_before_the_work(tmp_path, capsys, output, message):
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(8), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    assert cli.main(["compress", str(tmp_path / "m.keras"), "--rank", "2",
                     "-o", str(tmp_path / output)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_compress_takes_a_path(tmp_path):
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(8), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    small, report = ktr.compress(str(tmp_path / "m.keras"), "tt", rank=2, d=2)
    assert report.params_after < report.params_before


def test_specs_take_decomposition_names_as_layers_do(tmp_path):
    from keras_tensor_rnn.search import load_spec

    spec = spec_for(tmp_path)
    assert load_spec(spec)["space"]["decompositions"] == ["tt", "mps", "restricted", "dense"]
    assert ktr.layers.TensorizedLSTM(8, decomposition="TT", rank=2, d=2).decomposition == "tt"


def test_errors_doc_lists_the_api_checklist():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", doc, flags=re.M))
    assert {c[0] for c in API_CHECKLIST} <= listed


def test_a_budget_above_a_layers_own_count_warns_that_it_grows():
    with pytest.warns(UserWarning, match=r"Layer 'lstm\w*' has [\d,]+ parameters compressed at "
                                         r"budget=100000, more than its own 416"):
        ktr.compress(_small_lstm(), "tt", budget=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ktr.compress(_small_lstm(), "tt", budget=0.5)
