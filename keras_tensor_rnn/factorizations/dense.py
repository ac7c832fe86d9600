"""The unfactorized matrix: the baseline, and what "full rank" means."""

from __future__ import annotations

import keras

from keras_tensor_rnn.factorizations.base import FactorizedMatrix
from keras_tensor_rnn.factorizations.initializers import target_variance


class DenseMatrix(FactorizedMatrix):
    """``W`` itself, one factor of shape ``(in_dim, out_dim)``.

    ``rank``, modes and decomposition options are accepted and ignored, so
    code that loops over decompositions can pass the same arguments to every
    one.

    Example:

    >>> import numpy as np
    >>> w = np.ones((4, 3), "float32")
    >>> DenseMatrix.from_dense(w).num_params
    12
    """

    name = "dense"
    rank_slots = "no rank"
    stored_as_matrix = True
    uses_modes = False

    def __init__(self, shape, rank=None, *, in_modes=None, out_modes=None, d=None,
                 implementation="auto", factors=None, **options):
        super().__init__(shape, None, implementation=implementation, factors=factors)

    @property
    def max_ranks(self):
        return ()

    def core_shapes(self, rank):
        return [(self.in_dim, self.out_dim)]

    def full_subscripts(self):
        return "io->io"

    def fit_tensor(self, tensor):
        return [tensor]

    def matmul_2d(self, x2, factors, path):
        return keras.ops.matmul(x2, factors[0])

    def full(self, factors=None):
        return self._factors_or_own(factors)[0]

    def factor_initializers(self, initializer="glorot_uniform", seed=None, fan=None):
        """The target initializer itself, on this matrix's own shape, as Keras
        does (``fan`` is ignored; a float variance becomes a normal)."""
        if isinstance(initializer, (int, float)) and not isinstance(initializer, bool):
            std = target_variance(initializer, self.in_dim, self.out_dim) ** 0.5
            return [keras.initializers.RandomNormal(stddev=std, seed=seed)]
        init = keras.initializers.get(initializer)
        if seed is not None and hasattr(init, "seed"):
            init = type(init).from_config({**init.get_config(), "seed": seed})
        return [init]

    @classmethod
    def largest_rank_for_budget(cls, shape, budget, **kwargs):
        in_dim, out_dim = shape
        return min(shape) if in_dim * out_dim <= budget else None

    def initialize(self, initializer="glorot_uniform", seed=None, fan=None):
        """Random ``W`` straight from ``initializer`` (exactly what Keras does)."""
        (init,) = self.factor_initializers(initializer, seed)
        return self.with_factors([init(self.factor_shapes[0])])
