"""Sensitivity rank allocation (``compress(..., allocation="sensitivity")``):
the input and recurrent ranks of every replaced layer chosen together, by
the output error each choice leaves on sample inputs, the replaced layers'
total within the budget (:func:`keras_tensor_rnn.rank_allocation.allocate`
picks; this module measures the options)."""

from __future__ import annotations

import functools
import math

import keras
import numpy as np

from keras_tensor_rnn import layers as ktr_layers
from keras_tensor_rnn import rank_allocation
from keras_tensor_rnn.compression.replaced import CELL_TYPES, budget_limit, layer_pairs

# The ranks an allocation considers (up to each matrix's largest useful
# rank, which is always added).
RANK_GRID = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128)


def allocate_ranks(layers, scheme_name, options, budget, samples):
    """``{layer name: {"rank", "recurrent_rank"[, "in_modes", "hidden_modes"]}}`` from
    :func:`rank_allocation.allocate`: each option's error is the squared
    output error of that side's weight-space fit on the layer's inputs
    (kernel) or hidden states (recurrent) on ``x`` (``samples``, from
    :func:`~keras_tensor_rnn.layer_samples.sample_layer`), summed over directions."""
    units, layouts = {}, {}
    dense_total = sum(layer.count_params() for layer in layers)
    limit = budget_limit(budget, dense_total, "the replaced layers'")
    for outer in layers:
        directions = [old for old, _ in layer_pairs(outer, outer)]
        inner = directions[0]
        cls = ktr_layers.layer_class(CELL_TYPES[type(inner).__name__], scheme_name)
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
        # A side without a rank (a dense input side) has the one option, rank 1.
        tops = [max(max(m.max_ranks or (1,)) for m in top.cell.weight_scheme.side_matrices(side, width))
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


__all__ = ["RANK_GRID", "allocate_ranks"]
