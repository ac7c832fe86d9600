"""CP (CANDECOMP/PARAFAC): Tjandra et al.'s CP-GRU."""

from __future__ import annotations

import math
import warnings

import numpy as np

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters


class CPMatrix(FactorizedMatrix):
    """``W`` reshaped to ``(i_1 o_1, ..., i_d o_d)`` as a sum of ``R`` rank-one
    terms, factors ``A_k`` of shape ``(i_k, o_k, R)``::

        W[(i_1..i_d), (o_1..o_d)] = sum_r prod_k A_k[i_k, o_k, r]

    Parameters: ``R * sum_k i_k o_k``. ``from_dense`` is ALS (tensorly's
    ``parafac``, SVD-initialised); at the largest useful rank
    ``prod(n) / max(n)`` (``n_k = i_k o_k``) an exact decomposition is
    built directly (one term per fibre of the largest mode).

    Example:

    >>> CPMatrix((64, 32), rank=10, d=2).num_params
    1280
    """

    name = "cp"
    rank_slots = "the single CP rank R"

    @property
    def max_ranks(self):
        sizes = self.merged_mode_sizes
        return (math.prod(sizes) // max(sizes),)

    def core_shapes(self, rank):
        (r,) = rank
        return [(i, o, r) for i, o in zip(self.in_modes, self.out_modes)]

    def full_subscripts(self):
        d = len(self.in_modes)
        letters = Letters()
        ins, outs, rank = letters.take(d), letters.take(d), letters.take()
        return ",".join(ins[k] + outs[k] + rank for k in range(d)) + "->" + ins + outs

    def fit_tensor(self, tensor):
        merged = self.merge_pairs(tensor)
        (rank,) = self.rank
        if rank >= self.max_ranks[0]:
            factors = _exact_cp(merged)
        else:
            from tensorly.decomposition import parafac

            with warnings.catch_warnings():
                # A CP rank above a mode's size is useful (CP ranks are not
                # bounded by the modes); tensorly's SVD start then warns that
                # it fills the columns past the size at random, as it should.
                warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs",
                                        category=UserWarning)
                cp = parafac(merged, rank, init="svd", n_iter_max=500, tol=1e-10,
                             random_state=0)
            weights, factors = cp
            factors = [np.array(f) for f in factors]
            factors[0] = factors[0] * np.asarray(weights)[None, :]
        return [f.reshape(i, o, -1) for f, i, o in zip(factors, self.in_modes, self.out_modes)]


def _exact_cp(tensor: np.ndarray) -> list[np.ndarray]:
    """An exact CP decomposition with ``prod(shape) / max(shape)`` terms: for
    every index of the other modes, unit vectors times the largest mode's fibre."""
    big = int(np.argmax(tensor.shape))
    others = [k for k in range(tensor.ndim) if k != big]
    rank = math.prod(tensor.shape[k] for k in others)
    factors = [np.zeros((n, rank)) for n in tensor.shape]
    factors[big] = np.moveaxis(tensor, big, -1).reshape(rank, tensor.shape[big]).T
    columns = np.arange(rank)
    for k, rows in zip(others, np.unravel_index(columns, [tensor.shape[k] for k in others])):
        factors[k][rows, columns] = 1.0
    return factors
