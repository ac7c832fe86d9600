"""The nested-rank strategy: one training scores every lower rank.

A nested-rank search (``strategy="nested"``) trains each proposal once, its
recurrent layers made with ``nested_ranks=True`` at the largest ranks that
fit the budget (:meth:`~keras_tensor_rnn.search.budget.BudgetSpace.at_largest_ranks`).
After training, every lower rank combination within the budget
(:meth:`~keras_tensor_rnn.search.budget.BudgetSpace.nested_points`, at most
:data:`RANKS_PER_TRAINING`) is scored on the validation data by the trained
model at those ranks (its layers' ``inference_rank``; no training, no new
trace) and counted as the model :func:`keras_tensor_rnn.truncate` would
take out (:func:`keras_tensor_rnn.nested.truncated_counts`; taken out only
where latency or a measured objective is an objective);
the front is taken over the trained models and all scored ranks.
Each trial's scored ranks are kept beside its checkpoint
(``nested_ranks.json``), so a resumed search keeps them.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import keras_tuner

from keras_tensor_rnn.nested import nested_layers, nested_submodels, set_inference_ranks
from keras_tensor_rnn.search.tuned_layers import tuned

STRATEGIES = ("independent", "nested")
RANKS_PER_TRAINING = 12
"""The most lower-rank combinations scored per training."""
SCORES_FILE = "nested_ranks.json"


def check_strategy(strategy: str) -> str:
    """``strategy``, lower-cased (names are case-insensitive, as decompositions)."""
    if not isinstance(strategy, str) or strategy.lower() not in STRATEGIES:
        raise ValueError(f"[search] strategy must be one of {STRATEGIES}. "
                         f"Received: strategy={strategy!r}")
    return strategy.lower()


def ranks_taken_out(objectives) -> bool:
    """Whether a nested search takes each scored rank out of its model
    (``ktr.truncate``) to measure ``objectives``: latency and the measured
    objectives need the rank's own model (a predict function each); the
    counts need none."""
    from keras_tensor_rnn.search import objectives as registry

    objectives = objectives or ()
    return "latency_ms" in objectives or bool(registry.measured(objectives))


def check_ranks_taken_out(hypermodel, objectives) -> None:
    """A ``ValueError``, before the search starts, where each scored rank
    must be taken out to measure ``objectives`` but some of the model's
    nested-rank layers sit in a sub-model, which
    :func:`~keras_tensor_rnn.truncate` does not rebuild (the model is built
    once, at the space's defaults)."""
    if not ranks_taken_out(objectives):
        return
    holders = nested_submodels(hypermodel.default_model())
    if holders:
        raise ValueError(
            f"The objectives {list(objectives)} are measured on each scored rank's own model, "
            f"which `ktr.truncate` takes out of the model's own layers; the tuned recurrent "
            f"layers of sub-model(s) {holders} cannot be taken out. Build them in the model "
            "itself, or search without latency_ms and the measured objectives (the counts "
            "need no model taken out).")


def layer_ranks(hypermodel, point: dict) -> dict:
    """``{layer name: rank}`` of ``point``'s rank hyperparameters, for the
    layers whose decomposition in ``point`` has a rank (a rank shared by
    several layers goes to each of those)."""
    return {layer.name: int(point[layer.hp_names["rank"]])
            for layer in hypermodel.declared_layers()
            if "rank" in layer.hp_names and layer.hp_names["rank"] in point
            and "rank" in tuned(point[layer.hp_names["decomposition"]])}


def useful_ranks(hypermodel, model, values: dict) -> dict:
    """``values`` with each rank capped at the largest rank its layers
    hold (a rank above a layer's useful one is clipped when it is built, so
    the ranks between would all be the trained model again)."""
    held = {layer.name.removeprefix("forward_").removeprefix("backward_"):
            layer.cell.weight_scheme.largest_slot_rank for layer in nested_layers(model)}
    largest = {}  # a rank shared by several layers is useful up to the largest they hold
    for layer in hypermodel.declared_layers():
        key = layer.hp_names.get("rank")
        if key in values and layer.name in held:
            largest[key] = max(largest.get(key, 1), held[layer.name])
    return {**values, **{key: min(int(values[key]), cap) for key, cap in largest.items()}}


def scoring_data(validation_data, batch_size: int):
    """The validation data as every rank's ``evaluate`` reads it: arrays
    ``(x, y[, sample_weight])`` batched once into a cached ``tf.data``
    dataset on TensorFlow (Keras would build and trace a new input
    pipeline on each call: about 50 ms, most of a small model's
    evaluation), else unchanged."""
    if keras.backend.backend() != "tensorflow" or not isinstance(validation_data, (tuple, list)):
        return validation_data
    import tensorflow as tf

    arrays = keras.tree.lists_to_tuples(tuple(validation_data))
    return tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size).cache()


def evaluated(model, validation_data, batch_size) -> dict:
    """``model``'s metrics on the validation data (arrays ``(x, y[,
    sample_weight])`` or a dataset), named as ``fit`` logs them for
    validation (``val_loss``, ``val_accuracy``, ...)."""
    if isinstance(validation_data, (tuple, list)):
        x, y, *weights = validation_data
        logs = model.evaluate(x, y, sample_weight=weights[0] if weights else None,
                              batch_size=batch_size, verbose=0, return_dict=True)
    else:
        logs = model.evaluate(validation_data, verbose=0, return_dict=True)
    return {f"val_{name}": float(value) for name, value in logs.items()}


def score_ranks(tuner, model, values: dict, validation_data, batch_size, measure) -> list[dict]:
    """Score every lower rank of a trained nested model (its best epoch's
    weights) on the validation data.

    Args:
        tuner: the search's tuner (its oracle's budget space and hypermodel).
        model: the trained model, nested ranks at ``values``'s ranks.
        values: the trial's hyperparameter values.
        validation_data: ``(x, y)`` or a dataset.
        batch_size: the evaluation batch size.
        measure: ``measure(ranks) -> dict``: the counts and measured
            objectives a trial records, of ``model`` at ``ranks`` (``{layer
            name: rank}``, as :func:`~keras_tensor_rnn.truncate` takes them).

    Returns:
        One ``{"values": ..., "metrics": ...}`` per scored rank combination.
    """
    if validation_data is None:
        raise keras_tuner.errors.FatalError(
            "A nested-rank search scores each rank on validation data: give "
            "`validation_data` or `validation_split` (a spec's dataset has its own).")
    points = tuner.oracle.space.nested_points(useful_ranks(tuner.hypermodel, model, values),
                                              RANKS_PER_TRAINING)
    if not points:  # no layer with a rank: the trained model is the only point
        return []
    rows, data = [], scoring_data(validation_data, batch_size)
    for point in points:
        ranks = layer_ranks(tuner.hypermodel, point)
        # Scored on the trained model at these ranks (compiled once: no new
        # trace per rank), which computes what the truncated model does
        # (tests/test_nested.py).
        set_inference_ranks(model, ranks)
        metrics = evaluated(model, data, batch_size)
        rows.append({"values": point, "metrics": {**metrics, **measure(ranks)}})
    set_inference_ranks(model, None)
    return rows


def save_scores(directory, rows: list[dict]) -> None:
    Path(directory, SCORES_FILE).write_text(json.dumps(rows, indent=1))


def load_scores(directory) -> list[dict]:
    """A trial's scored ranks (``[]`` where none were saved)."""
    path = Path(directory, SCORES_FILE)
    return json.loads(path.read_text()) if path.is_file() else []


def rank_label(values: dict, keys: list[str]) -> str:
    """``r2`` or ``r2-1``: a scored point's ranks, for names and lines."""
    return "r" + "-".join(str(int(values[k])) for k in keys)


__all__ = ["STRATEGIES", "RANKS_PER_TRAINING", "check_strategy", "ranks_taken_out",
           "check_ranks_taken_out", "layer_ranks", "score_ranks", "scoring_data", "evaluated",
           "save_scores", "load_scores", "rank_label"]
