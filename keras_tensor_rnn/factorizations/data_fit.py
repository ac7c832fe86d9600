"""Fitting a factorized matrix so that its *outputs* on sample inputs match.

``from_dense`` minimises ``||W - W_hat||_F``: every direction of the input
space counts alike. A trained layer only ever sees its inputs, and trained
RNN kernels are far from low rank in the weight metric while their outputs
on real inputs often are not: what matters is ``||X (W - W_hat)||_F`` for
rows ``X`` of real inputs (for a recurrent kernel: real hidden states).

:func:`fit_outputs` starts from the weight-space fit and minimises that
data-metric error over all factors at once with scipy's L-BFGS. Gradients
come from the decomposition's own ``full_subscripts``: the gradient of
``<G, full(factors)>`` with respect to one factor is the same einsum with
that factor's subscripts as output (hand-written: neither tensorly nor t3f
fits a decomposition in a data metric). ``X`` enters only through
``R`` of its QR decomposition (``||X D|| = ||R D||``), at most ``in_dim``
rows whatever the sample size.

Example:

>>> import numpy as np
>>> from keras_tensor_rnn import factorizations
>>> from keras_tensor_rnn.factorizations import data_fit
>>> w = np.random.default_rng(0).standard_normal((32, 16))
>>> x = np.random.default_rng(1).standard_normal((200, 32)) * np.linspace(0, 1, 32)
>>> weights_fit = factorizations.get("tt")((32, 16), rank=2, d=2).fit(w)
>>> data = data_fit.fit_outputs(weights_fit, w, x)
>>> data_fit.output_error(data, w, x) < data_fit.output_error(weights_fit, w, x)
True
"""

from __future__ import annotations

import math

import keras
import numpy as np
import opt_einsum

from keras_tensor_rnn.factorizations.blas_threads import fit_threads

# Rows of the sample used (a random subset beyond this): the fit sees X
# only through R of its QR decomposition, so more rows cost only the QR.
MAX_ROWS = 8192


def _metric(inputs, in_dim: int) -> np.ndarray:
    """``R`` with ``||X D||_F = ||R D||_F`` for every ``D`` (``X`` = the rows
    of ``inputs``, a random subset of ``MAX_ROWS`` if there are more)."""
    x = np.asarray(keras.ops.convert_to_numpy(inputs), dtype=np.float64).reshape(-1, in_dim)
    if x.shape[0] > MAX_ROWS:
        x = x[np.random.default_rng(0).choice(x.shape[0], MAX_ROWS, replace=False)]
    if not np.all(np.isfinite(x)):
        raise ValueError("The sample inputs hold NaN or inf: a data-aware fit needs finite inputs.")
    return np.linalg.qr(x, mode="r") if x.shape[0] > in_dim else x


def output_error(matrix, target, inputs) -> float:
    """Relative output error ``||X (W - W_hat)|| / ||X W||`` of ``matrix``
    (holding factors) against the dense ``target`` on the rows of ``inputs``."""
    r = _metric(inputs, matrix.in_dim)
    w = np.asarray(target, dtype=np.float64)
    approx = _full(matrix, [np.asarray(f, np.float64) for f in matrix.factors])
    return float(np.linalg.norm(r @ (approx - w)) / max(np.linalg.norm(r @ w), 1e-30))


def _full(matrix, factors, expression=None) -> np.ndarray:
    """The dense ``(in_dim, out_dim)`` matrix of ``factors``; ``expression``:
    the contraction planned once (:func:`_planned`), for repeated calls."""
    tensor = (expression or _planned(matrix.full_subscripts(), matrix.factor_shapes))(*factors)
    return tensor.reshape(matrix.padded_shape)[: matrix.in_dim, : matrix.out_dim]


def _planned(subscripts: str, shapes):
    """``subscripts`` contracted along a path chosen once for ``shapes``
    (opt_einsum's greedy path): an optimiser calls the loss a thousand
    times, and choosing the path anew each time cost more than the
    contraction of small factors."""
    return opt_einsum.contract_expression(subscripts, *shapes, optimize="greedy")


def objective(matrix, target, inputs):
    """The data-metric loss of :func:`fit_outputs` and its start.

    Returns:
        ``(loss_and_gradient, start, unpack)``: ``loss_and_gradient(flat)``
        gives ``||R (W_hat - W)||^2 / ||R W||^2`` and its gradient for the
        factors flattened into one vector; ``start`` is ``matrix``'s factors
        flattened; ``unpack(flat)`` gives the list of factors back.
    """
    r = _metric(inputs, matrix.in_dim)
    w = np.asarray(target, dtype=np.float64)
    scale = max(float(np.linalg.norm(r @ w)) ** 2, 1e-30)
    shapes = matrix.factor_shapes
    sizes = [math.prod(s) for s in shapes]
    inputs_subscripts, output = matrix.full_subscripts().split("->")
    parts = inputs_subscripts.split(",")
    gradient_subscripts = []
    for k, part in enumerate(parts):
        # A letter only this factor carries (an edge bond of size 1) is summed
        # in full(); the gradient is constant along it: computed without it,
        # then broadcast.
        elsewhere = set(output).union(*(parts[:k] + parts[k + 1:]))
        kept = "".join(c for c in part if c in elsewhere)
        gradient_subscripts.append(",".join([output] + parts[:k] + parts[k + 1:]) + "->" + kept)
    pad_in, pad_out = (p - s for p, s in zip(matrix.padded_shape, matrix.shape))
    mode_shape = matrix.in_modes + matrix.out_modes
    full = _planned(matrix.full_subscripts(), shapes)
    gradients = [_planned(sub, [mode_shape, *shapes[:k], *shapes[k + 1:]])
                 for k, sub in enumerate(gradient_subscripts)]

    def unpack(flat):
        out, start = [], 0
        for shape, size in zip(shapes, sizes):
            out.append(flat[start:start + size].reshape(shape))
            start += size
        return out

    def loss_and_gradient(flat):
        factors = unpack(flat)
        residual = r @ (_full(matrix, factors, full) - w)
        loss = float(np.sum(residual * residual)) / scale
        d_tensor = np.pad(2.0 / scale * (r.T @ residual),
                          [(0, pad_in), (0, pad_out)]).reshape(mode_shape)
        grads = []
        for k, (sub, part) in enumerate(zip(gradient_subscripts, parts)):
            g = gradients[k](d_tensor, *(factors[:k] + factors[k + 1:]))
            kept = sub.split("->")[1]
            if kept != part:
                g = np.broadcast_to(np.expand_dims(g, [i for i, c in enumerate(part)
                                                       if c not in kept]), shapes[k])
            grads.append(g)
        return loss, np.concatenate([g.ravel() for g in grads])

    start = np.concatenate([np.asarray(f, np.float64).ravel() for f in matrix.factors])
    return loss_and_gradient, start, unpack


def fit_outputs(matrix, target, inputs, max_iterations: int = 300, dtype="float32"):
    """A copy of ``matrix`` (holding a start, e.g. its ``fit(target)``) whose
    factors minimise the relative output error on ``inputs``.

    Args:
        matrix: a :class:`~keras_tensor_rnn.factorizations.FactorizedMatrix`
            with factors (the starting point).
        target: the dense ``(in_dim, out_dim)`` matrix to match.
        inputs: sample inputs, any shape ending in ``in_dim``.
        max_iterations: L-BFGS iterations.
        dtype: dtype of the returned factors.

    Returns:
        A new matrix of the same structure; never worse than the start (the
        start is returned if the optimiser does not improve it).
    """
    from scipy.optimize import minimize

    if matrix.stored_as_matrix:
        return matrix.with_factors([np.asarray(target, dtype=dtype)])
    loss_and_gradient, start, unpack = objective(matrix, target, inputs)
    with fit_threads(matrix.in_dim * matrix.out_dim):
        start_loss = loss_and_gradient(start)[0]
        result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": int(max_iterations), "gtol": 1e-9, "ftol": 1e-12})
    best = result.x if result.fun < start_loss else start
    return matrix.with_factors([f.astype(dtype) for f in unpack(best)])


__all__ = ["MAX_ROWS", "output_error", "objective", "fit_outputs"]
