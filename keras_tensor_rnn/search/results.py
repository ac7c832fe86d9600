"""What a search produced: each trial's final metrics, the completed
trials, the Pareto front over the search's objectives (table and plot), the
dense references and the best model, logged to the search's MLflow parent
run and returned as a :class:`SearchResult`."""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path

import keras
import numpy as np
from keras_tuner.engine import trial as trial_module

from keras_tensor_rnn.nested import nested_submodels, truncate
from keras_tensor_rnn.predictions import quiet_retracing
from keras_tensor_rnn.search import nested_strategy, pareto
from keras_tensor_rnn.search import objectives as registry
from keras_tensor_rnn.search.data import first_inputs
from keras_tensor_rnn.search.oracle import BudgetMixin
from keras_tensor_rnn.search.pareto import format_number


class SearchResult:
    """What a search returns: all completed trials, the Pareto front, its
    text table, the plot's path, the parent MLflow run, the best model's URI
    and the tuner (``result.tuner.get_best_models()``)."""

    def __init__(self, rows, front, table, objective, parent_run_id, tuner=None):
        self.tuner = tuner
        self.rows, self.front, self.table = rows, front, table
        self.objective, self.parent_run_id = objective, parent_run_id
        self.plot_path = None
        self.best_model_uri = None
        self.best_trial_id = None
        self.experiment_id = None
        self.references = {}

    def ui_url(self, host: str = "http://127.0.0.1:5000") -> str:
        """The runs view of this search's experiment in ``mlflow ui``, in MLflow
        3's model-training workspace (its UI otherwise starts in GenAI's)."""
        return f"{host}/#/experiments/{self.experiment_id}/runs?workflowType=machine_learning"

    def __repr__(self):
        scored = sum(" " in str(row["trial"]) for row in self.rows)
        ranks = f" and {scored} scored ranks" if scored else ""
        return (f"<SearchResult {len(self.rows) - scored} trials{ranks}, {len(self.front)} on "
                f"the front, best model {self.best_model_uri}>")


def trial_metrics(trial, objective: str) -> dict:
    """A finished trial's metrics: each one's last value, the objective's
    best epoch (as keras-tuner scores it)."""
    metrics = {name: float(obs.get_last_value())
               for name, obs in trial.metrics.metrics.items()
               if obs.get_last_value() is not None}
    if objective in trial.metrics.metrics and trial.score is not None:
        metrics[objective] = float(trial.score)
    return metrics


def trial_table(tuner) -> list[dict]:
    """One row per completed trial of ``tuner``: hyperparameters and measurements."""
    rows = []
    objective = tuner.oracle.objective.name
    for trial in tuner.oracle.trials.values():
        if trial.status != trial_module.TrialStatus.COMPLETED:
            continue
        metrics = {name: obs.get_best_value() if name == objective else obs.get_last_value()
                   for name, obs in trial.metrics.metrics.items()}
        # Plain floats, as a scored rank's row has (keras-tuner keeps numpy's).
        metrics = {name: None if v is None else float(v) for name, v in metrics.items()}
        if objective not in metrics or metrics[objective] is None:
            continue
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}
        counts = {k: int(v) for k, v in metrics.items() if k.endswith("params") and v is not None}
        rows.append({"trial": trial.trial_id, **values, **metrics, **counts})
        rows += nested_rows(tuner, trial)
    return rows


def nested_rows(tuner, trial) -> list[dict]:
    """The rows of a nested-rank trial's scored lower ranks (``trial`` is
    ``"<trial id> r<ranks>"``; none in an independent search)."""
    rows = []
    for scored in nested_strategy.load_scores(tuner.get_trial_dir(trial.trial_id)):
        values, metrics = scored["values"], scored["metrics"]
        label = nested_strategy.rank_label(values, tuner.oracle.space.role_keys(values, "rank"))
        counts = {k: int(v) for k, v in metrics.items() if k.endswith("params")}
        rows.append({"trial": f"{trial.trial_id} {label}", **values, **metrics, **counts})
    return rows


def finetune_front(tuner, front: list[dict], data: tuple, batch_size) -> None:
    """Fine-tune each lower rank on the front (taken from its trial's model)
    for ``tuner.finetune_epochs`` epochs, and record its objective after it
    as ``finetuned_<objective>`` (in the row, and on the rank's MLflow run).
    A rank whose run has it already (a resumed search) keeps that value.

    Args:
        data: ``(x, y, validation_data)`` of the search.
    """
    import mlflow

    objective = tuner.oracle.objective.name
    x, y, validation_data = data
    for row in front:
        trial_id, _, label = row["trial"].partition(" ")
        if not label or not tuner.finetune_epochs or validation_data is None:
            continue
        runs = _rank_runs(tuner, trial_id, label)
        logged = [run.data.metrics[f"finetuned_{objective}"] for run in runs
                  if f"finetuned_{objective}" in run.data.metrics]
        if logged:
            row[f"finetuned_{objective}"] = logged[0]
            continue
        try:
            model = tuner.load_model(tuner.oracle.get_trial(trial_id))
        except (OSError, ValueError) as error:
            # A chief on another host than the trial's worker.
            tuner.print_line(f"[ktr] {row['trial']} not fine-tuned: its checkpoint is not "
                             f"readable here ({error})")
            continue
        holders = nested_submodels(model)
        if holders:
            tuner.print_line(f"[ktr] {row['trial']} not fine-tuned: its nested-rank layers sit "
                             f"in sub-model(s) {holders}, which `ktr.truncate` does not take "
                             "out (build them in the model itself to fine-tune its ranks)")
            continue
        small = truncate(model, nested_strategy.layer_ranks(tuner.hypermodel, row))
        small.compile_from_config(model.get_compile_config())
        # Seeded by the search's seed and the row: a resumed search fine-tunes
        # a front point to the same value (and op determinism needs a seed).
        keras.utils.set_random_seed(
            zlib.crc32(f"{tuner.oracle.seed}/{row['trial']}".encode()) % 2**31)
        with quiet_retracing():
            small.fit(x, y, epochs=tuner.finetune_epochs, batch_size=batch_size, verbose=0)
            value = nested_strategy.evaluated(small, validation_data, batch_size)[objective]
        # As logged, so that a resumed search reads the same value back.
        row[f"finetuned_{objective}"] = rounded(value)
        for run in runs:
            mlflow.MlflowClient().log_metric(run.info.run_id, f"finetuned_{objective}",
                                             rounded(value))


def _rank_runs(tuner, trial_id: str, label: str) -> list:
    """The MLflow run of trial ``trial_id``'s scored rank ``label`` in this
    search (the experiment may hold earlier searches with the same ids)."""
    import mlflow

    def runs(filter_string):
        return mlflow.search_runs(experiment_ids=[tuner.experiment_id], output_format="list",
                                  filter_string=filter_string)

    trials = runs(f"tags.`mlflow.parentRunId` = '{tuner.parent_run_id}' and "
                  f"tags.trial_id = '{trial_id}' and tags.`ktr.role` = 'trial'")
    return [run for trial in trials for run in
            runs(f"tags.nested_from = '{trial.info.run_id}' and tags.`ktr.ranks` = '{label}'")]


def front_table(tuner, rows: list[dict], finetune=None) -> tuple[list[dict], str, dict]:
    """The Pareto front of ``rows`` (each with every objective) over the
    tuner's objectives, its table, and the dense references of the best
    trial (logged as parent metrics); ``finetune(front)``, when given, runs
    on the front before its table is drawn."""
    import mlflow

    objective = tuner.oracle.objective
    chosen = tuner.objectives or [objective.name, "params"]
    directions = {name: objective.direction if name == objective.name
                  else registry.direction(name) for name in chosen}
    front = pareto.pareto_front(rows, directions)
    if finetune is not None:
        finetune(front)
    measured = list(dict.fromkeys([*chosen, *registry.recorded(),
                                   f"finetuned_{objective.name}"]))
    # The hyperparameters' columns (a scored rank's other evaluation metrics,
    # such as val_loss, are not among them).
    declared = {hp.name for hp in tuner.oracle.hyperparameters.space}
    tuned = [k for k in dict.fromkeys(k for r in rows for k in r)
             if k in declared and k not in measured and "learning_rate" not in k and k != "lr"]
    columns = [c for c in ["trial", *tuned, *measured] if any(c in r for r in rows)]
    table = pareto.format_table(front, columns)
    references = {}
    if rows and isinstance(tuner.oracle, BudgetMixin):
        best_values = tuner.hypermodel.active_values(
            tuner.oracle.get_best_trials(1)[0].hyperparameters)
        references = tuner.oracle.space.dense_references(best_values)
        # A budget of the recurrent layers only counts theirs: the line says so.
        counted = " (recurrent layers)" if tuner.oracle.space.budget_scope == "recurrent" else ""
        table += "\n\n" + "\n".join(
            f"{label}: {format_number(value) + ' parameters' + counted if value else 'none fits'}"
            for label, value in references.items())
        mlflow.log_metrics({f"{key}_params".replace(" ", "_").replace(",", ""): value
                            for key, value in references.items() if value})
    return front, table, references


def summarize(tuner, validation_data=None, training_data=(), batch_size=None) -> SearchResult:
    """The Pareto front of ``tuner``'s completed trials (and, in a
    nested-rank search, their scored lower ranks, the front's fine-tuned),
    its table and plot, and the best model, logged to the active (parent)
    MLflow run. ``training_data``: ``(x, y)`` as the search got them."""
    import mlflow

    objective = tuner.oracle.objective
    rows = [r for r in trial_table(tuner)
            if all(r.get(n) is not None for n in tuner.objectives or [objective.name, "params"])]
    finetune = None
    if tuner.hypermodel.nested_ranks and len(training_data) == 2:
        def finetune(front):
            finetune_front(tuner, front, (*training_data, validation_data), batch_size)
    front, table, references = front_table(tuner, rows, finetune)
    result = SearchResult(rows=rows, front=front, table=table, objective=objective.name,
                          parent_run_id=tuner.parent_run_id, tuner=tuner)
    result.references, result.experiment_id = references, tuner.experiment_id
    with tempfile.TemporaryDirectory() as tmp:
        if rows:
            plot = pareto.plot_front(rows, front, "params", objective.name,
                                     Path(tmp) / "pareto.png",
                                     title=f"{tuner.project_name}: {objective.name} vs params",
                                     references=references)
            mlflow.log_artifact(str(plot))
            result.plot_path = Path(tuner.project_dir) / "pareto.png"
            Path(plot).replace(result.plot_path)
        mlflow.log_text(table, "pareto.txt")
    scored = sum(" " in str(row["trial"]) for row in rows)
    mlflow.log_metrics({"trials_completed": len(rows) - scored,
                        **({"ranks_scored": scored} if tuner.hypermodel.nested_ranks else {}),
                        "trials_failed": sum(t.status != trial_module.TrialStatus.COMPLETED
                                             for t in tuner.oracle.trials.values())})
    if rows:
        best = tuner.oracle.get_best_trials(1)[0]
        result.best_trial_id = best.trial_id
        try:
            model = tuner.load_model(best)
        except (OSError, ValueError) as error:
            # A chief on another host than the best trial's worker.
            tuner.print_line(f"[ktr] best model not logged: its checkpoint is not readable "
                             f"here ({error})")
            return result
        mlflow.log_metrics({f"best_{objective.name}": rounded(best.score)})
        result.best_model_uri = log_best_model(tuner, model, best.trial_id, validation_data)
    return result


def log_best_model(tuner, model, trial_id, validation_data) -> str:
    """Log the best model on the parent run, once per search: a resumed
    search whose best trial has not changed keeps the model it logged."""
    import mlflow

    tags = mlflow.get_run(tuner.parent_run_id).data.tags
    if tags.get("best_trial_id") == trial_id and tags.get("ktr.best_model_uri"):
        return tags["ktr.best_model_uri"]
    from keras_tensor_rnn import __version__

    signature = sample = None
    inputs = None if validation_data is None else first_inputs(validation_data, 4)
    if inputs is not None and len(keras.tree.flatten(inputs)) == 1:
        # A model of several inputs is logged without a signature.
        sample = np.asarray(keras.tree.flatten(inputs)[0])[:4]
        signature = mlflow.models.infer_signature(sample, model.predict_on_batch(sample))
    info = mlflow.keras.log_model(
        model, name="best_model", signature=signature,
        pip_requirements=[f"keras=={keras.__version__}", f"keras-tensor-rnn=={__version__}"])
    if sample is not None:
        # MLflow 3.17's keras flavor fails to save `input_example` (it writes
        # the file before creating the model folder): log it beside the model.
        mlflow.log_dict({"inputs": sample.tolist()}, "best_model_input_example.json")
    mlflow.set_tags({"best_trial_id": trial_id, "ktr.best_model_uri": info.model_uri})
    if tuner.register_as:
        mlflow.register_model(info.model_uri, tuner.register_as)
    return info.model_uri


def rounded(value) -> float:
    """A metric to 6 significant digits: float32 noise (0.62699997) is not data."""
    return float(f"{float(value):.6g}")


__all__ = ["SearchResult", "trial_metrics", "trial_table", "front_table", "summarize",
           "log_best_model", "rounded"]
