"""Matrix product state over input then output modes: Murua et al."""

from __future__ import annotations

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters, train_bond_limits


class MatrixProductState(FactorizedMatrix):
    """``W`` reshaped to the ``2d``-way tensor ``[i_1..i_d, o_1..o_d]`` as a
    tensor train with one 3-way core per mode, ``(r_{k-1}, n_k, r_k)``.

    The input half contracts ``x`` down to the middle bond ``r_d``, and the
    output half expands that bond: at inference this costs about
    ``batch * (I * r + r * O)`` instead of the MPO's chain, and it stores
    ``sum_k r_{k-1} n_k r_k`` parameters. A list rank gives the ``2d - 1``
    inner bonds.

    Example:

    >>> import numpy as np
    >>> m = MatrixProductState((64, 32), rank=4, d=2)
    >>> m.factor_shapes
    [(1, 8, 4), (4, 8, 4), (4, 4, 4), (4, 8, 1)]
    """

    name = "mps"
    rank_slots = "one per inner bond r_1..r_{2d-1} over the modes i_1..i_d, o_1..o_d"

    @property
    def max_ranks(self):
        return train_bond_limits(self.all_modes)

    def core_shapes(self, rank):
        r = (1,) + tuple(rank) + (1,)
        return [(r[k], n, r[k + 1]) for k, n in enumerate(self.all_modes)]

    def full_subscripts(self):
        n = len(self.all_modes)
        letters = Letters()
        modes, bonds = letters.take(n), letters.take(n + 1)
        cores = [bonds[k] + modes[k] + bonds[k + 1] for k in range(n)]
        return ",".join(cores) + "->" + modes

    def fit_tensor(self, tensor):
        from tensorly.decomposition import tensor_train

        return list(tensor_train(tensor, [1, *self.rank, 1]).factors)
