"""Every layer that computes in a model: one walk through sub-models and
wrappers, for the functions that look for a kind of layer (stateful ones,
tensorized ones, Keras-quantized ones) wherever a user put it; and a
model's stateful layers held at zero states for a while."""

import contextlib
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


@contextlib.contextmanager
def states_at_zero(model):
    """Within this context, ``model``'s stateful layers hold zero states (as
    after ``reset_state()``); their states are put back after: for what
    must not depend on, or change, the states a user's model holds (an
    exported file, which starts each call from zeros, where a converter
    would freeze the states of the moment; a check that calls the model)."""
    layers = [layer for layer in stateful_layers(model.layers) if layer.states is not None]
    held = [[keras.ops.convert_to_numpy(state) for state in layer.states] for layer in layers]
    for layer in layers:
        layer.reset_state()
    try:
        yield
    finally:
        for layer, values in zip(layers, held):
            for state, value in zip(layer.states, values):
                state.assign(value)


__all__ = ["computing_layers", "stateful_layers", "states_at_zero"]
