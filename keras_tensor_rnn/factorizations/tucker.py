"""Tucker: Tjandra et al.'s Tucker-GRU."""

from __future__ import annotations

import math

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters


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

    def _modes(self):
        return self.in_modes + self.out_modes

    def _max_ranks(self):
        modes = self._modes()
        total = math.prod(modes)
        return tuple(min(n, total // n) for n in modes)

    def _factor_shapes(self):
        return [tuple(self.rank)] + [(n, r) for n, r in zip(self._modes(), self.rank)]

    def _full_subscripts(self):
        n = len(self._modes())
        letters = Letters()
        modes, ranks = letters.take(n), letters.take(n)
        return ",".join([ranks] + [modes[k] + ranks[k] for k in range(n)]) + "->" + modes

    def _fit(self, tensor):
        from tensorly.decomposition import tucker

        core, factors = tucker(tensor, rank=list(self.rank), init="svd", n_iter_max=100, tol=1e-10)
        return [core, *factors]
