"""Tensorized and restricted RNN cells.

A cell holds one time step, as in Keras. Each cell here is split in two
parts that combine freely:

- the *step math* of an LSTM, GRU or SimpleRNN (:class:`LSTMStep`,
  :class:`GRUStep`, :class:`SimpleRNNStep`), written against two products,
  ``kernel_matmul(x)`` (input to gates) and ``recurrent_matmul(h)`` (state to
  gates), in Keras's gate order and weight layout;
- the *weights* behind those products: factorized matrices
  (:class:`TensorizedWeights`) or Diao et al.'s restricted, row-shared
  matrices (:class:`RestrictedWeights`).

``project_inputs`` (input product plus input bias) does not depend on the
recurrence, so the layers call it once for all time steps and run only
``recurrent_step`` inside the loop.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_tensor_rnn import factorizations, shapes
from keras_tensor_rnn._keras_private import DropoutRNNCell
from keras_tensor_rnn.factorizations.base import PLANNING_BATCH, target_variance

GATES = ("joint", "separate")


def _reshape_last(x, new_last):
    """Reshape the last axis of ``x`` into ``new_last`` (leading dims kept,
    at most one of them unknown)."""
    lead = tuple(-1 if s is None else s for s in x.shape[:-1])
    if lead.count(-1) > 1:
        lead = tuple(ops.shape(x)[:-1])
    return ops.reshape(x, lead + tuple(new_last))


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Arguments and plumbing shared by every cell here (see the concrete
    cells for the argument docs; they are Keras's)."""

    num_gates = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive "
                f"integer. Received: units={units!r}"
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, dropout))
        self.recurrent_dropout = min(1.0, max(0.0, recurrent_dropout))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.output_size = units

    # ---------------------------------------------------------------- build

    def build(self, input_shape):
        super().build(input_shape)
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"The last dimension of the inputs to {type(self).__name__} must be "
                f"defined. Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        self.build_weights(self.input_dim)
        self.build_bias()

    def _add_bias_weight(self, shape, initializer):
        self.bias = self.add_weight(
            shape=shape,
            name="bias",
            initializer=initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def build_bias(self):
        self.bias = None
        if self.use_bias:
            self._add_bias_weight((self.num_gates * self.units,), self.bias_initializer)

    def bias_param_count(self) -> int:
        return self.num_gates * self.units if self.use_bias else 0

    def count_params_for(self, input_dim: int) -> int:
        """Exact number of weights this cell creates for ``input_dim``, from
        closed-form counts (nothing is built)."""
        return self.weight_param_count(int(input_dim)) + self.bias_param_count()

    # ----------------------------------------------------------------- call

    def input_bias(self):
        return self.bias

    def project_inputs(self, inputs):
        """Input product plus input bias, for any leading shape
        (``(batch, dim)`` for one step or ``(batch, time, dim)`` for all)."""
        z = self.kernel_matmul(inputs)
        bias = self.input_bias()
        return z if bias is None else ops.add(z, bias)

    def _masked_state(self, h, training):
        if training and 0.0 < self.recurrent_dropout < 1.0:
            return h * self.get_recurrent_dropout_mask(h)
        return h

    def call(self, inputs, states, training=False):
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        return self.recurrent_step(self.project_inputs(inputs), states, training=training)

    def input_operator(self, batch, steps):
        """How a ``steps``-step sequence of ``batch`` rows is projected:
        ``None`` to hoist ``project_inputs`` out of the time loop (one product
        for all steps), or a per-step ``x_t -> project_inputs(x_t)`` built
        with the kernel computed once. Hoisting pays when the input is at
        least as wide as the gates; narrower inputs are cheaper to carry
        through the loop, as Keras's own cells do."""
        return None

    def _dense_input(self, kernel):
        bias = self.input_bias()

        def project(x):
            z = ops.matmul(x, ops.cast(kernel, x.dtype))
            return z if bias is None else ops.add(z, bias)

        return project

    def recurrent_operator(self, batch, steps):
        """``recurrent_matmul`` for a whole ``steps``-step sequence of
        ``batch`` rows, with what can be computed once per sequence (the
        rebuilt recurrent matrix, when that is cheaper) computed here, once,
        outside the time loop."""
        return self.recurrent_matmul

    def _dense_recurrent(self, u):
        """``h @ u[:, gate columns]`` for a precomputed ``(units, gates * units)`` ``u``."""
        units = self.units

        def product(h, gates=None):
            w = u if gates is None else u[:, gates[0] * units: gates[1] * units]
            return ops.matmul(h, ops.cast(w, h.dtype))

        return product

    def dense_kernels(self):
        """The equivalent dense ``(kernel, recurrent_kernel)`` in Keras's layout,
        shapes ``(input_dim, gates * units)`` and ``(units, gates * units)``
        (products of identity matrices, so exact for every weight type)."""
        return (self.kernel_matmul(ops.eye(self.input_dim, dtype=self.variable_dtype)),
                self.recurrent_matmul(ops.eye(self.units, dtype=self.variable_dtype)))

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def _split_gates(self, z, count=None):
        return ops.split(z, count or self.num_gates, axis=-1)

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        # Concrete cells combine a step (LSTM/GRU/SimpleRNN) with weights
        # (tensorized/restricted); each part serialises its own arguments.
        return {**super().get_config(), **config, **self._step_config(),
                **self._weights_config()}


# ====================================================================== steps


class LSTMStep:
    """LSTM step math (Keras's gate order i, f, c, o; state ``[h, c]``)."""

    num_gates = 4

    def _init_step(self, recurrent_activation, unit_forget_bias):
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [self.units, self.units]

    def build_bias(self):
        self.bias = None
        if not self.use_bias:
            return
        if self.unit_forget_bias:
            units, base = self.units, self.bias_initializer

            def initializer(_, *args, **kwargs):
                return ops.concatenate([
                    base((units,), *args, **kwargs),
                    keras.initializers.get("ones")((units,), *args, **kwargs),
                    base((units * 2,), *args, **kwargs),
                ])
        else:
            initializer = self.bias_initializer
        self._add_bias_weight((4 * self.units,), initializer)

    def recurrent_step(self, x_proj, states, training=False, recurrent=None):
        recurrent = recurrent or self.recurrent_matmul
        h_tm1, c_tm1 = states[0], states[1]
        z = x_proj + recurrent(self._masked_state(h_tm1, training))
        z_i, z_f, z_c, z_o = self._split_gates(z)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def _step_config(self):
        return {
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRUStep:
    """GRU step math (Keras's gate order z, r, h; ``reset_after`` as Keras)."""

    num_gates = 3

    def _init_step(self, recurrent_activation, reset_after):
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = reset_after
        self.state_size = self.units

    def build_bias(self):
        self.bias = None
        if self.use_bias:
            # Separate input and recurrent biases with reset_after, as Keras.
            shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            self._add_bias_weight(shape, self.bias_initializer)

    def bias_param_count(self):
        if not self.use_bias:
            return 0
        return (2 if self.reset_after else 1) * 3 * self.units

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def recurrent_step(self, x_proj, states, training=False, recurrent=None):
        recurrent = recurrent or self.recurrent_matmul
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        h_in = self._masked_state(h_tm1, training)
        x_z, x_r, x_h = self._split_gates(x_proj)
        if self.reset_after:
            inner = recurrent(h_in)
            if self.bias is not None:
                inner = inner + self.bias[1]
            r_z, r_r, r_h = self._split_gates(inner)
        else:
            r_z, r_r = self._split_gates(recurrent(h_in, gates=(0, 2)), 2)
        z = self.recurrent_activation(x_z + r_z)
        r = self.recurrent_activation(x_r + r_r)
        if self.reset_after:
            r_h = r * r_h
        else:
            r_h = recurrent(r * h_in, gates=(2, 3))
        hh = self.activation(x_h + r_h)
        h = z * h_tm1 + (1 - z) * hh
        return h, ([h] if nested else h)

    def _step_config(self):
        return {
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


class SimpleRNNStep:
    """SimpleRNN step math."""

    num_gates = 1

    def _init_step(self):
        self.state_size = self.units

    def recurrent_step(self, x_proj, states, training=False, recurrent=None):
        recurrent = recurrent or self.recurrent_matmul
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        output = x_proj + recurrent(self._masked_state(h_tm1, training))
        if self.activation is not None:
            output = self.activation(output)
        return output, ([output] if nested else output)

    def _step_config(self):
        return {}


# ==================================================================== weights


class TensorizedWeights:
    """Input and recurrent products through factorized matrices.

    ``gates="joint"``: one matrix of shape ``(dim, gates * units)`` per side,
    the gate index merged into the first output mode (Onu et al.'s fully
    tensorized weight sharing). ``gates="separate"``: one ``(dim, units)``
    matrix per gate (Tjandra et al.).
    """

    def _init_weights(self, decomposition, rank, in_modes, hidden_modes, d,
                      recurrent_decomposition, recurrent_rank, gates, implementation,
                      decomposition_options):
        self.decomposition = factorizations.get(decomposition).name
        self.recurrent_decomposition = (
            None if recurrent_decomposition is None
            else factorizations.get(recurrent_decomposition).name
        )
        if gates not in GATES:
            raise ValueError(f"`gates` must be one of {GATES}. Received: gates={gates!r}")
        self.gates = gates
        self.rank = rank
        self.recurrent_rank = recurrent_rank
        self.in_modes = None if in_modes is None else tuple(int(m) for m in in_modes)
        self.d = d
        self.implementation = implementation
        self.decomposition_options = dict(decomposition_options or {})
        depth = len(self.in_modes) if self.in_modes else (d or 3)
        if hidden_modes is not None:
            hidden_modes = tuple(int(m) for m in hidden_modes)
            if math.prod(hidden_modes) != self.units or any(m < 1 for m in hidden_modes):
                raise ValueError(
                    f"`units`={self.units} cannot be split into hidden_modes={hidden_modes} "
                    f"(product {math.prod(hidden_modes)}). The product of `hidden_modes` must "
                    f"equal `units`, e.g. hidden_modes={tuple(sorted(shapes.balanced_factors(self.units, len(hidden_modes))))}, "
                    "or leave it unset to choose (and pad) automatically."
                )
            if self.in_modes is not None and len(hidden_modes) != len(self.in_modes):
                raise ValueError(
                    "`in_modes` and `hidden_modes` need the same number of modes. "
                    f"Received: in_modes={self.in_modes}, hidden_modes={hidden_modes}"
                )
        self.hidden_modes = hidden_modes
        self._hidden = hidden_modes or tuple(sorted(shapes.auto_modes(self.units, depth)))
        # Validate ranks and modes now (not at build) where the input width is
        # not needed: the recurrent side is fully known.
        self._side_structures("recurrent", self.units)

    def _side(self, side):
        if side == "kernel":
            return self.decomposition, self.rank, self.in_modes
        decomposition = self.recurrent_decomposition or self.decomposition
        rank = self.rank if self.recurrent_rank is None else self.recurrent_rank
        in_modes = tuple(sorted(self._hidden, reverse=True))
        in_modes = in_modes if math.prod(in_modes) == self.units else None
        return decomposition, rank, in_modes

    def _side_structures(self, side, in_dim):
        """The factorized matrices of one side (one if joint, one per gate)."""
        decomposition, rank, in_modes = self._side(side)
        cls = factorizations.get(decomposition)
        depth = len(self._hidden)
        common = dict(d=None if in_modes else depth, implementation=self.implementation,
                      **(self.decomposition_options if cls.name != "dense" else {}))
        g, units = self.num_gates, self.units
        if cls.name == "dense":
            shape = (in_dim, g * units) if self.gates == "joint" else (in_dim, units)
            return [cls(shape)] * (1 if self.gates == "joint" else g)
        hidden_p = math.prod(self._hidden)
        if self.gates == "joint":
            out_modes = (g * self._hidden[0],) + self._hidden[1:]
            return [cls((in_dim, g * hidden_p), rank, in_modes=in_modes, out_modes=out_modes,
                        **common)]
        out_modes = self._hidden if hidden_p == units else None
        return [cls((in_dim, units), rank, in_modes=in_modes, out_modes=out_modes, **common)
                for _ in range(g)]

    def weight_param_count(self, input_dim):
        return sum(m.num_params for side, dim in (("kernel", input_dim), ("recurrent", self.units))
                   for m in self._side_structures(side, dim))

    def build_weights(self, input_dim):
        self._kernel_matrices, self._kernel_factors = self._build_side("kernel", input_dim)
        self._recurrent_matrices, self._recurrent_factors = self._build_side(
            "recurrent", self.units)

    def _build_side(self, side, in_dim):
        structures = self._side_structures(side, in_dim)
        initializer = getattr(self, f"{side}_initializer")
        regularizer = getattr(self, f"{side}_regularizer")
        constraint = getattr(self, f"{side}_constraint")
        # The dense kernel Keras would create is (in_dim, gates * units): its
        # variance is the target for every factorized piece, joint or not.
        variance = None
        if structures[0].name != "dense":
            variance = target_variance(initializer, in_dim, self.num_gates * self.units)
        factors = []
        for g, structure in enumerate(structures):
            prefix = side if len(structures) == 1 else f"{side}_gate{g}"
            if structure.name == "dense":
                inits = [initializer]
                names = [prefix]
            else:
                values = structure.initialize(variance).factors
                inits = [_constant(v) for v in values]
                names = [f"{prefix}_{k}" for k in range(len(values))]
            factors.append([
                self.add_weight(shape=shape, name=name, initializer=init,
                                regularizer=regularizer, constraint=constraint)
                for shape, name, init in zip(structure.factor_shapes, names, inits)
            ])
        return structures, factors

    def _product(self, matrices, factors, x, gates):
        g, units = self.num_gates, self.units
        first, stop = gates if gates is not None else (0, g)
        if len(matrices) > 1:
            return ops.concatenate(
                [matrices[k].matmul(x, factors[k]) for k in range(first, stop)], axis=-1)
        y = matrices[0].matmul(x, factors[0])
        width = y.shape[-1] // g
        if width != units:  # padded hidden modes: drop each gate's padding
            y = _reshape_last(_reshape_last(y, (g, width))[..., :units], (g * units,))
        if (first, stop) != (0, g):
            y = y[..., first * units: stop * units]
        return y

    def kernel_matmul(self, x):
        """``x @ W`` for all gates: ``(..., input_dim) -> (..., gates * units)``."""
        return self._product(self._kernel_matrices, self._kernel_factors, x, None)

    def recurrent_matmul(self, h, gates=None):
        """``h @ U`` for gates ``[first, stop)`` (all when None)."""
        return self._product(self._recurrent_matrices, self._recurrent_factors, h, gates)

    def _rebuild_once(self, matrices, batch, steps):
        return all(m.reconstruct_once(batch or PLANNING_BATCH, steps) for m in matrices)

    def input_operator(self, batch, steps):
        matrices = self._kernel_matrices
        # A dense kernel inside the loop is Keras's own per-step GEMM.
        per_step = matrices[0].name == "dense" or self._rebuild_once(matrices, batch, steps)
        if self.input_dim >= self.num_gates * self.units or not per_step:
            return None
        return self._dense_input(
            self.kernel_matmul(ops.eye(self.input_dim, dtype=self.variable_dtype)))

    def recurrent_operator(self, batch, steps):
        if not self._rebuild_once(self._recurrent_matrices, batch, steps):
            return self.recurrent_matmul
        return self._dense_recurrent(
            self.recurrent_matmul(ops.eye(self.units, dtype=self.variable_dtype)))

    def _weights_config(self):
        return {
            "decomposition": self.decomposition,
            "rank": self.rank,
            "in_modes": None if self.in_modes is None else list(self.in_modes),
            "hidden_modes": None if self.hidden_modes is None else list(self.hidden_modes),
            "d": self.d,
            "recurrent_decomposition": self.recurrent_decomposition,
            "recurrent_rank": self.recurrent_rank,
            "gates": self.gates,
            "implementation": self.implementation,
            "decomposition_options": self.decomposition_options or None,
        }


class RestrictedWeights:
    """Diao et al.'s restricted weights: for every gate, the input matrix
    ``W_g`` and the recurrent matrix ``U_g`` share their first
    ``s = round(shared * units)`` output units (one matrix applied to both
    ``x`` and ``h``, zero-padded to the wider of the two); the other
    ``units - s`` are private to each.

    Weights per gate: ``s * max(input_dim, units) + (units - s) * (input_dim +
    units)``; with ``input_dim == units`` that is ``(2 - shared) * units**2``
    against ``2 * units**2`` for the unrestricted cell.
    """

    def _init_weights(self, shared):
        if isinstance(shared, bool) or not isinstance(shared, (int, float)) or not 0 <= shared <= 1:
            raise ValueError(
                f"`shared` is the fraction of shared rows and must be in [0, 1]. "
                f"Received: shared={shared!r}"
            )
        self.shared = float(shared)
        self.shared_units = int(round(self.shared * self.units))

    def weight_param_count(self, input_dim):
        g, s, h = self.num_gates, self.shared_units, self.units
        return g * (s * max(input_dim, h) + (h - s) * (input_dim + h))

    def build_weights(self, input_dim):
        g, s, h = self.num_gates, self.shared_units, self.units
        self.shared_kernel = self.private_kernel = self.private_recurrent_kernel = None
        if s:
            self.shared_kernel = self.add_weight(
                shape=(max(input_dim, h), g * s), name="shared_kernel",
                initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint)
        if s < h:
            self.private_kernel = self.add_weight(
                shape=(input_dim, g * (h - s)), name="private_kernel",
                initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint)
            self.private_recurrent_kernel = self.add_weight(
                shape=(h, g * (h - s)), name="private_recurrent_kernel",
                initializer=self.recurrent_initializer,
                regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)

    def _assemble(self, private, dim):
        """The ``(dim, gates * units)`` matrix in Keras's layout: per gate, the
        shared units first, then the private ones."""
        g, s, h = self.num_gates, self.shared_units, self.units
        parts = []
        if s:
            parts.append(ops.reshape(self.shared_kernel[:dim], (dim, g, s)))
        if s < h:
            parts.append(ops.reshape(private, (dim, g, h - s)))
        return ops.reshape(ops.concatenate(parts, axis=-1), (dim, g * h))

    def kernel_matrix(self):
        return self._assemble(self.private_kernel, self.input_dim)

    def recurrent_kernel_matrix(self):
        return self._assemble(self.private_recurrent_kernel, self.units)

    def kernel_matmul(self, x):
        return ops.matmul(x, ops.cast(self.kernel_matrix(), x.dtype))

    def recurrent_matmul(self, h, gates=None):
        return self._dense_recurrent(self.recurrent_kernel_matrix())(h, gates)

    # The shared/private assembly is a concatenation: once per sequence.
    def input_operator(self, batch, steps):
        if self.input_dim >= self.num_gates * self.units:
            return None
        return self._dense_input(self.kernel_matrix())

    def recurrent_operator(self, batch, steps):
        return self._dense_recurrent(self.recurrent_kernel_matrix())

    def _weights_config(self):
        return {"shared": self.shared}


def _constant(value):
    def initializer(shape, dtype=None):
        return ops.cast(value, dtype or keras.config.floatx())

    return initializer


# ================================================================ the cells

_TENSORIZED_DOC = """
    Tensorized arguments (besides Keras's own):
        decomposition: name of the input-side factorization: one of
            ``ktr.factorizations.names()`` (``"tt"``, ``"mps"``, ``"tr"``,
            ``"cp"``, ``"tucker"``, ``"bt"``, ``"dense"``). Default ``"tt"``.
        rank: int, per-slot list, float fraction of the dense parameter count
            in ``(0, 1]``, or ``"full"``. Default 8.
        in_modes: modes of the input width (product = input width); automatic
            (balanced, zero-padded if needed) when None.
        hidden_modes: modes of ``units`` (product = units); automatic when None.
        d: number of modes per side when chosen automatically (default 3).
        recurrent_decomposition: decomposition of the hidden-to-hidden matrix;
            None = same as ``decomposition``; ``"dense"`` factorizes only the
            input side (tednet / Yang et al.).
        recurrent_rank: rank of the recurrent side; None = ``rank``.
        gates: ``"joint"`` (one matrix for all gates, the gate index a mode of
            the output side) or ``"separate"`` (one matrix per gate).
        implementation: ``"auto"``, ``"factorized"`` or ``"reconstructed"``
            (how each product is computed; auto picks the cheaper).
        decomposition_options: extra constructor options of the
            decomposition, e.g. ``{"blocks": 4}`` for ``"bt"``.
"""


def _tensorized_cell(name, step, extra_defaults, doc):
    """Build a tensorized cell class: ``step`` math on factorized weights."""

    class Cell(step, TensorizedWeights, RecurrentCell):
        def __init__(self, units, *, decomposition="tt", rank=8, in_modes=None,
                     hidden_modes=None, d=None, recurrent_decomposition=None,
                     recurrent_rank=None, gates="joint", implementation="auto",
                     decomposition_options=None, **kwargs):
            step_args = {k: kwargs.pop(k, v) for k, v in extra_defaults.items()}
            super().__init__(units, **kwargs)
            self._init_step(**step_args)
            self._init_weights(decomposition, rank, in_modes, hidden_modes, d,
                               recurrent_decomposition, recurrent_rank, gates,
                               implementation, decomposition_options)

    return _register(Cell, name, extra_defaults, doc + _TENSORIZED_DOC)


def _restricted_cell(name, step, extra_defaults, doc):
    class Cell(step, RestrictedWeights, RecurrentCell):
        def __init__(self, units, *, shared=0.5, **kwargs):
            step_args = {k: kwargs.pop(k, v) for k, v in extra_defaults.items()}
            super().__init__(units, **kwargs)
            self._init_step(**step_args)
            self._init_weights(shared)

    return _register(Cell, name, extra_defaults, doc)


def _register(cell, name, extra_defaults, doc):
    """Name, document and register a generated cell class."""
    cell.__name__ = cell.__qualname__ = name
    cell._extra_defaults = tuple(extra_defaults)  # step arguments the layers route to the cell
    cell.__doc__ = doc
    return keras.saving.register_keras_serializable(package="keras_tensor_rnn")(cell)


_LSTM_EXTRA = {"recurrent_activation": "sigmoid", "unit_forget_bias": True}
_GRU_EXTRA = {"recurrent_activation": "sigmoid", "reset_after": True}

TensorizedLSTMCell = _tensorized_cell(
    "TensorizedLSTMCell", LSTMStep, _LSTM_EXTRA,
    """One step of :class:`~keras_tensor_rnn.layers.TensorizedLSTM`: ``keras.layers.LSTMCell``
    with factorized kernels. Takes every argument of ``keras.layers.LSTMCell``.

    Example:

    >>> cell = TensorizedLSTMCell(64, decomposition="tt", rank=4)
    >>> layer = keras.layers.RNN(cell)  # works, though TensorizedLSTM is faster
    """)
TensorizedGRUCell = _tensorized_cell(
    "TensorizedGRUCell", GRUStep, _GRU_EXTRA,
    """One step of :class:`~keras_tensor_rnn.layers.TensorizedGRU`: ``keras.layers.GRUCell``
    with factorized kernels (``reset_after`` as Keras). Takes every argument
    of ``keras.layers.GRUCell``.
    """)
TensorizedSimpleRNNCell = _tensorized_cell(
    "TensorizedSimpleRNNCell", SimpleRNNStep, {},
    """One step of :class:`~keras_tensor_rnn.layers.TensorizedSimpleRNN`:
    ``keras.layers.SimpleRNNCell`` with factorized kernels.
    """)

RestrictedLSTMCell = _restricted_cell(
    "RestrictedLSTMCell", LSTMStep, _LSTM_EXTRA,
    """One step of :class:`~keras_tensor_rnn.layers.RestrictedLSTM` (Diao et al.).
    Keras's LSTMCell arguments plus ``shared`` (fraction of rows shared by the
    input and recurrent matrices of each gate, in [0, 1]).""")
RestrictedGRUCell = _restricted_cell(
    "RestrictedGRUCell", GRUStep, _GRU_EXTRA,
    """One step of :class:`~keras_tensor_rnn.layers.RestrictedGRU` (Diao et al.).""")
RestrictedSimpleRNNCell = _restricted_cell(
    "RestrictedSimpleRNNCell", SimpleRNNStep, {},
    """One step of :class:`~keras_tensor_rnn.layers.RestrictedSimpleRNN` (Diao et al.).""")
