"""Run a search from a spec: the project's main job."""

from __future__ import annotations

import contextlib
import os

from keras_tensor_rnn import checks, datasets
from keras_tensor_rnn.search.distribution import resolve as resolve_distribution
from keras_tensor_rnn.search.hypermodel import TensorizedRNNHyperModel
from keras_tensor_rnn.search.oracle import make_oracle
from keras_tensor_rnn.search.space import SearchSpace
from keras_tensor_rnn.search.spec import load_spec
from keras_tensor_rnn.search.tuner import SearchResult, SearchTuner, connect


def build_space(spec: dict, dataset) -> SearchSpace:
    model, space, budget = spec["model"], spec["space"], spec["budget"]
    tokens = len(dataset.input_shape) == 1
    return SearchSpace(
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
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
    )


def run(spec, max_trials: int | None = None, epochs: int | None = None,
        tracking_uri: str | None = None, verbose: bool = True, *,
        distribution=None, overwrite: bool | None = None, role: str | None = None,
        oracle_address: str | None = None, tuner_id: str | None = None) -> SearchResult | None:
    """Run the budgeted search a spec describes, tracked in MLflow.

    Everything that can be checked is checked before training: the spec's
    keys and types, the dataset name, that some configuration fits the
    budget (else the error names the smallest feasible model), and that the
    MLflow store is reachable.

    Args:
        spec: path of a TOML spec or a spec dict (see ``search/*.toml``).
        max_trials, epochs, tracking_uri, overwrite: override the spec.
        verbose: print progress and the Pareto table.
        distribution: how each trial trains (overrides ``[search]
            distribution``): a name of
            :data:`keras_tensor_rnn.search.distribution.DISTRIBUTIONS`, a
            ``tf.distribute.Strategy`` or a ``keras.distribution`` object.
        role: ``None`` (one process), ``"chief"`` (serves keras-tuner's
            oracle, owns the MLflow parent run, summarizes at the end) or
            ``"worker"`` (trains the trials the chief hands out). Sets
            keras-tuner's ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``
            and ``KERASTUNER_ORACLE_PORT`` for the duration of the call.
        oracle_address: ``host:port`` of the chief (default: the
            ``KERASTUNER_ORACLE_*`` variables, else ``127.0.0.1:8000``).
        tuner_id: a worker's name (default ``worker-<pid>``).

    Returns:
        A :class:`SearchResult` (completed trials, Pareto front, table, plot
        path, MLflow parent run id, best model URI); ``None`` on a worker.

    Example:

    >>> result = ktr.search.run("search/quickstart.toml", max_trials=4)  # doctest: +SKIP
    >>> print(result.table)  # doctest: +SKIP
    """
    spec = load_spec(spec)
    environment = (contextlib.nullcontext() if role is None
                   else keras_tuner_role(role, oracle_address, tuner_id))
    with environment:
        return _run(spec, max_trials, epochs, tracking_uri, verbose, distribution, overwrite)


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


def _run(spec, max_trials, epochs, tracking_uri, verbose, distribution, overwrite):
    search, tracking = spec["search"], spec["tracking"]
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"`max_trials` must be >= 1. Received: {max_trials}")
    search["max_trials"] = max_trials or search["max_trials"]
    search["epochs"] = epochs or search["epochs"]
    tracking["tracking_uri"] = tracking_uri or tracking["tracking_uri"]
    options = dict(spec["dataset"]["options"])
    dataset = datasets.load(spec["dataset"]["name"], **options)
    space = build_space(spec, dataset)
    space.check_budget()
    # Before the store is touched: a bad distribution name is a spec error.
    placement = resolve_distribution(search["distribution"] if distribution is None else distribution)
    connect(tracking["tracking_uri"], tracking["experiment"])
    import keras_tuner

    oracle = make_oracle(search["oracle"], space,
                         objective=keras_tuner.Objective(search["objective"], _direction(search["objective"])),
                         max_trials=search["max_trials"], epochs=search["epochs"], seed=search["seed"])
    tuner = SearchTuner(
        oracle=oracle,
        hypermodel=TensorizedRNNHyperModel(space),
        directory=search["directory"],
        project_name=search["project_name"],
        overwrite=search["overwrite"] if overwrite is None else overwrite,
        distribution=placement,
        tracking_uri=tracking["tracking_uri"],
        experiment=tracking["experiment"],
        run_name=tracking["run_name"],
        search_params={"dataset": dataset.name, "budget": space.budget,
                       "budget_scope": space.budget_scope, "oracle": search["oracle"],
                       "max_trials": search["max_trials"], "epochs": search["epochs"],
                       "decompositions": ",".join(space.decompositions), "cell": space.cell},
    )
    if verbose:
        print(f"[ktr] {dataset}; budget {space.budget} parameters ({space.budget_scope}); "
              f"{search['max_trials']} trials, {search['oracle']} oracle; MLflow: "
              f"{tracking['tracking_uri']} experiment '{tracking['experiment']}'", flush=True)
    result = tuner.search(dataset.x_train, dataset.y_train,
                          validation_data=(dataset.x_val, dataset.y_val),
                          epochs=search["epochs"], batch_size=search["batch_size"],
                          verbose=search["verbose"])
    if result is None:  # a worker: the chief summarizes
        if verbose:
            print(f"[ktr] worker {tuner.tuner_id}: no trials left", flush=True)
        return None
    if verbose:
        print(f"\nPareto front ({result.objective} vs params), {len(result.rows)} completed trials:")
        print(result.table)
        print(f"\nPlot: {result.plot_path}\nBest model: {result.best_model_uri}\n"
              f"Open the MLflow UI: mlflow ui --backend-store-uri {tracking['tracking_uri']}")
    return result


def _direction(objective: str) -> str:
    return "min" if "loss" in objective or "error" in objective else "max"
