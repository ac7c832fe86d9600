"""Compress a trained model: dense LSTM/GRU/SimpleRNN -> tensorized (or restricted).

Each chosen recurrent layer (also inside ``Bidirectional``) is replaced by its
tensorized equivalent with the same Keras arguments, and its factors are fit
to the trained kernels with ``from_dense`` (input and recurrent kernels;
biases copied). Every other layer keeps its weights. The original model is
never modified.

Example:

>>> small, report = ktr.compress(model, decomposition="tt", rank=8, x=x_val)  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from keras_tensor_rnn import checks, weight_schemes
from keras_tensor_rnn import layers as ktr_layers

# The Keras layers compression replaces, by the cell type of their replacements.
_CELL_TYPES = {keras_name: cell for cell, keras_name in ktr_layers.KERAS_LAYERS.items()}


@dataclasses.dataclass
class LayerReport:
    """What compression did to one layer."""

    name: str
    replaced_by: str
    params_before: int
    params_after: int
    kernel_error: float
    recurrent_error: float
    output_error: float | None = None

    @property
    def compression(self) -> float:
        return self.params_before / self.params_after


@dataclasses.dataclass
class CompressionReport:
    """Per-layer reports plus whole-model counts (and errors on ``x``)."""

    layers: list
    params_before: int
    params_after: int
    output_error: float | None = None
    history: dict | None = None

    def __str__(self):
        lines = [f"{'layer':<24}{'replaced by':<22}{'params':>20}{'ratio':>9}"
                 f"{'kernel err':>12}{'recur. err':>12}{'output err':>12}"]
        for r in self.layers:
            out = "" if r.output_error is None else f"{r.output_error:.3g}"
            lines.append(f"{r.name:<24}{r.replaced_by:<22}"
                         f"{f'{r.params_before:,} -> {r.params_after:,}':>20}{r.compression:>8.1f}x"
                         f"{r.kernel_error:>12.3g}{r.recurrent_error:>12.3g}{out:>12}")
        total = (f"model: {self.params_before:,} -> {self.params_after:,} parameters "
                 f"({self.params_before / self.params_after:.1f}x)")
        if self.output_error is not None:
            total += f", relative output error {self.output_error:.3g}"
        return "\n".join(lines + [total])


def load_model_file(path) -> keras.Model:
    """``keras.models.load_model`` with errors that say what is wrong with the
    file (missing, not a ``.keras`` archive, unreadable)."""
    import zipfile
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No model file at '{path}'.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ValueError(f"'{path}' is not a Keras model file: a .keras file is the zip archive "
                         "`model.save('m.keras')` writes.")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # Keras raises many types for a bad file
        raise ValueError(f"Could not load '{path}' as a Keras model: {type(error).__name__}: "
                         f"{error}") from error


def _recurrent_layers(model):
    found = {}
    for layer in model.layers:
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if type(inner).__name__ in _CELL_TYPES and type(inner).__module__.startswith("keras"):
            found[layer.name] = layer
    return found


def compress(model, decomposition="tt", rank=None, budget=None, layers=None, *, d=None,
             in_modes=None, hidden_modes=None, gates="joint", recurrent_decomposition=None,
             recurrent_rank=None, shared=0.5, decomposition_options=None, x=None,
             fine_tune=None):
    """A compressed copy of ``model`` and a :class:`CompressionReport`.

    Args:
        model: a built Keras model (Sequential or functional) holding
            ``keras.layers.LSTM``, ``GRU`` or ``SimpleRNN`` layers (also inside
            ``Bidirectional``), or the path of a ``.keras`` file.
        decomposition: a factorization name, or ``"restricted"`` for Diao et
            al.'s restricted layers (``shared`` rows per gate): any of
            ``ktr.weight_schemes.decompositions()``.
        rank: the rank of every replaced layer (int, list, float or "full").
        budget: instead of ``rank``: the largest parameter count per replaced
            layer (int), or a fraction of the layer's own count (float in
            (0, 1]); the largest uniform rank that fits is used.
        layers: names of the layers to replace (default: every recurrent one).
        d, in_modes, hidden_modes, gates, recurrent_decomposition,
        recurrent_rank, decomposition_options: as for the tensorized layers.
        shared: for ``"restricted"``.
        x: a batch of inputs; the report then holds output errors.
        fine_tune: ``(x, y, epochs)``: train the compressed model briefly with
            the original model's compile configuration.

    Raises:
        ValueError: no recurrent layer, an unknown layer name, both or
            neither of ``rank``/``budget``, a budget no rank fits.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_model_file(model)
    if not isinstance(model, keras.Model):
        raise TypeError("`model` must be a Keras model or the path of a .keras file. "
                        f"Received: {type(model).__name__}")
    found = _recurrent_layers(model)
    if not found:
        raise ValueError("The model has no keras.layers.LSTM, GRU or SimpleRNN layer to compress "
                         f"(layers: {[layer.name for layer in model.layers]}).")
    names = list(found) if layers is None else list(layers)
    for name in names:
        if name not in found:
            raise checks.unknown("recurrent layer", name, found, noun="recurrent layers")
    scheme = weight_schemes.for_decomposition(decomposition)
    ranked = "rank" in scheme.size_arguments(decomposition)
    if ranked and (rank is None) == (budget is None):
        raise ValueError("Give exactly one of `rank` and `budget`. "
                         f"Received: rank={rank!r}, budget={budget!r}")
    options = scheme.arguments_for(decomposition, dict(
        d=d, in_modes=in_modes, hidden_modes=hidden_modes, gates=gates,
        recurrent_decomposition=recurrent_decomposition, recurrent_rank=recurrent_rank,
        decomposition_options=decomposition_options, shared=shared))

    def replacement(layer):
        config = layer.get_config()
        cls = ktr_layers.layer_class(_CELL_TYPES[type(layer).__name__], scheme.name)
        if not ranked:
            return cls(**config, **options)
        width = int(layer.cell.kernel.shape[0])  # trained, so built
        chosen = rank if budget is None else _rank_for_budget(cls(**config, **options, rank=1),
                                                              layer, budget, width)
        return cls(**config, **options, rank=chosen)

    def clone(layer):
        if layer.name not in names:
            return layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.Bidirectional):
            forward = replacement(layer.forward_layer)
            backward = replacement(layer.backward_layer)
            return keras.layers.Bidirectional(forward, backward_layer=backward,
                                              merge_mode=layer.merge_mode, name=layer.name)
        return replacement(layer)

    compressed = keras.models.clone_model(model, clone_function=clone)
    reports = []
    for layer in model.layers:
        new = compressed.get_layer(layer.name)
        if layer.name not in names:
            new.set_weights(layer.get_weights())
            continue
        pairs = ([(layer.forward_layer, new.forward_layer), (layer.backward_layer, new.backward_layer)]
                 if isinstance(layer, keras.layers.Bidirectional) else [(layer, new)])
        errors = [_load(old.cell, new_layer.cell) for old, new_layer in pairs]
        reports.append(LayerReport(
            name=layer.name, replaced_by=type(pairs[0][1]).__name__,
            params_before=layer.count_params(), params_after=new.count_params(),
            kernel_error=float(np.mean([e[0] for e in errors])),
            recurrent_error=float(np.mean([e[1] for e in errors]))))
    report = CompressionReport(reports, model.count_params(), compressed.count_params())
    if x is not None:
        _output_errors(model, compressed, x, report)
    if fine_tune is not None:
        report.history = _fine_tune(model, compressed, fine_tune)
        if x is not None:
            _output_errors(model, compressed, x, report)
    return compressed, report


def _rank_for_budget(probe, layer, budget, width):
    """The largest rank of ``probe``'s configuration within ``budget`` (an
    int, or a fraction of ``layer``'s own parameters)."""
    params = layer.count_params()
    if isinstance(budget, float) and not 0 < budget <= 1:
        raise ValueError(f"A float `budget` is a fraction of each layer's parameters in (0, 1]. "
                         f"Received: budget={budget}")
    limit = budget * params if isinstance(budget, float) else budget
    best = probe.largest_rank(width, limit)
    if best is None:
        raise ValueError(f"No rank of '{probe.decomposition}' fits a budget of {int(limit):,} "
                         f"parameters for layer '{layer.name}' ({params:,} dense); rank 1 already "
                         f"has {probe.count_params_for(width):,}. Raise the budget or choose "
                         "another decomposition.")
    return best


def _relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _load(old_cell, new_cell):
    """Fit ``new_cell``'s weights to ``old_cell``'s; returns the relative
    reconstruction errors of the kernel and the recurrent kernel."""
    kernel = keras.ops.convert_to_numpy(old_cell.kernel)
    recurrent = keras.ops.convert_to_numpy(old_cell.recurrent_kernel)
    bias = None if old_cell.bias is None else keras.ops.convert_to_numpy(old_cell.bias)
    new_cell.load_dense_weights(kernel, recurrent, bias)
    new_kernel, new_recurrent = (keras.ops.convert_to_numpy(k) for k in new_cell.dense_kernels())
    return _relative(new_kernel, kernel), _relative(new_recurrent, recurrent)


def _output_errors(model, compressed, x, report):
    report.output_error = _relative(compressed.predict(x, verbose=0), model.predict(x, verbose=0))
    for r in report.layers:
        try:
            before = keras.Model(model.inputs, model.get_layer(r.name).output)
            after = keras.Model(compressed.inputs, compressed.get_layer(r.name).output)
            r.output_error = _relative(after.predict(x, verbose=0), before.predict(x, verbose=0))
        except (ValueError, AttributeError):
            r.output_error = None


def _fine_tune(model, compressed, fine_tune):
    try:
        x, y, epochs = fine_tune
    except (TypeError, ValueError):
        raise ValueError("`fine_tune` must be a tuple (x, y, epochs). "
                         f"Received: {type(fine_tune).__name__}") from None
    config = model.get_compile_config() if model.compiled else None
    if not config:
        raise ValueError("Fine-tuning uses the original model's compile() configuration, "
                         "but the model is not compiled.")
    compressed.compile_from_config(config)
    return compressed.fit(x, y, epochs=epochs, verbose=0).history
