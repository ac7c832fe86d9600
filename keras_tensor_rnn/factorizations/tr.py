"""Tensor ring: the tensor train closed into a ring (tednet's best on UCF11)."""

from __future__ import annotations

import math
import warnings

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters, train_bond_limits


class TensorRingMatrix(FactorizedMatrix):
    """``W`` as a ring of cores ``G_k`` of shape ``(r_{k-1}, i_k, o_k, r_k)``
    with ``r_d = r_0``::

        W[(i_1..i_d), (o_1..o_d)] = trace(G_1[:, i_1, o_1, :] @ ... @ G_d[:, i_d, o_d, :])

    Parameters: ``sum_k r_{k-1} i_k o_k r_k``. A list rank gives the ``d``
    bonds ``r_0..r_{d-1}`` (``r_0`` closes the ring); ``r_0 = 1`` is a
    tensor train. ``from_dense`` is TR-SVD (tensorly): the first unfolding is
    split into ``r_0 * r_1``, so ``r_0`` is reduced where the first mode
    cannot hold that product, and the unused ring slices are zero.

    Example:

    >>> TensorRingMatrix((64, 32), rank=3, d=3).factor_shapes
    [(3, 4, 2, 3), (3, 4, 4, 3), (3, 4, 4, 3)]
    """

    name = "tr"
    rank_slots = "the ring bond r_0, then inner bonds r_1..r_{d-1}"

    @property
    def max_ranks(self):
        inner = train_bond_limits(self.merged_mode_sizes)
        # The ring bond multiplies every unfolding's rank; beyond the largest
        # inner limit it adds nothing.
        return (max(inner),) + inner

    def core_shapes(self, rank):
        r = tuple(rank) + (rank[0],)
        return [(r[k], i, o, r[k + 1]) for k, (i, o) in enumerate(zip(self.in_modes, self.out_modes))]

    def full_subscripts(self):
        d = len(self.in_modes)
        letters = Letters()
        ins, outs, bonds = letters.take(d), letters.take(d), letters.take(d)
        bonds += bonds[0]
        cores = [bonds[k] + ins[k] + outs[k] + bonds[k + 1] for k in range(d)]
        return ",".join(cores) + "->" + ins + outs

    @property
    def full_rank(self) -> tuple[int, ...]:
        """Ranks that represent any matrix exactly: a train (``r_0 = 1``)."""
        return (1,) + self.max_ranks[1:]

    def fit_tensor(self, tensor):
        from tensorly.decomposition import tensor_ring

        sizes = self.merged_mode_sizes
        merged = self.merge_pairs(tensor)
        r = list(self.rank)
        first = min(sizes[0], math.prod(sizes[1:]))
        r[0] = max(1, min(r[0], first // r[1]))
        # Each later bond is bounded by what the previous one lets through.
        for k in range(2, len(r)):
            r[k] = min(r[k], r[k - 1] * sizes[k - 1])
        with warnings.catch_warnings():
            # tensorly warns that a d=2 ring is "a matrix": the fit is still right.
            warnings.simplefilter("ignore", UserWarning)
            cores = tensor_ring(merged, rank=r + [r[0]]).factors
        return [c.reshape(c.shape[0], i, o, c.shape[-1])
                for c, i, o in zip(cores, self.in_modes, self.out_modes)]

