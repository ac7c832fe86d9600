"""The factorized weight matrix: one interface for every decomposition.

A :class:`FactorizedMatrix` represents a weight matrix ``W`` of shape
``(in_dim, out_dim)`` reshaped to a tensor with input modes ``i_1..i_d`` and
output modes ``o_1..o_d`` (zero-padded when the modes' products exceed the
dimensions) and stored as a list of factors. A subclass describes only its
structure: the factor shapes, one einsum expression that rebuilds the mode
tensor from the factors, the largest useful rank of each rank slot, and a fit
of an existing tensor. Everything else (rank parsing, ``full``, ``matmul``
with a planned contraction order, parameter and FLOP counts, the variance
preserving initializer, ``from_dense``) is shared here.

Factors are plain tensors of any Keras backend (numpy arrays, backend
tensors or Keras variables): the object is a value, and a layer that owns the
factors as variables passes them in with :meth:`FactorizedMatrix.with_factors`
or the ``factors`` argument of :meth:`full` and :meth:`matmul`.
"""

from __future__ import annotations

import difflib
import math
import string

import keras
import numpy as np

from keras_tensor_rnn import contraction, shapes

# Batch size assumed for planning when a tensor's batch dimension is unknown
# (symbolic tracing). The hoisted input projection of an RNN sees batch*time
# rows, so a large value is the representative case.
PLANNING_BATCH = 1024

IMPLEMENTATIONS = ("auto", "factorized", "reconstructed")


class Letters:
    """Hands out distinct einsum letters."""

    def __init__(self, reserved: str = ""):
        self._free = iter(c for c in string.ascii_letters if c not in reserved)

    def take(self, n: int | None = None):
        if n is None:
            return next(self._free)
        return "".join(next(self._free) for _ in range(n))


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class FactorNormal(keras.initializers.Initializer):
    """Normal initializer rescaled to an exact root-mean-square.

    Factors of a decomposition are drawn from a normal distribution and then
    rescaled so that their empirical RMS is exactly ``stddev``. For a factor
    with few entries (edge cores, CP columns) the sample variance fluctuates a
    lot; fixing it makes the variance of the *reconstructed* matrix reliably
    close to its target.

    Args:
        stddev: target root-mean-square of the factor.
        seed: int or None, as for Keras initializers.
    """

    def __init__(self, stddev: float = 1.0, seed=None):
        self.stddev = float(stddev)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        dtype = dtype or keras.config.floatx()
        sample = keras.random.normal(shape, dtype="float32", seed=self.seed)
        rms = keras.ops.sqrt(keras.ops.mean(keras.ops.square(sample)))
        return keras.ops.cast(sample * (self.stddev / rms), dtype)

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}


def target_variance(initializer, in_dim: int, out_dim: int) -> float:
    """The element variance that ``initializer`` gives a dense ``(in_dim,
    out_dim)`` kernel.

    Args:
        initializer: a float (the variance itself), ``"orthogonal"``, or any
            Keras ``VarianceScaling`` initializer by name, config or instance
            (``"glorot_uniform"``, ``"he_normal"``, ``"lecun_normal"``, ...).
    """
    if isinstance(initializer, (int, float)) and not isinstance(initializer, bool):
        if initializer <= 0:
            raise ValueError(f"A variance must be positive. Received: initializer={initializer}")
        return float(initializer)
    init = keras.initializers.get(initializer)
    if isinstance(init, keras.initializers.Orthogonal):
        return init.gain**2 / max(in_dim, out_dim)
    if isinstance(init, keras.initializers.VarianceScaling):
        fan = {
            "fan_in": in_dim,
            "fan_out": out_dim,
            "fan_avg": (in_dim + out_dim) / 2.0,
        }[init.mode]
        return init.scale / max(1.0, fan)
    if isinstance(init, keras.initializers.RandomNormal):
        return init.stddev**2
    if isinstance(init, keras.initializers.RandomUniform):
        return (init.maxval - init.minval) ** 2 / 12.0
    raise ValueError(
        "`initializer` must be a variance (float), 'orthogonal', or a Keras "
        "VarianceScaling / RandomNormal / RandomUniform initializer. "
        f"Received: initializer={initializer!r}"
    )


class FactorizedMatrix:
    """Base class of all factorized weight matrices.

    Subclasses set ``name`` and implement ``_max_ranks``,
    ``_factor_shapes``, ``_full_subscripts`` and ``_fit``; see the modules of
    this package for the decompositions.

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
        implementation: ``"auto"`` (cheapest by FLOP count),
            ``"factorized"`` (contract ``x`` with the factors) or
            ``"reconstructed"`` (build ``W`` then one GEMM).
        factors: optional list of factor tensors with ``factor_shapes``.

    Attributes:
        in_dim, out_dim: the original dimensions.
        in_modes, out_modes: the modes (their products may exceed the dims).
        rank: the resolved rank, a tuple of ints (one per rank slot).
        factor_shapes: list of factor shapes.
        num_params: number of weights, ``sum(prod(s) for s in factor_shapes)``.
    """

    name: str = ""
    rank_slots: str = ""  # human description of what the rank list indexes

    def __init__(
        self,
        shape,
        rank=None,
        *,
        in_modes=None,
        out_modes=None,
        d: int | None = None,
        implementation: str = "auto",
        factors=None,
    ):
        try:
            in_dim, out_dim = (int(s) for s in shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"`shape` must be a pair (in_dim, out_dim) of ints. Received: shape={shape!r}"
            ) from None
        self.in_dim, self.out_dim = in_dim, out_dim
        # The modes as given (None = automatic, possibly padded): what clones
        # and configs pass back, since padded modes do not match the dims.
        self._mode_args = {
            "in_modes": None if in_modes is None else [int(m) for m in in_modes],
            "out_modes": None if out_modes is None else [int(m) for m in out_modes],
            "d": d,
        }
        self.in_modes, self.out_modes = self._resolve_modes(in_modes, out_modes, d)
        if implementation not in IMPLEMENTATIONS + self._extra_implementations():
            raise ValueError(
                "`implementation` must be one of "
                f"{IMPLEMENTATIONS + self._extra_implementations()}. "
                f"Received: implementation={implementation!r}"
            )
        self.implementation = implementation
        self.rank = self._resolve_rank(rank)
        self.factors = None
        if factors is not None:
            self.factors = self._check_factors(factors)

    # ------------------------------------------------------------------
    # What a subclass describes.

    def _max_ranks(self) -> tuple[int, ...]:
        """Largest useful value of each rank slot."""
        raise NotImplementedError  # abstract

    def _factor_shapes(self) -> list[tuple[int, ...]]:
        raise NotImplementedError  # abstract

    def _full_subscripts(self) -> str:
        """Einsum from the factors to the mode tensor ``(i_1..i_d, o_1..o_d)``."""
        raise NotImplementedError  # abstract

    def _fit(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Factors approximating a float64 mode tensor at ``self.rank``."""
        raise NotImplementedError  # abstract

    def _extra_implementations(self) -> tuple[str, ...]:
        return ()

    def _resolve_modes(self, in_modes, out_modes, d):
        ins, outs = shapes.resolve_modes(self.in_dim, self.out_dim, in_modes, out_modes, d)
        if len(ins) < 2:
            raise ValueError(
                f"Decomposition '{self.name}' needs at least 2 modes per side. "
                f"Received: d={len(ins)}; use decomposition='dense' for an "
                "unfactorized matrix."
            )
        return ins, outs

    def _options(self) -> dict:
        """Decomposition-specific constructor options (for configs)."""
        return {}

    # ------------------------------------------------------------------
    # Ranks.

    @property
    def max_ranks(self) -> tuple[int, ...]:
        """Largest useful value of each rank slot (an exact representation)."""
        return self._max_ranks()

    @property
    def full_rank(self) -> tuple[int, ...]:
        """The smallest rank that represents any matrix of this shape exactly
        (what ``rank="full"`` resolves to)."""
        return self._max_ranks()

    @property
    def num_rank_slots(self) -> int:
        return len(self._max_ranks())

    def _expand_int_rank(self, rank: int) -> tuple[int, ...]:
        return tuple(min(rank, m) for m in self._max_ranks())

    def _resolve_rank(self, rank):
        maxes = self._max_ranks()
        if not maxes:
            return ()
        useful = max(maxes)
        if rank is None:
            raise ValueError(
                f"Decomposition '{self.name}' needs a `rank`: an int in [1, {useful}], "
                f"a list of {len(maxes)} ints ({self.rank_slots}), a float in (0, 1] "
                "(fraction of the dense parameter count) or 'full'."
            )
        if isinstance(rank, str):
            if rank != "full":
                raise ValueError(f"The only string rank is 'full'. Received: rank={rank!r}")
            return self.full_rank
        if isinstance(rank, bool):
            raise ValueError(f"`rank` must be an int, list, float or 'full'. Received: rank={rank!r}")
        if isinstance(rank, (int, np.integer)):
            rank = int(rank)
            if rank < 1 or rank > useful:
                raise ValueError(
                    f"`rank` for '{self.name}' with in_modes={self.in_modes}, "
                    f"out_modes={self.out_modes} must be in [1, {useful}] "
                    f"({useful} is the largest useful rank: it already represents "
                    f"any matrix exactly). Received: rank={rank}"
                )
            return self._expand_int_rank(rank)
        if isinstance(rank, (float, np.floating)):
            rank = float(rank)
            if not 0.0 < rank <= 1.0:
                raise ValueError(
                    "A float `rank` is a fraction of the dense parameter count and "
                    f"must be in (0, 1]. Received: rank={rank}"
                )
            budget = rank * self.in_dim * self.out_dim
            best = self._largest_uniform_rank(budget)
            if best is None:
                smallest = self._with_rank(1).num_params
                raise ValueError(
                    f"`rank`={rank} allows {int(budget)} parameters, but the smallest "
                    f"'{self.name}' model of shape {(self.in_dim, self.out_dim)} (rank 1) "
                    f"has {smallest}. Use rank >= "
                    f"{smallest / (self.in_dim * self.out_dim):.3g}."
                )
            return self._expand_int_rank(best)
        try:
            ranks = tuple(rank)
        except TypeError:
            raise ValueError(
                f"`rank` must be an int, a list of ints, a float in (0, 1] or 'full'. "
                f"Received: rank={rank!r}"
            ) from None
        if len(ranks) != len(maxes):
            raise ValueError(
                f"A list `rank` for '{self.name}' needs {len(maxes)} entries "
                f"({self.rank_slots}). Received: rank={list(ranks)}"
            )
        for k, (r, m) in enumerate(zip(ranks, maxes)):
            if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 1 <= r <= m:
                raise ValueError(
                    f"`rank[{k}]` must be an int in [1, {m}] (the largest useful rank "
                    f"of that slot). Valid maxima: {list(maxes)}. Received: rank={list(ranks)}"
                )
        return tuple(int(r) for r in ranks)

    def _with_rank(self, rank):
        return type(self)((self.in_dim, self.out_dim), rank, **self._mode_args, **self._options())

    def _largest_uniform_rank(self, budget: float):
        maxes = self._max_ranks()
        lo, hi = 1, max(maxes)
        if self._with_rank(1).num_params > budget:
            return None
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._with_rank(mid).num_params <= budget:
                lo = mid
            else:
                hi = mid - 1
        return lo

    @classmethod
    def largest_rank_for_budget(cls, shape, budget, **kwargs):
        """Largest uniform int rank with ``num_params <= budget`` (None if none).

        Args:
            shape: ``(in_dim, out_dim)``.
            budget: maximum number of parameters.
            **kwargs: ``in_modes``, ``out_modes``, ``d`` and options.
        """
        probe = cls(shape, "full", **kwargs)
        return probe._largest_uniform_rank(budget)

    # ------------------------------------------------------------------
    # Structure.

    @property
    def shape(self) -> tuple[int, int]:
        return (self.in_dim, self.out_dim)

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (math.prod(self.in_modes), math.prod(self.out_modes))

    @property
    def factor_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(s) for s in shape) for shape in self._factor_shapes()]

    @property
    def num_params(self) -> int:
        return int(sum(math.prod(s) for s in self.factor_shapes))

    @property
    def compression_ratio(self) -> float:
        """Dense parameter count divided by ``num_params``."""
        return self.in_dim * self.out_dim / self.num_params

    def _matmul_subscripts(self) -> str:
        inputs, output = self._full_subscripts().split("->")
        d = len(self.in_modes)
        batch = Letters(reserved=inputs + output).take()
        return f"{batch}{output[:d]},{inputs}->{batch}{output[d:]}"

    def flops(self, batch: int) -> int:
        """FLOPs of ``matmul`` on a ``(batch, in_dim)`` input with the path
        that ``implementation`` selects (multiply-adds count as two)."""
        return self._path_costs(batch)[self.choose_implementation(batch)]

    def _plans(self, batch: int):
        full_plan = contraction.plan(self._full_subscripts(), tuple(self.factor_shapes))
        mm_plan = contraction.plan(
            self._matmul_subscripts(), ((batch,) + self.in_modes,) + tuple(self.factor_shapes)
        )
        return full_plan, mm_plan

    def _path_costs(self, batch: int) -> dict:
        """FLOPs of each path (what :meth:`flops` reports)."""
        full_plan, mm_plan = self._plans(batch)
        gemm = 2 * batch * self.in_dim * self.out_dim
        return {"factorized": mm_plan.flops, "reconstructed": full_plan.flops + gemm}

    def _path_times(self, batch: int, repeats: int = 1) -> dict:
        """Modelled cost of ``repeats`` products with ``batch`` rows each, in
        the FLOP-equivalents of :attr:`contraction.ContractionPlan.cost`
        (FLOPs, elements read and written, steps). The rebuilt matrix is made
        once and reused by every repeat."""
        full_plan, mm_plan = self._plans(batch)
        gemm = contraction.matmul_cost(batch, self.in_dim, self.out_dim)
        return {"factorized": repeats * mm_plan.cost, "reconstructed": full_plan.cost + repeats * gemm}

    def choose_implementation(self, batch: int) -> str:
        """The path ``matmul`` takes for ``batch`` rows: the cheaper one by the
        cost model of :meth:`_path_times` unless ``implementation`` forces one."""
        if self.implementation != "auto":
            return self.implementation
        costs = self._path_times(batch)
        return min(costs, key=costs.get)

    def reconstruct_once(self, batch: int, repeats: int) -> bool:
        """Whether ``repeats`` products with ``batch`` rows each (the recurrent
        product of a ``repeats``-step sequence) are cheaper through ``W``
        rebuilt once and ``repeats`` GEMMs than through the factors each time.
        Explicit implementations are respected; a dense matrix has nothing
        to rebuild."""
        if self.name == "dense":
            return False
        if self.implementation != "auto":
            return self.implementation == "reconstructed"
        costs = self._path_times(batch, repeats)
        return costs["reconstructed"] <= costs["factorized"]

    # ------------------------------------------------------------------
    # Factors.

    def _check_factors(self, factors):
        factors = list(factors)
        expected = self.factor_shapes
        got = [tuple(int(s) for s in f.shape) for f in factors]
        if got != expected:
            raise ValueError(
                f"Factors of '{self.name}' must have shapes {expected}. Received: {got}"
            )
        return factors

    def with_factors(self, factors) -> FactorizedMatrix:
        """A copy of this structure holding ``factors``."""
        clone = self._with_rank(list(self.rank) if self.rank else None)
        clone.implementation = self.implementation
        clone.factors = clone._check_factors(factors)
        return clone

    def _get_factors(self, factors):
        factors = self.factors if factors is None else factors
        if factors is None:
            raise ValueError(
                f"This '{self.name}' matrix holds no factors yet: use `initialize()`, "
                "`from_dense()` or pass `factors=`."
            )
        return factors

    def factor_initializers(self, initializer="glorot_uniform", seed=None):
        """One Keras initializer per factor such that the reconstructed matrix
        has the element variance ``initializer`` gives a dense kernel.

        The reconstruction is a sum of ``M`` products of one entry of each of
        the ``F`` factors; with independent zero-mean factors its variance is
        ``M * prod(var_f)``, so each factor gets ``var_f = (target / M)**(1/F)``.

        Args:
            initializer: target, see :func:`target_variance`.
            seed: int or None; factor ``k`` uses ``seed + k``.

        Returns:
            A list of :class:`FactorNormal` initializers.
        """
        variance = target_variance(initializer, self.in_dim, self.out_dim)
        inputs, output = self._full_subscripts().split("->")
        sizes = {}
        for term, shape in zip(inputs.split(","), self.factor_shapes):
            sizes.update(zip(term, shape))
        terms = math.prod(size for letter, size in sizes.items() if letter not in output)
        n = len(self.factor_shapes)
        std = (variance / terms) ** (0.5 / n)
        return [FactorNormal(std, None if seed is None else seed + k) for k in range(n)]

    def initialize(self, initializer="glorot_uniform", seed=None) -> FactorizedMatrix:
        """A copy with random factors whose reconstruction has exactly the
        target element variance.

        Factors are drawn from :meth:`factor_initializers` (right in
        expectation), then all are scaled by one common factor so that the
        mean square of the (padded) reconstructed matrix equals the target.
        The squared norm is contracted from the factors (``W`` is not formed),
        so this is cheap even for a 57,600 x 1,024 matrix. Without it, long
        trains (an MPS with 8 cores) start 40% off their target on average.

        Args:
            initializer: target, see :func:`target_variance`.
            seed: int or None.
        """
        inits = self.factor_initializers(initializer, seed)
        factors = [init(s) for init, s in zip(inits, self.factor_shapes)]
        target = target_variance(initializer, self.in_dim, self.out_dim)
        mean_square = self.squared_norm(factors) / math.prod(self.padded_shape)
        scale = (target / keras.ops.convert_to_numpy(mean_square)) ** (0.5 / len(factors))
        return self.with_factors([f * float(scale) for f in factors])

    def squared_norm(self, factors=None):
        """``||W||_F^2`` of the padded matrix, contracted from the factors."""
        factors = self._get_factors(factors)
        inputs, output = self._full_subscripts().split("->")
        letters = Letters(reserved=inputs + output)
        rename = {c: letters.take() for c in set(inputs.replace(",", "")) if c not in output}
        mirrored = "".join(rename.get(c, c) for c in inputs)
        return contraction.contract(f"{inputs},{mirrored}->", *factors, *factors)

    # ------------------------------------------------------------------
    # Math.

    def full(self, factors=None):
        """The dense matrix, shape ``(in_dim, out_dim)``."""
        factors = self._get_factors(factors)
        tensor = contraction.contract(self._full_subscripts(), *factors)
        matrix = keras.ops.reshape(tensor, self.padded_shape)
        if self.padded_shape != self.shape:
            matrix = matrix[: self.in_dim, : self.out_dim]
        return matrix

    def matmul(self, x, factors=None):
        """``x @ W`` for ``x`` of shape ``(..., in_dim)``; returns ``(..., out_dim)``.

        The path (contracting ``x`` with the factors, or rebuilding ``W``
        and one GEMM) and the contraction order are chosen by FLOP count and
        cached per shape.
        """
        factors = self._get_factors(factors)
        if x.shape[-1] is not None and int(x.shape[-1]) != self.in_dim:
            raise ValueError(
                f"The last dimension of `x` must be in_dim={self.in_dim}. "
                f"Received: x.shape={tuple(x.shape)}"
            )
        if factors and factors[0].dtype != x.dtype:
            factors = [keras.ops.cast(f, x.dtype) for f in factors]
        lead = tuple(x.shape[:-1])
        rows = math.prod(lead) if all(s is not None for s in lead) else None
        x2 = keras.ops.reshape(x, (-1, self.in_dim))
        path = self.choose_implementation(rows or PLANNING_BATCH)
        y = self._matmul_2d(x2, factors, path)
        if lead.count(None) <= 1:
            out_shape = tuple(-1 if s is None else s for s in lead)
        else:
            out_shape = tuple(keras.ops.shape(x)[:-1])
        return keras.ops.reshape(y, out_shape + (self.out_dim,))

    def _matmul_2d(self, x2, factors, path):
        if path == "reconstructed":
            return keras.ops.matmul(x2, self.full(factors))
        pad_in = self.padded_shape[0] - self.in_dim
        if pad_in:
            x2 = keras.ops.pad(x2, [[0, 0], [0, pad_in]])
        xm = keras.ops.reshape(x2, (-1,) + self.in_modes)
        batch = xm.shape[0]
        subscripts = self._matmul_subscripts()
        plan = contraction.plan(
            subscripts,
            ((batch or PLANNING_BATCH,) + self.in_modes,) + tuple(self.factor_shapes),
        )
        y = contraction.contract(subscripts, xm, *factors, contraction_plan=plan)
        y = keras.ops.reshape(y, (-1, self.padded_shape[1]))
        if self.padded_shape[1] != self.out_dim:
            y = y[:, : self.out_dim]
        return y

    # ------------------------------------------------------------------
    # Fitting.

    def mode_tensor(self, matrix) -> np.ndarray:
        """``matrix`` zero-padded and reshaped to ``in_modes + out_modes`` (float64)."""
        w = np.asarray(keras.ops.convert_to_numpy(matrix), dtype=np.float64)
        if w.shape != self.shape:
            raise ValueError(f"Expected a matrix of shape {self.shape}. Received: {w.shape}")
        pi, po = self.padded_shape
        w = np.pad(w, [(0, pi - self.in_dim), (0, po - self.out_dim)])
        return w.reshape(self.in_modes + self.out_modes)

    @classmethod
    def from_dense(
        cls, matrix, rank=None, *, in_modes=None, out_modes=None, d=None, dtype="float32", **options
    ) -> FactorizedMatrix:
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
        fitted = structure._fit(structure.mode_tensor(matrix))
        factors = [
            _zero_pad(np.asarray(f, dtype=np.float64), s).astype(dtype)
            for f, s in zip(fitted, structure.factor_shapes)
        ]
        return structure.with_factors(factors)

    def fit(self, matrix, dtype="float32") -> FactorizedMatrix:
        """``from_dense`` into this very structure (same modes, rank and
        options): a copy whose factors approximate ``matrix``."""
        return type(self).from_dense(matrix, list(self.rank) if self.rank else None,
                                     dtype=dtype, **self._mode_args, **self._options())

    def reconstruction_error(self, matrix, factors=None) -> float:
        """Relative Frobenius error ``||W - full()|| / ||W||``."""
        w = np.asarray(keras.ops.convert_to_numpy(matrix), dtype=np.float64)
        approx = np.asarray(keras.ops.convert_to_numpy(self.full(factors)), dtype=np.float64)
        norm = np.linalg.norm(w)
        return float(np.linalg.norm(w - approx) / (norm if norm > 0 else 1.0))

    # ------------------------------------------------------------------
    # Serialization.

    def get_config(self) -> dict:
        config = {
            "shape": [self.in_dim, self.out_dim],
            "rank": list(self.rank) if self.rank else None,
            **self._mode_args,
            "implementation": self.implementation,
        }
        config.update(self._options())
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (
            f"<{type(self).__name__} '{self.name}' shape={self.shape} "
            f"in_modes={self.in_modes} out_modes={self.out_modes} rank={self.rank} "
            f"params={self.num_params}>"
        )


def _zero_pad(array: np.ndarray, shape) -> np.ndarray:
    """Zero-pad ``array`` up to ``shape``. Padding bond or rank dimensions
    with zeros leaves the reconstruction unchanged (the extra terms vanish)."""
    if array.shape == tuple(shape):
        return array
    if any(a > s for a, s in zip(array.shape, shape)) or array.ndim != len(shape):
        raise ValueError(f"Fitted factor of shape {array.shape} does not fit {tuple(shape)}")
    return np.pad(array, [(0, s - a) for a, s in zip(array.shape, shape)])


def suggest(name: str, valid) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
