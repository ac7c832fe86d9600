"""What a recurrent layer sees when its model runs on sample inputs.

A layer in a functional or Sequential model receives more than one tensor:
its input sequence, the mask Keras passes along from ``Masking`` or
``Embedding(mask_zero=True)``, and, in a decoder, an ``initial_state``. All
three are read from the model's graph (the layer's one call), by a model
from the original's inputs to those tensors, so multi-input models,
default layer names and any preprocessing before the layer need nothing
special. The data-aware fits use only the steps the mask keeps: padded
steps never drive a fit.

Example:

>>> sample = sample_layer(model, model.get_layer("lstm"), x)  # doctest: +SKIP
>>> sample.input_rows.shape  # (valid steps, features)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np

from keras_tensor_rnn import _private_api, predictions


@dataclasses.dataclass
class LayerSample:
    """One direction of a recurrent layer on sample inputs.

    Attributes:
        layer: the dense recurrent layer (one direction of a
            ``Bidirectional``).
        inputs: ``(batch, time, features)``, as the layer receives them.
        mask: ``(batch, time)`` booleans (True: a real step), or None.
        initial_state: the states the layer starts from (a list like its
            cell's ``state_size``, each ``(batch, size)``), or None (zeros).
    """

    layer: keras.layers.Layer
    inputs: np.ndarray
    mask: np.ndarray | None = None
    initial_state: list | None = None

    def steps_mask(self) -> np.ndarray:
        """``(batch, time)`` booleans in the layer's processing order (time
        reversed for ``go_backwards``): which steps are real."""
        mask = (np.ones(self.inputs.shape[:2], bool) if self.mask is None
                else np.asarray(self.mask, bool))
        return mask[:, ::-1] if self.layer.go_backwards else mask

    @functools.cached_property
    def input_rows(self) -> np.ndarray:
        """``(real steps, features)``: every real step's input."""
        inputs = self.inputs[:, ::-1] if self.layer.go_backwards else self.inputs
        return np.asarray(inputs, np.float32)[self.steps_mask()]

    @functools.cached_property
    def state_rows(self) -> np.ndarray:
        """``(real steps, units)``: the hidden state ``h_{t-1}`` that each real
        step's recurrent product sees, from the dense layer's own run."""
        layer = self.layer
        config = {**layer.get_config(), "return_sequences": True, "return_state": False,
                  "stateful": False, "name": f"{layer.name}_states"}
        copy = type(layer).from_config(config)
        copy.build(tuple(self.inputs.shape))
        copy.set_weights(layer.get_weights())
        mask = None if self.mask is None else np.asarray(self.mask, bool)
        # Outputs come in processing order; at a padded step the state is
        # carried, so h_{t-1} is the output of the last real step before t.
        outputs = keras.ops.convert_to_numpy(copy(self.inputs, mask=mask,
                                                  initial_state=self.initial_state))
        real = self.steps_mask()
        state = (np.zeros_like(outputs[:, 0]) if self.initial_state is None
                 else np.asarray(keras.ops.convert_to_numpy(self.initial_state[0])))
        before = np.empty_like(outputs)
        for t in range(outputs.shape[1]):
            before[:, t] = state
            state = np.where(real[:, t, None], outputs[:, t], state)
        return before[real]


def sample_layer(model, layer, x) -> list[LayerSample]:
    """``[LayerSample]``, one per direction of ``layer`` (a recurrent layer
    of ``model``, or a ``Bidirectional`` of them), when ``model`` runs on
    ``x`` (what ``model.predict`` takes: an array, a list or a dict).

    Raises:
        ValueError: the layer is called more than once in the model.
    """
    try:
        args, kwargs = _private_api.call_arguments(model, layer)
    except ValueError as error:
        raise ValueError(f"{error} The fit on `x` reads what each replaced layer sees, which a "
                         "layer called several times (shared weights) does not have once: "
                         "compress with x=None (the weights-only fit), or leave it out with "
                         "`layers=`.") from None
    masked = kwargs.get("mask") is not None
    states = kwargs.get("initial_state")
    if states is None and len(args) > 1:
        states = args[1]
    outputs = [args[0] if args else kwargs["inputs"], *([kwargs["mask"]] if masked else []),
               *([] if states is None else keras.tree.flatten(states))]
    values = predictions.predict(keras.Model(model.inputs, outputs), x, predict_batch_size(model))
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    inputs = np.asarray(values.pop(0))
    mask = np.asarray(values.pop(0), bool) if masked else None
    if isinstance(layer, keras.layers.Bidirectional):
        half = len(values) // 2
        directions = [(layer.forward_layer, values[:half]), (layer.backward_layer, values[half:])]
    else:
        directions = [(layer, values)]
    return [LayerSample(direction, inputs, mask, initial or None)
            for direction, initial in directions]


def predict_batch_size(model) -> int | None:
    """The batch ``model.predict`` must use: the inputs' fixed batch size (a
    stateful model's ``batch_shape``), or None (Keras's default)."""
    return model.inputs[0].shape[0]


__all__ = ["LayerSample", "sample_layer", "predict_batch_size"]
