"""Fitting a compressed recurrent layer so that its *output sequence* matches the original's.

The products-only data fit (:mod:`keras_tensor_rnn.factorizations.data_fit`)
matches each kernel's products, one matrix at a time, on what the dense
layer sees. What a model reads is the layer's output sequence: behind the
gates' nonlinearities and a recurrence that compounds what each product
leaves out. At a few percent of the parameters a trained LSTM's products
cannot all be kept, and which errors matter is decided there, not in the
products. :func:`fit_outputs` trains the whole replacement cell (factors
and bias) with Adam on the layer's sample inputs, in two or three stages:

1. **One step** (teacher forcing): from the original's states before each
   step, the new cell's states after it match the original's. Steps are
   independent rows, so there is no backpropagation through time: cheap,
   and a good start for
2. **windows**, on sequences longer than :data:`LONG_SEQUENCE` (64) steps: the
   sequences cut into windows of :data:`WINDOW` steps, each started from
   the original's states where it begins, on which the new cell runs on its
   own states. Over hundreds of steps a cell's errors compound and the
   whole-sequence stage alone gets stuck far from the original (OSULeaf,
   427 steps, cp at 10% of an LSTM: relative output error 1.12 without
   windows, 0.30 with them); windows bound how far errors compound, at a
   fraction of a whole sequence's cost per step;
3. **the sequence**: the new cell runs on its own states over the sample
   sequences and its output sequence matches the original's.

A stage's result is kept only where it lowers the relative error of the
output sequence on the sample, so the fit never ends worse than it started,
and a start that already matches (full ranks) is left as it is. Both cells
run with ``training=False`` (no dropout): the fit targets the layer's
outputs, not a regularised version of them. With a ``mask`` (padded
variable-length sequences), the cells run as in their model (a padded step
carries the state) and only real steps count, in the rows, the losses and
the errors; an ``initial_state`` (a decoder's) is where both cells start.
Hand-written: Keras trains models on targets, not one layer against another
layer's trajectories.

Example:

>>> before, after = fit_outputs(dense_layer, tensorized_layer, inputs)  # doctest: +SKIP
>>> after <= before  # doctest: +SKIP
True
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
from keras import ops

from keras_tensor_rnn import predictions

# Optimizer steps of each stage: PASSES passes over the sample sequences, at
# least MIN_STEPS and at most STEPS (steps_for). From about a thousand
# sequences on that is STEPS; on a few hundred, 2,000 steps (over 200
# passes) cost 3x the time and gave no better model
# (benchmarks/compress_tasks.py, JapaneseVowels). Batch rows and Adam's
# starting learning rate (cosine-decayed to 0 over the stage).
STEPS = 2000
MIN_STEPS = 200
PASSES = 64
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
# A relative output error below this needs no fit.
EXACT = 1e-5
# Sequences of more than LONG_SEQUENCE steps are fit on windows of WINDOW
# steps (each from the original's states at its start) before the whole
# sequence (and distilled at a lower rate: compression.FineTune).
WINDOW = 32
LONG_SEQUENCE = 2 * WINDOW


class _OneStep(keras.Model):
    """``(x_t, *states_{t-1}) -> concat(states_t)`` through ``cell``."""

    def __init__(self, cell):
        super().__init__(name="one_step")
        self.cell = cell

    def call(self, inputs):
        x, *states = inputs
        _, new = self.cell(x, list(states), training=False)
        return ops.concatenate(keras.tree.flatten(new), axis=-1)


class _Sequence(keras.Model):
    """``[x, (mask), *initial_state] -> outputs at every step`` through
    ``cell`` (in processing order), from the given states or zeros."""

    def __init__(self, cell, go_backwards, masked=False):
        super().__init__(name="sequence")
        self.masked = masked
        self.rnn = keras.layers.RNN(cell, return_sequences=True, go_backwards=go_backwards)

    def call(self, inputs):
        x, *rest = inputs
        mask = ops.cast(rest.pop(0), "bool") if self.masked else None
        return self.rnn(x, mask=mask, initial_state=rest or None, training=False)


def trajectory(cell, inputs, go_backwards=False, max_rows=None, seed=0, mask=None,
               initial_state=None):
    """The steps ``cell`` takes over ``inputs`` ``(batch, time, features)``,
    as rows: ``(step inputs, states before, states after)``, the states a
    list like the cell's ``state_size``; only the real steps of ``mask``
    ``(batch, time)`` (a padded step carries the state, as in
    ``keras.layers.RNN``); from ``initial_state`` (default zeros); at most
    ``max_rows`` rows (a random subset), all of them if None."""
    inputs, real = _in_processing_order(inputs, mask, go_backwards)
    before, after = _states_along(cell, inputs, real, initial_state)
    return _rows(inputs, real, before, after, max_rows, seed)


def windows(cell, inputs, length, go_backwards=False, mask=None, initial_state=None):
    """``inputs`` ``(batch, time, features)`` cut into windows of ``length``
    steps in processing order, each with the states ``cell`` holds at its
    start: ``(window inputs (n, length, features), window mask (n, length),
    start states)``, the states a list like the cell's ``state_size``. The
    last window of a sequence whose time is not a multiple of ``length``
    ends in masked padding; windows without a real step are left out."""
    inputs, real = _in_processing_order(inputs, mask, go_backwards)
    before, _ = _states_along(cell, inputs, real, initial_state)
    return _windows(inputs, real, before, length)


def _in_processing_order(inputs, mask, go_backwards) -> tuple:
    """``(inputs, real steps)`` as arrays, in the order the cell takes them."""
    inputs = np.asarray(inputs, "float32")
    real = np.ones(inputs.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    return (inputs[:, ::-1], real[:, ::-1]) if go_backwards else (inputs, real)


def _states_along(cell, inputs, real, initial_state=None) -> tuple:
    """The states ``cell`` holds before and after each step of ``inputs``
    ``(batch, time, features)``: two lists like the cell's ``state_size``,
    each state ``(batch, time, size)``. A step that is not ``real`` carries
    the state, as in ``keras.layers.RNN``; the states start at
    ``initial_state`` (default zeros)."""
    states = ([ops.convert_to_numpy(s) for s in cell.get_initial_state(len(inputs))]
              if initial_state is None else [np.asarray(s, "float32") for s in initial_state])
    before, after = [], []
    for t in range(inputs.shape[1]):
        _, new = cell(inputs[:, t], states, training=False)
        new = [np.where(real[:, t, None], ops.convert_to_numpy(s), old)
               for s, old in zip(keras.tree.flatten(new), states)]
        before.append(states)
        after.append(new)
        states = new
    return tuple([np.stack([step[k] for step in steps], axis=1) for k in range(len(states))]
                 for steps in (before, after))


def _rows(inputs, real, before, after, max_rows=None, seed=0) -> tuple:
    """The real steps as rows, step by step (all sequences' first steps first)."""
    by_step = real.T
    rows = inputs.transpose(1, 0, 2)[by_step]
    before, after = ([s.transpose(1, 0, 2)[by_step] for s in states] for states in (before, after))
    if max_rows is not None and len(rows) > max_rows:
        keep = np.random.default_rng(seed).choice(len(rows), max_rows, replace=False)
        rows, before, after = rows[keep], [s[keep] for s in before], [s[keep] for s in after]
    return rows, before, after


def _windows(inputs, real, before, length) -> tuple:
    """:func:`windows` from the states along the sequences."""
    pad = -inputs.shape[1] % length
    inputs = np.pad(inputs, ((0, 0), (0, pad), (0, 0)))
    real = np.pad(real, ((0, 0), (0, pad)))
    cut_inputs = inputs.reshape((-1, length) + inputs.shape[2:])
    cut_real = real.reshape((-1, length))
    starts = [s[:, ::length].reshape((-1, s.shape[-1])) for s in before]
    keep = cut_real.any(axis=1)
    return cut_inputs[keep], cut_real[keep], [s[keep] for s in starts]


def _train(model, x, y, steps, batch_size, sample_weight=None):
    batches = math.ceil(len(y) / batch_size)
    epochs = max(1, round(steps / batches))
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=epochs * batches)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, sample_weight=sample_weight)


def kept_if_better(variables, stage, error, best: float) -> float:
    """Run ``stage`` (which changes ``variables``) and keep what it did only
    where ``error()`` then is below ``best``; else put ``variables`` back.

    Returns:
        The error of what is kept.
    """
    saved = [ops.convert_to_numpy(v) for v in variables]
    stage()
    now = error()
    if now < best:
        return now
    for variable, value in zip(variables, saved):
        variable.assign(value)
    return best


def relative_error(a, b) -> float:
    """``||a - b|| / ||b||`` (Frobenius, in float64): how far ``a`` is from
    the reference ``b``; 0 for a zero ``b`` matched exactly. ``a`` and ``b``
    may be lists of arrays (a model's several outputs): all of them count."""
    a, b = (np.concatenate([np.asarray(part, np.float64).ravel() for part in keras.tree.flatten(v)])
            for v in (a, b))
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def steps_for(sequences: int, batch_size: int = BATCH_SIZE) -> int:
    """The optimizer steps of each stage for ``sequences`` sample sequences:
    :data:`PASSES` passes over them, within [:data:`MIN_STEPS`,
    :data:`STEPS`] (200 steps up to 96 sequences, 2,000 from 993).

    >>> steps_for(270), steps_for(1024)
    (576, 2000)
    """
    return int(min(STEPS, max(MIN_STEPS, PASSES * math.ceil(sequences / batch_size))))


def _forced_stages(teacher, student, inputs, mask, go_backwards, initial_state, rows) -> list:
    """The stages that start from the original's states, as ``[(model,
    inputs, targets, sample weights)]``: one step (at most ``rows`` rows),
    then windows on sequences longer than :data:`LONG_SEQUENCE` steps."""
    ordered, real = _in_processing_order(inputs, mask, go_backwards)
    before, after = _states_along(teacher, ordered, real, initial_state)
    x, start, end = _rows(ordered, real, before, after, max_rows=rows)
    del after  # the states along every step are the memory-hungry part
    stages = [(_OneStep(student), [x, *start], np.concatenate(end, axis=-1), None)]
    if inputs.shape[1] > LONG_SEQUENCE:
        cut, cut_real, starts = _windows(ordered, real, before, WINDOW)
        cut_weights = cut_real.astype("float32")  # the mask, and the steps that count
        packed = [cut, cut_weights, *starts]
        target = predictions.predict(_Sequence(teacher, False, True), packed)
        stages.append((_Sequence(student, False, True), packed, target, cut_weights))
    return stages


def fit_outputs(original, replacement, inputs, steps=None, batch_size=BATCH_SIZE, mask=None,
                initial_state=None):
    """Train ``replacement``'s cell so that its output sequence on
    ``inputs`` matches ``original``'s (see the module).

    Args:
        original: the dense recurrent layer (built, trained), or its cell.
        replacement: the compressed layer (built, holding a start, e.g. the
            products fit), or its cell; its weights are updated in place.
        inputs: sample inputs ``(batch, time, features)``, as the layer
            receives them in its model.
        steps: optimizer steps of each stage (0: no fit; default
            :func:`steps_for` the number of sequences).
        batch_size: rows per step (one-step rows, then windows and sequences).
        mask: ``(batch, time)`` booleans, True at real steps (None: all).
        initial_state: the states both layers start from, a list like the
            cell's ``state_size`` (None: zeros).

    Returns:
        ``(before, after)``: the relative error of the output sequence on
        the real steps of ``inputs`` before and after the fit
        (``after <= before``).
    """
    go_backwards = bool(getattr(original, "go_backwards", False))
    teacher, student = (getattr(layer, "cell", layer) for layer in (original, replacement))
    inputs = np.asarray(keras.ops.convert_to_numpy(inputs), "float32")
    if inputs.ndim != 3:
        raise ValueError("`inputs` are sample sequences of shape (batch, time, features). "
                         f"Received shape {inputs.shape}.")
    steps = steps_for(len(inputs), batch_size) if steps is None else steps
    real = np.ones(inputs.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    states = [] if initial_state is None else [np.asarray(keras.ops.convert_to_numpy(s), "float32")
                                               for s in initial_state]
    packed = [inputs] + ([real.astype("float32")] if mask is not None else []) + states
    # Outputs come in processing order: the mask of their steps too.
    weights = (real[:, ::-1] if go_backwards else real).astype("float32")
    target = predictions.predict(_Sequence(teacher, go_backwards, mask is not None), packed)
    # One model reads the outputs, another trains: compiling a model drops
    # its predict function, so the reader traces once.
    reader = _Sequence(student, go_backwards, mask is not None)
    sequence = _Sequence(student, go_backwards, mask is not None)

    def error():
        now = predictions.predict(reader, packed)
        return relative_error(now[weights > 0], target[weights > 0])

    before = error()
    best = before
    if steps > 0 and before > EXACT:
        stages = _forced_stages(teacher, student, inputs, mask, go_backwards, states or None,
                                rows=steps * batch_size)
        for model, x, y, sample_weight in stages + [(sequence, packed, target, weights)]:
            train = functools.partial(_train, model, x, y, steps, batch_size, sample_weight)
            best = kept_if_better(student.weights, train, error, best)
    return before, best


__all__ = ["STEPS", "MIN_STEPS", "PASSES", "steps_for", "BATCH_SIZE", "LEARNING_RATE", "EXACT",
           "WINDOW", "LONG_SEQUENCE", "trajectory", "windows", "fit_outputs", "kept_if_better",
           "relative_error"]
