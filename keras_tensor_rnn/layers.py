"""Drop-in replacements for ``keras.layers.LSTM``, ``GRU`` and ``SimpleRNN``.

Each layer takes every argument of the Keras layer it replaces (same names,
same defaults, same behaviour: ``return_sequences``, ``return_state``,
``go_backwards``, ``stateful``, ``unroll``, masking, ``dropout``,
``recurrent_dropout``, ``reset_after``, ``Bidirectional``, mixed precision)
plus the arguments of its cell (see :mod:`keras_tensor_rnn.cells`).

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

import inspect
import re

import keras
from keras import ops

from keras_tensor_rnn import _keras_private, cells

_CELL_ONLY = ("name", "dtype", "trainable")


class RecurrentLayer(keras.layers.RNN):
    """``keras.layers.RNN`` over one of our cells, with the input projection
    hoisted out of the time loop. Subclasses set ``cell_class``."""

    cell_class = None

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        activity_regularizer=None,
        **kwargs,
    ):
        accepted = inspect.signature(self.cell_class.__init__).parameters
        base_accepted = inspect.signature(cells.RecurrentCell.__init__).parameters
        extra = set(getattr(self.cell_class, "_extra_defaults", ()))
        cell_kwargs = {
            key: kwargs.pop(key)
            for key in list(kwargs)
            if key not in _CELL_ONLY and (key in accepted or key in base_accepted or key in extra)
        }
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=f"{snake}_cell",
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "`use_cudnn` must be one of 'auto', True, False. "
                f"Received: use_cudnn={use_cudnn!r}"
            )
        if use_cudnn is True:
            raise ValueError(
                f"use_cudnn=True is not available for {type(self).__name__}: cuDNN "
                "kernels need dense weight matrices. Use use_cudnn='auto' (the "
                "default) or keras.layers."
                f"{type(self).__name__.replace('Tensorized', '').replace('Restricted', '')}."
            )
        self.use_cudnn = use_cudnn
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, time, features). "
                f"Received: input_shape={tuple(sequences_shape)}"
            )
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

        return _keras_private.rnn(
            step,
            sequences,
            initial_state,
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, mask=mask, training=training, initial_state=initial_state)

    def count_params_for(self, input_dim: int) -> int:
        """Exact parameter count for an input width, without building."""
        return self.cell.count_params_for(input_dim)

    def get_config(self):
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        for key in _CELL_ONLY:
            cell_config.pop(key, None)
        config.update(cell_config)
        config["activity_regularizer"] = keras.regularizers.serialize(self.activity_regularizer)
        config["use_cudnn"] = self.use_cudnn
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# The cell's hyperparameters, readable on the layer as on Keras's layers.
for _name in (
    "units", "activation", "recurrent_activation", "use_bias", "unit_forget_bias", "reset_after",
    "kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "decomposition", "rank", "in_modes",
    "hidden_modes", "d", "recurrent_decomposition", "recurrent_rank", "gates", "shared",
):
    setattr(RecurrentLayer, _name, property(lambda self, n=_name: getattr(self.cell, n),
                                            doc=f"The cell's `{_name}`."))


def _layer(name, cell_class, doc):
    layer = type(name, (RecurrentLayer,), {"cell_class": cell_class, "__doc__": doc,
                                          "__module__": __name__})
    return keras.saving.register_keras_serializable(package="keras_tensor_rnn")(layer)


TensorizedLSTM = _layer("TensorizedLSTM", cells.TensorizedLSTMCell, """\
LSTM whose kernels are factorized matrices: ``keras.layers.LSTM`` plus the
tensorized arguments of :class:`~keras_tensor_rnn.cells.TensorizedLSTMCell`.

Input ``(batch, time, features)``; output ``(batch, units)`` or
``(batch, time, units)`` with ``return_sequences``; states ``[h, c]``.

Example:

>>> layer = TensorizedLSTM(256, decomposition="tt", rank=4)   # was keras.layers.LSTM(256)
""")
TensorizedGRU = _layer("TensorizedGRU", cells.TensorizedGRUCell, """\
GRU whose kernels are factorized matrices: ``keras.layers.GRU`` (``reset_after``
included) plus the tensorized arguments of :class:`~keras_tensor_rnn.cells.TensorizedGRUCell`.

Example:

>>> layer = TensorizedGRU(128, decomposition="cp", rank=16)
""")
TensorizedSimpleRNN = _layer("TensorizedSimpleRNN", cells.TensorizedSimpleRNNCell, """\
SimpleRNN whose kernels are factorized matrices: ``keras.layers.SimpleRNN``
plus the tensorized arguments.

Example:

>>> layer = TensorizedSimpleRNN(64, decomposition="tucker", rank=2)
""")
RestrictedLSTM = _layer("RestrictedLSTM", cells.RestrictedLSTMCell, """\
Restricted LSTM (Diao et al.): ``keras.layers.LSTM`` whose input and recurrent
matrices share ``round(shared * units)`` rows per gate. ``shared`` in [0, 1]
(default 0.5); 0 is a plain LSTM, 1 shares every row.

Example:

>>> layer = RestrictedLSTM(256, shared=0.5)
""")
RestrictedGRU = _layer("RestrictedGRU", cells.RestrictedGRUCell, """\
Restricted GRU (Diao et al.), see :class:`RestrictedLSTM`.
""")
RestrictedSimpleRNN = _layer("RestrictedSimpleRNN", cells.RestrictedSimpleRNNCell, """\
Restricted SimpleRNN (Diao et al.), see :class:`RestrictedLSTM`.
""")

__all__ = [
    "TensorizedLSTM", "TensorizedGRU", "TensorizedSimpleRNN",
    "RestrictedLSTM", "RestrictedGRU", "RestrictedSimpleRNN", "RecurrentLayer",
]
