"""Tucker: Tjandra et al.'s Tucker-GRU."""

from __future__ import annotations

import math

import numpy as np

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters, mode_rank_limits


class TuckerMatrix(FactorizedMatrix):
    """``W`` reshaped to the ``2d``-way tensor ``[i_1..i_d, o_1..o_d]`` as a core
    ``C`` of shape ``(R_1..R_2d)`` times one factor matrix ``U_k`` of shape
    ``(n_k, R_k)`` per mode::

        W = C x_1 U_1 x_2 ... x_2d U_2d

    Parameters: ``prod(R) + sum_k n_k R_k``. A list rank gives ``R_1..R_2d``
    (input modes first). ``from_dense`` is HOOI (tensorly's ``tucker``,
    HOSVD-initialised); exact at full rank.

    Example:

    >>> TuckerMatrix((64, 32), rank=2, d=2).num_params
    64
    """

    name = "tucker"
    rank_slots = "one per mode, input modes i_1..i_d then output modes o_1..o_d"

    @property
    def max_ranks(self):
        return mode_rank_limits(self.all_modes)

    def core_shapes(self, rank):
        return [tuple(rank)] + [(n, r) for n, r in zip(self.all_modes, rank)]

    def full_subscripts(self):
        n = len(self.all_modes)
        letters = Letters()
        modes, ranks = letters.take(n), letters.take(n)
        return ",".join([ranks] + [modes[k] + ranks[k] for k in range(n)]) + "->" + modes

    def fit_tensor(self, tensor):
        from tensorly.decomposition import tucker

        # A mode's rank beyond the product of the others' adds nothing (the
        # core's unfolding has no more rows); tensorly would warn and clip
        # it. Fit at the useful ranks, then pad core and factors with zeros
        # to the shapes asked for: the same tensor.
        useful = list(self.rank)
        while True:
            total = math.prod(useful)
            clipped = [min(r, total // r) for r in useful]
            if clipped == useful:
                break
            useful = clipped
        core, factors = tucker(tensor, rank=useful, init="svd", n_iter_max=100, tol=1e-10)
        core, factors = np.asarray(core), [np.asarray(f) for f in factors]
        padded_core = np.zeros(tuple(self.rank), core.dtype)
        padded_core[tuple(slice(0, r) for r in core.shape)] = core
        padded = [np.pad(f, ((0, 0), (0, r - f.shape[1]))) for f, r in zip(factors, self.rank)]
        return [padded_core, *padded]
