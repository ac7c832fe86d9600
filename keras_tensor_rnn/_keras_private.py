"""Every private Keras API this package touches, in one place, so a Keras
upgrade breaks here and nowhere else.

- ``rnn``: the backend's scan over time (``keras.src.backend.rnn``). The public
  ``keras.layers.RNN`` runs a *cell* per step; we need the same loop over an
  already projected sequence, so that the input projection of all time steps
  is one call outside the loop.
- ``DropoutRNNCell``: the mixin whose masks ``keras.layers.RNN`` prepares
  before the loop (it checks ``isinstance`` against this exact class).
"""

from keras.src.backend import rnn
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

__all__ = ["rnn", "DropoutRNNCell"]
