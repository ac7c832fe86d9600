"""Small checks every module shares: unknown names with the valid ones and a
"did you mean", positive ints, the backend a feature needs, sample inputs
against a model's inputs, and a temporarily patched environment.

Errors follow Keras's style: they name the argument, say what is valid and
end with what was received.

Example:

>>> from keras_tensor_rnn import checks
>>> raise checks.unknown("decomposition", "ttm", ["tt", "cp"])  # doctest: +SKIP
ValueError: Unknown decomposition 'ttm'. Valid names: tt, cp. Did you mean 'tt'?
"""

from __future__ import annotations

import contextlib
import difflib
import os

import numpy as np


def suggest(name, valid) -> str:
    """``" Did you mean 'x'?"`` for the closest of ``valid``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(what: str, name, valid, *, where: str = "", noun: str = "names",
            shown: str | None = None, listing: str | None = None) -> ValueError:
    """The error for a name that is not among ``valid``.

    Args:
        what: what the name is of (``"decomposition"``, ``"key"``).
        name: the name received.
        valid: the valid names (any iterable of strings).
        where: context after the name (``" in [search]"``).
        noun: the plural shown before the list (``"names"``, ``"keys"``).
        shown: how the received name is shown (default ``'name'``).
        listing: the list as shown (default: the names, comma-separated).

    Returns:
        A ``ValueError`` (raise it: ``raise checks.unknown(...)``).
    """
    valid = list(valid)
    shown = f"'{name}'" if shown is None else shown
    listing = ", ".join(str(v) for v in valid) if listing is None else listing
    return ValueError(f"Unknown {what} {shown}{where}. Valid {noun}: {listing}."
                      + suggest(name, valid))


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or numpy), bools excluded."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, name: str) -> int:
    """``value`` as a Python int if it is an integer >= 1 (numpy's too,
    bools excluded), else a ``ValueError`` naming the argument."""
    if not is_int(value) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return int(value)


def require_tensorflow(what: str) -> None:
    """A ``NotImplementedError`` naming the backend ``what`` needs, unless
    Keras runs on TensorFlow (as Keras's own export says which backends it
    supports)."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise NotImplementedError(
            f"{what} needs Keras's TensorFlow backend; this process runs '{backend}'. Save the "
            "model (`model.save('m.keras')`) and run the export in a process started with "
            "KERAS_BACKEND=tensorflow: the .keras file loads on any backend.")


@contextlib.contextmanager
def patched_environ(values: dict | None = None):
    """Set the environment variables in ``values`` (a value of None removes
    one) for the ``with`` block, and restore every variable the block set,
    changed or removed, whatever it was (libraries such as MLflow export
    variables as a side effect)."""
    before = dict(os.environ)
    for key, value in (values or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = str(value)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def holds_arrays(x, name: str = "`x`") -> None:
    """A ``ValueError`` unless ``x`` is arrays (numpy or tensors): one, or a
    list or dict of one per model input; a nested Python list would be read
    as one array per number."""
    import keras

    if not all(hasattr(a, "shape") for a in keras.tree.flatten(x)):
        raise ValueError(f"{name} holds arrays (numpy or tensors): one, or a list or dict of one "
                         "per model input. Received Python numbers (a nested list?): pass "
                         f"np.asarray({name.strip('`')}).")


def non_finite(x) -> int:
    """How many NaN or inf values the float arrays of ``x`` hold (one
    array, or a list or dict of them; other dtypes and None count none)."""
    import keras

    count = 0
    for part in keras.tree.flatten(x):
        array = np.asarray(part) if hasattr(part, "shape") else None
        if array is not None and np.issubdtype(array.dtype, np.floating):
            count += int(array.size - np.count_nonzero(np.isfinite(array)))
    return count


def finite(x, name: str, remedy: str) -> None:
    """A ``ValueError`` naming ``name`` where ``x`` holds NaN or inf.

    >>> finite(np.array([1.0, np.nan]), "`x`", "clean or impute them first")
    Traceback (most recent call last):
    ValueError: `x` has 1 non-finite values (NaN or inf): clean or impute them first.
    """
    bad = non_finite(x)
    if bad:
        raise ValueError(f"{name} has {bad:,} non-finite values (NaN or inf): {remedy}.")


def inputs_fit(model, x, name: str = "`x`") -> None:
    """A ``ValueError``, in the caller's words rather than a Keras graph's,
    unless ``x`` (one array, or a list or dict of arrays) fits ``model``'s
    inputs: one array per input, each row of the input's shape (``None``
    in the model: any size). A dict is matched to the inputs by name where
    its keys name them all.

    Example:

    >>> checks.inputs_fit(model, x_train)  # doctest: +SKIP
    """
    import keras
    import numpy as np

    arrays = keras.tree.flatten(x)
    if len(arrays) != len(model.inputs):
        raise ValueError(f"{name} does not fit the model's input: the model takes "
                         f"{len(model.inputs)} input(s), {name} holds {len(arrays)} array(s).")
    tensors = list(model.inputs)
    if isinstance(x, dict):
        tensors, arrays = _by_key(model, x, name)
    for tensor, array in zip(tensors, arrays):
        rows, expected = tuple(np.shape(array)[1:]), tuple(tensor.shape[1:])
        if len(rows) != len(expected) or any(e is not None and e != r
                                             for r, e in zip(rows, expected)):
            which = "" if len(arrays) == 1 else f" (input '{tensor.name}')"
            raise ValueError(f"{name} does not fit the model's input{which}: its rows have shape "
                             f"{rows}, the model takes {expected} (None: any size).")


def _by_key(model, x: dict, name: str) -> tuple[list, list]:
    """The model's input tensors and ``x``'s arrays, matched as Keras
    matches a dict: by the keys of a model built on a dict of inputs, else
    by the inputs' names.

    Raises:
        ValueError: ``x``'s keys name neither, with the closest valid key.
    """
    structure = model.input
    by_key = dict(structure) if isinstance(structure, dict) else {}
    by_name = {tensor.name: tensor for tensor in model.inputs}
    for valid in (by_key, by_name):
        if valid and set(x) == set(valid):
            return [valid[k] for k in x], [x[k] for k in x]
    valid = list(by_key or by_name)
    unknown_keys = [k for k in x if k not in valid]
    hint = suggest(unknown_keys[0], [k for k in valid if k not in x]) if unknown_keys else ""
    raise ValueError(f"{name} does not fit the model's inputs: a dict's keys name them, "
                     f"{valid}. Received keys: {list(x)}.{hint}")


__all__ = ["suggest", "unknown", "positive_int", "patched_environ", "holds_arrays", "inputs_fit",
           "non_finite", "finite"]
