"""Named datasets as ``(x_train, y_train), (x_test, y_test)`` numpy arrays of
shape ``(samples, time, features)``.

``mnist1d`` is embedded: the ``mnist1d`` package generates the real benchmark
procedurally, offline (its downloading helpers are never called).

Example:

>>> from keras_tensor_rnn import datasets
>>> (x, y), (x_test, y_test) = datasets.load_mnist1d(features=4)
>>> x.shape
(4000, 10, 4)
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    data = make_dataset(args)
    return (
        np.asarray(data["x"], "float32"),
        np.asarray(data["y"], "int32"),
        np.asarray(data["x_test"], "float32"),
        np.asarray(data["y_test"], "int32"),
    )


def load_mnist1d(features: int = 4, num_train: int | None = None, num_test: int | None = None,
                 seed: int = 42):
    """MNIST-1D (Greydanus 2020): 10 classes, 40-sample 1-D signals, 4,000
    training and 1,000 test examples, generated procedurally.

    Args:
        features: values per time step; the 40 samples become
            ``(40 // features, features)`` sequences. Must divide 40.
        num_train, num_test: keep only the first examples (None = all).
        seed: the generator's seed (42 is the published benchmark).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    if isinstance(features, bool) or not isinstance(features, int) or features < 1 or 40 % features:
        raise ValueError(
            "`features` must divide the 40 samples of MNIST-1D: one of 1, 2, 4, 5, 8, 10, "
            f"20, 40. Received: features={features!r}"
        )
    x, y, x_test, y_test = _mnist1d_arrays(seed)
    x = x[:num_train].reshape(-1, 40 // features, features)
    x_test = x_test[:num_test].reshape(-1, 40 // features, features)
    return (x, y[:num_train]), (x_test, y_test[:num_test])
