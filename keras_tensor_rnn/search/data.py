"""The data a search on your own model trains on: arrays (one input, or a
list or dict of several) with validation data or a validation split, or
``tf.data.Dataset`` / ``keras.utils.PyDataset`` batches, as ``Model.fit``
takes them.

Example:

>>> x, y, validation_data = own_data(x, y, None, validation_split=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import sys

import keras
import numpy as np

from keras_tensor_rnn import checks


def describe_inputs(x) -> str:
    """The shapes of ``x``'s arrays, for the search's first line."""
    if is_batched(x):
        return type(x).__name__
    shapes = [tuple(a.shape) for a in keras.tree.flatten(x)]
    return str(shapes[0] if len(shapes) == 1 else shapes)


def own_data(x, y, validation_data, validation_split):
    """``(x, y, validation_data)`` of a search on your own model, checked and
    split as ``Model.fit`` would (see :func:`run`)."""
    if is_batched(x):
        if y is not None or validation_split is not None or not is_batched(validation_data):
            raise ValueError(
                "With a dataset as `x` (it yields (inputs, targets) batches), give `y=None` and "
                "another dataset as `validation_data`; `validation_split` splits arrays only. "
                f"Received: y={type(y).__name__}, validation_data="
                f"{type(validation_data).__name__}, validation_split={validation_split!r}")
        return x, None, validation_data
    if x is None or y is None:
        raise ValueError("A search on your own `build_model` needs its training data: `x` and "
                         "`y` arrays (a list or dict for several inputs), or a tf.data.Dataset "
                         "of (inputs, targets) batches as `x`.")
    same_rows(x, y, "`x` and `y`")
    if validation_split is None:
        if validation_data is None:
            raise ValueError("A search on your own `build_model` ranks trials on validation "
                             "data: give `validation_data=(x_val, y_val)` or "
                             "`validation_split=` (e.g. 0.2).")
        if is_batched(validation_data):
            raise ValueError(
                "With arrays as `x` and `y`, `validation_data` is arrays too: a tuple (x_val, "
                "y_val). A dataset as `validation_data` goes with a dataset as `x` (e.g. "
                "tf.data.Dataset.from_tensor_slices((x, y)).batch(32)). Received: "
                f"validation_data={type(validation_data).__name__}")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("`validation_data` is a tuple (x_val, y_val) (or (x_val, y_val, "
                             "sample_weight)), as for Model.fit. Received: "
                             f"{type(validation_data).__name__} of "
                             f"{len(validation_data) if isinstance(validation_data, (tuple, list)) else 1}")
        same_rows(*validation_data[:2], "`validation_data`'s x_val and y_val")
        return x, y, validation_data
    if validation_data is not None:
        raise ValueError("Give `validation_data` or `validation_split`, not both.")
    if isinstance(validation_split, bool) or not 0 < validation_split < 1:
        raise ValueError("`validation_split` is the fraction of `x` held out for validation, a "
                         f"float in (0, 1). Received: validation_split={validation_split!r}")
    rows = len(keras.tree.flatten(x)[0])
    split = int(rows * (1 - validation_split))
    if split in (0, rows):
        raise ValueError(f"`validation_split={validation_split}` of {rows} rows leaves no "
                         "training or no validation rows.")
    head, tail = (keras.tree.map_structure(lambda a, s=s: a[s], (x, y))
                  for s in (slice(None, split), slice(split, None)))
    return head[0], head[1], tail


def check_fits_model(model, x, validation_data) -> None:
    """A ``ValueError`` before any trial trains unless the training and
    validation inputs fit ``model``'s inputs (:func:`checks.inputs_fit`):
    data of another shape would fail every trial the same way."""
    checks.inputs_fit(model, first_inputs((x, None), 1) if not is_batched(x)
                      else first_inputs(x, 1))
    if validation_data is not None:
        checks.inputs_fit(model, first_inputs(validation_data, 1), "`validation_data`'s x")


def same_rows(x, y, what: str) -> None:
    """A ``ValueError`` unless every array of ``x`` and ``y`` has as many rows."""
    rows = {len(a) for a in keras.tree.flatten((x, y))}
    if len(rows) > 1:
        raise ValueError(f"{what} must have as many rows. Received: "
                         f"{[tuple(a.shape) for a in keras.tree.flatten((x, y))]}")


def is_batched(data) -> bool:
    """Whether ``data`` is a ``tf.data.Dataset`` or ``keras.utils.PyDataset``
    (batches of (inputs, targets)) rather than arrays."""
    # A tf.data.Dataset exists only where TensorFlow was imported: the check
    # imports nothing.
    tf = sys.modules.get("tensorflow")
    return isinstance(data, keras.utils.PyDataset) or (
        tf is not None and isinstance(data, tf.data.Dataset))


def fingerprint(data) -> str | None:
    """A digest of ``data``'s arrays (their shapes, dtypes and values), for
    a resumed search to tell whether its data changed; a ``Dataset`` or
    ``PyDataset`` is not read for it (its type only), None stays None."""
    if data is None or is_batched(data):
        return None if data is None else type(data).__name__
    digest = hashlib.sha1()
    for part in keras.tree.flatten(data):
        array = np.ascontiguousarray(keras.ops.convert_to_numpy(part))
        digest.update(f"{array.shape} {array.dtype}".encode())
        digest.update(array.tobytes() if array.dtype.hasobject else memoryview(array).cast("B"))
    return digest.hexdigest()[:16]


def first_inputs(data, rows: int):
    """The inputs of the first ``rows`` rows of ``data``: ``(x, y)`` arrays
    (``x`` a list or dict for several inputs), or a dataset's first batch."""
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return keras.tree.map_structure(lambda a: a[:rows], data[0])
    batch = next(iter(data))
    return batch[0] if isinstance(batch, (tuple, list)) else batch


__all__ = ["own_data", "check_fits_model", "is_batched", "first_inputs", "describe_inputs"]
