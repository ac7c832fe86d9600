"""Predictions that compression runs again and again, traced once per model.

``ktr.compress`` reads a model's outputs on the same sample inputs many
times: before and after each fit, the replaced layers' outputs, the
teacher's targets for distillation. Two things make ``model.predict``
trace a new graph where none is needed: a last, smaller batch (a second
input shape), and a new ``keras.Model`` for every reading. Here the rows
are split into equal batches (a few repeated rows pad the last one), so a
model traces one graph per row count, and compression keeps its models for
all its readings.

The models compression builds are new Python objects, each traced once by
design; TensorFlow's retracing detector counts every Keras predict
function as one (it keys on the function's code), so a loop of
``compress`` calls would read to it as "retracing" and print its warning,
whose advice does not apply. :func:`quiet_retracing` drops exactly that
message while compression runs.

Example:

>>> outputs = predict(model, x)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import math

import keras
import numpy as np

# Rows per batch at most: large batches run a recurrent layer's steps for
# many sequences at once.
MAX_BATCH = 256


def batch_for(rows: int, fixed: int | None = None) -> int:
    """Equal batches of at most :data:`MAX_BATCH` covering ``rows``
    (``fixed``: the model's own batch size, used as is)."""
    if fixed:
        return int(fixed)
    batches = max(1, math.ceil(rows / MAX_BATCH))
    return max(1, math.ceil(rows / batches))


def padded(x, rows: int):
    """``x`` (an array, a list or a dict of arrays) with its rows repeated
    cyclically up to ``rows``."""
    return keras.tree.map_structure(
        lambda a: np.asarray(a)[np.arange(rows) % len(a)] if rows != len(a) else a, x)


def predict(model, x, batch_size: int | None = None):
    """``model.predict(x)`` in equal batches (``batch_size``: the model's
    fixed batch size, if it has one), so the last batch traces nothing new.

    Returns:
        What ``model.predict`` returns, with ``x``'s row count.
    """
    rows = len(keras.tree.flatten(x)[0])
    batch = batch_for(rows, batch_size)
    total = math.ceil(rows / batch) * batch
    out = model.predict(padded(x, total), batch_size=batch, verbose=0)
    return keras.tree.map_structure(lambda a: np.asarray(a)[:rows], out)


class _DropRetracing(logging.Filter):
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def quiet_retracing():
    """While inside: TensorFlow's "triggered tf.function retracing" warning
    is not printed (see the module); everything else it logs is."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    logger = logging.getLogger("tensorflow")
    dropped = _DropRetracing()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


__all__ = ["MAX_BATCH", "batch_for", "padded", "predict", "quiet_retracing"]
