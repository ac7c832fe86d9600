"""Compress a trained model: dense LSTM/GRU/SimpleRNN -> tensorized (or restricted).

Each chosen recurrent layer (also inside ``Bidirectional``) is replaced by its
tensorized equivalent with the same Keras arguments, and its factors are fit
to the trained kernels (input and recurrent kernels; biases copied): with
``from_dense`` in the weight metric, then, when sample inputs ``x`` are given,
in the metric of the layer's own inputs and hidden states on ``x``
(``fit="data"``, see :mod:`keras_tensor_rnn.factorizations.data_fit`), so
that the products match where the layer is used, and last so that the
layer's output sequence on ``x`` matches the original's
(:mod:`keras_tensor_rnn.output_fit`). Every other layer keeps its weights.
The original model is never modified.

Example:

>>> small, report = ktr.compress(model, decomposition="tt", rank=8, x=x_val)  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP
"""

from keras_tensor_rnn.compression.convert import (
    ALLOCATIONS,
    FITS,
    Plan,
    compress,
    load_model_file,
)
from keras_tensor_rnn.compression.distill import FineTune
from keras_tensor_rnn.compression.report import CompressionReport, LayerReport

__all__ = ["compress", "FineTune", "CompressionReport", "LayerReport", "Plan", "load_model_file",
           "FITS", "ALLOCATIONS"]
