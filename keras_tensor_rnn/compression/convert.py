"""Conversion: a trained model's recurrent layers replaced by tensorized (or
restricted) ones, in four steps: the arguments checked and a
:class:`Plan` made (ranks, allocation, samples of what each layer sees),
the layers replaced in a clone, the dense weights loaded (the weights
fit), then the data-aware fit and the distillation."""

from __future__ import annotations

import dataclasses
import os
import warnings

import keras
import numpy as np

from keras_tensor_rnn import _private_api, checks, output_fit, predictions, weight_schemes
from keras_tensor_rnn import layers as ktr_layers
from keras_tensor_rnn.compression import auto
from keras_tensor_rnn.compression.allocate import allocate_ranks
from keras_tensor_rnn.compression.distill import FineTune, check_fine_tune, distill
from keras_tensor_rnn.compression.outputs import ModelOutputs
from keras_tensor_rnn.compression.replaced import (
    CELL_TYPES,
    budget_limit,
    clone_replacing,
    layer_pairs,
    load_dense_into,
    recurrent_layers,
)
from keras_tensor_rnn.compression.report import CompressionReport, LayerReport
from keras_tensor_rnn.layer_samples import predict_batch_size, sample_layer

FITS = ("auto", "weights", "data")
ALLOCATIONS = ("uniform", "sensitivity")


def compress(model, decomposition=None, rank=None, budget=None, layers=None, *, d=None,
             in_modes=None, hidden_modes=None, gates="joint", recurrent_decomposition=None,
             recurrent_rank=None, shared=None, decomposition_options=None, x=None,
             fit="auto", fit_steps=None, allocation="uniform", fine_tune=None):
    """A compressed copy of ``model`` and a :class:`CompressionReport`.

    ``decomposition="auto"`` converts every candidate at ``budget``, fits
    it on ``x`` (products, then a short output fit) and keeps the one whose
    model output is closest to the original's
    (:mod:`keras_tensor_rnn.compression.auto`; the report's ``candidates``
    holds them all). It is what the default does given a ``budget`` and
    ``x``: on five tasks we did not tune on it kept more accuracy than
    any single decomposition (docs/results.md §12).

    Args:
        model: a built Keras model (Sequential or functional) holding
            ``keras.layers.LSTM``, ``GRU`` or ``SimpleRNN`` layers (also inside
            ``Bidirectional``), or the path of a ``.keras`` file.
        decomposition: a factorization name, or ``"restricted"`` for Diao et
            al.'s restricted layers (``shared`` rows per gate): any of
            ``ktr.weight_schemes.decompositions()``; or ``"auto"`` (needs
            ``budget`` and ``x``), or a list of names to choose among.
            ``"dense+cp"`` names each side: a dense input kernel, a cp
            recurrent one (as ``"dense"`` with
            ``recurrent_decomposition="cp"``). Default ``None``: ``"auto"``
            given ``budget`` and ``x`` (and no ``rank``), else ``"tt"``.
        rank: the rank of every replaced layer (int, list, float or "full").
        budget: instead of ``rank``: the largest parameter count per replaced
            layer (int; a ``Bidirectional`` layer's two directions get half
            each), or a fraction of the layer's own count (float in
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
        shared: for ``"restricted"`` (default 0.5); refused with another
            decomposition, which ``rank`` or ``budget`` sizes.
        x: a batch of inputs; the report then holds output errors, and the
            factors are fit on it (``fit``).
        fit: ``"weights"`` (``from_dense`` on the kernels), ``"data"`` (then
            the kernels' products matched on the layer's inputs and hidden
            states on ``x``, then the layer's output sequence on ``x``
            matched, see :mod:`keras_tensor_rnn.output_fit`; the report
            gives the output errors of the weights-only and the final fit)
            or ``"auto"`` (default: ``"data"`` when ``x`` is given).
        fit_steps: optimizer steps of each stage of the output-sequence fit;
            0 stops the data fit at the products. Default: by the number of
            sample sequences (:func:`keras_tensor_rnn.output_fit.steps_for`:
            64 passes over them, from 200 steps up to 96 sequences to 2,000
            from 993; seconds to a minute per layer on a CPU).
        fine_tune: distillation fine-tuning against the original model:
            ``(x, y, epochs)`` (``y`` may be None: the teacher's outputs
            alone), a dict of :class:`FineTune`'s fields or a ``FineTune``.

    Raises:
        ValueError: no recurrent layer, an unknown layer name, both or
            neither of ``rank``/``budget``, a budget no rank fits.
    """
    with predictions.quiet_retracing():
        return _compress(model, decomposition, rank, budget, layers, x, fit, fit_steps, allocation,
                         fine_tune, dict(d=d, in_modes=in_modes, hidden_modes=hidden_modes,
                                         gates=gates,
                                         recurrent_decomposition=recurrent_decomposition,
                                         recurrent_rank=recurrent_rank,
                                         decomposition_options=decomposition_options,
                                         shared=shared))


def _compress(model, decomposition, rank, budget, layers, x, fit, fit_steps, allocation,
              fine_tune, options):
    model = _checked_model(model)
    if fine_tune is not None:  # before any conversion: its mistakes are cheap to hear of
        fine_tune = FineTune.parse(fine_tune)
        check_fine_tune(model, fine_tune)
    found = recurrent_layers(model)
    names = _replaced_names(model, found, layers)
    decomposition = auto.resolve_default(decomposition, rank, budget, x)
    if isinstance(decomposition, str) and "+" in decomposition:
        decomposition, options = _two_sides(decomposition.lower(), options)
    options = _checked_shared(decomposition, options)
    replaced = [found[name] for name in names]
    candidates = samples = trial = None
    if auto.is_auto(decomposition):
        chosen, candidates, samples, trial = _choose_decomposition(
            model, replaced, decomposition, rank, budget, options, allocation, x, fit, fit_steps)
        decomposition, options = _candidate(chosen, options)
    if trial is None:  # else the chosen candidate's trial was the whole plan and conversion
        plan = make_plan(model, replaced, decomposition, rank, budget, options, allocation, x,
                         fit, fit_steps, samples)
        trial = plan, _converted(model, plan)
    plan, (compressed, outputs, report) = trial
    report.decomposition = auto.joined(plan.decomposition,
                                       plan.options.get("recurrent_decomposition"))
    report.candidates = candidates
    if budget is not None:
        _warn_if_larger(report, budget)
    if fine_tune is not None:
        time_steps = _longest_sequence(model, replaced, plan.samples, fine_tune.x)
        report.history = distill(model, compressed, fine_tune, names, outputs, time_steps)
        if x is not None:
            outputs.errors(x, report)
    return compressed, report


def _warn_if_larger(report, budget) -> None:
    """A warning for each layer the budget made larger than it was: an int
    budget above a layer's own count takes the largest rank within it."""
    for layer in report.layers:
        if layer.params_after > layer.params_before:
            warnings.warn(f"Layer '{layer.name}' has {layer.params_after:,} parameters "
                          f"compressed at budget={budget!r}, more than its own "
                          f"{layer.params_before:,}: the largest rank within the budget is "
                          "larger than the layer. Give a smaller budget, e.g. a fraction "
                          "(budget=0.2: a fifth of each layer).", stacklevel=4)


def _longest_sequence(model, replaced, samples, inputs) -> int:
    """The most time steps a replaced layer takes: ``samples`` (what the
    layers see on ``x``) if read, else the first rows of ``inputs`` (the
    fine-tuning inputs)."""
    if not samples:
        count = predict_batch_size(model) or 8  # a stateful model reads whole batches
        rows = keras.tree.map_structure(lambda a: np.asarray(a)[:count], inputs)
        samples = {layer.name: sample_layer(model, layer, rows) for layer in replaced}
    return max(sample.inputs.shape[1] for found in samples.values() for sample in found)


def _choose_decomposition(model, replaced, decomposition, rank, budget, options, allocation, x,
                          fit, fit_steps) -> tuple:
    """``(name, candidates table, samples, trial)`` for
    ``decomposition="auto"`` or a list: every candidate converted and given
    a trial fit on ``x`` (:mod:`keras_tensor_rnn.compression.auto`);
    ``trial`` is the chosen one's ``(plan, _converted result)`` where its
    trial fit had the steps asked for (``fit_steps`` up to
    :data:`~keras_tensor_rnn.compression.auto.TRIAL_STEPS`), so that plan
    (a sensitivity allocation included) and conversion are the whole of
    ``compress``'s; else None."""
    auto.check(rank, budget, x)
    # Checked here: a candidate's ValueError reads as "does not fit".
    _check_fit(fit, fit_steps, x)
    checks.inputs_fit(model, x)
    _check_budget(budget)
    tried = auto.candidates_of(decomposition)
    samples = {layer.name: sample_layer(model, layer, x) for layer in replaced}
    steps = auto.trial_steps(fit_steps)
    final = fit_steps is not None and steps == int(fit_steps)  # the trial fit is the fit asked for
    kept = {}

    def score(name):
        sides, sides_options = _candidate(name, options)
        plan = make_plan(model, replaced, sides, rank, budget, sides_options, allocation, x, fit,
                         steps, samples)
        converted = _converted(model, plan)
        if final:
            kept[name] = plan, converted
        report = converted[2]
        return report.output_error, sum(layer.params_after for layer in report.layers)

    name, table = auto.choose(score, tried)
    return name, table, samples, kept.get(name)


def _checked_shared(decomposition, options: dict) -> dict:
    """``options`` with ``shared`` only where given (the restricted layers
    keep their own default otherwise); given with another decomposition it
    would go unused, so it is refused."""
    if options["shared"] is None:
        return {k: v for k, v in options.items() if k != "shared"}
    if not (isinstance(decomposition, str) and decomposition.lower() == "restricted"):
        raise ValueError(f"`shared` sizes 'restricted' layers (the rows each gate shares); "
                         f"decomposition={decomposition!r} is sized by `rank` or `budget`. "
                         f"Received: shared={options['shared']!r}")
    return options


def _two_sides(name: str, options: dict) -> tuple[str, dict]:
    """``decomposition="dense+cp"``: the input side's and the recurrent
    side's decompositions, as ``compress``'s decomposition and options."""
    auto.checked_sides(name)
    if options["recurrent_decomposition"] is not None:
        raise ValueError(f"decomposition={name!r} names the recurrent side's decomposition "
                         "already: give it or `recurrent_decomposition`, not both. Received: "
                         f"recurrent_decomposition={options['recurrent_decomposition']!r}")
    return _candidate(name, options)


def _candidate(name: str, options: dict) -> tuple[str, dict]:
    """``compress``'s decomposition and options for a candidate of
    ``"auto"`` (``dense+cp``: a dense input side, a cp recurrent side)."""
    decomposition, recurrent = auto.sides(name)
    return decomposition, (options if recurrent is None
                           else {**options, "recurrent_decomposition": recurrent})


def _converted(model, plan: Plan) -> tuple:
    """``(compressed, outputs, report)``: ``model`` with ``plan``'s layers
    replaced and fit (weights, then data), before any distillation."""
    compressed, clones = _replaced(model, plan)
    report = _load_weights(model, compressed, clones, plan)
    outputs = ModelOutputs(model, compressed, plan.names)
    if plan.x is not None:
        outputs.errors(plan.x, report)
    if plan.by_data:
        def output_error():
            outputs.errors(plan.x, report)
            return report.output_error

        def fit():
            _fit_on_data(model, compressed, plan, report)

        # With the output fit, kept only where the model's output on x gets
        # closer to the original's (each stage already lowers its layer's
        # own error); fit_steps=0 asks for the products fit itself.
        if plan.fit_steps == 0:
            fit()
            output_error()
        else:
            weights_only = report.output_error
            if output_fit.kept_if_better(compressed.weights, fit, output_error,
                                         weights_only) == weights_only:
                output_error()  # put back: the report reads the weights-only fit again
    return compressed, outputs, report


@dataclasses.dataclass
class Plan:
    """What :func:`compress` does, decided before any layer is replaced.

    Attributes:
        names: the layers to replace.
        scheme: the weight scheme of the replacements.
        options: their arguments besides the rank.
        rank, budget: as given to ``compress`` (one of them for a ranked
            decomposition).
        allocated: ``{layer name: ranks (and modes)}`` of a sensitivity allocation.
        samples: ``{layer name: [LayerSample per direction]}`` on ``x``.
        by_data: whether the data-aware fit runs.
        fit_steps: its output fit's steps (None: by the sample's size).
    """

    names: list
    scheme: type
    decomposition: str
    options: dict
    rank: object = None
    budget: object = None
    x: object = None
    allocated: dict = dataclasses.field(default_factory=dict)
    samples: dict = dataclasses.field(default_factory=dict)
    by_data: bool = False
    fit_steps: int | None = 0

    @property
    def ranked(self) -> bool:
        """Whether either side has a rank (a dense input side with a
        factorized recurrent side has one)."""
        recurrent = self.options.get("recurrent_decomposition") or self.decomposition
        return any("rank" in self.scheme.size_arguments(name)
                   for name in (self.decomposition, recurrent))

    def replacement(self, layer, outer):
        """The unbuilt replacement of ``layer`` (``outer``: the layer, or the
        ``Bidirectional`` holding it)."""
        config = layer.get_config()
        cls = ktr_layers.layer_class(CELL_TYPES[type(layer).__name__], self.scheme.name)
        if not self.ranked:
            return cls(**config, **self.options)
        if outer.name in self.allocated:
            return cls(**config, **{**self.options, **self.allocated[outer.name]})
        width = int(layer.cell.kernel.shape[0])  # trained, so built
        chosen = self.rank if self.budget is None else _rank_for_budget(
            cls(**config, **self.options, rank=1), layer, outer, self.budget, width)
        return cls(**config, **self.options, rank=chosen)


def make_plan(model, layers, decomposition, rank, budget, options, allocation, x, fit,
              fit_steps, samples=None) -> Plan:
    """Check ``compress``'s arguments and decide what it will do
    (``samples``: what each layer sees on ``x``, if already read)."""
    _check_fit(fit, fit_steps, x)
    if x is not None:
        checks.inputs_fit(model, x)
    # Names are case-insensitive, as in the layers and the search specs.
    decomposition = decomposition.lower() if isinstance(decomposition, str) else decomposition
    if decomposition not in weight_schemes.decompositions():
        raise checks.unknown("decomposition", decomposition,
                             [*weight_schemes.decompositions(), "auto"])
    scheme = weight_schemes.for_decomposition(decomposition)
    plan = Plan([layer.name for layer in layers], scheme, decomposition,
                scheme.arguments_for(decomposition, options), rank, budget, x=x,
                by_data=x is not None and fit != "weights", fit_steps=fit_steps)
    _check_size(plan)
    if allocation not in ALLOCATIONS:
        raise ValueError(f"`allocation` must be one of {ALLOCATIONS}. "
                         f"Received: allocation={allocation!r}")
    if allocation == "sensitivity" and (not plan.ranked or budget is None or x is None):
        raise ValueError("`allocation='sensitivity'` shares a `budget` among the replaced "
                         "layers' kernels by their output errors on `x`: give `budget`, `x` "
                         "and a decomposition with ranks.")
    # What each replaced layer sees on x, computed once for the allocation
    # and the data-aware fit.
    if plan.by_data or allocation == "sensitivity":
        plan.samples = samples or {layer.name: sample_layer(model, layer, x)
                                   for layer in layers}
    if allocation == "sensitivity":
        plan.allocated = allocate_ranks(layers, scheme.name, plan.options, budget, plan.samples)
    return plan


def _check_fit(fit, fit_steps, x) -> None:
    if fit not in FITS:
        raise ValueError(f"`fit` must be one of {FITS}. Received: fit={fit!r}")
    if fit_steps is not None and (isinstance(fit_steps, bool) or not isinstance(fit_steps, int)
                                  or fit_steps < 0):
        raise ValueError("`fit_steps` is the number of optimizer steps of each stage of the "
                         "output fit: an int >= 0 (0: no output fit), or None (by the number "
                         f"of sample sequences). Received: {fit_steps!r}")
    if fit == "data" and x is None:
        raise ValueError("`fit='data'` fits the factors on sample inputs: pass them as `x`.")
    if fit_steps and (x is None or fit == "weights"):  # steps asked for that would not run
        raise ValueError("`fit_steps` sets the output fit on the sample inputs `x`: pass `x` "
                         "(with fit='auto' or 'data'), or leave fit_steps=None. Received: "
                         f"fit_steps={fit_steps!r} with "
                         f"{'x=None' if x is None else repr(fit) + ' as fit'}.")
    if x is None:
        return
    checks.holds_arrays(x)
    checks.finite(x, "`x`", "the data-aware fit needs finite sample inputs; clean or impute "
                  "them first")
    if not len(keras.tree.flatten(x)[0]):
        raise ValueError("`x` holds no rows: give sample inputs (a few hundred to a thousand "
                         "sequences), or x=None for the weights-only fit.")


def _check_size(plan: Plan) -> None:
    """Exactly one of ``rank`` and ``budget`` for a decomposition with a rank,
    neither for one without."""
    rank, budget, decomposition = plan.rank, plan.budget, plan.decomposition
    if plan.ranked and (rank is None) == (budget is None):
        raise ValueError("Give exactly one of `rank` and `budget`. "
                         f"Received: rank={rank!r}, budget={budget!r}")
    if not plan.ranked and (rank not in (None, "full") or budget is not None):
        sizes = " and ".join(f"`{a}`" for a in plan.scheme.size_arguments(decomposition))
        raise ValueError(f"'{decomposition}' has no rank"
                         + (f": its size is set by {sizes}" if sizes else
                            ": it stores each kernel whole")
                         + f". Received: rank={rank!r}, budget={budget!r}"
                         + (". A dense input side with a factorized recurrent one has a rank: "
                            "'dense+cp' (or recurrent_decomposition='cp')."
                            if decomposition == "dense" else ""))
    _check_budget(budget)


def _check_budget(budget) -> None:
    if budget is None:
        return
    if (isinstance(budget, bool) or not isinstance(budget, (int, float))
            or not (0 < budget <= 1 if isinstance(budget, float) else budget >= 1)):
        raise ValueError("`budget` is the most parameters of each replaced layer: an int >= 1, "
                         "or a float in (0, 1] (a fraction of its own count). "
                         f"Received: {budget!r}")


def _replaced(model, plan: Plan) -> tuple:
    """A clone of ``model`` with the planned layers replaced (unfit), and
    ``{id(original layer): its clone}`` (clone_model renames input layers,
    so clones are paired by identity)."""
    return clone_replacing(model, lambda layer, outer: (
        plan.replacement(layer, outer) if outer.name in plan.names else None))


def _load_weights(model, compressed, clones, plan: Plan) -> CompressionReport:
    """Copy every kept layer's weights, fit every replacement to its dense
    layer's weights, and report the reconstruction errors."""
    reports = []
    for layer in model.layers:
        if id(layer) not in clones:
            continue  # an input layer: no weights
        new = clones[id(layer)]
        if layer.name not in plan.names:
            new.set_weights(layer.get_weights())
            continue
        pairs = layer_pairs(layer, new)
        errors = [load_dense_into(old.cell, new_layer.cell) for old, new_layer in pairs]
        reports.append(LayerReport(
            name=layer.name, replaced_by=type(pairs[0][1]).__name__,
            params_before=layer.count_params(), params_after=new.count_params(),
            kernel_error=float(np.mean([e[0] for e in errors])),
            recurrent_error=float(np.mean([e[1] for e in errors]))))
    return CompressionReport(reports, model.count_params(), compressed.count_params())


def _fit_on_data(model, compressed, plan: Plan, report: CompressionReport) -> None:
    """Refit every replacement on what its layer sees (the products), then
    on its output sequence (:mod:`keras_tensor_rnn.output_fit`)."""
    report.weights_fit_output_error = report.output_error
    for r in report.layers:
        r.weights_fit_output_error = r.output_error
        pairs = layer_pairs(model.get_layer(r.name), compressed.get_layer(r.name))
        for (old, new), sample in zip(pairs, plan.samples[r.name]):
            load_dense_into(old.cell, new.cell, sample.input_rows, sample.state_rows)
            if plan.fit_steps != 0:
                output_fit.fit_outputs(old, new, sample.inputs, steps=plan.fit_steps,
                                       mask=sample.mask, initial_state=sample.initial_state)


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
                  and recurrent_layers(layer)]
        inside = (f" The recurrent layers inside the nested model(s) {nested} are not replaced: "
                  "compress each nested model itself, or build the model without nesting."
                  if nested else "")
        raise ValueError("The model has no keras.layers.LSTM, GRU or SimpleRNN layer to compress "
                         f"(layers: {[layer.name for layer in model.layers]}).{inside}"
                         f"{_unreplaced_recurrent(model)}")
    names = list(found) if layers is None else [layers] if isinstance(layers, str) else list(layers)
    for name in names:
        if name not in found:
            raise checks.unknown("recurrent layer", name, found, noun="recurrent layers")
    return names


def _unreplaced_recurrent(model) -> str:
    """What the error for a model without replaceable layers adds about its
    recurrent layers of other kinds: ``keras.layers.RNN`` over a cell, or a
    recurrent layer in a wrapper other than ``Bidirectional``."""
    generic = [layer.name for layer in model.layers if type(layer) is keras.layers.RNN]
    wrapped = [layer.name for layer in model.layers
               if isinstance(layer, keras.layers.Wrapper)
               and not isinstance(layer, keras.layers.Bidirectional)
               and isinstance(layer.layer, keras.layers.RNN)]
    said = ([f"{generic} run a cell in keras.layers.RNN"] if generic else []) + (
        [f"{wrapped} wrap a recurrent layer (e.g. in TimeDistributed)"] if wrapped else [])
    if not said:
        return ""
    return (f" Layer(s) {' and '.join(said)}: only LSTM, GRU and SimpleRNN layers (alone or in "
            "Bidirectional) are replaced; build those with keras.layers.LSTM, GRU or SimpleRNN.")


def _rank_for_budget(probe, layer, outer, budget, width):
    """The largest rank of ``probe``'s configuration within ``budget`` (an
    int, or a fraction of ``outer``'s own parameters) for ``layer``, one
    direction of ``outer`` if that is a ``Bidirectional`` layer: its two
    directions share an int budget equally."""
    params = outer.count_params()
    directions = 2 if outer is not layer else 1
    limit = budget_limit(budget, params, "each layer's") / directions
    best = probe.largest_rank(width, limit)
    if best is None:
        each = f", {limit:,.0f} per direction" if directions > 1 else ""
        given = (f"budget={budget} ({limit * directions:,.0f} of the layer's {params:,} "
                 f"parameters{each})" if isinstance(budget, float) else
                 f"a budget of {budget:,} parameter{'' if budget == 1 else 's'} "
                 f"({params:,} dense{each})")
        sides = (probe.decomposition, probe.recurrent_decomposition or probe.decomposition)
        name = sides[0] if sides[0] == sides[1] else "+".join(sides)
        raise ValueError(f"No rank of '{name}' fits {given} for layer '{outer.name}'; rank 1 "
                         f"already has {probe.count_params_for(width) * directions:,}."
                         f"{_dense_side_advice(probe, width, limit)}")
    return best


def _dense_side_advice(probe, width, limit) -> str:
    """What to change when no rank fits: a dense side already over the
    budget alone, if one is, else the budget or the decomposition."""
    scheme = probe.cell.weight_scheme
    for side, argument in (("kernel", "decomposition"), ("recurrent", "recurrent_decomposition")):
        if getattr(probe, argument) != "dense":
            continue
        alone = sum(m.num_params for m in scheme.side_matrices(side, width))
        if alone >= limit:
            where = "input" if side == "kernel" else "recurrent"
            return (f" Its dense {where} side alone has {alone:,} ({argument}='dense'): raise "
                    "the budget or factorize that side too.")
    return " Raise the budget or choose another decomposition."


__all__ = ["FITS", "ALLOCATIONS", "Plan", "compress", "make_plan", "load_model_file"]
