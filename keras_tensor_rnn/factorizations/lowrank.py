"""Low rank: ``W = U V``, the baseline every compression paper compares against."""

from __future__ import annotations

import numpy as np

from keras_tensor_rnn.factorizations.base import FactorizedMatrix


class LowRankMatrix(FactorizedMatrix):
    """``W`` of shape ``(in_dim, out_dim)`` as ``U @ V``, with ``U`` of shape
    ``(in_dim, r)`` and ``V`` of shape ``(r, out_dim)``: the simplest
    factorization (the form of Keras's LoRA and of Winata et al. 2019's
    low-rank LSTM).

    Parameters: ``r * (in_dim + out_dim)``. The matrix has no modes: ``in_modes``,
    ``out_modes`` and ``d`` are accepted and ignored (so code that loops over
    decompositions can pass the same arguments to every one). ``from_dense``
    is the truncated SVD (the best rank-``r`` approximation, Eckart-Young),
    with the singular values split evenly between ``U`` and ``V``.

    Example:

    >>> LowRankMatrix((64, 32), rank=4).num_params
    384
    """

    name = "lowrank"
    rank_slots = "the single rank r of W = U V"
    uses_modes = False

    @property
    def max_ranks(self):
        return (min(self.in_dim, self.out_dim),)

    def core_shapes(self, rank):
        (r,) = rank
        return [(self.in_dim, r), (r, self.out_dim)]

    def full_subscripts(self):
        return "ir,ro->io"

    def fit_tensor(self, tensor):
        (r,) = self.rank
        u, s, vt = np.linalg.svd(tensor, full_matrices=False)
        root = np.sqrt(s[:r])
        return [u[:, :r] * root[None, :], root[:, None] * vt[:r]]
