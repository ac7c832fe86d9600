"""The search on the console: a line when a trial starts (what it tries),
one per epoch (time, ETA, metrics), one when it ends (its metrics and the
best so far), nothing when the search runs quietly."""

from __future__ import annotations

import time

import keras
import numpy as np
from keras_tuner.engine import trial as trial_module

from keras_tensor_rnn.search.pareto import format_number
from keras_tensor_rnn.search.results import trial_metrics


def last_line(message: str) -> str:
    """The last non-empty line of a message (an error's reason), TensorFlow's
    op annotations (``[[{{node ...}}]] [Op:...]``) left out: the line
    before them says what went wrong (``Incompatible shapes: ...``)."""
    lines = [line for line in message.strip().splitlines()
             if line.strip() and not line.strip().startswith("[[")]
    return lines[-1].strip() if lines else message


class ConsoleReporter:
    """A tuner mixin that prints the search's trial lines (and, with
    ``progress``, a line per epoch) unless ``print_trials`` is False.

    Args (keyword, before the tuner's own):
        print_trials: print the trial lines (``run(..., verbose=False)``: no).
        progress: also one line per epoch.
    """

    def __init__(self, *args, print_trials: bool = True, progress: bool = True, **kwargs):
        self.print_trials = print_trials
        self.progress = progress and print_trials
        super().__init__(*args, **kwargs)

    def print_line(self, text: str) -> None:
        """A search line on the console, unless the search runs quietly."""
        if self.print_trials:
            print(text, flush=True)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        values = self.hypermodel.active_values(trial.hyperparameters)
        # A worker's oracle is keras-tuner's client of the chief's: no trials.
        trials = getattr(self.oracle, "trials", None)
        # Hyperband sizes its brackets itself: it has no max_trials to show.
        total = f"/{self.oracle.max_trials}" if self.oracle.max_trials else ""
        count = f"{len(trials)}{total}" if isinstance(trials, dict) else self.tuner_id
        shown = ", ".join(f"{k}={format_number(v) if isinstance(v, float) else v}"
                          for k, v in values.items() if not k.startswith("tuner/"))
        self.print_line(f"[ktr] trial {trial.trial_id} ({count}): {shown}")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle settles the final status here
        metrics = trial_metrics(trial, self.oracle.objective.name)
        best = self.oracle.get_best_trials(1)
        best_text = (f"best so far: trial {best[0].trial_id} {self.oracle.objective.name}="
                     f"{best[0].score:.4f}") if best and best[0].score is not None else "no best yet"
        shown = ", ".join(f"{k}={format_number(int(v) if k.endswith('params') else v)}"
                          for k, v in metrics.items())
        if trial.status != trial_module.TrialStatus.COMPLETED:
            shown = f"{shown}{', ' if shown else ''}{last_line(trial.message or 'no message')}"
        self.print_line(f"[ktr] trial {trial.trial_id} {trial.status.lower()}: {shown} | "
                        f"{best_text}")

    def ranks_scored(self, trial, rows):
        super().ranks_scored(trial, rows)
        objective = self.oracle.objective
        if rows:
            pick = max if objective.direction == "max" else min
            best = pick(rows, key=lambda row: row["metrics"].get(objective.name, float("nan")))
            self.print_line(
                f"[ktr] trial {trial.trial_id}: {len(rows)} lower ranks scored, "
                f"{int(min(r['metrics']['params'] for r in rows)):,}-"
                f"{int(max(r['metrics']['params'] for r in rows)):,} params; best "
                f"{objective.name}={best['metrics'][objective.name]:.4f} at "
                f"{int(best['metrics']['params']):,} params")

    def trial_callbacks(self, trial, epochs: int):
        progress = [EpochProgress(trial.trial_id, epochs)] if self.progress else []
        return [*super().trial_callbacks(trial, epochs), *progress]


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: the epoch, its time, the time left in the trial
    (from the mean epoch so far) and the epoch's metrics."""

    def __init__(self, trial_id: str, epochs: int):
        super().__init__()
        self.trial_id, self.epochs = trial_id, epochs

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        mean = (now - self.start) / (epoch + 1)
        left = mean * (self.epochs - epoch - 1)
        shown = ", ".join(f"{k}={format_number(v)}" for k, v in (logs or {}).items()
                          if isinstance(v, (int, float, np.floating)))
        print(f"[ktr]   trial {self.trial_id} epoch {epoch + 1}/{self.epochs} "
              f"{now - self.epoch_start:.1f}s, ETA {left:.0f}s: {shown}", flush=True)


__all__ = ["ConsoleReporter", "EpochProgress", "last_line"]
