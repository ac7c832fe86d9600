"""Block-term decomposition: Ye et al.'s BT-RNN."""

from __future__ import annotations

import numpy as np

from keras_tensor_rnn.factorizations.base import FactorizedMatrix, Letters, mode_rank_limits


class BlockTermMatrix(FactorizedMatrix):
    """``W`` reshaped to ``(i_1 o_1, ..., i_d o_d)`` as a sum of ``N`` Tucker
    blocks, each a core ``C_n`` of shape ``(R_1..R_d)`` and factors
    ``A_{n,k}`` of shape ``(i_k, o_k, R_k)``. Stored stacked over blocks: one
    core tensor ``(N, R_1..R_d)`` and one factor tensor ``(N, i_k, o_k, R_k)``
    per mode::

        W = sum_n C_n x_1 A_{n,1} ... x_d A_{n,d}

    Parameters: ``N * (prod(R) + sum_k i_k o_k R_k)``. CP is the case
    ``R = 1`` (``N`` terms), Tucker the case ``N = 1``. A list rank gives
    ``R_1..R_d``.

    ``from_dense`` fits block by block with HOOI (tensorly's ``tucker``) on
    the residual of the others, for a few back-fitting sweeps; exact at full
    rank (the first block is then a full HOSVD).

    Args:
        blocks: the number of blocks ``N`` (default 2).

    Example:

    >>> BlockTermMatrix((64, 32), rank=2, d=2, blocks=3).num_params
    408
    """

    name = "bt"
    option_names = ("blocks",)
    rank_slots = "one Tucker rank per merged mode (i_k o_k), shared by all blocks"

    def __init__(self, shape, rank=None, *, blocks: int = 2, **kwargs):
        if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or blocks < 1:
            raise ValueError(f"`blocks` must be a positive int. Received: blocks={blocks!r}")
        self.blocks = int(blocks)
        super().__init__(shape, rank, **kwargs)

    def options(self):
        return {"blocks": self.blocks}

    @property
    def max_ranks(self):
        return mode_rank_limits(self.merged_mode_sizes)

    def core_shapes(self, rank):
        return [(self.blocks, *rank)] + [
            (self.blocks, i, o, r) for i, o, r in zip(self.in_modes, self.out_modes, rank)
        ]

    def full_subscripts(self):
        d = len(self.in_modes)
        letters = Letters()
        block, ins, outs, ranks = letters.take(), letters.take(d), letters.take(d), letters.take(d)
        terms = [block + ranks] + [block + ins[k] + outs[k] + ranks[k] for k in range(d)]
        return ",".join(terms) + "->" + ins + outs

    def fit_tensor(self, tensor, sweeps: int = 5):
        from tensorly import tucker_to_tensor
        from tensorly.decomposition import tucker

        merged = self.merge_pairs(tensor)
        blocks = [np.zeros_like(merged) for _ in range(self.blocks)]
        fitted = [None] * self.blocks
        for _ in range(sweeps if self.blocks > 1 else 1):
            for n in range(self.blocks):
                residual = merged - sum(b for m, b in enumerate(blocks) if m != n)
                core, factors = tucker(residual, rank=list(self.rank), init="svd",
                                       n_iter_max=100, tol=1e-10)
                fitted[n] = (np.asarray(core), [np.asarray(f) for f in factors])
                blocks[n] = tucker_to_tensor((core, factors))
        cores = np.stack([core for core, _ in fitted])
        mode_factors = [
            np.stack([factors[k].reshape(i, o, -1) for _, factors in fitted])
            for k, (i, o) in enumerate(zip(self.in_modes, self.out_modes))
        ]
        return [cores, *mode_factors]
