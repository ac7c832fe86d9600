"""What a search can trade off: a registry of objectives.

Every trial records the metrics its model logs (``val_accuracy``,
``val_loss``, ``val_mae``, ...) and the measurements registered here. A
search's ``objectives`` (``[search] objectives = ["val_accuracy", "params",
"latency_ms"]``, or ``run(..., objectives=[...])``) name any of them; the
Pareto front is computed over all of them, each in its own direction. A new
measurement is one :func:`register` call.

Example:

>>> from keras_tensor_rnn.search import objectives
>>> objectives.direction("params"), objectives.direction("val_accuracy")
('min', 'max')
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable

from keras_tensor_rnn import checks


@dataclasses.dataclass(frozen=True)
class Measurement:
    """A measured objective: its name, direction, what it means, and how it
    is measured: ``measure(model, sample)`` (``sample``: a validation batch)."""

    name: str
    direction: str
    description: str
    measure: Callable | None = None  # None: the tuner records it anyway


_REGISTRY: dict[str, Measurement] = {}


def register(name: str, direction: str, description: str, measure: Callable | None = None):
    """Register a measured objective (``direction``: ``"min"`` or ``"max"``)."""
    if direction not in ("min", "max"):
        raise ValueError(f"`direction` must be 'min' or 'max'. Received: {direction!r}")
    _REGISTRY[name] = Measurement(name, direction, description, measure)


def _file_size(model, sample) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return float(os.path.getsize(path))


def _peak_memory(model, sample) -> float:
    from keras_tensor_rnn.memory import PeakMemory

    model.predict_on_batch(sample)  # compiled before it is measured
    with PeakMemory() as memory:
        model.predict_on_batch(sample)
    return float(memory.result.get("peak_device_mib", memory.result["peak_host_mib"]))


# Recorded for every trial by the tuner (no measure function here), logged to
# every trial's MLflow run and shown in this order in the front's table.
register("params", "min", "parameters of the whole model (an integer count)")
register("recurrent_params", "min", "parameters of the recurrent layers")
register("compression", "max", "parameters of the same model with dense recurrent kernels / params")
register("recurrent_compression", "max", "the same ratio for the recurrent layers alone")
register("latency_ms", "min", "median time of one predict_on_batch call on a validation batch")
# Measured when a search asks for them.
register("model_bytes", "min", "size of the saved .keras file", _file_size)
register("peak_memory_mib", "min", "peak memory (GPU allocator, else host resident set) above "
         "the start while predict_on_batch runs on a validation batch (Linux)", _peak_memory)


def recorded() -> list[str]:
    """The measurements every trial records, whatever the objectives, in
    registration order: ``params``, ``recurrent_params``, ``compression``,
    ``recurrent_compression``, ``latency_ms``."""
    return [name for name, entry in _REGISTRY.items() if entry.measure is None]


# Metric names a typo is compared with (their validation forms included).
COMMON_METRICS = [prefix + metric for prefix in ("", "val_") for metric in
                  ("loss", "accuracy", "sparse_categorical_accuracy", "categorical_accuracy",
                   "binary_accuracy", "mae", "mse", "auc", "precision", "recall", "perplexity")]


def names() -> list[str]:
    """The registered measurements."""
    return sorted(_REGISTRY)


def get(name: str) -> Measurement | None:
    return _REGISTRY.get(name)


def direction(name: str) -> str:
    """A registered measurement's direction, else keras-tuner's inference for
    a metric the model logs (``val_loss`` and ``*perplexity`` minimised)."""
    if name in _REGISTRY:
        return _REGISTRY[name].direction
    from keras_tensor_rnn import _private_api

    try:
        return _private_api.objective_direction(name)
    except ValueError:
        if name.endswith("perplexity"):
            return "min"  # a language model's exp(loss): ours to name
        raise ValueError(
            f"Cannot tell whether objective '{name}' is to be minimised or maximised: it is "
            f"neither a Keras metric keras-tuner knows nor a measurement ({', '.join(names())}). "
            "Register it with ktr.search.objectives.register(name, direction, description)."
            + checks.suggest(name, [*names(), *COMMON_METRICS])) from None


def measured(requested) -> dict[str, Callable]:
    """The measure functions of the requested objectives that have one."""
    return {n: _REGISTRY[n].measure for n in requested if n in _REGISTRY and _REGISTRY[n].measure}


__all__ = ["Measurement", "register", "recorded", "names", "get", "direction", "measured"]
