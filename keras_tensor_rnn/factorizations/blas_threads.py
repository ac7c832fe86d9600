"""How many BLAS threads a fit runs on.

The fits (ALS and SVD sweeps from the weights, L-BFGS in the data metric)
make thousands of small numpy products. On a shared 2-core CPU, OpenBLAS's
threads on products that small spent 10 to 20 times the single-threaded
wall time (a (64, 256) kernel's data fit: 0.2 s on one thread, 2 to 9 s
on the default threads; a block-term weight fit: 1.1 s against 2.9 s),
and more beside TensorFlow's own thread pools. A kernel of at most
:data:`SINGLE_THREAD_ELEMENTS` is fit on one thread; a wider one (a video
frame's 57,600 inputs) keeps every thread, where its products are large.
threadpoolctl (scikit-learn's) sets the limit and puts it back.

Example:

>>> with fit_threads(64 * 256):  # doctest: +SKIP
...     factors = als(tensor)
"""

from __future__ import annotations

import contextlib

SINGLE_THREAD_ELEMENTS = 1 << 20
"""Kernels of at most this many elements (1024 x 1024) are fit on one BLAS thread."""


def fit_threads(elements: int):
    """A context in which numpy's BLAS runs on one thread if the fitted
    matrix has at most :data:`SINGLE_THREAD_ELEMENTS` elements (else the
    threads are left as they are)."""
    if elements > SINGLE_THREAD_ELEMENTS:
        return contextlib.nullcontext()
    import threadpoolctl

    return threadpoolctl.threadpool_limits(1, user_api="blas")


__all__ = ["SINGLE_THREAD_ELEMENTS", "fit_threads"]
