"""Drop-in replacements for ``keras.layers.LSTM``, ``GRU`` and ``SimpleRNN``.

Each layer takes every argument of the Keras layer it replaces (same names,
same defaults, same behaviour: ``return_sequences``, ``return_state``,
``go_backwards``, ``stateful``, ``unroll``, masking, ``dropout``,
``recurrent_dropout``, ``reset_after``, ``Bidirectional``, mixed precision)
plus the arguments of its weight scheme: the tensorized layers store their
kernels as factorized matrices, the restricted ones share rows between the
input and recurrent matrices (Diao et al.).

The input projection ``x_t @ W`` of every time step is computed in one call
before the recurrence (one input dropout mask per sequence, as Keras's fused
and cuDNN paths do); only ``h @ U`` runs inside the loop.

Example:

>>> import keras, keras_tensor_rnn as ktr
>>> model = keras.Sequential([
...     keras.Input((6, 57600)),
...     ktr.layers.TensorizedLSTM(256, decomposition="tt", rank=4, d=4,
...                               recurrent_decomposition="dense"),
...     keras.layers.Dense(11, activation="softmax"),
... ])
"""

from __future__ import annotations

import keras
from keras import ops

from keras_tensor_rnn import _private_api, cells, checks, factorizations
from keras_tensor_rnn.nested import NestedRankLayer
from keras_tensor_rnn.weight_schemes import TensorizedWeights

_CELL_ONLY = ("name", "dtype", "trainable")


def _from_cell(name: str, doc: str):
    """A read-only property reading the cell's ``name`` (as Keras's layers)."""
    return property(lambda self: getattr(self.cell, name), doc=doc)


def _from_scheme(name: str, doc: str):
    """A read-only property reading the weight scheme's ``name``."""
    return property(lambda self: getattr(self.cell.weight_scheme, name), doc=doc)


class RecurrentLayer(keras.layers.RNN):
    """``keras.layers.RNN`` over one of our cells, with the input projection
    hoisted out of the time loop. The six layers of this module are its
    subclasses; each builds its cell from its own arguments.

    Args:
        cell: a :class:`~keras_tensor_rnn.cells.RecurrentCell`.
        return_sequences ... use_cudnn, activity_regularizer: as
            ``keras.layers.LSTM`` (``use_cudnn=True`` is refused: cuDNN
            kernels need dense weight matrices).
    """

    cell_type = ""    # "lstm", "gru" or "simple_rnn"
    scheme_name = ""  # the weight scheme's registry name

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, use_cudnn="auto", activity_regularizer=None,
                 **kwargs):
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)
        if use_cudnn not in ("auto", True, False):
            raise ValueError("`use_cudnn` must be one of 'auto', True, False. "
                             f"Received: use_cudnn={use_cudnn!r}")
        if use_cudnn is True:
            keras_name = type(self).__name__.replace("Tensorized", "").replace("Restricted", "")
            raise ValueError(
                f"use_cudnn=True is not available for {type(self).__name__}: cuDNN kernels need "
                f"dense weight matrices. Use use_cudnn='auto' (the default) or "
                f"keras.layers.{keras_name}.")
        self.use_cudnn = use_cudnn
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @staticmethod
    def cell_arguments(kwargs, layer_name: str) -> dict:
        """The base-layer arguments a cell shares with its layer."""
        return {"dtype": kwargs.get("dtype"), "trainable": kwargs.get("trainable", True),
                "name": f"{layer_name}_cell"}

    # The cell's hyperparameters, readable on the layer as on Keras's layers.
    units = _from_cell("units", "Positive int, the dimension of the output space.")
    activation = _from_cell("activation", "The activation function.")
    use_bias = _from_cell("use_bias", "Whether the layer has biases.")
    kernel_initializer = _from_cell("kernel_initializer", "Initializer of the input side.")
    recurrent_initializer = _from_cell("recurrent_initializer", "Initializer of the recurrent side.")
    bias_initializer = _from_cell("bias_initializer", "Initializer of the bias.")
    kernel_regularizer = _from_cell("kernel_regularizer", "Regularizer of the input side.")
    recurrent_regularizer = _from_cell("recurrent_regularizer", "Regularizer of the recurrent side.")
    bias_regularizer = _from_cell("bias_regularizer", "Regularizer of the bias.")
    kernel_constraint = _from_cell("kernel_constraint", "Constraint of the input side.")
    recurrent_constraint = _from_cell("recurrent_constraint", "Constraint of the recurrent side.")
    bias_constraint = _from_cell("bias_constraint", "Constraint of the bias.")
    dropout = _from_cell("dropout", "Fraction of the inputs dropped.")
    recurrent_dropout = _from_cell("recurrent_dropout", "Fraction of the state dropped.")
    weight_scheme = _from_cell("weight_scheme", "The WeightScheme storing the kernels.")
    decomposition = _from_scheme(
        "decomposition", "How the kernels are stored, by the name searches and `ktr.compress` "
                         "use: a factorization name, or 'restricted'.")

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects inputs of shape (batch, time, "
                             f"features). Received: input_shape={tuple(sequences_shape)}")
        super().build(sequences_shape, initial_state_shape)
        # Keras's own layers fail deep inside a matmul on a different width;
        # pin it so the error names the layer and both widths.
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={-1: self.cell.input_dim})

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        if training and 0.0 < cell.dropout < 1.0:
            dp_mask = cell.get_dropout_mask(sequences[:, 0, :])
            sequences = sequences * ops.expand_dims(dp_mask, axis=1)
        batch, steps = sequences.shape[0], sequences.shape[1]
        # An unknown length (variable-length batches) is planned as a typical one.
        project = cell.input_operator(batch, steps or 16)
        recurrent = cell.recurrent_operator(batch, steps or 16)
        if project is None:
            sequences = cell.project_inputs(sequences)

        def step(x, states):
            x_proj = x if project is None else project(x)
            return cell.recurrent_step(x_proj, states, training=training, recurrent=recurrent)

        return _private_api.rnn(step, sequences, initial_state, go_backwards=self.go_backwards,
                                mask=mask, unroll=self.unroll, input_length=sequences.shape[1],
                                zero_output_for_mask=self.zero_output_for_mask,
                                return_all_outputs=self.return_sequences)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, mask=mask, training=training, initial_state=initial_state)

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the cell's kernels (see
        :meth:`~keras_tensor_rnn.cells.RecurrentCell.quantize`; ``model.quantize``
        reaches the cell itself). The layer keeps its float policy."""
        self.cell.quantize(mode, type_check=type_check, config=config)

    def count_params_for(self, input_dim: int) -> int:
        """Exact parameter count for an input width, without building."""
        return self.cell.count_params_for(input_dim)

    def largest_rank(self, input_dim: int, budget: int) -> int | None:
        """The largest uniform rank (other arguments unchanged) with at most
        ``budget`` parameters for ``input_dim``; None if none fits. Raises
        for weights without a rank (``"dense"``, restricted)."""
        return self.cell.largest_rank(input_dim, budget)

    def describe_weights(self, input_dim: int) -> dict:
        """The resolved structure (ranks, modes or shared units) for ``input_dim``."""
        return self.cell.weight_scheme.describe(int(input_dim))

    def get_config(self):
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        for key in _CELL_ONLY:
            cell_config.pop(key, None)
        config.update(cell_config)
        config["activity_regularizer"] = keras.regularizers.serialize(self.activity_regularizer)
        config["use_cudnn"] = self.use_cudnn
        if self.cell.quantization_mode is not None:
            # The cell's own policy ("int8_from_float32"), dropped with its
            # dtype above: loaded, the cell builds int8 variables from it.
            config["cell_dtype"] = keras.dtype_policies.serialize(self.cell.dtype_policy)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell_dtype = config.pop("cell_dtype", None)
        layer = cls(**config)
        if cell_dtype is not None:
            # Set before build, so the cell builds quantized (the layer's own
            # policy stays float: its `__call__` must not take Keras's int8 path).
            layer.cell.dtype_policy = keras.dtype_policies.deserialize(cell_dtype)
        return layer


class _TensorizedArguments:
    """The tensorized layers' own arguments, as properties."""

    rank = _from_scheme("rank", "The rank as given (int, list, float or 'full').")
    in_modes = _from_scheme("in_modes", "Modes of the input width (None: automatic).")
    hidden_modes = _from_scheme("hidden_modes", "Modes of `units` (None: automatic).")
    d = _from_scheme("d", "Number of modes per side when chosen automatically.")
    recurrent_decomposition = _from_scheme("recurrent_decomposition",
                                           "Decomposition of the recurrent side (None: same).")
    recurrent_rank = _from_scheme("recurrent_rank", "Rank of the recurrent side (None: same).")
    gates = _from_scheme("gates", "'joint' or 'separate'.")
    implementation = _from_scheme("implementation", "'auto', 'factorized' or 'reconstructed'.")
    decomposition_options = _from_scheme("decomposition_options", "Decomposition options.")
    mode_choice = _from_scheme("mode_choice", "'speed' or 'balanced' (how missing modes are "
                                              "chosen).")
    scale_factors = _from_scheme("scale_factors", "Whether factor variables are stored at the "
                                                  "dense kernel's scale.")

    @classmethod
    def from_config(cls, config):
        return super().from_config(TensorizedWeights.upgrade_config(config))


class _RestrictedArguments:
    """The restricted layers' own argument, as a property."""

    shared = _from_scheme("shared", "Fraction of rows shared by the input and recurrent "
                                    "matrices of each gate.")

    def __init__(self, cell, **kwargs):
        if "nested_ranks" in kwargs:
            raise ValueError(
                f"`nested_ranks` is an argument of the Tensorized layers: {type(self).__name__} "
                "has no rank to nest (its size is set by `units` and `shared`). Use "
                f"{type(self).__name__.replace('Restricted', 'Tensorized')} with a decomposition "
                f"that has a rank ({', '.join(factorizations.ranked_names())}).")
        super().__init__(cell, **kwargs)


class _GatedArguments:
    recurrent_activation = _from_cell("recurrent_activation", "The gates' activation.")


class _LSTMArguments(_GatedArguments):
    unit_forget_bias = _from_cell("unit_forget_bias", "Whether the forget gate's bias starts at 1.")


class _GRUArguments(_GatedArguments):
    reset_after = _from_cell("reset_after", "Whether the reset gate applies after the product.")


class _SimpleRNNLayer(RecurrentLayer):
    """Keras's SimpleRNN has no ``use_cudnn``; files saved by release 0.1
    stored one, which is dropped on load."""

    def get_config(self):
        config = super().get_config()
        config.pop("use_cudnn")
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("use_cudnn", None)
        return super().from_config(config)


_TENSORIZED_ARGS = """
        decomposition: how the kernels are factorized: one of
            ``ktr.factorizations.names()`` (``"tt"``, ``"mps"``, ``"tr"``,
            ``"cp"``, ``"tucker"``, ``"bt"``, ``"lowrank"``, ``"dense"``). Default ``"tt"``.
        rank: int, per-slot list, float fraction of the dense parameter count
            in ``(0, 1]``, or ``"full"``. Default None: 8, or a matrix's
            largest useful rank where that is smaller (a small layer is then
            stored exactly); a rank given above it is an error.
        in_modes: modes of the input width (product = input width); chosen
            by ``mode_choice`` when None (zero-padded if the width factorizes
            badly).
        hidden_modes: modes of ``units`` (product = units); chosen by
            ``mode_choice`` when None.
        d: number of modes per side when chosen automatically (default 3).
        recurrent_decomposition: decomposition of the hidden-to-hidden matrix;
            None = same as ``decomposition``; ``"dense"`` factorizes only the
            input side (tednet / Yang et al.).
        recurrent_rank: rank of the recurrent side; None = ``rank``.
        gates: ``"joint"`` (one matrix for all gates, the gate index a mode of
            the output side: Onu et al.) or ``"separate"`` (one matrix per
            gate: Tjandra et al.).
        implementation: ``"auto"``, ``"factorized"`` or ``"reconstructed"``
            (how each product is computed; auto picks the cheaper).
        decomposition_options: extra options of the decomposition, e.g.
            ``{"blocks": 4}`` for ``"bt"``.
        mode_choice: how modes not given are chosen once the input width is
            known: ``"speed"`` (default: the modes of lowest modelled time,
            the layer's factorized weights at most 10% larger than with
            balanced modes; see ``keras_tensor_rnn.mode_choice``) or
            ``"balanced"`` (each width split into ``d`` near-equal factors).
            A built layer's config
            holds the chosen modes, so a saved model keeps its shape.
        scale_factors: store each factor divided by its initial scale
            (default True): every variable then starts at the dense
            kernel's scale, and Adam-like optimizers, whose steps are about
            the learning rate whatever the gradient's size, change the
            factors at the dense kernel's relative rate; without it a
            tensorized layer learns several times slower per epoch at the
            same learning rate (docs/results.md §1). The products are the
            same; only what the optimizer sees changes. ``False`` stores the
            factors unscaled (as files saved without this argument load).
        nested_ranks: train so that every rank up to the layer's own works
            (default False): each training step computes at one rank, the
            factors' slices beyond it masked (the largest rank, rank 1, a
            drawn rank, in turn); out of training the layer computes at
            ``inference_rank``. ``layer.truncated(rank)`` and
            ``ktr.truncate(model, ranks)`` take a lower rank out as a real
            layer (see ``keras_tensor_rnn.nested``).
"""


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class TensorizedLSTM(NestedRankLayer, _TensorizedArguments, _LSTMArguments, RecurrentLayer):
    """LSTM whose kernels are factorized matrices (``keras.layers.LSTM`` plus
    the tensorized arguments).

    Input ``(batch, time, features)``; output ``(batch, units)``, or
    ``(batch, time, units)`` with ``return_sequences``; states ``[h, c]``.

    Args:
        units ... use_cudnn: every argument of ``keras.layers.LSTM``, with
            its default (``use_cudnn=True`` is refused).
{tensorized}
    Example:

    >>> layer = TensorizedLSTM(256, decomposition="tt", rank=4)   # was keras.layers.LSTM(256)
    >>> layer.count_params_for(1024) < keras.layers.LSTM(256).cell.units * 4 * (1024 + 257)
    True
    """

    cell_type, scheme_name = "lstm", "tensorized"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", decomposition="tt", rank=None, in_modes=None,
                 hidden_modes=None, d=None, recurrent_decomposition=None, recurrent_rank=None,
                 gates="joint", implementation="auto", decomposition_options=None,
                 mode_choice="speed",
                 scale_factors=True, nested_ranks=False, **kwargs):
        cell = cells.TensorizedLSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, **TensorizedWeights.arguments_of(locals()),
            **self.cell_arguments(kwargs, "tensorized_lstm"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         use_cudnn=use_cudnn, activity_regularizer=activity_regularizer, **kwargs)


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class TensorizedGRU(NestedRankLayer, _TensorizedArguments, _GRUArguments, RecurrentLayer):
    """GRU whose kernels are factorized matrices (``keras.layers.GRU``,
    ``reset_after`` included, plus the tensorized arguments).

    Input ``(batch, time, features)``; output ``(batch, units)``, or
    ``(batch, time, units)`` with ``return_sequences``; state ``h``.

    Args:
        units ... use_cudnn: every argument of ``keras.layers.GRU``, with its
            default (``use_cudnn=True`` is refused).
{tensorized}
    Example:

    >>> layer = TensorizedGRU(128, decomposition="cp", rank=16)
    """

    cell_type, scheme_name = "gru", "tensorized"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", decomposition="tt", rank=None, in_modes=None,
                 hidden_modes=None, d=None, recurrent_decomposition=None, recurrent_rank=None,
                 gates="joint", implementation="auto", decomposition_options=None,
                 mode_choice="speed",
                 scale_factors=True, nested_ranks=False, **kwargs):
        cell = cells.TensorizedGRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed, **TensorizedWeights.arguments_of(locals()),
            **self.cell_arguments(kwargs, "tensorized_gru"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         use_cudnn=use_cudnn, activity_regularizer=activity_regularizer, **kwargs)


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class TensorizedSimpleRNN(NestedRankLayer, _TensorizedArguments, _SimpleRNNLayer):
    """SimpleRNN whose kernels are factorized matrices (``keras.layers.SimpleRNN``
    plus the tensorized arguments).

    Input ``(batch, time, features)``; output ``(batch, units)``, or
    ``(batch, time, units)`` with ``return_sequences``; state ``h``.

    Args:
        units ... seed: every argument of ``keras.layers.SimpleRNN``, with
            its default.
{tensorized}
    Example:

    >>> layer = TensorizedSimpleRNN(64, decomposition="tucker", rank=2)
    """

    cell_type, scheme_name = "simple_rnn", "tensorized"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None,
                 decomposition="tt", rank=None, in_modes=None, hidden_modes=None, d=None,
                 recurrent_decomposition=None, recurrent_rank=None, gates="joint",
                 implementation="auto", decomposition_options=None, mode_choice="speed",
                 scale_factors=True, nested_ranks=False,
                 **kwargs):
        cell = cells.TensorizedSimpleRNNCell(
            units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, **TensorizedWeights.arguments_of(locals()),
            **self.cell_arguments(kwargs, "tensorized_simple_rnn"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)


_RESTRICTED_ARGS = """
        shared: fraction of rows (units) that the input and recurrent matrices
            of each gate share, in ``[0, 1]`` (default 0.5): ``round(shared *
            units)`` shared units, the rest private. 0 is a plain layer; 1
            shares every row.
"""


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class RestrictedLSTM(_RestrictedArguments, _LSTMArguments, RecurrentLayer):
    """Restricted LSTM (Diao et al.): ``keras.layers.LSTM`` whose input and
    recurrent matrices share ``round(shared * units)`` rows per gate.

    Weights per gate: ``s * max(I, H) + (H - s) * (I + H)``, i.e.
    ``(2 - shared) * H^2`` when ``I == H``.

    Args:
        units ... use_cudnn: every argument of ``keras.layers.LSTM``, with
            its default (``use_cudnn=True`` is refused).
{restricted}
    Example:

    >>> layer = RestrictedLSTM(256, shared=0.5)
    """

    cell_type, scheme_name = "lstm", "restricted"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", shared=0.5, **kwargs):
        cell = cells.RestrictedLSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, shared=shared, **self.cell_arguments(kwargs, "restricted_lstm"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         use_cudnn=use_cudnn, activity_regularizer=activity_regularizer, **kwargs)


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class RestrictedGRU(_RestrictedArguments, _GRUArguments, RecurrentLayer):
    """Restricted GRU (Diao et al.): ``keras.layers.GRU`` whose input and
    recurrent matrices share ``round(shared * units)`` rows per gate.

    Args:
        units ... use_cudnn: every argument of ``keras.layers.GRU``, with its
            default (``use_cudnn=True`` is refused).
{restricted}
    Example:

    >>> layer = RestrictedGRU(128, shared=0.25)
    """

    cell_type, scheme_name = "gru", "restricted"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", shared=0.5, **kwargs):
        cell = cells.RestrictedGRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed, shared=shared, **self.cell_arguments(kwargs, "restricted_gru"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         use_cudnn=use_cudnn, activity_regularizer=activity_regularizer, **kwargs)


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class RestrictedSimpleRNN(_RestrictedArguments, _SimpleRNNLayer):
    """Restricted SimpleRNN (Diao et al.): ``keras.layers.SimpleRNN`` whose
    input and recurrent matrices share ``round(shared * units)`` rows.

    Args:
        units ... seed: every argument of ``keras.layers.SimpleRNN``, with
            its default.
{restricted}
    Example:

    >>> layer = RestrictedSimpleRNN(64, shared=1.0)
    """

    cell_type, scheme_name = "simple_rnn", "restricted"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None, shared=0.5,
                 **kwargs):
        cell = cells.RestrictedSimpleRNNCell(
            units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, shared=shared, **self.cell_arguments(kwargs, "restricted_simple_rnn"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)


LAYERS = (TensorizedLSTM, TensorizedGRU, TensorizedSimpleRNN,
          RestrictedLSTM, RestrictedGRU, RestrictedSimpleRNN)
"""The six layer classes."""
for _layer in LAYERS:  # the argument docs each family shares, written once
    _layer.__doc__ = _layer.__doc__.format(tensorized=_TENSORIZED_ARGS, restricted=_RESTRICTED_ARGS)

CELL_TYPES = ("lstm", "gru", "simple_rnn")
"""The cell names the layers, ``compress`` and the search take."""
KERAS_LAYERS = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}


def layer_class(cell_type: str, scheme_name: str) -> type[RecurrentLayer]:
    """The layer class of a cell type (``"lstm"``, ``"gru"``,
    ``"simple_rnn"``) and a weight scheme (``"tensorized"``, ``"restricted"``).

    Example:

    >>> layer_class("gru", "restricted").__name__
    'RestrictedGRU'
    """
    cell_type = str(cell_type).lower()  # "LSTM" is "lstm", as decompositions are
    if cell_type not in CELL_TYPES:
        raise checks.unknown("cell", cell_type, CELL_TYPES)
    for layer in LAYERS:
        if (layer.cell_type, layer.scheme_name) == (cell_type, scheme_name):
            return layer
    raise checks.unknown("weight scheme", scheme_name, sorted({c.scheme_name for c in LAYERS}),
                         where=f" for a {KERAS_LAYERS[cell_type]} layer")


__all__ = ["TensorizedLSTM", "TensorizedGRU", "TensorizedSimpleRNN", "RestrictedLSTM",
           "RestrictedGRU", "RestrictedSimpleRNN", "RecurrentLayer", "layer_class", "LAYERS",
           "CELL_TYPES"]
