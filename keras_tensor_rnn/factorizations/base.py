"""The factorized weight matrix: one interface for every decomposition.

A :class:`FactorizedMatrix` represents a weight matrix ``W`` of shape
``(in_dim, out_dim)`` reshaped to a tensor with input modes ``i_1..i_d`` and
output modes ``o_1..o_d`` (zero-padded when the modes' products exceed the
dimensions) and stored as a list of factors. It is an immutable value (as
t3f's ``TensorTrain``): the structure is resolved at construction and never
changed; :meth:`~FactorizedMatrix.with_factors` returns a new value.

A decomposition is a subclass that describes only its structure, through
four abstract hooks: :attr:`~FactorizedMatrix.max_ranks`,
:meth:`~FactorizedMatrix.core_shapes`, :meth:`~FactorizedMatrix.full_subscripts`
(one einsum from the factors to the mode tensor) and
:meth:`~FactorizedMatrix.fit_tensor`. Everything else follows from these:
``full``, ``matmul`` with a planned contraction order, exact counts, the
variance-preserving initializer (:mod:`.initializers`), ``from_dense``.
Rank parsing is :mod:`keras_tensor_rnn.ranks`; the choice between the
factorized and the rebuilt product is :mod:`keras_tensor_rnn.matmul_paths`.

Factors are plain tensors of any Keras backend (numpy arrays, backend
tensors or Keras variables); a layer that owns the factors as variables
passes them in with the ``factors`` argument of :meth:`~FactorizedMatrix.full`
and :meth:`~FactorizedMatrix.matmul`.
"""

from __future__ import annotations

import abc
import math
import string

import keras
import numpy as np

from keras_tensor_rnn import checks, contraction, matmul_paths, ranks, shapes
from keras_tensor_rnn.factorizations import initializers
from keras_tensor_rnn.factorizations.blas_threads import fit_threads


class Letters:
    """Hands out distinct einsum letters."""

    def __init__(self, reserved: str = ""):
        self._free = iter(c for c in string.ascii_letters if c not in reserved)

    def take(self, n: int | None = None):
        if n is None:
            return next(self._free)
        return "".join(next(self._free) for _ in range(n))


def train_bond_limits(sizes) -> tuple[int, ...]:
    """Largest useful rank of each inner bond of a train over modes ``sizes``:
    the rank of the unfolding that the bond separates."""
    return tuple(
        min(math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(1, len(sizes))
    )


def mode_rank_limits(sizes) -> tuple[int, ...]:
    """Largest useful Tucker rank of each mode of a tensor with mode ``sizes``:
    the rank of that mode's unfolding."""
    total = math.prod(sizes)
    return tuple(min(n, total // n) for n in sizes)


class FactorizedMatrix(abc.ABC):
    """Base class of all factorized weight matrices.

    Args:
        shape: ``(in_dim, out_dim)`` of the dense matrix ``W``.
        rank: an int (the same rank everywhere, clipped per slot to its
            largest useful value), a list with one int per rank slot
            (see ``rank_slots``), a float in ``(0, 1]`` (the largest uniform
            rank whose parameter count is at most this fraction of
            ``in_dim * out_dim``), or ``"full"`` (exact representation).
        in_modes: input modes, product ``in_dim``; chosen automatically
            (with zero padding for awkward sizes) when omitted.
        out_modes: output modes, product ``out_dim``; idem.
        d: number of modes per side when modes are chosen automatically
            (default 3).
        implementation: ``"auto"`` (the cheaper path by the cost model),
            ``"factorized"`` (contract ``x`` with the factors) or
            ``"reconstructed"`` (build ``W`` then one GEMM).
        factors: optional list of factor tensors with ``factor_shapes``.

    Attributes:
        in_dim, out_dim: the original dimensions.
        in_modes, out_modes: the modes (their products may exceed the dims).
        rank: the resolved rank, a tuple of ints (one per rank slot).
        factor_shapes: list of factor shapes.
        num_params: number of weights, ``sum(prod(s) for s in factor_shapes)``.

    Example:

    >>> from keras_tensor_rnn import factorizations
    >>> tt = factorizations.get("tt")((64, 32), rank=4, d=3)
    >>> tt.num_params, tt.rank
    (224, (4, 4))
    """

    name: str = ""
    rank_slots: str = ""  # what the entries of a list rank are, for messages
    option_names: tuple[str, ...] = ()  # the decomposition's own constructor options
    extra_implementations: tuple[str, ...] = ()  # products of the decomposition's own
    # True when the one factor is W itself: no modes, no padding, nothing to rebuild.
    stored_as_matrix: bool = False
    # False when W is factorized as a matrix (no input/output modes, no padding,
    # no mode depth ``d``): the modes are ``(in_dim,)`` and ``(out_dim,)``.
    uses_modes: bool = True

    def __init__(self, shape, rank=None, *, in_modes=None, out_modes=None, d: int | None = None,
                 implementation: str = "auto", factors=None):
        try:
            in_dim, out_dim = (int(s) for s in shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"`shape` must be a pair (in_dim, out_dim) of ints. Received: shape={shape!r}"
            ) from None
        self.in_dim, self.out_dim = in_dim, out_dim
        # The modes as given (None = automatic, possibly padded): what copies
        # and configs pass back, since padded modes do not match the dims.
        self.mode_arguments = {
            "in_modes": None if in_modes is None else [int(m) for m in in_modes],
            "out_modes": None if out_modes is None else [int(m) for m in out_modes],
            "d": d,
        }
        self.in_modes, self.out_modes = self.resolve_modes(in_modes, out_modes, d)
        valid = matmul_paths.IMPLEMENTATIONS + self.extra_implementations
        if implementation not in valid:
            raise ValueError(f"`implementation` must be one of {valid}. "
                             f"Received: implementation={implementation!r}")
        self.implementation = implementation
        self.rank = ranks.resolve(
            rank, limits=self.max_ranks, full=self.full_rank, count=self.params_at,
            dense_count=in_dim * out_dim, slots=self.rank_slots,
            owner=f"'{self.name}' model of shape {self.shape} with in_modes={self.in_modes}, "
                  f"out_modes={self.out_modes}")
        self.factors = None if factors is None else self._checked(factors)

    # ------------------------------------------------------------------
    # What a decomposition describes.

    @property
    @abc.abstractmethod
    def max_ranks(self) -> tuple[int, ...]:
        """Largest useful value of each rank slot (an exact representation)."""

    @abc.abstractmethod
    def core_shapes(self, rank: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The factor shapes at ``rank`` (one int per slot)."""

    @abc.abstractmethod
    def full_subscripts(self) -> str:
        """Einsum from the factors to the mode tensor ``(i_1..i_d, o_1..o_d)``."""

    @abc.abstractmethod
    def fit_tensor(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Factors approximating a float64 mode tensor at ``self.rank``
        (may be smaller than ``factor_shapes``: they are zero-padded)."""

    def options(self) -> dict:
        """Decomposition-specific constructor options (for configs)."""
        return {}

    @property
    def full_rank(self) -> tuple[int, ...]:
        """The smallest rank that represents any matrix of this shape exactly
        (what ``rank="full"`` resolves to)."""
        return self.max_ranks

    def resolve_modes(self, in_modes, out_modes, d):
        """Validate or choose the modes (see :func:`shapes.resolve_modes`);
        a matrix without modes (``uses_modes`` False) has ``(in_dim,)`` and
        ``(out_dim,)``, whatever is given."""
        if not self.uses_modes:
            return (self.in_dim,), (self.out_dim,)
        ins, outs = shapes.resolve_modes(self.in_dim, self.out_dim, in_modes, out_modes, d)
        if len(ins) < 2:
            raise ValueError(
                f"Decomposition '{self.name}' needs at least 2 modes per side. "
                f"Received: d={len(ins)}; use decomposition='dense' for an unfactorized matrix.")
        return ins, outs

    # ------------------------------------------------------------------
    # Helpers the decompositions share.

    @property
    def merged_mode_sizes(self) -> list[int]:
        """``i_k * o_k`` for each pair of modes (the train/ring/CP modes)."""
        return [i * o for i, o in zip(self.in_modes, self.out_modes)]

    @property
    def all_modes(self) -> tuple[int, ...]:
        """``i_1..i_d, o_1..o_d`` (the MPS and Tucker modes)."""
        return self.in_modes + self.out_modes

    def merge_pairs(self, tensor: np.ndarray) -> np.ndarray:
        """``(i_1..i_d, o_1..o_d)`` -> ``(i_1 o_1, ..., i_d o_d)``."""
        d = len(self.in_modes)
        order = [axis for k in range(d) for axis in (k, d + k)]
        return tensor.transpose(order).reshape(self.merged_mode_sizes)

    def mode_tensor(self, matrix) -> np.ndarray:
        """``matrix`` zero-padded and reshaped to ``in_modes + out_modes`` (float64)."""
        w = np.asarray(keras.ops.convert_to_numpy(matrix), dtype=np.float64)
        if w.shape != self.shape:
            raise ValueError(f"Expected a matrix of shape {self.shape}. Received: {w.shape}")
        pi, po = self.padded_shape
        w = np.pad(w, [(0, pi - self.in_dim), (0, po - self.out_dim)])
        return w.reshape(self.in_modes + self.out_modes)

    # ------------------------------------------------------------------
    # Structure and counts.

    @property
    def shape(self) -> tuple[int, int]:
        return (self.in_dim, self.out_dim)

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (math.prod(self.in_modes), math.prod(self.out_modes))

    @property
    def factor_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(s) for s in shape) for shape in self.core_shapes(self.rank)]

    def params_at(self, rank: int) -> int:
        """Parameters at a uniform int ``rank`` (clipped per slot), from the
        closed form: nothing is built."""
        shapes_at = self.core_shapes(ranks.clip(rank, self.max_ranks))
        return int(sum(math.prod(s) for s in shapes_at))

    @property
    def num_params(self) -> int:
        return int(sum(math.prod(s) for s in self.factor_shapes))

    @property
    def compression_ratio(self) -> float:
        """Dense parameter count divided by ``num_params``."""
        return self.in_dim * self.out_dim / self.num_params

    @classmethod
    def largest_rank_for_budget(cls, shape, budget, **kwargs) -> int | None:
        """Largest uniform int rank with ``num_params <= budget`` (None if none).

        Args:
            shape: ``(in_dim, out_dim)``.
            budget: maximum number of parameters.
            **kwargs: ``in_modes``, ``out_modes``, ``d`` and options.
        """
        probe = cls(shape, "full", **kwargs)
        return ranks.largest_within(probe.params_at, 1, max(probe.max_ranks), budget)

    def matmul_subscripts(self) -> str:
        """Einsum of ``x @ W`` with ``x`` of shape ``(batch, i_1..i_d)``."""
        inputs, output = self.full_subscripts().split("->")
        d = len(self.in_modes)
        batch = Letters(reserved=inputs + output).take()
        return f"{batch}{output[:d]},{inputs}->{batch}{output[d:]}"

    def flops(self, batch: int) -> int:
        """FLOPs of ``matmul`` on a ``(batch, in_dim)`` input with the path
        that ``implementation`` selects (multiply-adds count as two)."""
        return matmul_paths.flops(self, batch)[self.choose_implementation(batch)]

    def choose_implementation(self, batch: int) -> str:
        """The path ``matmul`` takes for ``batch`` rows (:func:`matmul_paths.choose`)."""
        return matmul_paths.choose(self, batch)

    def reconstruct_once(self, batch: int, repeats: int) -> bool:
        """See :func:`matmul_paths.reconstruct_once`."""
        return matmul_paths.reconstruct_once(self, batch, repeats)

    # ------------------------------------------------------------------
    # Factors.

    def _checked(self, factors):
        factors = list(factors)
        got = [tuple(int(s) for s in f.shape) for f in factors]
        if got != self.factor_shapes:
            raise ValueError(
                f"Factors of '{self.name}' must have shapes {self.factor_shapes}. Received: {got}")
        return factors

    def with_factors(self, factors) -> FactorizedMatrix:
        """A new value with this structure holding ``factors``."""
        return type(self).from_config({**self.get_config(), "factors": factors})

    def _factors_or_own(self, factors):
        factors = self.factors if factors is None else factors
        if factors is None:
            raise ValueError(f"This '{self.name}' matrix holds no factors yet: use `initialize()`, "
                             "`from_dense()` or pass `factors=`.")
        return factors

    def factor_initializers(self, initializer="glorot_uniform", seed=None, fan=None) -> list:
        """See :func:`initializers.factor_initializers`."""
        return initializers.factor_initializers(self, initializer, seed, fan)

    def initialize(self, initializer="glorot_uniform", seed=None, fan=None) -> FactorizedMatrix:
        """A copy with random factors whose rebuilt matrix has exactly the
        variance ``initializer`` gives a dense kernel of shape ``fan``
        (default: this matrix's shape); see :func:`initializers.initialize`."""
        return initializers.initialize(self, initializer, seed, fan)

    def squared_norm(self, factors=None):
        """``||W||_F^2`` of the padded matrix, contracted from the factors
        (numpy factors give a numpy value: initialization also runs where the
        backend only traces, e.g. a subclassed model's first call)."""
        factors = self._factors_or_own(factors)
        inputs, output = self.full_subscripts().split("->")
        letters = Letters(reserved=inputs + output)
        rename = {c: letters.take() for c in set(inputs.replace(",", "")) if c not in output}
        mirrored = "".join(rename.get(c, c) for c in inputs)
        if all(isinstance(f, np.ndarray) for f in factors):
            return contraction.contract_numpy(f"{inputs},{mirrored}->", *factors, *factors)
        return contraction.contract(f"{inputs},{mirrored}->", *factors, *factors)

    # ------------------------------------------------------------------
    # Nested ranks: a lower rank is this factorization with slices dropped.

    @property
    def rank_axes(self) -> list[list[tuple[int, int]]]:
        """For each rank slot, the ``(factor, axis)`` pairs whose size is that
        slot's rank (TT/MPS/TR bonds, CP components, Tucker and block-term
        core dimensions), read from :meth:`core_shapes`: the axes that
        :meth:`truncated` slices and :meth:`masked` zeroes."""
        base = self.core_shapes(self.rank)
        found = []
        for slot in range(len(self.rank)):
            bumped = list(self.rank)
            bumped[slot] += 1
            grown = self.core_shapes(tuple(bumped))
            found.append([(f, axis) for f, (before, after) in enumerate(zip(base, grown))
                          for axis, (n, m) in enumerate(zip(before, after)) if n != m])
        return found

    def nested_rank(self, rank) -> tuple[int, ...]:
        """``rank`` (an int, clipped to each slot, or one int per slot) as one
        int per slot, each at most this matrix's own."""
        if checks.is_int(rank):
            wanted = ranks.clip(int(rank), self.rank)
        else:
            wanted = tuple(int(r) for r in rank)
        if len(wanted) != len(self.rank) or not all(1 <= w <= r for w, r in zip(wanted, self.rank)):
            raise ValueError(f"A truncated rank of this '{self.name}' matrix is an int >= 1 or one "
                             f"int per slot ({self.rank_slots}) between 1 and its rank "
                             f"{list(self.rank)}. Received: rank={rank!r}")
        return wanted

    def truncated(self, rank, factors=None) -> FactorizedMatrix:
        """The factorization at a lower ``rank`` whose factors are this one's
        leading slices along every rank axis (:attr:`rank_axes`): exactly
        what :meth:`masked` at ``rank`` computes, with fewer parameters.

        Args:
            rank: an int (clipped to each slot) or one int per slot, each at
                most this matrix's rank.
            factors: the factors to slice (default: this value's own).

        Example:

        >>> tt = factorizations.get("tt")((64, 32), rank=4, d=3).initialize()
        >>> tt.truncated(2).rank
        (2, 2)
        """
        wanted = self.nested_rank(rank)
        factors = self._factors_or_own(factors)
        cuts = [[slice(None)] * len(shape) for shape in self.factor_shapes]
        for slot, axes in enumerate(self.rank_axes):
            for factor, axis in axes:
                cuts[factor][axis] = slice(0, wanted[slot])
        target = type(self).from_config({**self.get_config(), "rank": list(wanted)})
        return target.with_factors([f[tuple(cut)] for f, cut in zip(factors, cuts)])

    def masked(self, factors, rank) -> list:
        """``factors`` with the slices beyond ``rank`` zeroed: the products
        then equal :meth:`truncated`'s at ``rank`` while every shape stays
        this matrix's (so a traced function serves every rank).

        Each slot is masked on one of its axes only (one side of a bond
        suffices to drop its terms): on the smallest factor that has it.

        Args:
            factors: this structure's factors (tensors of any backend).
            rank: a scalar (an int or an int tensor): slot ``s`` keeps its
                first ``min(rank, rank_s)`` slices.
        """
        factors = list(factors)
        sizes = [math.prod(shape) for shape in self.factor_shapes]
        for slot, axes in enumerate(self.rank_axes):
            factor, axis = min(axes, key=lambda pair: sizes[pair[0]])
            keep = keras.ops.less(keras.ops.arange(self.rank[slot]), rank)
            shape = [1] * len(self.factor_shapes[factor])
            shape[axis] = self.rank[slot]
            mask = keras.ops.reshape(keras.ops.cast(keep, factors[factor].dtype), shape)
            factors[factor] = factors[factor] * mask
        return factors

    # ------------------------------------------------------------------
    # Math.

    def full(self, factors=None):
        """The dense matrix, shape ``(in_dim, out_dim)``."""
        factors = self._factors_or_own(factors)
        tensor = contraction.contract(self.full_subscripts(), *factors)
        return self.unpad(keras.ops.reshape(tensor, self.padded_shape))

    def unpad(self, matrix):
        """A ``padded_shape`` matrix cut to ``shape``."""
        if self.padded_shape != self.shape:
            matrix = matrix[: self.in_dim, : self.out_dim]
        return matrix

    def matmul(self, x, factors=None):
        """``x @ W`` for ``x`` of shape ``(..., in_dim)``; returns ``(..., out_dim)``.

        The path (contracting ``x`` with the factors, or rebuilding ``W``
        and one GEMM) and the contraction order are chosen by the cost model
        and cached per shape.
        """
        factors = self._factors_or_own(factors)
        if x.shape[-1] is not None and int(x.shape[-1]) != self.in_dim:
            raise ValueError(f"The last dimension of `x` must be in_dim={self.in_dim}. "
                             f"Received: x.shape={tuple(x.shape)}")
        if factors and factors[0].dtype != x.dtype:
            factors = [keras.ops.cast(f, x.dtype) for f in factors]
        lead = tuple(x.shape[:-1])
        rows = math.prod(lead) if all(s is not None for s in lead) else None
        x2 = keras.ops.reshape(x, (-1, self.in_dim))
        y = self.matmul_2d(x2, factors, self.choose_implementation(rows or matmul_paths.PLANNING_BATCH))
        if lead.count(None) <= 1:
            out_shape = tuple(-1 if s is None else s for s in lead)
        else:
            out_shape = tuple(keras.ops.shape(x)[:-1])
        return keras.ops.reshape(y, out_shape + (self.out_dim,))

    def pad_input(self, x2):
        """``(rows, in_dim)`` zero-padded to ``(rows, prod(in_modes))``."""
        pad_in = self.padded_shape[0] - self.in_dim
        return keras.ops.pad(x2, [[0, 0], [0, pad_in]]) if pad_in else x2

    def matmul_2d(self, x2, factors, path: str):
        """``x2 @ W`` for a ``(rows, in_dim)`` ``x2`` along ``path`` (one of
        ``IMPLEMENTATIONS`` or ``extra_implementations``, never ``"auto"``)."""
        if path == "reconstructed":
            return keras.ops.matmul(x2, self.full(factors))
        xm = keras.ops.reshape(self.pad_input(x2), (-1,) + self.in_modes)
        subscripts = self.matmul_subscripts()
        plan = contraction.plan(
            subscripts,
            ((xm.shape[0] or matmul_paths.PLANNING_BATCH,) + self.in_modes,) + tuple(self.factor_shapes))
        y = contraction.contract(subscripts, xm, *factors, contraction_plan=plan)
        y = keras.ops.reshape(y, (-1, self.padded_shape[1]))
        return y[:, : self.out_dim] if self.padded_shape[1] != self.out_dim else y

    # ------------------------------------------------------------------
    # Fitting.

    @classmethod
    def from_dense(cls, matrix, rank=None, *, in_modes=None, out_modes=None, d=None,
                   dtype="float32", **options) -> FactorizedMatrix:
        """Fit the factors to an existing matrix.

        Exact at full rank (``rank="full"``); below it, the decomposition's
        standard approximation (TT-SVD, HOOI, ALS: see each class).

        Args:
            matrix: array-like of shape ``(in_dim, out_dim)``.
            rank, in_modes, out_modes, d: as for the constructor.
            dtype: dtype of the returned factors (numpy arrays).
            **options: decomposition options (e.g. ``blocks`` for ``"bt"``).

        Returns:
            A new instance whose ``factors`` are numpy arrays.
        """
        shape = tuple(np.shape(matrix))
        if len(shape) != 2:
            raise ValueError(f"`matrix` must be 2-D. Received shape: {shape}")
        structure = cls(shape, rank, in_modes=in_modes, out_modes=out_modes, d=d, **options)
        return structure.fit(matrix, dtype=dtype)

    def fit(self, matrix, dtype="float32") -> FactorizedMatrix:
        """A copy of this structure (same modes, rank and options) whose
        factors approximate ``matrix``."""
        tensor = self.mode_tensor(matrix)
        bad = checks.non_finite(tensor)
        if bad:
            raise ValueError(f"`matrix` has {bad:,} non-finite values (NaN or inf): only a finite "
                             f"matrix can be factorized. Received: a {self.shape} matrix.")
        with fit_threads(tensor.size):
            fitted = self.fit_tensor(tensor)
        return self.with_factors([_zero_pad(np.asarray(f, dtype=np.float64), s).astype(dtype)
                                  for f, s in zip(fitted, self.factor_shapes)])

    def reconstruction_error(self, matrix, factors=None) -> float:
        """Relative Frobenius error ``||W - full()|| / ||W||``."""
        w = np.asarray(keras.ops.convert_to_numpy(matrix), dtype=np.float64)
        approx = np.asarray(keras.ops.convert_to_numpy(self.full(factors)), dtype=np.float64)
        norm = np.linalg.norm(w)
        return float(np.linalg.norm(w - approx) / (norm if norm > 0 else 1.0))

    # ------------------------------------------------------------------
    # Serialization.

    def get_config(self) -> dict:
        return {"shape": [self.in_dim, self.out_dim],
                "rank": list(self.rank) if self.rank else None,
                **self.mode_arguments, "implementation": self.implementation, **self.options()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"<{type(self).__name__} '{self.name}' shape={self.shape} "
                f"in_modes={self.in_modes} out_modes={self.out_modes} rank={self.rank} "
                f"params={self.num_params}>")


def _zero_pad(array: np.ndarray, shape) -> np.ndarray:
    """Zero-pad ``array`` up to ``shape``. Padding bond or rank dimensions
    with zeros leaves the reconstruction unchanged (the extra terms vanish)."""
    if array.shape == tuple(shape):
        return array
    if any(a > s for a, s in zip(array.shape, shape)) or array.ndim != len(shape):
        raise ValueError(f"Fitted factor of shape {array.shape} does not fit {tuple(shape)}")
    return np.pad(array, [(0, s - a) for a, s in zip(array.shape, shape)])
