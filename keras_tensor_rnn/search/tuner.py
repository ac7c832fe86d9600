"""The tuner: trains each trial, measures it, and tracks it in MLflow.

- :class:`RecurrentModelTuner` (a ``keras_tuner.Tuner``) trains a trial's
  model (seeded, with per-epoch progress) and returns its objective plus
  parameter counts, compression, measured inference latency and the
  measurements the search's objectives ask for.
- :class:`SearchTuner` adds MLflow tracking (:mod:`.tracking`).
"""

from __future__ import annotations

import math
import statistics
import time

import keras
import keras_tuner

from keras_tensor_rnn import _private_api, checks
from keras_tensor_rnn.search.data import first_inputs, is_batched
from keras_tensor_rnn.search.hypermodel import SearchHyperModel
from keras_tensor_rnn.search.reporting import ConsoleReporter, last_line
from keras_tensor_rnn.search.tracking import MLflowTrackingMixin


def measure_latency_ms(model, batch, repeats: int = 10) -> float:
    """Median wall time of one compiled inference call (``predict_on_batch``)
    on ``batch``, in milliseconds, after two warm-up calls (so compilation is
    not counted)."""
    for _ in range(2):
        model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


class RecurrentModelTuner(keras_tuner.Tuner):
    """Trains one trial of a :class:`SearchHyperModel`.

    ``search(x, y, validation_data=(x_val, y_val), epochs=..., batch_size=...)``
    as with any keras-tuner tuner. Works with the random, Bayesian and
    Hyperband budget oracles (Hyperband's ``tuner/epochs`` and warm starts
    are honoured).
    """

    def _activate_all_conditions(self):  # a private keras-tuner hook: see _private_api
        # keras-tuner builds the model repeatedly to discover conditional
        # hyperparameters; a SearchHyperModel declares its whole space
        # instead, so no model is built outside a trial (none over budget).
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def __init__(self, *args, distribution=None, objectives=None, finetune_epochs: int = 1,
                 **kwargs):
        from keras_tensor_rnn.search.distribution import resolve

        self.objectives = list(objectives) if objectives else None
        self.finetune_epochs = finetune_epochs
        hypermodel = kwargs.get("hypermodel", args[1] if len(args) > 1 else None)
        if not isinstance(hypermodel, SearchHyperModel):
            raise TypeError("The search's tuner takes a `SearchHyperModel` as `hypermodel`: "
                            "`TensorizedRNNHyperModel(space)` or "
                            "`OwnModelHyperModel(build_model)` (or `ktr.search.run(build_model, "
                            f"...)`). Received: {type(hypermodel).__name__}")
        self.placement = resolve(distribution)
        if self.placement.strategy is not None:
            kwargs["distribution_strategy"] = self.placement.strategy
        # Read before keras-tuner hands a worker a client of the chief's
        # oracle instead, which has no seed: its trials would start
        # unseeded (and, with op determinism, fail).
        self.seed = kwargs.get("oracle", args[0] if args else None).seed
        super().__init__(*args, **kwargs)

    def _scope(self):
        strategy = self.placement.strategy
        return strategy.scope() if strategy is not None else self.placement.scope()

    def run_trial(self, trial, *args, **kwargs):
        # The data are the same for every trial of a search: scanned once.
        arrays = (*args, kwargs.get("validation_data"))
        key = tuple(id(a) for a in arrays)
        if key != getattr(self, "_finite_data", None):
            check_finite_data(*arrays)
            self._finite_data = key
        seed = self.seed
        if seed is not None:
            # Every trial starts from a seed of its own, derived from the
            # search's: the same search gives the same initial weights and
            # batches, hence the same metrics (with op determinism).
            keras.utils.set_random_seed((int(seed) * 100_003 + int(trial.trial_id)) % 2**31)
        scope = self._scope()
        try:
            with scope:
                return self._train_trial(trial, *args, **kwargs)
        except Exception as error:
            if _out_of_memory(error):
                raise keras_tuner.errors.FailedTrialError(
                    f"Out of memory: {type(error).__name__}: {last_line(str(error))[:500]}. "
                    "Lower `batch_size`, `units` or the budget.") from error
            raise

    def _train_trial(self, trial, x, y, validation_data=None, epochs=1, batch_size=32,
                     callbacks=None, verbose=0):
        hp = trial.hyperparameters
        values = self.hypermodel.active_values(hp)
        model = self.hypermodel.build(hp)
        self.trial_model_built(trial, model)
        initial_epoch = int(hp.values.get("tuner/initial_epoch", 0))
        epochs = int(hp.values.get("tuner/epochs", epochs))
        if "tuner/trial_id" in hp.values:  # Hyperband: continue a previous trial
            model.load_weights(_private_api.checkpoint_path(self, hp.values["tuner/trial_id"]))
        objective = self.oracle.objective
        # As keras-tuner's own tuner: keep the weights of the best epoch, which
        # `load_model` (and so `get_best_models`) restores.
        checkpoint = keras.callbacks.ModelCheckpoint(
            _private_api.checkpoint_path(self, trial.trial_id), monitor=objective.name,
            mode=objective.direction, save_best_only=True, save_weights_only=True)
        history = model.fit(
            x, y, validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
            batch_size=batch_size, verbose=verbose,
            # Batches come shuffled or not as the user made them (Keras warns otherwise).
            shuffle=not is_batched(x),
            callbacks=[*(callbacks or []), checkpoint, keras.callbacks.TerminateOnNaN(),
                       *self.trial_callbacks(trial, epochs)],
        )
        _private_api.save_build_config(self, trial.trial_id, model)
        losses = history.history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            raise keras_tuner.errors.FailedTrialError(
                f"Training loss became {losses[-1]} (not finite) at epoch {len(losses)}.")
        series = history.history.get(objective.name)
        if not series:
            raise keras_tuner.errors.FatalError(
                f"The objective '{objective.name}' is not among the training metrics "
                f"{sorted(history.history)}; check `objective` and `validation_data`.")
        best = max(series) if objective.direction == "max" else min(series)
        sample = first_inputs(validation_data if validation_data is not None else (x, y),
                              batch_size or 32)
        from keras_tensor_rnn.search import objectives as registry

        others = {}  # other objectives the model logs: their best epoch's value
        for name in self.objectives or ():
            logged = history.history.get(name)
            if logged and name != objective.name:
                others[name] = float(max(logged) if registry.direction(name) == "max"
                                     else min(logged))
        metrics = {objective.name: float(best), **self._measured(model, values, sample), **others}
        if self.hypermodel.nested_ranks:
            self._score_ranks(trial, model, values, validation_data, batch_size, sample)
        return metrics

    def _measured(self, model, values: dict, sample, latency: bool = True) -> dict:
        """What a trial records of its model besides the training metrics:
        counts, compression, latency (unless ``latency`` is False and it is
        not an objective) and the measured objectives."""
        from keras_tensor_rnn.search import objectives as registry

        measured = self.hypermodel.measure(model, values)
        if latency:
            measured["latency_ms"] = float(measure_latency_ms(model, sample))
        return {**measured, **{name: float(measure(model, sample)) for name, measure
                               in registry.measured(self.objectives or ()).items()}}

    def _score_ranks(self, trial, model, values, validation_data, batch_size, sample) -> None:
        """Score every lower rank of the trained nested model (its best
        epoch's weights), keep them beside the trial's checkpoint and hand
        them to :meth:`ranks_scored`."""
        from keras_tensor_rnn.nested import truncate, truncated_counts
        from keras_tensor_rnn.predictions import quiet_retracing
        from keras_tensor_rnn.search import nested_strategy

        model.load_weights(_private_api.checkpoint_path(self, trial.trial_id))
        latency = "latency_ms" in (self.objectives or ())
        taken_out = nested_strategy.ranks_taken_out(self.objectives)

        def measure(ranks):
            if taken_out:
                return self._measured(truncate(model, ranks), values, sample, latency=latency)
            return self.hypermodel.measure(model, values, truncated_counts(model, ranks))

        with quiet_retracing():
            rows = nested_strategy.score_ranks(self, model, values, validation_data,
                                               batch_size or 32, measure)
        nested_strategy.save_scores(self.get_trial_dir(trial.trial_id), rows)
        self.ranks_scored(trial, rows)

    def ranks_scored(self, trial, rows: list[dict]) -> None:
        """Called in a nested-rank search with a trial's scored lower ranks
        (``{"values", "metrics"}`` each): a hook for mixins (tracking logs a
        run per rank, the console a line), each calling ``super()``'s."""

    def trial_model_built(self, trial, model) -> None:
        """Called with a trial's model once it is built, before training: a
        hook for mixins (tracking logs what the hyperparameters turned into),
        each calling ``super()``'s."""

    def trial_callbacks(self, trial, epochs: int) -> list:
        """The Keras callbacks of a trial's ``fit`` besides the checkpoint: a
        hook for mixins (tracking, console), each adding its own to
        ``super()``'s."""
        return []

    def print_line(self, text: str) -> None:
        """A search line on the console (``ConsoleReporter`` quiets it)."""
        print(text, flush=True)

    def load_model(self, trial):
        """The trial's model with its best epoch's weights. The checkpoint
        holds the optimizer's state too: the optimizer is built first so
        that it loads (Keras would skip it with a warning)."""
        with self._scope():
            model = self.hypermodel.build(trial.hyperparameters)
            if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(_private_api.checkpoint_path(self, trial.trial_id))
        return model


def check_finite_data(*arrays):
    """A ``FailedTrialError`` naming the first array (x, y or validation
    data) with NaN or inf values: training on them only yields a NaN loss."""
    names = ["x", "y", "validation_data"]
    for name, array in zip(names, arrays):
        bad = checks.non_finite(array)
        if bad:
            raise keras_tuner.errors.FailedTrialError(
                f"The training data `{name}` has {bad:,} non-finite values (NaN or inf): "
                "clean or impute them before the search.")


class SearchTuner(ConsoleReporter, MLflowTrackingMixin, RecurrentModelTuner):
    """The budgeted, MLflow-tracked tuner used by :func:`keras_tensor_rnn.search.run`:
    trials trained by :class:`RecurrentModelTuner`, tracked by
    :class:`~keras_tensor_rnn.search.tracking.MLflowTrackingMixin`, shown by
    :class:`~keras_tensor_rnn.search.reporting.ConsoleReporter`."""


def _out_of_memory(error) -> bool:
    """A host or device allocation failure, on any backend."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return (type(error).__name__ == "ResourceExhaustedError" or "RESOURCE_EXHAUSTED" in text
            or "out of memory" in text.lower())





__all__ = ["RecurrentModelTuner", "SearchTuner", "measure_latency_ms"]
