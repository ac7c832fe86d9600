"""Run a search from a spec: the project's main job."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from keras_tensor_rnn import checks, datasets
from keras_tensor_rnn.search.data import (
    check_fits_model,
    describe_inputs,
    fingerprint,
    is_batched,
    own_data,
)
from keras_tensor_rnn.search.distribution import resolve as resolve_distribution
from keras_tensor_rnn.search.hypermodel import SearchHyperModel, TensorizedRNNHyperModel
from keras_tensor_rnn.search.nested_strategy import check_ranks_taken_out, check_strategy
from keras_tensor_rnn.search.oracle import check_oracle, make_oracle
from keras_tensor_rnn.search.reporting import last_line
from keras_tensor_rnn.search.results import SearchResult
from keras_tensor_rnn.search.space import SearchSpace
from keras_tensor_rnn.search.spec import load_spec
from keras_tensor_rnn.search.tracking import connect
from keras_tensor_rnn.search.tuner import SearchTuner


def load_dataset(section: dict):
    """The data a spec's ``[dataset]`` names: an npz ``path``, a ``loader =
    "module:function"`` (called with the other keys), or a named or
    tensorflow_datasets ``name`` (with the other keys as loader options)."""
    options = dict(section["options"])
    if section["path"] and section["loader"]:
        raise ValueError("[dataset] takes one of `path` and `loader`, not both.")
    if section["path"]:
        if options:
            raise ValueError(f"[dataset] path takes no other keys. Received: {sorted(options)}")
        return datasets.load_npz(section["path"])
    if section["loader"]:
        return datasets.load_function(section["loader"], **options)
    return datasets.load(section["name"], **options)


def build_space(spec: dict, dataset) -> SearchSpace:
    model, space, budget = spec["model"], spec["space"], spec["budget"]
    tokens = len(dataset.input_shape) == 1
    task = model["task"] or dataset.task
    outputs = dataset.num_classes
    if task == "regression" and dataset.task != "regression":
        # `[model] task` makes regression of labels that look like classes:
        # the head has the targets' width, not one output per class.
        outputs = 1 if np.ndim(dataset.y_train) == 1 else int(np.shape(dataset.y_train)[-1])
    return SearchSpace(
        input_shape=dataset.input_shape,
        num_classes=outputs,
        budget=budget["max_params"],
        budget_scope=budget["scope"],
        cell=model["cell"],
        num_layers=model["num_layers"],
        decompositions=list(space["decompositions"]),
        ranks=space["ranks"],
        rank_range=tuple(space["rank"]),
        d_choices=list(space["d"]),
        units_choices=list(space["units"]),
        learning_rate_range=tuple(space["learning_rate"]),
        vocab_size=dataset.vocab_size if tokens else None,
        embedding_dim=model["embedding_dim"] if tokens else None,
        recurrent_decomposition=model["recurrent_decomposition"],
        task=task,
        nested_ranks=spec["search"]["strategy"] == "nested",
    )


def run(spec, max_trials: int | None = None, epochs: int | None = None,
        tracking_uri: str | None = None, verbose: bool = True, *, distribution=None,
        overwrite: bool | None = None, role: str | None = None, progress: bool = True,
        keras_verbose: int | None = None, oracle_address: str | None = None,
        tuner_id: str | None = None, x=None, y=None, validation_data=None,
        validation_split: float | None = None, budget: int | None = None,
        objective: str | None = None, objectives: list | None = None, spread: bool | None = None,
        seed: int | None = None, oracle: str | None = None, batch_size: int | None = None,
        directory: str | None = None, project_name: str | None = None,
        experiment: str | None = None, register_as: str | None = None,
        strategy: str | None = None, finetune_epochs: int | None = None) -> SearchResult | None:
    """Run a budgeted search, tracked in MLflow: the one a spec describes, or
    one on your own ``build_model(hp)``.

    Everything is checked before training: the spec's keys and types, the
    data, that some configuration fits the budget, that MLflow is reachable.

    Args:
        spec: path of a TOML spec, the name of a shipped spec (``"quickstart"``,
            see :func:`~keras_tensor_rnn.search.spec.shipped_specs`), a spec dict, or
            a function ``build_model(hp)`` returning a compiled Keras model with
            :func:`~keras_tensor_rnn.search.recurrent` layers in it (then give the data).
        max_trials, epochs, tracking_uri, overwrite, strategy, finetune_epochs:
            override the spec (``strategy="nested"``: :mod:`~keras_tensor_rnn.search.nested_strategy`).
        x, y, validation_data, validation_split: with a ``build_model``,
            the data, as ``Model.fit`` takes them: arrays (a list or dict
            for several inputs) with ``validation_data=(x_val, y_val)`` or
            ``validation_split`` (the last fraction of ``x``, as Keras
            splits); or a ``tf.data.Dataset`` / ``keras.utils.PyDataset`` of
            ``(inputs, targets)`` batches as ``x`` (``y`` None, the batch
            size its own) with another as ``validation_data``.
        budget ... register_as: the whole model's most parameters (``[budget]
            max_params``) and a spec's ``[search]``/``[tracking]`` keys, overriding
            a spec's; with a ``build_model``, its spec (a spec's defaults, but
            ``objective``: ``val_loss``; ``project_name``: the function's name).
        verbose: print the trial lines and the Pareto table.
        progress: with ``verbose``, also one line per epoch (time, ETA).
        keras_verbose: overrides ``[search] verbose`` (Keras's own ``fit`` output).
        distribution: how each trial trains (overrides ``[search] distribution``):
            a name of :data:`keras_tensor_rnn.search.distribution.DISTRIBUTIONS`,
            a ``tf.distribute.Strategy`` or a ``keras.distribution`` object.
        role: ``None`` (one process), ``"chief"`` (serves keras-tuner's oracle,
            owns the MLflow parent run, summarizes at the end) or ``"worker"``
            (trains the trials the chief hands out); sets ``KERASTUNER_TUNER_ID``,
            ``KERASTUNER_ORACLE_IP`` and ``_PORT`` for the duration of the call.
        oracle_address, tuner_id: the chief's ``host:port`` (default: the
            ``KERASTUNER_ORACLE_*`` variables); a worker's name.

    Returns:
        A :class:`SearchResult` (completed trials, Pareto front, table, plot
        path, MLflow parent run id, best model URI); ``None`` on a worker.

    Example:

    >>> result = ktr.search.run("quickstart", max_trials=4)  # doctest: +SKIP
    >>> print(result.table)  # doctest: +SKIP
    """
    build_model = spec if callable(spec) else None
    search = {"objective": objective, "objectives": objectives, "spread": spread, "seed": seed,
              "oracle": oracle, "batch_size": batch_size, "directory": directory,
              "project_name": project_name}
    tracking = {"experiment": experiment, "register_as": register_as}
    if build_model is not None:
        data = own_data(x, y, validation_data, validation_split)
        spec = _own_model_spec(build_model, budget, search=search, tracking=tracking)
    else:
        spec = _overridden_spec(spec, budget, search, tracking, x=x, y=y,
                                validation_data=validation_data, validation_split=validation_split)
    if keras_verbose is not None:
        spec["search"]["verbose"] = keras_verbose
    _override(spec, max_trials, epochs, tracking_uri, strategy, finetune_epochs)
    environment = (contextlib.nullcontext() if role is None
                   else keras_tuner_role(role, oracle_address, tuner_id))
    with environment:
        problem = (_spec_problem(spec) if build_model is None
                   else _own_model_problem(build_model, data, spec))
        return _run(spec, problem, verbose, distribution,
                    spec["search"]["overwrite"] if overwrite is None else overwrite, progress)


@dataclasses.dataclass
class Problem:
    """What a search trains: its hypermodel, the budget space that repairs
    proposals, the data, and a line that describes them."""

    hypermodel: SearchHyperModel
    space: object
    x: object
    y: object
    validation_data: object
    description: str
    sections: tuple = ("dataset", "model", "space", "budget", "search", "tracking")
    """The spec sections that describe this search (logged on the parent run)."""
    logged_metrics: list | None = None
    """The metrics a trial logs, where known before training (a spec's)."""


def _own_model_spec(build_model, budget, search: dict, tracking: dict) -> dict:
    """The spec of a search on ``build_model(hp)``: what the caller gave,
    the rest as a spec's defaults."""
    if budget is not None:
        budget = checks.positive_int(budget, "budget")
    search["project_name"] = search["project_name"] or getattr(build_model, "__name__", "model")
    given = {"search": search, "tracking": tracking, "budget": {"max_params": budget}}
    spec = load_spec({section: {k: v for k, v in values.items() if v is not None}
                      for section, values in given.items()})
    spec["dataset"] = {"name": "arrays", "options": {}}
    return spec


def _own_model_problem(build_model, data, spec) -> Problem:
    """The :class:`Problem` of a search on ``build_model(hp)``: its whole space
    found once (see :meth:`OwnModelHyperModel.discover_space`)."""
    from keras_tensor_rnn.search.own_model import ModelBudget, OwnModelHyperModel

    hypermodel = OwnModelHyperModel(build_model,
                                    nested_ranks=spec["search"]["strategy"] == "nested")
    space = ModelBudget(hypermodel, spec["budget"]["max_params"])
    x, y, validation_data = data
    model = hypermodel.default_model()
    check_fits_model(model, x, validation_data)
    # What a resume compares: the model build_model makes, and the data.
    spec["build_model"] = hypermodel.identity(model)
    spec["data"] = {"x": fingerprint(x), "y": fingerprint(y),
                    "validation": fingerprint(validation_data)}
    description = (f"{spec['search']['project_name']}: x {describe_inputs(x)}, "
                   f"{len(space.layers)} tuned recurrent layer(s)")
    # A build_model has no [dataset], [model] or [space]: its data and space are its own.
    return Problem(hypermodel, space, x, y, validation_data, description,
                   sections=("budget", "search", "tracking"))


def _spec_problem(spec) -> Problem:
    """The :class:`Problem` of a spec: its dataset and model template."""
    dataset = load_dataset(spec["dataset"])
    train, val = (getattr(part, "shape", None) for part in (dataset.x_train, dataset.x_val))
    if train is not None and val is not None and train[1:] != val[1:]:
        raise ValueError(f"[dataset] the validation inputs' rows have shape {val[1:]}, the "
                         f"training inputs' {train[1:]}: both splits must have one shape.")
    spec["model"]["task"] = spec["model"]["task"] or dataset.task
    space = build_space(spec, dataset)
    return Problem(TensorizedRNNHyperModel(space), space, dataset.x_train, dataset.y_train,
                   (dataset.x_val, dataset.y_val), str(dataset),
                   logged_metrics=space.metric_names())


def _overridden_spec(source, budget, search: dict, tracking: dict, **data) -> dict:
    """The spec ``source`` names, with the caller's values for its keys. A
    spec reads its own data (its ``[dataset]``): arrays given beside it
    would be silently unused, so they are refused."""
    given = [name for name, value in data.items() if value is not None]
    if given:
        verb = "goes" if len(given) == 1 else "go"
        raise ValueError(f"{', '.join(f'`{name}`' for name in given)} {verb} with your own "
                         "`build_model(hp)`: a spec's data are its [dataset] section. Search "
                         "your arrays with `ktr.search.run(build_model, x=..., y=...)`, or save them "
                         "to an .npz file and give a spec its `[dataset] path`.")
    return load_spec(source, {"search": search, "tracking": tracking,
                              "budget": {"max_params": budget}})


def _override(spec, max_trials, epochs, tracking_uri, strategy=None, finetune_epochs=None):
    """The spec with the caller's ``max_trials``, ``epochs``, ``tracking_uri``,
    ``strategy`` and ``finetune_epochs``."""
    search, tracking = spec["search"], spec["tracking"]
    search["strategy"] = check_strategy(search["strategy"] if strategy is None else strategy)
    if finetune_epochs is not None:
        search["finetune_epochs"] = finetune_epochs
    finetune = search["finetune_epochs"]
    if isinstance(finetune, bool) or not isinstance(finetune, int) or finetune < 0:
        raise ValueError("[search] finetune_epochs must be an int >= 0. "
                         f"Received: finetune_epochs={search['finetune_epochs']!r}")
    for name, value in (("max_trials", max_trials), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        if value is not None and value < 1:
            raise ValueError(f"`{name}` must be >= 1. Received: {value}")
    search["max_trials"] = max_trials or search["max_trials"]
    search["epochs"] = epochs or search["epochs"]
    tracking["tracking_uri"] = tracking_uri or tracking["tracking_uri"]


ROLES = ("chief", "worker")


@contextlib.contextmanager
def keras_tuner_role(role: str, oracle_address: str | None = None, tuner_id: str | None = None):
    """keras-tuner's distributed-tuning environment for one process."""
    if role not in ROLES:
        raise ValueError(f"`role` must be one of {ROLES} (or None for one process). "
                         f"Received: role={role!r}")
    address = oracle_address or "{}:{}".format(os.environ.get("KERASTUNER_ORACLE_IP", "127.0.0.1"),
                                               os.environ.get("KERASTUNER_ORACLE_PORT", "8000"))
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"`oracle_address` must be host:port, e.g. 127.0.0.1:8000. "
                         f"Received: {address!r}")
    if role == "worker" and tuner_id and "chief" in tuner_id:
        raise ValueError(f"A worker's tuner_id must not contain 'chief'. Received: {tuner_id!r}")
    env = {"KERASTUNER_TUNER_ID": "chief" if role == "chief" else tuner_id or f"worker-{os.getpid()}",
           "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}
    with checks.patched_environ(env):
        yield env


def _run(spec, problem: Problem, verbose, distribution, overwrite, progress):
    search, tracking = spec["search"], spec["tracking"]
    problem.space.check_budget()
    _resolve_objectives(search, spec["model"].get("task"))
    _check_objective_logged(search["objective"], problem.logged_metrics)
    if search["strategy"] == "nested":
        check_ranks_taken_out(problem.hypermodel, search["objectives"])
    # Before the store is touched: a bad oracle or distribution name is a spec error.
    check_oracle(search["oracle"])
    placement = resolve_distribution(search["distribution"] if distribution is None else distribution)
    project_dir = Path(search["directory"]) / search["project_name"]
    if not overwrite:
        check_same_search(spec, project_dir)
    connect(tracking["tracking_uri"], tracking["experiment"])
    with deterministic_ops(search["deterministic"]), trial_tracebacks_printed(bool(verbose)):
        with _without_reloading_line():
            tuner = _make_tuner(spec, problem, placement, overwrite, verbose, progress)
        record_search(spec, project_dir)
        if verbose:
            _print_start(spec, problem, tuner)
        result = tuner.search(problem.x, problem.y, validation_data=problem.validation_data,
                              epochs=search["epochs"],
                              batch_size=None if is_batched(problem.x) else search["batch_size"],
                              verbose=search["verbose"])
    if verbose:
        _print_end(result, tuner, tracking["tracking_uri"])
    _check_a_trial_completed(tuner, result)
    return result  # None on a worker: the chief summarizes


def _check_a_trial_completed(tuner, result) -> None:
    """A ``RuntimeError`` where every trial failed (their runs are logged,
    each with its error): an empty front is no answer to return."""
    from keras_tuner.engine import trial as trial_module

    if result is None or result.rows:  # None: a worker, whose oracle is the chief's client
        return
    trials = list(tuner.oracle.trials.values())
    failed = [t for t in trials if t.status != trial_module.TrialStatus.COMPLETED]
    if not failed:
        return
    raise RuntimeError(
        f"Every trial of the search failed ({len(failed)} of {len(trials)}), the first with: "
        f"{last_line(failed[0].message or 'no message').rstrip('.')}. Each failed trial's MLflow run holds "
        "its error (tag `error`, artifact error.txt); fix the cause and search again "
        "(`overwrite=True` starts over).")


def _resolve_objectives(search: dict, task: str | None) -> None:
    """``objective`` (what the oracle optimises) and ``objectives`` (what the
    front trades off), filled in and checked."""
    # A spec knows its task; a search on your own model defaults to val_loss.
    task = task or "regression"
    search["objective"] = (search["objective"] or (search["objectives"] or [None])[0]
                           or ("val_loss" if task == "regression" else "val_accuracy"))
    search["objectives"] = list(dict.fromkeys([search["objective"],
                                               *(search["objectives"] or ["params"])]))
    # An unknown direction is a spec error, said of the key that named it.
    for key, names in (("objective", search["objectives"][:1]),
                       ("objectives", search["objectives"][1:])):
        for name in names:
            objective_direction(name, key)


def _check_objective_logged(objective: str, logged: list[str] | None) -> None:
    """The oracle's objective among what a trial's history logs, where that
    is known before training (a spec's template; a ``build_model``'s
    metrics are its own)."""
    if logged is not None and objective not in logged:
        raise checks.unknown("objective", objective, logged, where=" in [search]",
                             noun="objectives (the metrics a trial logs)")


@contextlib.contextmanager
def _without_reloading_line():
    """What is printed within, less keras-tuner's "Reloading Tuner from
    <file>" on a resume: the start line says it ("N already finished")."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        sys.stdout.write("".join(line for line in printed.getvalue().splitlines(keepends=True)
                                 if not line.startswith("Reloading Tuner from ")))


def _make_tuner(spec, problem: Problem, placement, overwrite, verbose, progress) -> SearchTuner:
    import keras_tuner

    search, tracking = spec["search"], spec["tracking"]
    described = {section: spec[section] for section in problem.sections}
    objective = keras_tuner.Objective(search["objective"], objective_direction(search["objective"]))
    oracle = make_oracle(search["oracle"], problem.space, objective=objective,
                         max_trials=search["max_trials"], epochs=search["epochs"],
                         seed=search["seed"], spread=search["spread"],
                         nested=search["strategy"] == "nested")
    return SearchTuner(
        oracle=oracle, hypermodel=problem.hypermodel, directory=search["directory"],
        project_name=search["project_name"], overwrite=overwrite, distribution=placement,
        progress=verbose and progress, print_trials=bool(verbose),
        objectives=search["objectives"], tracking_uri=tracking["tracking_uri"],
        experiment=tracking["experiment"], run_name=tracking["run_name"],
        search_params=flat_spec(described), spec=_plain(described),
        register_as=tracking["register_as"], finetune_epochs=search["finetune_epochs"])


def _print_start(spec, problem: Problem, tuner) -> None:
    search, tracking = spec["search"], spec["tracking"]
    # A worker's oracle is a client of the chief's: it holds no trials.
    done = sum(t.status == "COMPLETED" for t in getattr(tuner.oracle, "trials", {}).values())
    finished = f" ({done} already finished)" if done else ""
    budget = ("no budget" if problem.space.budget is None
              else f"budget {problem.space.budget:,} parameters ({problem.space.budget_scope})")
    print(f"[ktr] {problem.description}; {budget}; "
          f"{_count(search['max_trials'], 'trial')}{finished}, {search['oracle']} oracle; MLflow: "
          f"{tracking['tracking_uri']} experiment '{tracking['experiment']}'", flush=True)
    if done >= search["max_trials"]:
        print(f"[ktr] {_count(done, 'trial')} {'is' if done == 1 else 'are'} already finished, "
              f"max_trials is "
              f"{search['max_trials']}: nothing left to run (raise max_trials to run more, "
              "or overwrite=True, --overwrite, to start over).", flush=True)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _print_end(result, tuner, tracking_uri: str) -> None:
    if result is None:
        print(f"[ktr] worker {tuner.tuner_id}: no trials left", flush=True)
        return
    scored = sum(" " in str(row["trial"]) for row in result.rows)
    ranks = f" and {_count(scored, 'lower rank')} scored from them" if scored else ""
    print(f"\nPareto front ({' vs '.join(tuner.objectives or [result.objective, 'params'])}), "
          f"{_count(len(result.rows) - scored, 'completed trial')}{ranks}:")
    print(result.table)
    tried, most = len(tuner.oracle.trials), tuner.oracle.max_trials
    if most is not None and tried < most:
        nested = " (a nested search sets every rank to its largest, so points that differ " \
                 "only in rank are one)" if tuner.oracle.nested and scored else ""
        print(f"\n[ktr] {_count(tried, 'trial')} of max_trials {most}: the space has no other "
              f"point within the budget{nested}.")
    print(f"\nPlot: {result.plot_path}\nBest model: {result.best_model_uri}\n"
          f"Open the MLflow UI: mlflow ui --backend-store-uri {tracking_uri}\n"
          f"then the runs: {result.ui_url()}")


# What a resumed search must share with the one it continues: anything else
# changes what its finished trials mean.
_SAME_SEARCH = {"dataset": None, "model": None, "space": None, "budget": None,
                "build_model": None, "data": None,  # a search on one's own model
                "search": ("oracle", "objective", "seed", "batch_size", "strategy", "epochs",
                           "finetune_epochs")}
# What a key missing from a project recorded before the key existed meant
# (_UNRECORDED: not known, so not compared).
_UNRECORDED = object()
_RECORDED_BEFORE = {("search", "strategy"): "independent", ("search", "epochs"): _UNRECORDED,
                    ("search", "finetune_epochs"): _UNRECORDED}


def _identity(spec) -> dict:
    return {section: _plain({k: v for k, v in spec[section].items() if keys is None or k in keys})
            for section, keys in _SAME_SEARCH.items() if section in spec}


def check_same_search(spec, project_dir: Path):
    """Refuse to resume a project whose recorded spec differs (space, budget,
    data, model, oracle, epochs): the finished trials would not belong to it."""
    recorded = project_dir / "ktr_spec.json"
    if not recorded.is_file():
        return
    before, now = json.loads(recorded.read_text()), _identity(spec)
    changed = []
    for section in now:
        if section not in before:  # recorded before 0.14.1 (own models' model and data)
            continue
        for key in sorted(set(now[section]) | set(before[section])):
            was = before[section].get(key, _RECORDED_BEFORE.get((section, key)))
            if was is not _UNRECORDED and now[section].get(key) != was:
                changed.append(f"[{section}] {key}")
    if changed:
        raise ValueError(
            f"Project '{project_dir.name}' in {project_dir.parent} was searched with another spec "
            f"({', '.join(changed)} changed), so its finished trials cannot be resumed. Start "
            "over with --overwrite (`overwrite = true` in [search], or run(..., overwrite=True)), "
            "or give the search a new project_name.")


def record_search(spec, project_dir: Path):
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / "ktr_spec.json").write_text(json.dumps(_identity(spec), indent=1))


def flat_spec(spec) -> dict:
    """Every key of the spec as ``section.key`` (MLflow params of the parent run)."""
    flat = {}
    for section, values in _plain(spec).items():
        for key, value in values.items():
            if isinstance(value, dict):
                flat.update({f"{section}.{k}": v for k, v in value.items()})
            else:
                flat[f"{section}.{key}"] = value
    return flat


def _plain(value):
    """The spec as JSON-able data (tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


@contextlib.contextmanager
def trial_tracebacks_printed(printed: bool):
    """keras-tuner prints each failed trial's traceback only while
    ``printed`` (a search's ``verbose``); the setting is put back after."""
    from keras_tensor_rnn._private_api import trial_tracebacks

    before = trial_tracebacks(printed)
    try:
        yield
    finally:
        trial_tracebacks(before)


@contextlib.contextmanager
def deterministic_ops(enabled: bool = True):
    """Deterministic kernels while the search runs, so that a seeded search
    repeats its metrics on one machine; the previous setting is restored
    when it returns (TensorFlow's op determinism is process-wide, and with
    it on, a later unseeded ``fit`` raises "Random ops require a seed").
    TensorFlow: ``enable_op_determinism`` (ops without a deterministic
    kernel then raise, and some GPU kernels are slower). JAX runs are
    deterministic on CPU; on a GPU set
    ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` before starting Python."""
    import keras

    if not enabled or keras.backend.backend() != "tensorflow":
        yield
        return
    from keras_tensor_rnn._private_api import op_determinism

    before = op_determinism()
    op_determinism(True)
    try:
        yield
    finally:
        op_determinism(before)


def objective_direction(objective: str, key: str = "objective") -> str:
    """An objective's direction: a registered measurement's, else keras-tuner's
    own inference (``val_loss``, ``val_mae`` and perplexity are minimised,
    accuracy and AUC maximised); see :mod:`keras_tensor_rnn.search.objectives`.
    An unknown one is a ``ValueError`` said of the ``[search]`` ``key`` that
    named it."""
    from keras_tensor_rnn.search import objectives

    try:
        return objectives.direction(objective)
    except ValueError as error:
        raise ValueError(f"[search] {key}: {error}") from None
