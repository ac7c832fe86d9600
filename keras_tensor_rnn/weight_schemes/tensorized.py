"""Kernels stored as factorized matrices (any registered decomposition,
``"dense"`` included)."""

from __future__ import annotations

import functools
import math

import numpy as np
from keras import ops

from keras_tensor_rnn import checks, factorizations, matmul_paths, ranks, shapes
from keras_tensor_rnn import mode_choice as mode_choice_module
from keras_tensor_rnn.factorizations import data_fit, initializers
from keras_tensor_rnn.factorizations.initializers import constant
from keras_tensor_rnn.weight_schemes.base import WeightScheme

GATES = ("joint", "separate")
SIDES = ("kernel", "recurrent")


# The rank when none is given, capped at a matrix's largest useful rank.
DEFAULT_RANK = 8


class TensorizedWeights(WeightScheme):
    """Input and recurrent products through factorized matrices.

    ``gates="joint"``: one matrix of shape ``(dim, gates * units)`` per side,
    the gate index merged into the first output mode (Onu et al.'s fully
    tensorized weight sharing). ``gates="separate"``: one ``(dim, units)``
    matrix per gate (Tjandra et al.). When the hidden modes are padded
    (``prod(hidden_modes) > units``), each gate's block is padded and the
    padding sliced away after the product.

    Modes not given are chosen when the input width is known
    (``mode_choice="speed"``: the modes of lowest modelled time, see
    :mod:`keras_tensor_rnn.mode_choice`; ``"balanced"``: each width split
    into ``d`` near-equal factors). Once built, :meth:`get_config` returns the chosen
    modes, so a saved model keeps its shape whatever the default becomes.

    Args:
        units, num_gates: the cell's shape.
        decomposition ... scale_factors: see
            :class:`keras_tensor_rnn.layers.TensorizedLSTM` (``decomposition``,
            ``rank``, ``in_modes``, ``hidden_modes``, ``d``,
            ``recurrent_decomposition``, ``recurrent_rank``, ``gates``,
            ``implementation``, ``decomposition_options``, ``mode_choice``,
            ``scale_factors``, ``nested_ranks``).

    Example:

    >>> scheme = TensorizedWeights(64, 4, decomposition="tt", rank=4, d=2)
    >>> scheme.count_params(128) < 4 * 64 * (128 + 64)
    True
    """

    name = "tensorized"

    def __init__(self, units, num_gates, *, decomposition="tt", rank=None, in_modes=None,
                 hidden_modes=None, d=None, recurrent_decomposition=None, recurrent_rank=None,
                 gates="joint", implementation="auto", decomposition_options=None,
                 mode_choice="speed", scale_factors=True, nested_ranks=False):
        super().__init__(units, num_gates)
        if not isinstance(nested_ranks, (bool, np.bool_)):
            raise ValueError("`nested_ranks` is True (train every rank up to the layer's own) or "
                             f"False. Received: nested_ranks={nested_ranks!r}")
        self.nested_ranks = bool(nested_ranks)
        # The rank the products use while a layer trains or evaluates with
        # nested ranks, set for one call: a scalar tensor (every row), or a
        # tuple of them (one per contiguous group of rows, `row_groups`), else None.
        self.active_rank = None
        if mode_choice not in mode_choice_module.MODE_CHOICES:
            raise ValueError(f"`mode_choice` must be one of {mode_choice_module.MODE_CHOICES}. "
                             f"Received: mode_choice={mode_choice!r}")
        self.mode_choice = mode_choice
        self.scale_factors = bool(scale_factors)
        self._decomposition = factorizations.get(decomposition).name
        self.recurrent_decomposition = (None if recurrent_decomposition is None
                                        else factorizations.get(recurrent_decomposition).name)
        sides = (self._decomposition, self.recurrent_decomposition or self._decomposition)
        if self.nested_ranks and all(factorizations.get(n).stored_as_matrix for n in sides):
            raise ValueError(f"`nested_ranks=True` needs a decomposition with a rank (one of "
                             f"{factorizations.ranked_names()}); "
                             f"decomposition={self._decomposition!r} has none.")
        if gates not in GATES:
            raise ValueError(f"`gates` must be one of {GATES}. Received: gates={gates!r}")
        self.gates = gates
        ranks.check_form(rank)
        ranks.check_form(recurrent_rank, "recurrent_rank")
        self.rank = rank
        self.recurrent_rank = recurrent_rank
        self.in_modes = None if in_modes is None else tuple(int(m) for m in in_modes)
        self.d = None if d is None else checks.positive_int(d, "d")
        self.implementation = implementation
        self.decomposition_options = dict(decomposition_options or {})
        valid = sorted({o for name in (self._decomposition, self.recurrent_decomposition) if name
                        for o in factorizations.get(name).option_names})
        for key in self.decomposition_options:
            if key not in valid:
                raise checks.unknown("decomposition option", key, valid, noun="options",
                                     where=f" for decomposition '{self._decomposition}'",
                                     listing=", ".join(valid) or "none")
        depth = len(self.in_modes) if self.in_modes else (d or 3)
        if hidden_modes is not None:
            hidden_modes = tuple(int(m) for m in hidden_modes)
            if math.prod(hidden_modes) != units or any(m < 1 for m in hidden_modes):
                raise ValueError(
                    f"`units`={units} cannot be split into hidden_modes={hidden_modes} "
                    f"(product {math.prod(hidden_modes)}). The product of `hidden_modes` must "
                    "equal `units`, e.g. hidden_modes="
                    f"{tuple(sorted(shapes.balanced_factors(units, len(hidden_modes))))}, "
                    "or leave it unset to choose (and pad) automatically.")
            if self.in_modes is not None and len(hidden_modes) != len(self.in_modes):
                raise ValueError("`in_modes` and `hidden_modes` need the same number of modes. "
                                 f"Received: in_modes={self.in_modes}, hidden_modes={hidden_modes}")
        self.hidden_modes = hidden_modes
        # The hidden modes in use: given, else balanced (the rule of release
        # 0.1 and the start of the speed search) until build resolves them.
        self._hidden = hidden_modes or tuple(sorted(shapes.auto_modes(units, depth)))
        self.matrices = {}
        self.factors = {}
        self.scales = {}
        # Validate ranks and modes now (not at build) where the input width is
        # not needed: the recurrent side is known up to the mode choice.
        self._side_matrices("recurrent", units, None, self._hidden)

    @classmethod
    def decompositions(cls):
        return factorizations.names()

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        """A layer or cell config as this release reads it: configs written
        before ``mode_choice`` and ``scale_factors`` existed (release 0.1)
        chose balanced modes and stored factors unscaled, and load so."""
        return {"mode_choice": "balanced", "scale_factors": False, **config}

    @classmethod
    def arguments_for(cls, decomposition, options):
        return {**super().arguments_for(decomposition, options), "decomposition": decomposition}

    @classmethod
    def size_arguments(cls, decomposition):
        cls = factorizations.get(decomposition)
        if cls.stored_as_matrix:
            return ()
        return ("rank", "d") if cls.uses_modes else ("rank",)

    @property
    def decomposition(self):
        return self._decomposition

    @property
    def hidden_modes_in_use(self) -> tuple:
        """The given hidden modes, else the balanced ones until build
        resolves the choice (possibly padded)."""
        return self._hidden

    # ------------------------------------------------------------ structure

    def side_matrices(self, side: str, input_dim: int) -> list:
        """The factorized matrices (structure only) of ``side`` (``"kernel"``
        or ``"recurrent"``) of a layer whose input has width ``input_dim``:
        one if joint, one per gate if separate."""
        return self._side_matrices(side, input_dim, *self.modes(input_dim))

    def modes(self, input_dim: int) -> tuple:
        """``(in_modes, hidden_modes)`` for an input of width ``input_dim``:
        the given ones, else chosen by ``mode_choice`` (``in_modes`` is None
        where the automatic, possibly padded, modes of the matrices apply)."""
        self._check_depth(int(input_dim))
        given = (self.in_modes, self._hidden)
        if self.mode_choice == "balanced" or (self.in_modes and self.hidden_modes):
            return given
        return _speed_modes(self, int(input_dim))

    def _check_depth(self, input_dim: int) -> None:
        """A ``ValueError`` for a given ``d`` deeper than the kernels can
        split: beyond ``bit_length`` of their largest side every further
        mode is 1 on both sides, a core that adds nothing (and makes the
        mode search combinatorial)."""
        widest = max(input_dim, self.units * self.num_gates)
        if self.d is not None and self.in_modes is None and self.d > widest.bit_length():
            raise ValueError(
                f"`d={self.d}` modes is deeper than kernels of {input_dim} inputs and "
                f"{self.units} units can split: their widest side ({widest}) has fewer than "
                f"{widest.bit_length()} modes of 2 or more, so further cores would all be of "
                f"size 1. Use d <= {widest.bit_length()} (3-4 is usual).")

    def resolved_modes(self, input_dim: int) -> tuple:
        """:meth:`modes` with the input modes pinned where they multiply to
        ``input_dim`` (what a built layer stores in its config)."""
        in_modes, hidden = self.modes(input_dim)
        if in_modes is None:
            matrix = self._side_matrices("kernel", input_dim, None, hidden)[0]
            if matrix.uses_modes and math.prod(matrix.in_modes) == input_dim:
                in_modes = matrix.in_modes
        return in_modes, hidden

    def _side_matrices(self, side, input_dim, in_modes, hidden):
        if side == "kernel":
            decomposition, rank, in_dim = self._decomposition, self.rank, input_dim
        else:
            in_dim = self.units
            decomposition = self.recurrent_decomposition or self._decomposition
            rank = self.rank if self.recurrent_rank is None else self.recurrent_rank
            in_modes = tuple(sorted(hidden, reverse=True))
            in_modes = in_modes if math.prod(in_modes) == self.units else None
        cls = factorizations.get(decomposition)
        g, units = self.num_gates, self.units
        options = {k: v for k, v in self.decomposition_options.items() if k in cls.option_names}
        common = dict(in_modes=in_modes, d=None if in_modes else len(hidden),
                      implementation=self.implementation, **options)

        def matrix(shape, out_modes):
            if rank is not None:
                try:
                    return cls(shape, rank, out_modes=out_modes, **common)
                except ranks.RankError:
                    if side != "kernel":  # only the input side's rank is ever lowered
                        raise
                    lowered = self._kernel_rank(cls, shape, out_modes, common)
                    if lowered == rank:
                        raise
                    return cls(shape, lowered, out_modes=out_modes, **common)
            try:
                return cls(shape, DEFAULT_RANK, out_modes=out_modes, **common)
            except ValueError:
                # The default rank is more than this (small) matrix can use:
                # its largest useful ranks, which store it exactly.
                return cls(shape, "full", out_modes=out_modes, **common)

        try:
            if self.gates == "separate":
                out_modes = hidden if math.prod(hidden) == units else None
                return [matrix((in_dim, units), out_modes) for _ in range(g)]
            # Joint: every gate's block is padded to prod(hidden) when the modes
            # pad `units` (a matrix without modes has no padding).
            width = math.prod(hidden) if cls.uses_modes else units
            return [matrix((in_dim, g * width), (g * hidden[0],) + hidden[1:])]
        except ranks.RankError as error:
            # Say which side refused it; a well-formed rank is too large for
            # it, which a rank of its own would mend.
            positive = [rank] if isinstance(rank, int) else rank if isinstance(rank, list) else []
            too_large = positive and all(isinstance(r, int) and r >= 1 for r in positive)
            raise self._side_error(side, in_dim, rank, error, hinted=too_large) from None

    def _kernel_rank(self, cls, shape, out_modes, common):
        """``self.rank`` for the input kernel's matrix of ``shape``: an int rank the
        input kernel cannot use (a narrow input, e.g. 4 features at low rank
        4 at most) is lowered to its largest useful rank, which stores that
        side exactly, when the same rank is also the recurrent side's (no
        ``recurrent_rank``); a budget then keeps growing the recurrent side."""
        rank = self.rank
        if self.recurrent_rank is not None or not isinstance(rank, int) or isinstance(rank, bool):
            return rank
        useful = max(cls(shape, "full", out_modes=out_modes, **common).max_ranks or (rank,))
        return min(rank, useful)

    def _side_error(self, side, in_dim, rank, error, hinted: bool = True) -> ValueError:
        """``error`` (a factorization refusing its arguments) said of the
        kernel and the argument it came from; ``hinted``: with how to give
        the recurrent kernel a rank of its own."""
        g, units = self.num_gates, self.units
        if side == "kernel":
            what, argument, hint = f"input kernel ({in_dim} x {g * units})", "rank", ""
        else:
            what = f"recurrent kernel ({units} x {g * units}, from units={units})"
            argument = "rank" if self.recurrent_rank is None else "recurrent_rank"
            hint = (" Give the recurrent kernel a rank of its own with `recurrent_rank` "
                    "(e.g. 'full'), or keep it dense with `recurrent_decomposition='dense'`."
                    if self.recurrent_rank is None and hinted else "")
        said = str(error) if str(error).endswith(".") or not hint else f"{error}."
        return ValueError(f"The {what} cannot take `{argument}={rank!r}`: {said}{hint}")

    def modelled_cost(self, input_dim: int, in_modes, hidden) -> float:
        """Modelled time (:mod:`keras_tensor_rnn.contraction`) of a sequence's
        products with these modes: the hoisted input projection of
        ``PLANNING_BATCH`` rows and the recurrent products of as many rows
        (32 steps of 32), each through its cheaper path."""
        rows, steps = matmul_paths.PLANNING_BATCH, 32
        total = 0.0
        for side in SIDES:
            for matrix in self._side_matrices(side, input_dim, in_modes, hidden):
                if matrix.stored_as_matrix:
                    continue
                if side == "kernel":
                    total += min(matmul_paths.costs(matrix, rows).values())
                else:
                    total += min(matmul_paths.costs(matrix, rows // steps, steps).values())
        return total

    def modes_params(self, input_dim: int, in_modes, hidden) -> int:
        """Parameters of the layer's weight matrices, both sides (one stored
        as a plain matrix included), with these modes: the count a user
        sees, less the bias."""
        return sum(m.num_params for side in SIDES
                   for m in self._side_matrices(side, input_dim, in_modes, hidden))

    def count_params(self, input_dim):
        return sum(m.num_params for side in SIDES for m in self.side_matrices(side, input_dim))

    def describe(self, input_dim):
        out = {}
        for side in SIDES:
            matrix = self.side_matrices(side, input_dim)[0]
            out.update({f"{side}_decomposition": matrix.name, f"{side}_rank": list(matrix.rank),
                        f"{side}_in_modes": list(matrix.in_modes),
                        f"{side}_out_modes": list(matrix.out_modes)})
        return out

    def largest_rank(self, input_dim, budget):
        top = max(max(m.max_ranks or (1,)) for side in SIDES
                  for m in self.with_arguments(rank="full").side_matrices(side, input_dim))
        return ranks.largest_within(
            lambda r: self.with_arguments(rank=r).count_params(input_dim), 1, top, budget)

    # -------------------------------------------------------------- weights

    def build_variables(self, cell, input_dim):
        self.in_modes, self._hidden = self.resolved_modes(input_dim)
        if math.prod(self._hidden) == self.units:
            self.hidden_modes = self._hidden
        self.scales = {}
        for side, dim in zip(SIDES, (input_dim, self.units)):
            self.matrices[side] = structures = self.side_matrices(side, input_dim)
            options = cell.weight_options(side)
            initializer = options["initializer"]
            self.factors[side], self.scales[side] = [], []
            for g, structure in enumerate(structures):
                # The dense kernel Keras would create is (dim, gates * units):
                # its variance is the target of every piece, joint or not.
                fan = (dim, self.num_gates * self.units)
                start = structure.initialize(initializer, fan=fan)
                scales = self._factor_scales(structure, initializer, fan)
                prefix = side if len(structures) == 1 else f"{side}_gate{g}"
                names = ([prefix] if structure.stored_as_matrix else
                         [f"{prefix}_{k}" for k in range(len(start.factors))])
                self.scales[side].append(scales)
                self.factors[side].append([
                    cell.add_weight(shape=shape, name=name, initializer=constant(value / scale),
                                    regularizer=options["regularizer"],
                                    constraint=options["constraint"])
                    for shape, name, value, scale in zip(structure.factor_shapes, names,
                                                         start.factors, scales)])

    def _factor_scales(self, structure, initializer, fan):
        """What each factor's variable is multiplied by in the products: with
        ``scale_factors``, the factor's initial standard deviation over the
        dense kernel's, so that every variable starts at the dense kernel's
        scale and Adam (whose steps are about the learning rate whatever
        the gradient's size) changes each factor at the dense kernel's
        relative rate; 1 otherwise. A deterministic function of the
        structure and the initializer, so a reloaded layer gets the same."""
        if not self.scale_factors or structure.stored_as_matrix:
            return [1.0] * len(structure.factor_shapes)
        dense_std = initializers.target_variance(initializer, *fan) ** 0.5
        return [init.stddev / dense_std
                for init in structure.factor_initializers(initializer, fan=fan)]

    def side_factors(self, side: str) -> list:
        """The factors of ``side``'s matrices as the products use them (the
        variables, dequantized if int8, times their scales; masked to
        :attr:`active_rank` when one is set), one list per matrix."""
        factors = [[self.read(v) if scale == 1.0 else self.read(v) * scale
                    for v, scale in zip(variables, scales)]
                   for variables, scales in zip(self.factors[side], self.scales[side])]
        if self.active_rank is None:
            return factors
        return [matrix.masked(own, self.active_rank)
                for matrix, own in zip(self.matrices[side], factors)]

    # --------------------------------------------------------- nested ranks

    @property
    def largest_slot_rank(self) -> int:
        """The largest rank of any slot of the built matrices (1 without ranks)."""
        return max([1] + [r for side in SIDES for m in self.matrices[side] for r in m.rank])

    def truncated_ranks(self, rank, recurrent_rank=None) -> dict:
        """``{"rank": ..., "recurrent_rank": ...}``: the per-slot ranks of
        the built matrices at nested ``rank`` (an int, clipped to each slot,
        or one int per slot of the input side's matrix); ``recurrent_rank``
        is the recurrent side's (default: ``rank``). A side without ranks
        (dense) keeps its argument."""
        chosen = {"rank": rank, "recurrent_rank": rank if recurrent_rank is None else recurrent_rank}
        # One int for both sides may reach the larger side's rank (each slot
        # is clipped to its own, as the inference rank is).
        both = recurrent_rank is None
        arguments = {}
        for side, key in zip(SIDES, chosen):
            matrix, value = self.matrices[side][0], chosen[key]
            top = self.largest_slot_rank if both else max(matrix.rank or (1,))
            whose = "the layer's" if both else f"the {side} side's"
            listed = isinstance(value, (list, tuple)) and all(checks.is_int(v) for v in value)
            if not (checks.is_int(value) and 1 <= value <= top or listed):
                raise ValueError(f"A truncated `{key}` is an int from 1 to {whose} "
                                 f"largest rank {top}, or one int per rank slot "
                                 f"({matrix.rank_slots}). Received: {key}={value!r}")
            if matrix.rank:
                arguments[key] = list(matrix.nested_rank(value))
        return arguments

    def load_truncated(self, source: TensorizedWeights, arguments: dict) -> None:
        """Set this (built) scheme's factors to ``source``'s leading slices at
        the ranks of :meth:`truncated_ranks` (``arguments``)."""
        for side, key in zip(SIDES, ("rank", "recurrent_rank")):
            for matrix, factors, variables, scales in zip(
                    source.matrices[side], source.side_factors(side), self.factors[side],
                    self.scales[side]):
                values = [ops.convert_to_numpy(f) for f in factors]
                if key in arguments:
                    values = matrix.truncated(arguments[key], values).factors
                for variable, value, scale in zip(variables, values, scales):
                    variable.assign(value / scale)

    def kernel_variables(self):
        return [v for side in SIDES for variables in self.factors[side] for v in variables]

    def set_kernel_variables(self, variables):
        replacements = iter(variables)
        self.factors = {side: [[next(replacements) for _ in matrix]
                               for matrix in self.factors[side]] for side in SIDES}

    def _product(self, side, x, gates):
        return self._by_row_group(x, lambda rows: self._gate_columns(
            side, lambda matrix, factors: matrix.matmul(rows, factors), gates))

    def _by_row_group(self, rows, compute):
        """``compute(rows)``, rows ``(batch, ...)`` to ``(batch, ...)``, at
        :attr:`active_rank`; for a tuple of ranks, the rows split into as
        many contiguous groups (:func:`row_groups`), group ``g`` computed at
        ``active_rank[g]`` and the results stacked back in order: each
        group's product on its own rows only."""
        if not isinstance(self.active_rank, tuple):
            return compute(rows)
        parts = row_groups(rows, len(self.active_rank))
        return ops.concatenate(self._at_each_group_rank(lambda g: compute(parts[g])), axis=0)

    def _at_each_group_rank(self, compute) -> list:
        """``[compute(g) at rank active_rank[g] for each group g]`` (a tuple
        of ranks)."""
        groups, outputs = self.active_rank, []
        try:
            for g, rank in enumerate(groups):
                self.active_rank = rank
                outputs.append(compute(g))
        finally:
            self.active_rank = groups
        return outputs

    def input_operator(self, batch, steps):
        if not isinstance(self.active_rank, tuple):
            return super().input_operator(batch, steps)
        return self._grouped_operator(lambda: super(TensorizedWeights, self).input_operator(
            batch, steps))

    def recurrent_operator(self, batch, steps):
        if not isinstance(self.active_rank, tuple) or not self.rebuilds_recurrent(batch, steps):
            return super().recurrent_operator(batch, steps)
        return self._grouped_operator(lambda: super(TensorizedWeights, self).recurrent_operator(
            batch, steps))

    def _grouped_operator(self, make):
        """A per-step operator over row groups: ``make()`` (an operator
        with its matrix rebuilt once, or None to hoist the product) at each
        group's rank, each group's rows through its own."""
        operators = self._at_each_group_rank(lambda g: make())
        if operators[0] is None:  # hoisted: kernel_matmul groups the rows itself
            return None

        def grouped(rows, *args, **kwargs):
            parts = row_groups(rows, len(operators))
            return ops.concatenate([op(part, *args, **kwargs)
                                    for op, part in zip(operators, parts)], axis=0)

        return grouped

    def _gate_columns(self, side, apply, gates):
        """``apply(matrix, factors)`` for ``side``'s matrices, arranged as
        Keras's gate columns (``gates``: a ``(first, stop)`` range, or all):
        ``x @ W`` for a product, ``W`` itself for a rebuilt matrix."""
        matrices, factors = self.matrices[side], self.side_factors(side)
        g, units = self.num_gates, self.units
        first, stop = gates if gates is not None else (0, g)
        if len(matrices) > 1:
            return ops.concatenate(
                [apply(matrices[k], factors[k]) for k in range(first, stop)], axis=-1)
        y = apply(matrices[0], factors[0])
        width = y.shape[-1] // g
        if width != units:  # padded hidden modes: drop each gate's padding
            y = _reshape_last(_reshape_last(y, (g, width))[..., :units], (g * units,), axes=2)
        if (first, stop) != (0, g):
            y = y[..., first * units: stop * units]
        return y

    def kernel_matmul(self, x):
        return self._product("kernel", x, None)

    def dense_kernels(self, kernel: bool = True, recurrent: bool = True):
        # Each matrix's own `full()`, not the base class's product with an
        # identity: that is a GEMM of the matrix's size in the forward pass
        # and another in the gradient (1-2 ms a train step for a 256 x 1,024
        # recurrent matrix on 2 CPU cores), on every sequence that rebuilds.
        return tuple(self._gate_columns(side, lambda matrix, factors: matrix.full(factors), None)
                     if wanted else None
                     for side, wanted in (("kernel", kernel), ("recurrent", recurrent)))

    def recurrent_matmul(self, h, gates=None):
        return self._product("recurrent", h, gates)

    def _rebuild_once(self, side, batch, steps):
        return all(m.reconstruct_once(batch or matmul_paths.PLANNING_BATCH, steps)
                   for m in self.matrices[side])

    def rebuilds_kernel(self, batch, steps):
        return self._rebuild_once("kernel", batch, steps)

    def rebuilds_recurrent(self, batch, steps):
        return self._rebuild_once("recurrent", batch, steps)

    def load_dense(self, kernel, recurrent, inputs=None, states=None):
        """Fit each factorized matrix to its block of the dense kernels: in
        the weight metric (``from_dense``: TT-SVD, ALS, HOOI), then, where
        sample ``inputs``/``states`` are given for that side, in the data
        metric (:func:`~keras_tensor_rnn.factorizations.data_fit.fit_outputs`)."""
        for side, dense, sample in zip(SIDES, (kernel, recurrent), (inputs, states)):
            structures = self.matrices[side]
            for structure, variables, scales, block in zip(
                    structures, self.factors[side], self.scales[side],
                    self._blocks(dense, structures)):
                fitted = structure.fit(block)
                if sample is not None:
                    fitted = data_fit.fit_outputs(fitted, block, sample)
                stored = balanced_norms([np.asarray(value) / scale
                                         for value, scale in zip(fitted.factors, scales)])
                for variable, value in zip(variables, stored):
                    variable.assign(value)

    def _blocks(self, dense, structures):
        """A Keras-layout kernel in the layout of a side's matrices: one
        block per gate (separate), or all gates, each padded to the hidden
        modes (joint)."""
        g, units = self.num_gates, self.units
        if len(structures) > 1:
            return np.split(dense, g, axis=1)
        width = structures[0].out_dim // g
        if width == units:
            return [dense]
        padded = np.zeros((dense.shape[0], g, width), dense.dtype)
        padded[:, :, :units] = dense.reshape(dense.shape[0], g, units)
        return [padded.reshape(dense.shape[0], g * width)]

    def get_config(self):
        return {
            "decomposition": self._decomposition,
            "rank": self.rank,
            "in_modes": None if self.in_modes is None else list(self.in_modes),
            "hidden_modes": None if self.hidden_modes is None else list(self.hidden_modes),
            "d": self.d,
            "recurrent_decomposition": self.recurrent_decomposition,
            "recurrent_rank": self.recurrent_rank,
            "gates": self.gates,
            "implementation": self.implementation,
            "decomposition_options": self.decomposition_options or None,
            "mode_choice": self.mode_choice,
            "scale_factors": self.scale_factors,
            "nested_ranks": self.nested_ranks,
        }


def row_groups(rows, count: int) -> list:
    """``rows`` ``(batch, ...)`` split into ``count`` contiguous groups,
    group 0 first: each ``batch // count`` rows, group 0 also the remainder
    (so a batch of 7 in 2 groups is rows 0-3 and 4-6). Slices of a dynamic
    batch, so a traced step serves every batch size."""
    batch = ops.shape(rows)[0]
    size = batch // count
    starts = [0] + [batch - (count - g) * size for g in range(1, count)]
    return [rows[start:stop] for start, stop in zip(starts, starts[1:] + [batch])]


def balanced_norms(factors: list) -> list:
    """The factors of one multilinear product rescaled to a common RMS,
    their product unchanged.

    Every decomposition here is linear in each factor, so factor ``k``
    times ``c_k`` with ``prod(c_k) == 1`` leaves the matrix as it is. A
    fitted decomposition puts its norm where its algorithm leaves it (TT-SVD:
    orthonormal cores and all the norm in the last, 10x the others' entries);
    Adam steps every entry by about the learning rate whatever its size, so
    the small factors would change ten times faster, relatively, than the
    large one, which made fine-tuning diverge at learning rates the dense
    model takes. A common RMS (their geometric mean) gives every factor the
    same relative step, as at initialisation.

    Args:
        factors: numpy arrays, the stored values of one matrix's factors.

    Returns:
        The rescaled arrays (unchanged when one factor is all zeros).
    """
    rms = [float(np.sqrt(np.mean(np.square(f, dtype=np.float64)))) for f in factors]
    if len(factors) < 2 or min(rms) == 0.0:
        return list(factors)
    common = float(np.exp(np.mean(np.log(rms))))
    return [(f * (common / r)).astype(f.dtype) for f, r in zip(factors, rms)]


@functools.lru_cache(maxsize=1024)
def _speed_search(key, input_dim):
    scheme = TensorizedWeights(**dict(key))
    kernel = factorizations.get(scheme.decomposition)
    recurrent = factorizations.get(scheme.recurrent_decomposition or scheme.decomposition)
    start = (scheme.in_modes, scheme.hidden_modes_in_use)
    if not (kernel.uses_modes or recurrent.uses_modes):
        return start
    depth = len(start[1])
    # Only sizes that factorize exactly are searched: padded modes cannot be
    # stored as constructor arguments, so they stay the balanced ones and a
    # reloaded layer re-derives them identically.
    in_options = [scheme.in_modes]
    if (scheme.in_modes is None and kernel.uses_modes
            and shapes.padded_size(input_dim, depth) == input_dim):
        in_options += mode_choice_module.candidates(input_dim, depth)
    hidden_options = [start[1]]
    if scheme.hidden_modes is None and math.prod(start[1]) == scheme.units:
        hidden_options += mode_choice_module.candidates(scheme.units, depth, ones=True)

    def valid(function):
        def safe(in_modes, hidden):
            try:
                return function(input_dim, in_modes, hidden)
            except ValueError:  # e.g. a list rank that these modes cannot hold
                return math.inf
        return safe

    return mode_choice_module.choose(valid(scheme.modelled_cost), valid(scheme.modes_params),
                                     in_options, hidden_options, start)


def _speed_modes(scheme, input_dim):
    """The speed choice for ``scheme`` (see :mod:`keras_tensor_rnn.mode_choice`),
    searched once per structure and input width."""
    config = {**scheme.get_config(), "units": scheme.units, "num_gates": scheme.num_gates}
    # Neither argument changes which modes are fastest: one search serves all.
    config.update(mode_choice="balanced", scale_factors=True)
    key = tuple(sorted((k, _hashable(v)) for k, v in config.items()))
    return _speed_search(key, input_dim)


def _hashable(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _reshape_last(x, new_last, axes=1):
    """Reshape the last ``axes`` axes of ``x`` into ``new_last`` (leading
    dims kept, at most one of them unknown)."""
    lead = tuple(-1 if s is None else s for s in x.shape[:-axes])
    if lead.count(-1) > 1:
        lead = tuple(ops.shape(x)[:-axes])
    return ops.reshape(x, lead + tuple(new_last))
