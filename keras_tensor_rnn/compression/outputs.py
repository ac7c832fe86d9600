"""What the original and the compressed model output on the same inputs:
the model's outputs and every replaced layer's output, read through one
pair of models for all of a compression's readings (the report's errors
before and after each fit, distillation's targets)."""

from __future__ import annotations

import keras

from keras_tensor_rnn import predictions
from keras_tensor_rnn.layer_samples import predict_batch_size
from keras_tensor_rnn.layer_walk import stateful_layers
from keras_tensor_rnn.output_fit import relative_error


def feature_models(model, compressed, names):
    """``(teacher, student)`` models whose outputs are the model's outputs
    then every replaced layer's outputs (in ``names``' order), or None where
    the layers' outputs cannot be read (a layer used twice)."""
    try:
        def outputs(m):
            found = list(m.outputs)
            for name in names:
                out = m.get_layer(name).output
                found += list(out) if isinstance(out, (list, tuple)) else [out]
            return found

        return (keras.Model(model.inputs, outputs(model)),
                keras.Model(compressed.inputs, outputs(compressed)))
    except (AttributeError, ValueError, TypeError):
        return None


class ModelOutputs:
    """The original's and the compressed model's outputs on sample inputs.

    The original's outputs on an input are computed once; both models are
    built once, so each traces one graph per row count.

    Args:
        model: the original model.
        compressed: its compressed copy.
        names: the replaced layers.

    Example:

    >>> outputs = ModelOutputs(model, compressed, ["lstm"])  # doctest: +SKIP
    >>> outputs.errors(x, report)  # doctest: +SKIP
    """

    def __init__(self, model, compressed, names):
        pair = feature_models(model, compressed, names)
        self.with_layers = pair is not None
        self.teacher_model, self.student_model = pair or (model, compressed)
        self.num_outputs = len(model.outputs)
        # Outputs per replaced layer (a layer returning states has several).
        self._slices = {}
        start = self.num_outputs
        for name in names if self.with_layers else ():
            width = len(keras.tree.flatten(model.get_layer(name).output))
            self._slices[name] = slice(start, start + width)
            start += width
        self._batch = predict_batch_size(model)
        self._teacher = []  # [(inputs, outputs)]: inputs kept, so ids stay unique

    def teacher(self, x) -> list:
        """The original model's outputs (then the replaced layers') on ``x``."""
        for seen, outputs in self._teacher:
            if seen is x:
                return outputs
        outputs = self._predict(self.teacher_model, x)
        self._teacher.append((x, outputs))
        return outputs

    def student(self, x) -> list:
        """The compressed model's outputs (then the replaced layers') on ``x``."""
        return self._predict(self.student_model, x)

    def _predict(self, model, x) -> list:
        # A stateful layer would carry its states from one reading into the
        # next: every reading starts from zeros, as the first one did.
        for layer in stateful_layers(model.layers):
            layer.reset_state()
        out = predictions.predict(model, x, self._batch)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def errors(self, x, report) -> None:
        """Set ``report``'s relative output errors on ``x``: the model's and
        each replaced layer's (None where the layers' outputs cannot be read)."""
        before, after = self.teacher(x), self.student(x)
        n = self.num_outputs
        report.output_error = relative_error(after[:n], before[:n])
        for layer in report.layers:
            part = self._slices.get(layer.name)
            layer.output_error = None if part is None else relative_error(after[part],
                                                                          before[part])


__all__ = ["feature_models", "ModelOutputs"]
