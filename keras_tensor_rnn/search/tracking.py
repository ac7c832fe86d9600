"""MLflow tracking of a search, through keras-tuner's trial hooks.

:class:`MLflowTrackingMixin` logs one parent run per search and one nested
run per trial, named after what it tries (``03 mps r3 u128``), with the
hyperparameters and the resolved ranks and modes as params, and as metrics
the per-epoch history (Keras's names), ``best_<objective>`` (what the CLI
and the Pareto front use), and the measurements every trial records
(``objectives.recorded()``: counts, compression, ``latency_ms``); trial id
and status as tags; failed trials with their
error. At the end it logs the Pareto table and plot and, once per search,
the best model (``mlflow.keras``, with its signature and an input example)
to the parent run, optionally registered in the model registry.
:func:`connect` points MLflow at a store, fails fast when it is unreachable
and creates experiments in MLflow 3's model-training view.

``mlflow`` is imported lazily, inside these hooks.
"""

from __future__ import annotations

import math
import time

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine import trial as trial_module

from keras_tensor_rnn import checks
from keras_tensor_rnn.search import objectives as registry
from keras_tensor_rnn.search.nested_strategy import rank_label
from keras_tensor_rnn.search.reporting import last_line
from keras_tensor_rnn.search.results import rounded, summarize, trial_metrics
from keras_tensor_rnn.search.spec import DEFAULT_TRACKING_URI, absolute_sqlite_uri

# MLflow 3's UI chooses an experiment's view from this tag; without it a new
# experiment opens in the GenAI (traces) view.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def trial_run_name(trial_id: str, values: dict) -> str:
    """What a trial tries, as its MLflow run name: ``03 mps r3 u128``; with
    several tuned layers (``rnn0/rank``, ...), one group per layer:
    ``03 rnn0 tt r3 u64 rnn1 cp r2 u32``."""
    layers = {}
    for key, value in values.items():
        prefix, _, name = key.rpartition("/")
        layers.setdefault(prefix, {})[name] = value
    parts = [str(trial_id)]
    for prefix, own in layers.items():
        if "decomposition" not in own:
            continue
        parts += [prefix, str(own["decomposition"])] if prefix else [str(own["decomposition"])]
        ranks = [str(v) for k, v in sorted(own.items()) if k == "rank" or k.startswith("rank_")]
        if ranks:
            parts.append("r" + "-".join(ranks))
        if "shared" in own:
            parts.append(f"s{float(own['shared']):g}")
        if "units" in own:
            parts.append(f"u{own['units']}")
    return " ".join(parts)


class _EpochLogger(keras.callbacks.Callback):
    """Logs every epoch's metrics to the active (trial) MLflow run."""

    def on_epoch_end(self, epoch, logs=None):
        import mlflow

        finite = {k: rounded(v) for k, v in (logs or {}).items()
                  if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v))}
        if finite:
            mlflow.log_metrics(finite, step=epoch)


class MLflowTrackingMixin:
    """MLflow tracking through keras-tuner's hooks (see module docstring).

    Args (keyword, before the tuner's own):
        tracking_uri: MLflow tracking URI (default ``sqlite:///mlflow.db``).
        experiment: MLflow experiment name.
        run_name: name of the parent run.
        search_params: params logged on the parent run (a spec's every key).
        spec: the whole spec, logged on the parent run as ``spec.json``.
        register_as: also register the best model in MLflow's model
            registry under this name.
    """

    def __init__(self, *args, tracking_uri=None, experiment="keras-tensor-rnn", run_name=None,
                 search_params=None, spec=None, register_as=None, **kwargs):
        self.tracking_uri = absolute_sqlite_uri(tracking_uri or DEFAULT_TRACKING_URI)
        self.experiment = experiment
        self.run_name = run_name
        self.search_params = dict(search_params or {})
        self.spec = spec
        self.register_as = register_as
        self.experiment_id = None
        self.parent_run_id = None
        self.resumed_from = None  # the killed attempt's run of the trial being re-run
        self.overwrite = kwargs.get("overwrite", False)
        self.result = None
        super().__init__(*args, **kwargs)

    # -------------------------------------------------------------- search

    def search(self, *fit_args, **fit_kwargs):
        """keras-tuner's search, tracked: one parent run, one nested run per trial.

        Run alone, as keras-tuner's chief or as one of its workers (the
        ``KERASTUNER_*`` environment variables): the chief owns the parent
        run and logs the summary once every worker is done; workers attach
        their trial runs to it. A search resumed from its project directory
        (``overwrite=False``) reopens its parent run, settles the trial
        runs a killed process left open (:meth:`_close_orphaned_trial_runs`),
        and reopens a trial's run when keras-tuner re-runs that trial.
        """
        import mlflow

        self.experiment_id = connect(self.tracking_uri, self.experiment)
        if self._is_worker():
            # Trials come from the chief; the parent run is found when the
            # first one starts (the chief creates it before serving trials).
            super().search(*fit_args, **fit_kwargs)
            return None
        previous = self._previous_parent_run()
        if previous is None:
            self._supersede_earlier_searches()
        with mlflow.start_run(run_id=previous, run_name=None if previous else
                              (self.run_name or self.project_name)) as parent:
            self.parent_run_id = parent.info.run_id
            mlflow.set_tags({"ktr.role": "search", "ktr.project": self.project_name})
            if previous:
                self._close_orphaned_trial_runs()
                done = sum(t.status == trial_module.TrialStatus.COMPLETED
                           for t in self.oracle.trials.values())
                self.print_line(f"[ktr] resuming '{self.project_name}': {done} trials already "
                                f"finished, MLflow parent run {previous}")
            else:
                if self.search_params:
                    mlflow.log_params({k: _param(v) for k, v in self.search_params.items()})
                if self.spec is not None:
                    mlflow.log_dict(self.spec, "spec.json")
            try:
                super().search(*fit_args, **fit_kwargs)
            except BaseException:
                self._close_trial_run("FAILED")
                raise
            self.result = summarize(self, fit_kwargs.get("validation_data"), fit_args,
                                    fit_kwargs.get("batch_size"))
        return self.result

    def _parent_runs(self, running_only=False):
        """This project's live search (parent) runs, newest first (runs of
        searches started over with ``overwrite`` are superseded, not live)."""
        query = f"tags.`ktr.role` = 'search' and tags.`ktr.project` = '{self.project_name}'"
        runs = _runs(self.experiment, query + (" and attributes.status = 'RUNNING'"
                                               if running_only else ""))
        return [r for r in runs if r.data.tags.get("ktr.superseded") != "true"]

    def _supersede_earlier_searches(self):
        """A search started over (``overwrite``) ends the project's earlier
        parent runs, tagged ``ktr.superseded``, so one live parent is shown."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for run in _runs(self.experiment, f"tags.`ktr.role` = 'search' and "
                                          f"tags.`ktr.project` = '{self.project_name}'"):
            if run.data.tags.get("ktr.superseded") == "true":
                continue
            client.set_tag(run.info.run_id, "ktr.superseded", "true")
            if run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, "KILLED")

    def _previous_parent_run(self):
        """The parent run this search continues, if any: the project's live
        one when keras-tuner reloaded its trials, or when it is still
        RUNNING (a search killed before keras-tuner saved its first trial)
        and the search is not started over (``overwrite``)."""
        if self.overwrite:
            return None
        runs = self._parent_runs(running_only=not self.oracle.trials)
        return runs[0].info.run_id if runs else None

    def _close_orphaned_trial_runs(self):
        """Settle the trial runs a killed search left open: a trial the
        oracle had already recorded as completed (killed between that and
        its run's end; keras-tuner will not re-run it) gets what
        :meth:`on_trial_end` logs and ends FINISHED; any other run still
        RUNNING ends KILLED, tagged INTERRUPTED (keras-tuner re-runs it)."""
        import mlflow
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for run in _runs(self.experiment, f"tags.`mlflow.parentRunId` = '{self.parent_run_id}' "
                                          "and tags.`ktr.role` = 'trial'"):
            trial = self.oracle.trials.get(run.data.tags.get("trial_id"))
            completed = trial is not None and trial.status == trial_module.TrialStatus.COMPLETED
            if completed and run.data.tags.get("status") != trial_module.TrialStatus.COMPLETED:
                with mlflow.start_run(run_id=run.info.run_id, nested=True):
                    self._log_trial_end(trial)
            elif not completed and run.info.status == "RUNNING":
                client.set_tag(run.info.run_id, "status", "INTERRUPTED")
                client.set_terminated(run.info.run_id, "KILLED")

    def _find_parent_run(self, timeout=120.0):
        """A worker's view of the chief's parent run (the newest running one
        of this project)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self._parent_runs(running_only=True)
            if runs:
                return runs[0].info.run_id
            if time.monotonic() > deadline:
                raise keras_tuner.errors.FatalError(
                    f"No running search '{self.project_name}' in MLflow experiment "
                    f"'{self.experiment}' at {self.tracking_uri}: start the chief "
                    "(`ktr search SPEC --chief`) with the same spec and tracking store.")
            time.sleep(1.0)

    # -------------------------------------------------------------- trials

    def on_trial_begin(self, trial):
        import mlflow

        super().on_trial_begin(trial)
        if self.parent_run_id is None:
            self.parent_run_id = self._find_parent_run()
        tags = {"ktr.role": "trial", "trial_id": trial.trial_id, "status": "RUNNING",
                "ktr.tuner_id": self.tuner_id}
        earlier = _runs(self.experiment, f"tags.`mlflow.parentRunId` = '{self.parent_run_id}' "
                                         f"and tags.trial_id = '{trial.trial_id}'")
        # keras-tuner re-runs from scratch a trial a killed search left
        # unfinished: a run of its own, so the killed attempt's epoch history
        # (kept in its KILLED run) is not drawn again under the same steps.
        self.resumed_from = earlier[0].info.run_id if earlier else None
        if earlier:
            tags.update({"resumed": "true", "ktr.resumed_from": self.resumed_from})
        nested = mlflow.active_run() is not None
        if not nested:
            tags["mlflow.parentRunId"] = self.parent_run_id
        values = self.hypermodel.active_values(trial.hyperparameters)
        mlflow.start_run(run_name=trial_run_name(trial.trial_id, values), nested=nested, tags=tags)
        mlflow.log_params({k: _param(v) for k, v in values.items()})

    def trial_model_built(self, trial, model):
        import mlflow

        super().trial_model_built(trial, model)
        # What the hyperparameters turned into (resolved ranks and modes);
        # a resumed trial logs the same values again, which MLflow accepts.
        mlflow.log_params({k: _param(v) for k, v in self.hypermodel.describe(model).items()})

    def trial_callbacks(self, trial, epochs: int):
        return [*super().trial_callbacks(trial, epochs), _EpochLogger()]

    def ranks_scored(self, trial, rows):
        """One MLflow run per scored rank, nested in the trial's run (tagged
        ``nested_from``: the trial's run id): its values, exact parameter
        count and metrics. A trial re-run after a kill takes over the rank runs
        its killed attempt had logged (moved into its new run)."""
        import mlflow

        super().ranks_scored(trial, rows)
        trial_run = mlflow.active_run().info.run_id
        keys = self.oracle.space.role_keys(rows[0]["values"], "rank") if rows else []
        objective = self.oracle.objective.name
        earlier_runs = self._attempt_rank_runs()
        for row in rows:
            label = rank_label(row["values"], keys)
            tags = {"ktr.role": "rank", "nested_from": trial_run, "trial_id": trial.trial_id,
                    "ktr.ranks": label, "mlflow.parentRunId": trial_run,
                    "status": trial_module.TrialStatus.COMPLETED}
            earlier = earlier_runs.get(label)
            metrics = {k: rounded(v) for k, v in row["metrics"].items() if math.isfinite(v)}
            if objective in metrics:  # compared with the trials' own, as in the MLflow guide
                metrics[f"best_{objective}"] = metrics[objective]
            with mlflow.start_run(run_id=earlier, run_name=None if earlier else
                                  f"{trial.trial_id} {label}", nested=True, tags=tags):
                if not earlier:
                    mlflow.log_params({k: _param(v) for k, v in row["values"].items()})
                mlflow.log_metrics(metrics)

    def _attempt_rank_runs(self) -> dict[str, str]:
        """``{ranks label: run id}`` of the rank runs the killed attempt of
        the trial being re-run had logged (the newest per label), to be
        taken over; empty for a trial run for the first time, whose new run
        holds none, so no query is made then."""
        if self.resumed_from is None:
            return {}
        runs = _runs(self.experiment, f"tags.nested_from = '{self.resumed_from}' and "
                                      "tags.`ktr.role` = 'rank'")
        found = {}
        for run in runs:  # newest first: keep the first of each label
            found.setdefault(run.data.tags["ktr.ranks"], run.info.run_id)
        return found

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle settles the final status here
        self._log_trial_end(trial)
        self._close_trial_run("FINISHED" if trial.status == trial_module.TrialStatus.COMPLETED
                              else "FAILED")

    def _log_trial_end(self, trial):
        """Log a finished trial's final metrics (``best_<objective>`` among
        them), its status and, unless completed, its error, to the active run."""
        import mlflow

        status = trial.status
        objective = self.oracle.objective.name
        metrics = trial_metrics(trial, objective)
        # The training metrics' history is logged epoch by epoch: logged
        # again here, their best value would be a stray point at step 0.
        kept = {*registry.recorded(), *(o for o in self.objectives or () if registry.get(o))}
        logged = {k: rounded(v) for k, v in metrics.items() if k in kept}
        if objective in metrics:
            logged[f"best_{objective}"] = rounded(metrics[objective])
        if logged:
            mlflow.log_metrics(logged)
        mlflow.set_tag("status", status)
        if status != trial_module.TrialStatus.COMPLETED:
            message = trial.message or "no message"
            mlflow.set_tag("error", last_line(message)[:5000])
            mlflow.log_text(message, "error.txt")

    def _close_trial_run(self, status):
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id != self.parent_run_id:
            mlflow.end_run(status=status)


def connect(tracking_uri: str, experiment: str) -> str:
    """Point MLflow at ``tracking_uri`` and select ``experiment`` (created with
    the model-training view of MLflow 3's UI, :data:`EXPERIMENT_KIND`, unless
    it exists with a view of its own); fail fast, before any training, with a
    clear message when the store is unreachable. Returns the experiment id."""
    import mlflow

    def unreachable(error):
        return keras_tuner.errors.FatalError(
            f"Cannot reach the MLflow tracking store at {tracking_uri!r}: "
            f"{type(error).__name__}: {error}. Check `tracking_uri` (or MLFLOW_TRACKING_URI); "
            "the default is sqlite:///mlflow.db in the working directory.")

    scheme = tracking_uri.partition("://")[0]
    if scheme in ("http", "https"):
        # MLflow retries an unreachable server with backoff for minutes;
        # a direct connection attempt answers in seconds.
        import socket
        import urllib.parse

        url = urllib.parse.urlsplit(tracking_uri)
        try:
            with socket.create_connection(
                    (url.hostname, url.port or (443 if scheme == "https" else 80)), timeout=5):
                pass
        except OSError as error:
            raise unreachable(error) from error
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI; restore it, or
    # the next spec without a tracking_uri in this process would inherit
    # this one's store instead of its own default.
    with checks.patched_environ():
        mlflow.set_tracking_uri(tracking_uri)
    for attempt in range(6):
        try:
            found = mlflow.set_experiment(experiment)
            if "mlflow.experimentKind" not in found.tags:
                for key, value in EXPERIMENT_KIND.items():
                    mlflow.set_experiment_tag(key, value)
            return found.experiment_id
        except Exception as error:  # MLflow raises many types for a bad store
            # Processes starting together (a chief and its workers) race to
            # create a new sqlite store's schema or experiment: wait, retry.
            text = str(error)
            racing = "already exists" in text or "locked" in text or "UNIQUE constraint" in text
            if not racing or attempt == 5:
                raise unreachable(error) from error
            time.sleep(0.5 * 2 ** attempt)


def _runs(experiment: str, filter_string: str):
    """Runs of ``experiment`` matching ``filter_string``, newest first."""
    import mlflow

    found = mlflow.search_runs(experiment_names=[experiment], filter_string=filter_string,
                               order_by=["attributes.start_time DESC"], output_format="list")
    return list(found)


def _param(value):
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."


__all__ = ["MLflowTrackingMixin", "connect", "trial_run_name", "EXPERIMENT_KIND"]
