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

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os

import keras
import numpy as np

from keras_tensor_rnn import _private_api, checks, output_fit, rank_allocation, weight_schemes
from keras_tensor_rnn import layers as ktr_layers
from keras_tensor_rnn.layer_samples import predict_batch_size, sample_layer
from keras_tensor_rnn.output_fit import relative_error

FITS = ("auto", "weights", "data")
ALLOCATIONS = ("uniform", "sensitivity")

# The ranks a sensitivity allocation considers (up to each matrix's largest
# useful rank, which is always added).
RANK_GRID = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128)

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
    weights_fit_output_error: float | None = None  # before the data-aware fit

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
    weights_fit_output_error: float | None = None  # before the data-aware fit

    def __str__(self):
        header = ["layer", "replaced by", "params", "ratio", "kernel err", "recur. err",
                  "output err"]
        rows = []
        for r in self.layers:
            out = "" if r.output_error is None else f"{r.output_error:.3g}"
            if r.weights_fit_output_error is not None and r.output_error is not None:
                out = f"{r.weights_fit_output_error:.3g} -> {out}"
            rows.append([r.name, r.replaced_by, f"{r.params_before:,} -> {r.params_after:,}",
                         f"{r.compression:.1f}x", f"{r.kernel_error:.3g}",
                         f"{r.recurrent_error:.3g}", out])
        widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
        # Names read from the left, numbers from the right; two spaces apart.
        lines = ["  ".join(cell.ljust(w) if k < 2 else cell.rjust(w)
                           for k, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in [header, *rows]]
        total = (f"model: {self.params_before:,} -> {self.params_after:,} parameters "
                 f"({self.params_before / self.params_after:.1f}x)")
        if self.output_error is not None:
            total += f", relative output error {self.output_error:.3g}"
            if self.weights_fit_output_error is not None:
                total += f" (weights-only fit: {self.weights_fit_output_error:.3g})"
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


def _checked_model(model) -> keras.Model:
    """``model`` (loaded if a path), checked to be a built Sequential or
    functional model."""
    if isinstance(model, (str, os.PathLike)):
        model = load_model_file(model)
    if not isinstance(model, keras.Model):
        raise TypeError("`model` must be a Keras model or the path of a .keras file. "
                        f"Received: {type(model).__name__}")
    if not _private_api.is_graph_model(model):
        raise ValueError(
            f"`ktr.compress` reads a model's layers from its graph: it supports Sequential and "
            f"functional models, and '{model.name}' is a subclassed keras.Model "
            f"({type(model).__name__}). Build the same layers as a functional model "
            "(`inputs = keras.Input(shape)`, then your call() on them, `keras.Model(inputs, "
            "outputs)`), copy the trained weights with `functional.set_weights(model.get_weights())`"
            " and compress that.")
    if not model.built:
        raise ValueError(f"Model '{model.name}' is not built, so it has no trained weights to "
                         "compress: start it with `keras.Input(shape)` (or call it on data) and "
                         "train it first.")
    return model


def _replaced_names(model, found: dict, layers) -> list:
    """The names of the layers to replace: ``layers`` (a name or a list),
    checked against ``found``, or all of them."""
    if not found:
        nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)
                  and _recurrent_layers(layer)]
        inside = (f" The recurrent layers inside the nested model(s) {nested} are not replaced: "
                  "compress each nested model itself, or build the model without nesting."
                  if nested else "")
        raise ValueError("The model has no keras.layers.LSTM, GRU or SimpleRNN layer to compress "
                         f"(layers: {[layer.name for layer in model.layers]}).{inside}")
    names = list(found) if layers is None else [layers] if isinstance(layers, str) else list(layers)
    for name in names:
        if name not in found:
            raise checks.unknown("recurrent layer", name, found, noun="recurrent layers")
    return names


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
             fit="auto", fit_steps=output_fit.STEPS, allocation="uniform", fine_tune=None):
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
            (0, 1]); the largest uniform rank that fits is used. With
            ``allocation="sensitivity"``: the total of all replaced layers
            (int, or a fraction of their dense total).
        allocation: ``"uniform"`` (default: one rank per layer, the largest
            within its budget) or ``"sensitivity"``: the input and recurrent
            ranks of every replaced layer chosen together
            (:func:`keras_tensor_rnn.rank_allocation.allocate`), more rank
            where it removes the most output error on ``x`` per parameter,
            the replaced layers' total within ``budget`` exactly.
        layers: names of the layers to replace (default: every recurrent one).
        d ... decomposition_options: as for the tensorized layers (``d``,
            ``in_modes``, ``hidden_modes``, ``gates``,
            ``recurrent_decomposition``, ``recurrent_rank``,
            ``decomposition_options``).
        shared: for ``"restricted"``.
        x: a batch of inputs; the report then holds output errors, and the
            factors are fit on it (``fit``).
        fit: ``"weights"`` (``from_dense`` on the kernels), ``"data"`` (then
            the kernels' products matched on the layer's inputs and hidden
            states on ``x``, then the layer's output sequence on ``x``
            matched, see :mod:`keras_tensor_rnn.output_fit`; the report
            gives the output errors of the weights-only and the final fit)
            or ``"auto"`` (default: ``"data"`` when ``x`` is given).
        fit_steps: optimizer steps of each stage of the output-sequence fit
            (default ``output_fit.STEPS``, 2,000: seconds to a minute per
            layer on a CPU); 0 stops the data fit at the products.
        fine_tune: distillation fine-tuning against the original model:
            ``(x, y, epochs)`` (``y`` may be None: the teacher's outputs
            alone), a dict of :class:`FineTune`'s fields or a ``FineTune``.

    Raises:
        ValueError: no recurrent layer, an unknown layer name, both or
            neither of ``rank``/``budget``, a budget no rank fits.
    """
    model = _checked_model(model)
    found = _recurrent_layers(model)
    names = _replaced_names(model, found, layers)
    if fit not in FITS:
        raise ValueError(f"`fit` must be one of {FITS}. Received: fit={fit!r}")
    if isinstance(fit_steps, bool) or not isinstance(fit_steps, int) or fit_steps < 0:
        raise ValueError("`fit_steps` is the number of optimizer steps of each stage of the "
                         f"output fit: an int >= 0 (0: no output fit). Received: {fit_steps!r}")
    if fit == "data" and x is None:
        raise ValueError("`fit='data'` fits the factors on sample inputs: pass them as `x`.")
    by_data = x is not None and fit != "weights"
    # Names are case-insensitive, as in the layers and the search specs.
    decomposition = decomposition.lower() if isinstance(decomposition, str) else decomposition
    scheme = weight_schemes.for_decomposition(decomposition)
    ranked = "rank" in scheme.size_arguments(decomposition)
    if ranked and (rank is None) == (budget is None):
        raise ValueError("Give exactly one of `rank` and `budget`. "
                         f"Received: rank={rank!r}, budget={budget!r}")
    if not ranked and (rank not in (None, "full") or budget is not None):
        sizes = " and ".join(f"`{a}`" for a in scheme.size_arguments(decomposition))
        raise ValueError(f"'{decomposition}' has no rank"
                         + (f": its size is set by {sizes}" if sizes else
                            ": it stores each kernel whole")
                         + f". Received: rank={rank!r}, budget={budget!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))):
        raise ValueError("`budget` is the most parameters of each replaced layer: an int, or a "
                         f"float in (0, 1] (a fraction of its own count). Received: {budget!r}")
    if x is not None and not len(keras.tree.flatten(x)[0]):
        raise ValueError("`x` holds no rows: give sample inputs (a few hundred to a thousand "
                         "sequences), or x=None for the weights-only fit.")
    options = scheme.arguments_for(decomposition, dict(
        d=d, in_modes=in_modes, hidden_modes=hidden_modes, gates=gates,
        recurrent_decomposition=recurrent_decomposition, recurrent_rank=recurrent_rank,
        decomposition_options=decomposition_options, shared=shared))

    if allocation not in ALLOCATIONS:
        raise ValueError(f"`allocation` must be one of {ALLOCATIONS}. "
                         f"Received: allocation={allocation!r}")
    allocated = {}
    if allocation == "sensitivity" and (not ranked or budget is None or x is None):
        raise ValueError("`allocation='sensitivity'` shares a `budget` among the replaced "
                         "layers' kernels by their output errors on `x`: give `budget`, `x` "
                         "and a decomposition with ranks.")
    # What each replaced layer sees on x, computed once for the allocation
    # and the data-aware fit.
    samples = ({name: sample_layer(model, found[name], x) for name in names}
               if by_data or allocation == "sensitivity" else {})
    if allocation == "sensitivity":
        allocated = _allocate([found[n] for n in names], scheme.name, options, budget, samples)

    def replacement(layer, outer):
        config = layer.get_config()
        cls = ktr_layers.layer_class(_CELL_TYPES[type(layer).__name__], scheme.name)
        if not ranked:
            return cls(**config, **options)
        if outer.name in allocated:
            return cls(**config, **{**options, **allocated[outer.name]})
        width = int(layer.cell.kernel.shape[0])  # trained, so built
        chosen = rank if budget is None else _rank_for_budget(cls(**config, **options, rank=1),
                                                              layer, budget, width)
        return cls(**config, **options, rank=chosen)

    clones = {}  # original layer id -> its clone (clone_model renames input layers)

    def clone(layer):
        clones[id(layer)] = clone_of(layer)
        return clones[id(layer)]

    def clone_of(layer):
        if layer.name not in names:
            return layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.Bidirectional):
            forward = replacement(layer.forward_layer, layer)
            backward = replacement(layer.backward_layer, layer)
            return keras.layers.Bidirectional(forward, backward_layer=backward,
                                              merge_mode=layer.merge_mode, name=layer.name)
        return replacement(layer, layer)

    compressed = keras.models.clone_model(model, clone_function=clone)
    reports = []
    for layer in model.layers:
        if id(layer) not in clones:
            continue  # an input layer: no weights
        new = clones[id(layer)]
        if layer.name not in names:
            new.set_weights(layer.get_weights())
            continue
        pairs = _pairs(layer, new)
        errors = [_load(old.cell, new_layer.cell) for old, new_layer in pairs]
        reports.append(LayerReport(
            name=layer.name, replaced_by=type(pairs[0][1]).__name__,
            params_before=layer.count_params(), params_after=new.count_params(),
            kernel_error=float(np.mean([e[0] for e in errors])),
            recurrent_error=float(np.mean([e[1] for e in errors]))))
    report = CompressionReport(reports, model.count_params(), compressed.count_params())
    if x is not None:
        _output_errors(model, compressed, x, report)
    if by_data:
        report.weights_fit_output_error = report.output_error
        for r in report.layers:
            r.weights_fit_output_error = r.output_error
            pairs = _pairs(model.get_layer(r.name), compressed.get_layer(r.name))
            for (old, new_layer), sample in zip(pairs, samples[r.name]):
                _load(old.cell, new_layer.cell, sample.input_rows, sample.state_rows)
                if fit_steps:
                    output_fit.fit_outputs(old, new_layer, sample.inputs, steps=fit_steps,
                                           mask=sample.mask, initial_state=sample.initial_state)
        _output_errors(model, compressed, x, report)
    if fine_tune is not None:
        report.history = _fine_tune(model, compressed, fine_tune, names)
        if x is not None:
            _output_errors(model, compressed, x, report)
    return compressed, report


def _allocate(layers, scheme_name, options, budget, samples):
    """``{layer name: {"rank", "recurrent_rank"[, "in_modes", "hidden_modes"]}}`` from
    :func:`rank_allocation.allocate`: each option's error is the squared
    output error of that side's weight-space fit on the layer's inputs
    (kernel) or hidden states (recurrent) on ``x`` (``samples``, from
    :func:`~keras_tensor_rnn.layer_samples.sample_layer`), summed over directions."""
    units, layouts = {}, {}
    dense_total = sum(layer.count_params() for layer in layers)
    limit = _budget_limit(budget, dense_total, "the replaced layers'")
    for outer in layers:
        directions = [old for old, _ in _pairs(outer, outer)]
        inner = directions[0]
        cls = ktr_layers.layer_class(_CELL_TYPES[type(inner).__name__], scheme_name)
        config, width = inner.get_config(), int(inner.cell.kernel.shape[0])

        # The modes are chosen once (at rank 1) and kept for every rank tried,
        # so that counting an allocation never searches modes again.
        probe = cls(**config, **options, rank=1)
        in_modes, hidden = probe.cell.weight_scheme.resolved_modes(width)
        fixed = dict(options)
        if in_modes is not None and math.prod(hidden) == int(inner.units):
            fixed.update(in_modes=list(in_modes), hidden_modes=list(hidden))

        def build(rank, recurrent_rank, cls=cls, config=config, fixed=fixed):
            return cls(**config, **{**fixed, "rank": rank, "recurrent_rank": recurrent_rank})

        top = build("full", "full")
        tops = [max(max(m.max_ranks) for m in top.cell.weight_scheme.side_matrices(side, width))
                for side in ("kernel", "recurrent")]
        grid = sorted({r for r in RANK_GRID if r < max(tops)} | {max(tops)})
        errors = {}
        for r in grid:
            layer = build(min(r, tops[0]), min(r, tops[1]))
            layer.build((None, None, width))
            for old, sample in zip(directions, samples[outer.name]):
                kernel = keras.ops.convert_to_numpy(old.cell.kernel)
                recurrent = keras.ops.convert_to_numpy(old.cell.recurrent_kernel)
                layer.cell.load_dense_weights(kernel, recurrent)
                fitted = [keras.ops.convert_to_numpy(k) for k in layer.cell.dense_kernels()]
                sides = zip(("kernel", "recurrent"), (sample.input_rows, sample.state_rows),
                            (kernel, recurrent), fitted)
                for side, rows, dense, approx in sides:
                    rows = np.asarray(rows, np.float64).reshape(-1, dense.shape[0])
                    error = float(np.sum((rows @ (approx - dense)) ** 2)) / len(rows)
                    errors[side, r] = errors.get((side, r), 0.0) + error
            for k, side in enumerate(("kernel", "recurrent")):
                matrices = layer.cell.weight_scheme.side_matrices(side, width)
                params = sum(m.num_params for m in matrices)
                if r <= tops[k]:
                    units.setdefault((outer.name, side), []).append(
                        rank_allocation.Option(r, len(directions) * params, errors[side, r]))
        layouts[outer.name] = (build, width, len(directions), fixed)

    @functools.cache
    def layer_count(name, rank, recurrent_rank):
        build, width, n, _ = layouts[name]
        return n * build(rank, recurrent_rank).count_params_for(width)

    def total(assignment):
        return sum(layer_count(name, assignment[name, "kernel"].value,
                               assignment[name, "recurrent"].value) for name in layouts)

    chosen = rank_allocation.allocate(units, total, limit)
    return {name: {**{k: v for k, v in fixed.items() if k in ("in_modes", "hidden_modes")},
                   "rank": chosen[name, "kernel"].value,
                   "recurrent_rank": chosen[name, "recurrent"].value}
            for name, (_, _, _, fixed) in layouts.items()}


def _budget_limit(budget, params, what):
    if isinstance(budget, float) and not 0 < budget <= 1:
        raise ValueError(f"A float `budget` is a fraction of {what} parameters in (0, 1]. "
                         f"Received: budget={budget}")
    return budget * params if isinstance(budget, float) else budget


def _rank_for_budget(probe, layer, budget, width):
    """The largest rank of ``probe``'s configuration within ``budget`` (an
    int, or a fraction of ``layer``'s own parameters)."""
    params = layer.count_params()
    limit = _budget_limit(budget, params, "each layer's")
    best = probe.largest_rank(width, limit)
    if best is None:
        raise ValueError(f"No rank of '{probe.decomposition}' fits a budget of {int(limit):,} "
                         f"parameters for layer '{layer.name}' ({params:,} dense); rank 1 already "
                         f"has {probe.count_params_for(width):,}. Raise the budget or choose "
                         "another decomposition.")
    return best


def _pairs(layer, new):
    """(dense, replacement) layer pairs: one, or the two directions of a
    ``Bidirectional``."""
    if isinstance(layer, keras.layers.Bidirectional):
        return [(layer.forward_layer, new.forward_layer),
                (layer.backward_layer, new.backward_layer)]
    return [(layer, new)]


def _load(old_cell, new_cell, inputs=None, states=None):
    """Fit ``new_cell``'s weights to ``old_cell``'s (on sample ``inputs``
    and ``states`` when given); returns the relative reconstruction errors
    of the kernel and the recurrent kernel."""
    kernel = keras.ops.convert_to_numpy(old_cell.kernel)
    recurrent = keras.ops.convert_to_numpy(old_cell.recurrent_kernel)
    bias = None if old_cell.bias is None else keras.ops.convert_to_numpy(old_cell.bias)
    new_cell.load_dense_weights(kernel, recurrent, bias, inputs=inputs, states=states)
    new_kernel, new_recurrent = (keras.ops.convert_to_numpy(k) for k in new_cell.dense_kernels())
    return relative_error(new_kernel, kernel), relative_error(new_recurrent, recurrent)


def _output_errors(model, compressed, x, report):
    batch = predict_batch_size(model)
    report.output_error = relative_error(compressed.predict(x, verbose=0, batch_size=batch),
                                         model.predict(x, verbose=0, batch_size=batch))
    for r in report.layers:
        try:
            before = keras.Model(model.inputs, model.get_layer(r.name).output)
            after = keras.Model(compressed.inputs, compressed.get_layer(r.name).output)
            r.output_error = relative_error(after.predict(x, verbose=0, batch_size=batch),
                                            before.predict(x, verbose=0, batch_size=batch))
        except (ValueError, AttributeError):
            r.output_error = None


@dataclasses.dataclass
class FineTune:
    """Distillation fine-tuning of a compressed model (``compress(...,
    fine_tune=...)``): the compressed model (student) is trained to match the
    original (teacher) on ``x``, with the labels ``y`` too when given.

    Loss, summed:

    - classification (a softmax or logits output): ``temperature**2 *
      KL(softmax(t / T) || softmax(s / T))`` on the teacher's and student's
      logits (log-probabilities for a softmax output); other outputs: mean
      squared error to the teacher's outputs;
    - ``feature_weight`` times, for every replaced layer, the mean squared
      error between its outputs and the original layer's, over the original
      outputs' variance (FitNets-style hints: the layer's whole output is a
      far richer target than a few logits);
    - ``label_weight`` times the original loss on ``y``.

    The optimizer is the original one's class with a cosine-decayed learning
    rate over the run (suited to a few epochs), and training stops early
    when the loss on the last ``validation_split`` of ``x`` stops improving
    (the best weights are kept). A few epochs need enough optimizer steps:
    by default the batch is the largest (at most 32, Keras's default, and
    at least 8) that gives ``MIN_STEPS`` steps over the run. The compressed
    model is then compiled with the original compile configuration again.

    Attributes:
        x: training inputs.
        y: labels, or None (the teacher's outputs alone).
        epochs: at most this many epochs (default 3).
        temperature: softening of both distributions (default 2).
        label_weight: weight of the labels' loss (default 0.5 with labels).
        feature_weight: weight of the replaced layers' outputs (default 1;
            0 matches the model outputs alone, as does a model whose layers'
            outputs cannot be read, e.g. a subclassed one).
        learning_rate: the start of the schedule (default: the original
            optimizer's learning rate).
        validation_split, patience: as for ``Model.fit`` and
            ``EarlyStopping``.
        batch_size: as for ``Model.fit`` (default: see above).

    Example:

    >>> tune = FineTune(x_train, y_train, epochs=3)  # doctest: +SKIP
    >>> small, report = ktr.compress(model, "tt", budget=0.05, x=x_train[:1024],
    ...                              fine_tune=tune)  # doctest: +SKIP
    """

    MIN_STEPS = 1000

    x: object
    y: object = None
    epochs: int = 3
    temperature: float = 2.0
    label_weight: float | None = None
    feature_weight: float = 1.0
    learning_rate: float | None = None
    validation_split: float = 0.1
    patience: int = 1
    batch_size: int | None = None

    @classmethod
    def parse(cls, value) -> FineTune:
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            fields = [f.name for f in dataclasses.fields(cls)]
            for key in value:
                if key not in fields:
                    raise checks.unknown("fine_tune field", key, fields, noun="fields")
            return cls(**value)
        try:
            x, y, epochs = value
        except (TypeError, ValueError):
            raise ValueError("`fine_tune` must be a tuple (x, y, epochs) (y may be None), a dict "
                             "of FineTune's fields or a FineTune. "
                             f"Received: {type(value).__name__}") from None
        return cls(x, y, epochs)

    def batch_for(self, rows: int) -> int:
        """The batch size for ``rows`` training rows (see the class)."""
        if self.batch_size is not None:
            return int(self.batch_size)
        return max(8, min(32, rows * int(self.epochs) // self.MIN_STEPS))


def _feature_models(model, compressed, names):
    """``(teacher, student)`` models whose outputs are the original model's
    output then every replaced layer's outputs, or None where the layers'
    outputs cannot be read (a subclassed model, a layer used twice)."""
    try:
        def outputs(m):
            found = [m.outputs[0]]
            for name in names:
                out = m.get_layer(name).output
                found += list(out) if isinstance(out, (list, tuple)) else [out]
            return found

        return (keras.Model(model.inputs, outputs(model)),
                keras.Model(compressed.inputs, outputs(compressed)))
    except (AttributeError, ValueError, TypeError):
        return None


def _fine_tune(model, compressed, fine_tune, names=()):
    options = FineTune.parse(fine_tune)
    if isinstance(options.epochs, bool) or not isinstance(options.epochs, int) or \
            options.epochs < 1:
        raise ValueError(f"`fine_tune`'s epochs must be an int >= 1. Received: {options.epochs!r}")
    config = model.get_compile_config() if model.compiled else None
    if not config:
        raise ValueError("Fine-tuning uses the original model's compile() configuration, "
                         "but the model is not compiled.")
    if len(model.outputs) != 1:
        raise ValueError(f"Distillation fine-tuning needs a single-output model; this one has "
                         f"{len(model.outputs)} outputs.")
    x, y = options.x, options.y
    label_weight = options.label_weight
    if label_weight is None:
        label_weight = 0.5 if y is not None else 0.0
    # Keras's deserialization edits the dicts it reads: each use gets a copy.
    original_loss = keras.losses.get(
        keras.saving.deserialize_keras_object(copy.deepcopy(config["loss"])))
    pair = _feature_models(model, compressed, names) if options.feature_weight else None
    teacher_model, student = pair or (model, compressed)
    predicted = teacher_model.predict(x, verbose=0)
    predicted = predicted if isinstance(predicted, (list, tuple)) else [predicted]
    teacher = np.asarray(predicted[0], dtype="float32")
    features = [np.asarray(f, dtype="float32") for f in predicted[1:]]
    kind = _output_kind(original_loss)
    width = teacher.shape[-1]
    if kind == "probabilities":
        teacher = np.log(np.clip(teacher, 1e-7, 1.0))
    # The labels ride beside the teacher's outputs on their last axis, so an
    # output per time step (batch, time, classes) packs as well as one per
    # sequence: sparse labels (batch, time) become (batch, time, 1).
    targets = teacher if y is None else np.concatenate(
        [teacher, _labels_like(y, teacher)], axis=-1)
    temperature = float(options.temperature)

    def distillation_loss(packed, prediction):
        from keras import ops

        soft = packed[..., :width]
        if kind == "regression":
            loss = ops.mean(ops.square(prediction - soft), axis=-1)
        else:
            student_logits = ops.log(ops.clip(prediction, 1e-7, 1.0)) \
                if kind == "probabilities" else prediction
            p = ops.softmax(soft / temperature, axis=-1)
            log_q = ops.log_softmax(student_logits / temperature, axis=-1)
            log_p = ops.log_softmax(soft / temperature, axis=-1)
            loss = temperature ** 2 * ops.sum(p * (log_p - log_q), axis=-1)
        if y is not None and label_weight:
            labels = packed[..., width:]
            loss = loss + label_weight * original_loss(labels, prediction)
        return loss

    def feature_loss(variance):
        def loss(target, prediction):
            from keras import ops

            # Per row, or per row and step for a sequence: Keras then applies
            # the layer's output mask, so padded steps do not count.
            return ops.mean(ops.square(prediction - target), axis=-1) / variance
        return loss

    losses = [distillation_loss] + [
        feature_loss(max(float(np.mean(np.var(f, axis=0))), 1e-12)) for f in features]
    weights = [1.0] + [float(options.feature_weight)] * len(features)
    optimizer = keras.optimizers.deserialize(copy.deepcopy(config["optimizer"]))
    rows = int(len(targets) * (1 - options.validation_split))
    batch_size = options.batch_for(rows)
    steps = max(1, -(-rows // batch_size)) * int(options.epochs)
    start = options.learning_rate or float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(start, decay_steps=steps)
    student.compile(optimizer=optimizer, loss=losses if features else distillation_loss,
                    loss_weights=weights if features else None)
    callbacks = []
    if options.validation_split:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=options.patience, restore_best_weights=True))
    history = student.fit(x, [targets, *features] if features else targets,
                          epochs=int(options.epochs), batch_size=batch_size,
                          validation_split=options.validation_split, callbacks=callbacks,
                          verbose=0).history
    compressed.compile_from_config(config)
    return history


def _labels_like(y, teacher) -> np.ndarray:
    """``y`` shaped ``teacher.shape[:-1] + (labels,)`` (float32).

    Raises:
        ValueError: ``y`` does not have a label per output row.
    """
    y = np.asarray(y, "float32")
    if y.shape[0] != teacher.shape[0] or y.size % math.prod(teacher.shape[:-1]):
        raise ValueError(f"`fine_tune`'s y must hold the labels of x's {teacher.shape[0]:,} rows "
                         f"for outputs of shape {teacher.shape[1:]}. Received: y of shape "
                         f"{y.shape}.")
    return y.reshape(teacher.shape[:-1] + (-1,))


def _output_kind(loss) -> str:
    """``"logits"``, ``"probabilities"`` or ``"regression"``: how the
    original model's outputs are read, from its loss."""
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    name = str(config.get("name") or getattr(loss, "__name__", "")).lower()
    if "crossentropy" not in name:
        return "regression"
    return "logits" if config.get("from_logits") else "probabilities"
