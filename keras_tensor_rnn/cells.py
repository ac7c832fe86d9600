"""Tensorized and restricted RNN cells: step maths over a weight scheme.

A cell holds one time step, as in Keras. Each cell here is one of three
small step classes (:class:`LSTMStepCell`, :class:`GRUStepCell`,
:class:`SimpleRNNStepCell`: Keras's gate order and weight layout, a few
lines of maths each) over a :class:`~keras_tensor_rnn.weight_schemes.WeightScheme`
that stores the kernels: :class:`~keras_tensor_rnn.weight_schemes.TensorizedWeights`
(factorized matrices) or :class:`~keras_tensor_rnn.weight_schemes.RestrictedWeights`
(Diao et al.'s row-shared matrices). The six public cells are those
combinations, with Keras's arguments and the scheme's.

``project_inputs`` (input product plus input bias) does not depend on the
recurrence, so the layers call it once for all time steps and run only
``recurrent_step`` inside the loop.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_tensor_rnn import _private_api
from keras_tensor_rnn._private_api import DropoutRNNCell
from keras_tensor_rnn.weight_schemes import RestrictedWeights, TensorizedWeights

QUANTIZATION_MODES = ("int8",)
"""The ``model.quantize`` modes the cells support."""


def _units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError("Received an invalid value for argument `units`, expected a positive "
                         f"integer. Received: units={units!r}")
    return units


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """What every cell here shares: Keras's common cell arguments, the
    weight scheme, biases, dropout and the hoisted input projection.

    Args:
        units: positive int.
        weight_scheme: the :class:`~keras_tensor_rnn.weight_schemes.WeightScheme`
            storing the kernels (made for ``units`` and ``num_gates``).
        activation ... seed: as ``keras.layers.SimpleRNNCell``.

    The step classes below define ``recurrent_step(x_proj, states, training,
    recurrent)``: one step from the projected input, with ``recurrent`` the
    prepared recurrent product (default ``recurrent_matmul``).
    """

    num_gates = 1

    def __init__(self, units, weight_scheme, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _units(units)
        self.weight_scheme = weight_scheme
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
        self.bias = None

    # ---------------------------------------------------------------- build

    def build(self, input_shape):
        super().build(input_shape)
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"The last dimension of the inputs to {type(self).__name__} must be "
                             f"defined. Received: input_shape={tuple(input_shape)}")
        self.input_dim = int(input_dim)
        self.weight_scheme.build(self, self.input_dim)
        if self.use_bias:
            self.bias = self.add_weight(shape=self.bias_shape(), name="bias",
                                        initializer=self.bias_start(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        if self.quantization_mode is not None:  # loading a quantized cell
            self._quantize_kernels(self.quantization_mode)

    def weight_options(self, side: str) -> dict:
        """The ``initializer``, ``regularizer`` and ``constraint`` Keras's cell
        gives its ``side`` kernel (``"kernel"`` or ``"recurrent"``): what a
        weight scheme creates that side's variables with."""
        if side == "kernel":
            return {"initializer": self.kernel_initializer,
                    "regularizer": self.kernel_regularizer, "constraint": self.kernel_constraint}
        if side == "recurrent":
            return {"initializer": self.recurrent_initializer,
                    "regularizer": self.recurrent_regularizer,
                    "constraint": self.recurrent_constraint}
        raise ValueError(f"`side` is 'kernel' or 'recurrent'. Received: {side!r}")

    def bias_shape(self) -> tuple:
        return (self.num_gates * self.units,)

    def bias_start(self):
        """The bias initializer (LSTM's ``unit_forget_bias`` changes it)."""
        return self.bias_initializer

    def count_params_for(self, input_dim: int) -> int:
        """Exact number of weights this cell creates for ``input_dim``, from
        closed-form counts (nothing is built)."""
        bias = math.prod(self.bias_shape()) if self.use_bias else 0
        return self.weight_scheme.count_params(int(input_dim)) + bias

    def dense_count_for(self, input_dim: int) -> int:
        """Parameters of the same cell with dense kernels (Keras's own cell)."""
        return (self.count_params_for(input_dim) - self.weight_scheme.count_params(input_dim)
                + self.num_gates * self.units * (int(input_dim) + self.units))

    def largest_rank(self, input_dim: int, budget: int) -> int | None:
        """The largest uniform rank with at most ``budget`` weights in this
        cell (biases included) for ``input_dim``; None if none fits."""
        bias = self.count_params_for(input_dim) - self.weight_scheme.count_params(input_dim)
        return self.weight_scheme.largest_rank(int(input_dim), budget - bias)

    # ----------------------------------------------------------------- call

    def kernel_matmul(self, x):
        return self.weight_scheme.kernel_matmul(x)

    def recurrent_matmul(self, h, gates=None):
        return self.weight_scheme.recurrent_matmul(h, gates)

    def input_bias(self):
        return self.bias

    def _add_input_bias(self, z):
        bias = self.input_bias()
        return z if bias is None else ops.add(z, bias)

    def project_inputs(self, inputs):
        """Input product plus input bias, for any leading shape
        (``(batch, dim)`` for one step or ``(batch, time, dim)`` for all)."""
        return self._add_input_bias(self.kernel_matmul(inputs))

    def input_operator(self, batch, steps):
        """``None`` to hoist ``project_inputs`` out of the time loop, or a
        per-step ``x_t -> project_inputs(x_t)`` prepared once per sequence
        (see :meth:`WeightScheme.input_operator`)."""
        product = self.weight_scheme.input_operator(batch, steps)
        return None if product is None else (lambda x: self._add_input_bias(product(x)))

    def recurrent_operator(self, batch, steps):
        """``recurrent_matmul`` prepared once for a ``steps``-step sequence."""
        return self.weight_scheme.recurrent_operator(batch, steps)

    def _masked_state(self, h, training):
        if training and 0.0 < self.recurrent_dropout < 1.0:
            return h * self.get_recurrent_dropout_mask(h)
        return h

    def call(self, inputs, states, training=False):
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        return self.recurrent_step(self.project_inputs(inputs), states, training=training)

    def _split_gates(self, z, count=None):
        return ops.split(z, count or self.num_gates, axis=-1)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    # -------------------------------------------------------- quantization

    def quantize(self, mode=None, type_check=True, config=None):
        """Store the kernels as int8, weight only: int8 factor variables with
        float scales (per output channel of each factor, see
        :meth:`~keras_tensor_rnn.weight_schemes.WeightScheme.quantize`),
        dequantized where the products read them (float accumulation). As in
        Keras's quantized ``Dense``, the int8 kernels are frozen and the bias
        stays float and trainable.

        ``model.quantize("int8")`` calls this on every cell: Keras visits only
        leaf layers, and the cell is the leaf of our layers (which keep a
        float policy). A saved model keeps the cell's policy, so loading
        builds the int8 variables directly.

        Args:
            mode: ``"int8"``, the one mode of :data:`QUANTIZATION_MODES`.
            type_check: as in Keras's layers: a subclass of our cells is
                skipped (``NotImplementedError``, a warning in
                ``model.quantize``) unless False.
            config: a ``keras.quantizers.Int8QuantizationConfig``, whose
                ``weight_quantizer`` is used (default ``AbsMaxQuantizer()``).

        Example:

        >>> model = keras.Sequential([keras.Input((5, 6)), ktr.layers.TensorizedGRU(8, rank=2)])
        >>> model.quantize("int8")
        >>> model.layers[0].cell.dtype_policy.name
        'int8_from_float32'
        """
        if type_check and type(self) not in _QUANTIZABLE:
            # Keras's message, which `model.quantize` turns into a warning.
            raise NotImplementedError(f"Layer {type(self).__name__} does not have a `quantize` "
                                      "method implemented.")
        self._quantize_kernels(mode, config)
        self.dtype_policy = keras.dtype_policies.get(f"{mode}_from_{self.dtype_policy.name}")

    def _quantize_kernels(self, mode, config=None):
        """:meth:`quantize`'s work, also done by :meth:`build` for a cell
        loaded with a quantized policy (the same variables in the same order,
        which the saved values then fill)."""
        # A ValueError, not Keras's NotImplementedError: `model.quantize`
        # turns that into a warning and would leave this layer float.
        if mode not in QUANTIZATION_MODES:
            raise ValueError(
                f"Invalid quantization mode for {type(self).__name__} '{self.name}'. Expected "
                f"one of {QUANTIZATION_MODES}: keras_tensor_rnn's layers store their factors as "
                f"int8. To quantize the other layers with '{mode}', pass `filters=lambda layer: "
                "not isinstance(layer, ktr.cells.RecurrentCell)` to `model.quantize`. "
                f"Received: mode={mode}")
        quantizer = keras.quantizers.QuantizationConfig.weight_quantizer_or_default(
            config, keras.quantizers.AbsMaxQuantizer())
        for variable in self.weight_scheme.quantize(self, quantizer):
            _private_api.untrack_variable(self, variable)
        # Before the policy is set: its setter quantizes a layer without it.
        self._is_quantized = True

    def _int8_call(self, *args, **kwargs):
        # Keras routes a quantized layer's `__call__` here (a keras.layers.RNN
        # over this cell); the products already read the int8 kernels.
        return self.call(*args, **kwargs)

    # --------------------------------------------------------- conversions

    def dense_kernels(self):
        """The equivalent dense ``(kernel, recurrent_kernel)`` in Keras's layout,
        shapes ``(input_dim, gates * units)`` and ``(units, gates * units)``."""
        return self.weight_scheme.dense_kernels()

    def load_dense_weights(self, kernel, recurrent_kernel, bias=None, inputs=None,
                           states=None):
        """Set this (built) cell from a Keras cell's weights: the kernels are
        fit by the weight scheme, the bias copied. ``inputs`` ``(..., input_dim)``
        and ``states`` ``(..., units)``: sample inputs and hidden states of the
        dense layer; given, the factorized kernels are fit so that their
        products on them match (see ``factorizations.data_fit``)."""
        if self.quantization_mode is not None:
            raise ValueError(f"{type(self).__name__} '{self.name}' is quantized "
                             f"({self.dtype_policy.name}): its int8 kernels are frozen. Load "
                             "the dense weights into the float layer, then quantize it.")
        self.weight_scheme.load_dense(kernel, recurrent_kernel, inputs, states)
        if bias is not None and self.bias is not None:
            self.bias.assign(bias)

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
        return {**super().get_config(), **config, **self.step_config(),
                **self.weight_scheme.get_config()}

    def step_config(self) -> dict:
        """The step maths' own arguments (``recurrent_activation``, ...)."""
        return {}


# ====================================================================== steps


class LSTMStepCell(RecurrentCell):
    """LSTM step maths (Keras's gate order i, f, c, o; state ``[h, c]``)."""

    num_gates = 4

    def __init__(self, units, weight_scheme, recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, weight_scheme, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]

    def bias_start(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def initializer(_, *args, **kwargs):
            return ops.concatenate([base((units,), *args, **kwargs),
                                    keras.initializers.get("ones")((units,), *args, **kwargs),
                                    base((units * 2,), *args, **kwargs)])

        return initializer

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

    def step_config(self):
        return {"recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUStepCell(RecurrentCell):
    """GRU step maths (Keras's gate order z, r, h; ``reset_after`` as Keras:
    then separate input and recurrent biases)."""

    num_gates = 3

    def __init__(self, units, weight_scheme, recurrent_activation="sigmoid", reset_after=True,
                 **kwargs):
        super().__init__(units, weight_scheme, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = reset_after
        self.state_size = units

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

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

    def step_config(self):
        return {"recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


class SimpleRNNStepCell(RecurrentCell):
    """SimpleRNN step maths."""

    num_gates = 1

    def __init__(self, units, weight_scheme, **kwargs):
        super().__init__(units, weight_scheme, **kwargs)
        self.state_size = units

    def recurrent_step(self, x_proj, states, training=False, recurrent=None):
        recurrent = recurrent or self.recurrent_matmul
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        output = x_proj + recurrent(self._masked_state(h_tm1, training))
        if self.activation is not None:
            output = self.activation(output)
        return output, ([output] if nested else output)


# ================================================================ the cells


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class TensorizedLSTMCell(LSTMStepCell):
    """One step of :class:`~keras_tensor_rnn.layers.TensorizedLSTM`:
    ``keras.layers.LSTMCell`` with factorized kernels.

    Args:
        units ... seed: as ``keras.layers.LSTMCell``.
        decomposition ... decomposition_options: see
            :class:`~keras_tensor_rnn.layers.TensorizedLSTM` (``decomposition``,
            ``rank``, ``in_modes``, ``hidden_modes``, ``d``,
            ``recurrent_decomposition``, ``recurrent_rank``, ``gates``,
            ``implementation``, ``decomposition_options``).

    Example:

    >>> cell = TensorizedLSTMCell(64, decomposition="tt", rank=4)
    >>> layer = keras.layers.RNN(cell)  # works, though TensorizedLSTM is faster
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, decomposition="tt", rank=None, in_modes=None,
                 hidden_modes=None, d=None, recurrent_decomposition=None, recurrent_rank=None,
                 gates="joint", implementation="auto", decomposition_options=None,
                 mode_choice="speed",
                 scale_factors=True, nested_ranks=False, **kwargs):
        scheme = TensorizedWeights(
            _units(units), self.num_gates, **TensorizedWeights.arguments_of(locals()))
        super().__init__(
            units, scheme, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, **kwargs)

    @classmethod
    def from_config(cls, config):
        return super().from_config(TensorizedWeights.upgrade_config(config))


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class TensorizedGRUCell(GRUStepCell):
    """One step of :class:`~keras_tensor_rnn.layers.TensorizedGRU`:
    ``keras.layers.GRUCell`` with factorized kernels (``reset_after`` as Keras).

    Args:
        units ... seed: as ``keras.layers.GRUCell``.
        decomposition ... decomposition_options: see
            :class:`~keras_tensor_rnn.layers.TensorizedLSTM`.

    Example:

    >>> cell = TensorizedGRUCell(64, decomposition="cp", rank=8)
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, decomposition="tt", rank=None, in_modes=None, hidden_modes=None, d=None,
                 recurrent_decomposition=None, recurrent_rank=None, gates="joint",
                 implementation="auto", decomposition_options=None, mode_choice="speed",
                 scale_factors=True, nested_ranks=False,
                 **kwargs):
        scheme = TensorizedWeights(
            _units(units), self.num_gates, **TensorizedWeights.arguments_of(locals()))
        super().__init__(
            units, scheme, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed, **kwargs)

    @classmethod
    def from_config(cls, config):
        return super().from_config(TensorizedWeights.upgrade_config(config))


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class TensorizedSimpleRNNCell(SimpleRNNStepCell):
    """One step of :class:`~keras_tensor_rnn.layers.TensorizedSimpleRNN`:
    ``keras.layers.SimpleRNNCell`` with factorized kernels.

    Args:
        units ... seed: as ``keras.layers.SimpleRNNCell``.
        decomposition ... decomposition_options: see
            :class:`~keras_tensor_rnn.layers.TensorizedLSTM`.

    Example:

    >>> cell = TensorizedSimpleRNNCell(32, decomposition="tucker", rank=2)
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 decomposition="tt", rank=None, in_modes=None, hidden_modes=None, d=None,
                 recurrent_decomposition=None, recurrent_rank=None, gates="joint",
                 implementation="auto", decomposition_options=None, mode_choice="speed",
                 scale_factors=True, nested_ranks=False,
                 **kwargs):
        scheme = TensorizedWeights(
            _units(units), self.num_gates, **TensorizedWeights.arguments_of(locals()))
        super().__init__(
            units, scheme, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, **kwargs)

    @classmethod
    def from_config(cls, config):
        return super().from_config(TensorizedWeights.upgrade_config(config))


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class RestrictedLSTMCell(LSTMStepCell):
    """One step of :class:`~keras_tensor_rnn.layers.RestrictedLSTM` (Diao et al.).

    Args:
        units ... seed: as ``keras.layers.LSTMCell``.
        shared: fraction of rows shared by the input and recurrent matrices
            of each gate, in ``[0, 1]`` (default 0.5).

    Example:

    >>> cell = RestrictedLSTMCell(64, shared=0.5)
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, shared=0.5, **kwargs):
        super().__init__(
            units, RestrictedWeights(_units(units), self.num_gates, shared=shared),
            activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, **kwargs)


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class RestrictedGRUCell(GRUStepCell):
    """One step of :class:`~keras_tensor_rnn.layers.RestrictedGRU` (Diao et al.).

    Args:
        units ... seed: as ``keras.layers.GRUCell``.
        shared: fraction of shared rows per gate, in ``[0, 1]``.

    Example:

    >>> cell = RestrictedGRUCell(64, shared=0.25)
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, shared=0.5, **kwargs):
        super().__init__(
            units, RestrictedWeights(_units(units), self.num_gates, shared=shared),
            activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed, **kwargs)


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class RestrictedSimpleRNNCell(SimpleRNNStepCell):
    """One step of :class:`~keras_tensor_rnn.layers.RestrictedSimpleRNN` (Diao et al.).

    Args:
        units ... seed: as ``keras.layers.SimpleRNNCell``.
        shared: fraction of shared rows, in ``[0, 1]``.

    Example:

    >>> cell = RestrictedSimpleRNNCell(64, shared=1.0)
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 shared=0.5, **kwargs):
        super().__init__(
            units, RestrictedWeights(_units(units), self.num_gates, shared=shared),
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)


# What `quantize(type_check=True)` accepts: the cells whose step reads the
# kernels only through the weight scheme (a subclass might not).
_QUANTIZABLE = (TensorizedLSTMCell, TensorizedGRUCell, TensorizedSimpleRNNCell,
                RestrictedLSTMCell, RestrictedGRUCell, RestrictedSimpleRNNCell)

__all__ = ["QUANTIZATION_MODES", "RecurrentCell", "LSTMStepCell", "GRUStepCell",
           "SimpleRNNStepCell", "TensorizedLSTMCell", "TensorizedGRUCell",
           "TensorizedSimpleRNNCell", "RestrictedLSTMCell", "RestrictedGRUCell",
           "RestrictedSimpleRNNCell"]
