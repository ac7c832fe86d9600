"""Tensor ring: the tensor train closed into a ring (tednet's best on UCF11)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters
from keras_tensor_rnn.factorizations.tt import train_bond_limits


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

    def _mode_sizes(self):
        return [i * o for i, o in zip(self.in_modes, self.out_modes)]

    def _max_ranks(self):
        inner = train_bond_limits(self._mode_sizes())
        # The ring bond multiplies every unfolding's rank; beyond the largest
        # inner limit it adds nothing.
        return (max(inner),) + inner

    def _factor_shapes(self):
        r = tuple(self.rank) + (self.rank[0],)
        return [(r[k], i, o, r[k + 1]) for k, (i, o) in enumerate(zip(self.in_modes, self.out_modes))]

    def _full_subscripts(self):
        d = len(self.in_modes)
        letters = Letters()
        ins, outs, bonds = letters.take(d), letters.take(d), letters.take(d)
        bonds += bonds[0]
        cores = [bonds[k] + ins[k] + outs[k] + bonds[k + 1] for k in range(d)]
        return ",".join(cores) + "->" + ins + outs

    @property
    def full_rank(self) -> tuple[int, ...]:
        """Ranks that represent any matrix exactly: a train (``r_0 = 1``)."""
        return (1,) + self._max_ranks()[1:]

    def _fit(self, tensor):
        from tensorly.decomposition import tensor_ring

        sizes = self._mode_sizes()
        merged = _merge_pairs(tensor, len(self.in_modes))
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


def _merge_pairs(tensor: np.ndarray, d: int) -> np.ndarray:
    """``(i_1..i_d, o_1..o_d)`` -> ``(i_1 o_1, ..., i_d o_d)``."""
    order = [axis for k in range(d) for axis in (k, d + k)]
    shape = [tensor.shape[k] * tensor.shape[d + k] for k in range(d)]
    return tensor.transpose(order).reshape(shape)
