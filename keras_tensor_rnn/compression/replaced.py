"""The layers compression replaces: which they are in a model, each with
its replacement (two directions for a ``Bidirectional``), the dense weights
loaded into a replacement, and the budget of a replacement."""

from __future__ import annotations

import keras

from keras_tensor_rnn import _private_api
from keras_tensor_rnn import layers as ktr_layers
from keras_tensor_rnn.output_fit import relative_error

CELL_TYPES = {keras_name: cell for cell, keras_name in ktr_layers.KERAS_LAYERS.items()}
"""The Keras layers compression replaces, by the cell type of their replacements."""


def recurrent_layers(model) -> dict:
    """``{name: layer}`` of the model's Keras LSTM, GRU and SimpleRNN layers
    (a ``Bidirectional`` holding one counts as one)."""
    found = {}
    for layer in model.layers:
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if type(inner).__name__ in CELL_TYPES and type(inner).__module__.startswith("keras"):
            found[layer.name] = layer
    return found


def layer_pairs(layer, new) -> list:
    """(dense, replacement) layer pairs: one, or the two directions of a
    ``Bidirectional``."""
    if isinstance(layer, keras.layers.Bidirectional):
        return [(layer.forward_layer, new.forward_layer),
                (layer.backward_layer, new.backward_layer)]
    return [(layer, new)]


def clone_replacing(model, replacement) -> tuple:
    """A clone of ``model`` whose layers ``replacement(layer, outer)`` gives
    a new layer for are replaced (``outer``: the layer, or the
    ``Bidirectional`` holding it; both directions asked), every other layer
    a fresh copy of its configuration (no weights yet); and ``{id(original
    layer): its clone}`` (clones are paired by identity). Input layers keep
    their names. ``replacement`` returns None to keep a layer."""
    clones = {}

    def clone(layer):
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        new = replacement(inner, layer) if isinstance(layer, keras.layers.Layer) else None
        if new is None:
            # Kept (or an op of the graph, such as a mask's `NotEqual`).
            new = layer.__class__.from_config(layer.get_config())
        elif isinstance(layer, keras.layers.Bidirectional):
            new = keras.layers.Bidirectional(
                new, backward_layer=replacement(layer.backward_layer, layer),
                merge_mode=layer.merge_mode, name=layer.name)
        clones[id(layer)] = new
        return new

    return keras.models.clone_model(model, input_tensors=_named_inputs(model),
                                    clone_function=clone), clones


def _named_inputs(model):
    """New inputs for a functional ``model``'s clone, named as its input
    layers (``clone_model`` names them by their tensors, ``keras_tensor_N``
    for default-named inputs, which would rename an exported signature's
    inputs); None for a Sequential model, whose clone keeps them."""
    if isinstance(model, keras.Sequential):
        return None
    return keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype,
                              name=_private_api.input_layer_name(x)), model.input)


def load_dense_into(old_cell, new_cell, inputs=None, states=None) -> tuple:
    """Fit ``new_cell``'s weights to ``old_cell``'s (on sample ``inputs``
    and ``states`` when given); returns the relative reconstruction errors
    of the kernel and the recurrent kernel."""
    kernel = keras.ops.convert_to_numpy(old_cell.kernel)
    recurrent = keras.ops.convert_to_numpy(old_cell.recurrent_kernel)
    bias = None if old_cell.bias is None else keras.ops.convert_to_numpy(old_cell.bias)
    new_cell.load_dense_weights(kernel, recurrent, bias, inputs=inputs, states=states)
    new_kernel, new_recurrent = (keras.ops.convert_to_numpy(k) for k in new_cell.dense_kernels())
    return relative_error(new_kernel, kernel), relative_error(new_recurrent, recurrent)


def budget_limit(budget, params: int, what: str):
    """``budget`` as a parameter count: an int as it is, a float as a
    fraction of ``params`` (``what`` names them in the error)."""
    if isinstance(budget, float) and not 0 < budget <= 1:
        raise ValueError(f"A float `budget` is a fraction of {what} parameters in (0, 1]. "
                         f"Received: budget={budget}")
    return budget * params if isinstance(budget, float) else budget


__all__ = ["CELL_TYPES", "recurrent_layers", "layer_pairs", "clone_replacing", "load_dense_into",
           "budget_limit"]
