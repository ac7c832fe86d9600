"""Every layer that computes in a model: one walk through sub-models and
wrappers, for the functions that look for a kind of layer (stateful ones,
tensorized ones, Keras-quantized ones) wherever a user put it."""

from collections.abc import Iterable, Iterator

import keras


def computing_layers(layers: Iterable) -> Iterator:
    """The layers among ``layers`` that are not containers, found inside
    nested models and wrappers too: a ``Bidirectional``'s two directions
    (the layers it runs, not the template it was given), any other
    wrapper's (``TimeDistributed``) wrapped layer, a sub-model's layers.

    Example:
    >>> model = keras.Sequential([keras.Input((5, 3)),
    ...                           keras.layers.Bidirectional(keras.layers.LSTM(4))])
    >>> [type(layer).__name__ for layer in computing_layers(model.layers)]
    ['LSTM', 'LSTM']
    """
    for layer in layers:
        if isinstance(layer, keras.layers.Bidirectional):
            yield from computing_layers([layer.forward_layer, layer.backward_layer])
        elif isinstance(layer, keras.layers.Wrapper):
            yield from computing_layers([layer.layer])
        elif isinstance(layer, keras.Model):
            yield from computing_layers(layer.layers)
        else:
            yield layer


def stateful_layers(layers: Iterable) -> list:
    """The stateful recurrent layers among ``layers`` (a ``Bidirectional``'s
    directions, those in wrappers and sub-models too)."""
    return [layer for layer in computing_layers(layers)
            if isinstance(layer, keras.layers.RNN) and layer.stateful]


__all__ = ["computing_layers", "stateful_layers"]
