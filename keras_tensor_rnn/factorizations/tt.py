"""Tensor-train matrix (TT-matrix, MPO): Tjandra et al., Yang et al., Onu et al."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters, train_bond_limits


class TensorTrainMatrix(FactorizedMatrix):
    """``W`` as a train of 4-way cores ``G_k`` of shape ``(r_{k-1}, i_k, o_k, r_k)``
    with ``r_0 = r_d = 1``::

        W[(i_1..i_d), (o_1..o_d)] = G_1[:, i_1, o_1, :] @ ... @ G_d[:, i_d, o_d, :]

    Parameters: ``sum_k r_{k-1} i_k o_k r_k``. A list rank gives the ``d - 1``
    inner bonds ``r_1..r_{d-1}``.

    On the TensorFlow backend the cores form a ``t3f.TensorTrain``
    (:meth:`to_t3f`): ``from_dense`` is t3f's TT-SVD, ``full`` is
    ``t3f.full``, and ``implementation="t3f"`` multiplies with ``t3f.matmul``.
    Elsewhere the same TT-SVD runs in numpy through tensorly.

    Example:

    >>> import numpy as np
    >>> w = np.random.randn(64, 32).astype("float32")
    >>> tt = TensorTrainMatrix.from_dense(w, rank=4, d=3)
    >>> tt.factor_shapes
    [(1, 4, 2, 4), (4, 4, 4, 4), (4, 4, 4, 1)]
    >>> y = tt.matmul(np.ones((5, 64), "float32"))   # shape (5, 32)
    """

    name = "tt"
    rank_slots = "one per inner bond r_1..r_{d-1}"

    extra_implementations = ("t3f",)

    @property
    def max_ranks(self):
        return train_bond_limits(self.merged_mode_sizes)

    @property
    def tt_ranks(self) -> tuple[int, ...]:
        """``(1, r_1, ..., r_{d-1}, 1)``."""
        return (1,) + tuple(self.rank) + (1,)

    def core_shapes(self, rank):
        r = (1,) + tuple(rank) + (1,)
        return [(r[k], i, o, r[k + 1]) for k, (i, o) in enumerate(zip(self.in_modes, self.out_modes))]

    def full_subscripts(self):
        d = len(self.in_modes)
        letters = Letters()
        ins, outs, bonds = letters.take(d), letters.take(d), letters.take(d + 1)
        cores = [bonds[k] + ins[k] + outs[k] + bonds[k + 1] for k in range(d)]
        return ",".join(cores) + "->" + ins + outs

    def fit_tensor(self, tensor):
        if keras.backend.backend() == "tensorflow":
            import t3f
            import tensorflow as tf

            matrix = tensor.reshape(math.prod(self.in_modes), math.prod(self.out_modes))
            tt = t3f.to_tt_matrix(
                tf.constant(matrix), shape=(self.in_modes, self.out_modes),
                max_tt_rank=list(self.tt_ranks),
            )
            return [core.numpy() for core in tt.tt_cores]
        from tensorly.decomposition import tensor_train_matrix

        return list(tensor_train_matrix(tensor, list(self.tt_ranks)).factors)

    def to_t3f(self, factors=None):
        """The cores as a ``t3f.TensorTrain`` TT-matrix (TensorFlow backend only)."""
        import t3f

        cores = self._factors_or_own(factors)
        return t3f.TensorTrain(
            list(cores), shape=(self.in_modes, self.out_modes), tt_ranks=self.tt_ranks
        )

    def round(self, rank) -> TensorTrainMatrix:
        """TT-rounding to a lower ``rank`` (int, per-bond list or float).

        On TensorFlow this is ``t3f.round`` (orthogonalisation and truncated
        SVDs of the cores, never forming ``W``); elsewhere it is TT-SVD of the
        rebuilt matrix.

        Returns:
            A new :class:`TensorTrainMatrix` with numpy factors.
        """
        target = type(self).from_config({**self.get_config(), "rank": rank})
        if keras.backend.backend() != "tensorflow":
            return target.fit(self.full())
        import t3f

        rounded = t3f.round(self.to_t3f([keras.ops.convert_to_tensor(f) for f in
                                         self._factors_or_own(None)]),
                            max_tt_rank=list(target.tt_ranks))
        cores = [np.pad(c.numpy(), [(0, s - n) for n, s in zip(c.shape, shape)])
                 for c, shape in zip(rounded.tt_cores, target.factor_shapes)]
        return target.with_factors(cores)

    def full(self, factors=None):
        if keras.backend.backend() != "tensorflow":
            return super().full(factors)
        import t3f

        return self.unpad(t3f.full(self.to_t3f(factors)))

    def matmul_2d(self, x2, factors, path):
        if path != "t3f":
            return super().matmul_2d(x2, factors, path)
        import t3f

        y = t3f.matmul(self.pad_input(x2), self.to_t3f(factors))
        return y[:, : self.out_dim] if self.padded_shape[1] != self.out_dim else y
