"""Distillation fine-tuning of a compressed model against the original
(``compress(..., fine_tune=...)``): :class:`FineTune` says how, :func:`distill`
trains."""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers

import keras
import numpy as np

from keras_tensor_rnn import checks, output_fit
from keras_tensor_rnn.compression.outputs import ModelOutputs
from keras_tensor_rnn.layer_samples import predict_batch_size
from keras_tensor_rnn.layer_walk import states_at_zero


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
    rate over the run (suited to a few epochs), from the original's rate,
    scaled down by ``LONG_SEQUENCE / time steps`` where the replaced layers take
    sequences of more than ``LONG_SEQUENCE`` (64) steps (see
    :meth:`learning_rate_for`); training stops early
    when the loss on the last ``validation_split`` of ``x`` stops improving
    (the best weights are kept). By default a tenth of ``x`` is held out
    when that tenth has at least ``VALIDATION_ROWS`` (200) rows, i.e. from
    2,000 rows; fewer rows train every epoch on all of ``x``, since a few
    dozen rows cannot tell one epoch from the next (on the benchmark's
    small tasks, stopping on them cost up to 2 points). A few epochs need
    enough optimizer steps:
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
            optimizer's learning rate, lower on long sequences).
        validation_split, patience: as for ``Model.fit`` and
            ``EarlyStopping`` (``validation_split`` None: by the rows, see
            above; 0: no early stopping).
        batch_size: as for ``Model.fit`` (default: see above).

    Example:

    >>> tune = FineTune(x_train, y_train, epochs=3)  # doctest: +SKIP
    >>> small, report = ktr.compress(model, "tt", budget=0.05, x=x_train[:1024],
    ...                              fine_tune=tune)  # doctest: +SKIP
    """

    MIN_STEPS = 1000
    VALIDATION_ROWS = 200
    LONG_SEQUENCE = output_fit.LONG_SEQUENCE  # 64: also where the output fit takes windows

    x: object
    y: object = None
    epochs: int = 3
    temperature: float = 2.0
    label_weight: float | None = None
    feature_weight: float = 1.0
    learning_rate: float | None = None
    validation_split: float | None = None
    patience: int = 1
    batch_size: int | None = None

    def __post_init__(self):
        self.checked()  # a field out of range is said where the FineTune is made

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

    def checked(self) -> FineTune:
        """``self``, each field checked.

        Raises:
            ValueError: a field that is not valid, said with what is.
        """
        def number(value) -> bool:
            return isinstance(value, numbers.Real) and not isinstance(value, bool)

        rules = {
            "epochs": ("an int >= 1", checks.is_int(self.epochs) and self.epochs >= 1),
            "temperature": ("a number > 0", number(self.temperature) and self.temperature > 0),
            "learning_rate": ("None or a number > 0", self.learning_rate is None
                              or number(self.learning_rate) and self.learning_rate > 0),
            "label_weight": ("None or a number >= 0", self.label_weight is None
                             or number(self.label_weight) and self.label_weight >= 0),
            "feature_weight": ("a number >= 0", number(self.feature_weight)
                               and self.feature_weight >= 0),
            "validation_split": ("None or a fraction in [0, 1)", self.validation_split is None
                                 or number(self.validation_split)
                                 and 0 <= self.validation_split < 1),
            "patience": ("an int >= 0", checks.is_int(self.patience) and self.patience >= 0),
            "batch_size": ("None or an int >= 1", self.batch_size is None
                           or checks.is_int(self.batch_size) and self.batch_size >= 1),
        }
        for field, (valid, ok) in rules.items():
            if not ok:
                raise ValueError(f"`fine_tune`'s {field} must be {valid}. "
                                 f"Received: {getattr(self, field)!r}")
        return self

    def split_for(self, rows: int) -> float:
        """The fraction of ``rows`` held out for early stopping (see the class)."""
        if self.validation_split is not None:
            return float(self.validation_split)
        return 0.1 if rows * 0.1 >= self.VALIDATION_ROWS else 0.0

    def learning_rate_for(self, original: float, time_steps: int) -> float:
        """The schedule's start: ``learning_rate`` if given, else the
        original rate, times ``LONG_SEQUENCE / time_steps`` for sequences of
        more than ``LONG_SEQUENCE`` steps. Through hundreds of steps a step
        of Adam at the training rate moves a closely fit compressed layer
        far (OSULeaf, 427 steps, tt at 10% of an LSTM: 0.471 test accuracy
        before 3 epochs of distillation at the original 3e-3, 0.364 after;
        0.475 at 4.5e-4; docs/results.md §12).

        >>> FineTune(x=None).learning_rate_for(3e-3, 64), FineTune(x=None).learning_rate_for(3e-3, 128)
        (0.003, 0.0015)
        """
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return float(original) * min(1.0, self.LONG_SEQUENCE / max(int(time_steps), 1))

    def batch_for(self, rows: int) -> int:
        """The batch size for ``rows`` training rows (see the class)."""
        if self.batch_size is not None:
            return int(self.batch_size)
        return max(8, min(32, rows * int(self.epochs) // self.MIN_STEPS))


def distill(model, compressed, fine_tune, names=(), outputs=None, time_steps=1) -> dict:
    """Train ``compressed`` (the student) to match ``model`` (the teacher)
    as :class:`FineTune` describes; compile it as the original after.
    ``time_steps``: the most steps a replaced layer's sequences have (it sets
    the learning rate, :meth:`FineTune.learning_rate_for`).
    ``outputs``: the :class:`~keras_tensor_rnn.compression.outputs.ModelOutputs`
    of the pair, if the caller has one (its models and the teacher's
    outputs are reused).

    Returns:
        The ``History.history`` of the run.
    """
    options = FineTune.parse(fine_tune)
    config = _compile_config(model, options)
    original_loss = keras.losses.get(
        keras.saving.deserialize_keras_object(copy.deepcopy(config["loss"])))
    outputs = outputs or ModelOutputs(model, compressed, names)
    predicted = outputs.teacher(options.x)
    student = outputs.student_model
    if not options.feature_weight:  # the model's output alone
        student, predicted = compressed, predicted[:outputs.num_outputs]
    teacher = np.asarray(predicted[0], dtype="float32")
    features = [np.asarray(f, dtype="float32") for f in predicted[1:]]
    kind = output_kind(original_loss)
    binary = kind != "regression" and teacher.shape[-1] == 1
    if binary:  # a sigmoid unit: the two classes' log-probabilities (or logits)
        teacher = (np.concatenate([np.zeros_like(teacher), teacher], axis=-1) if kind == "logits"
                   else np.log(np.clip(np.concatenate([1 - teacher, teacher], axis=-1),
                                       1e-7, 1.0)))
    elif kind == "probabilities":
        teacher = np.log(np.clip(teacher, 1e-7, 1.0))
    # The labels ride beside the teacher's outputs on their last axis, so an
    # output per time step (batch, time, classes) packs as well as one per
    # sequence: sparse labels (batch, time) become (batch, time, 1).
    targets = teacher if options.y is None else np.concatenate(
        [teacher, labels_like(options.y, teacher)], axis=-1)
    loss = distillation_loss(kind, teacher.shape[-1], options, original_loss, binary)
    losses = [loss] + [feature_loss(max(float(np.mean(np.var(f, axis=0))), 1e-12))
                       for f in features]
    split = options.split_for(len(targets))
    rows = int(len(targets) * (1 - split))
    batch_size = options.batch_for(rows)
    steps = max(1, -(-rows // batch_size)) * int(options.epochs)
    student.compile(optimizer=_scheduled_optimizer(config, options, steps, time_steps),
                    loss=losses if features else loss,
                    loss_weights=[1.0] + [float(options.feature_weight)] * len(features)
                    if features else None)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=options.patience,
                                               restore_best_weights=True)
                 ] if split else []
    history = student.fit(options.x, [targets, *features] if features else targets,
                          epochs=int(options.epochs), batch_size=batch_size,
                          validation_split=split, callbacks=callbacks,
                          verbose=0).history
    compressed.compile_from_config(config)
    return history


def check_fine_tune(model, options: FineTune) -> None:
    """``options`` checked against ``model`` before anything is converted:
    the model compiled with one output, ``x`` fitting its inputs, ``x`` and
    ``y`` finite, and ``y`` (if given) a label per row that the model's
    loss takes, tried on the model's outputs for the first rows.

    Raises:
        ValueError: what does not fit, naming ``fine_tune``.
    """
    config = _compile_config(model, options)
    checks.inputs_fit(model, options.x, "`fine_tune`'s x")
    remedy = "distilling on them makes every weight NaN; clean or impute them first"
    checks.finite(options.x, "`fine_tune`'s x", remedy)
    if options.y is None:
        return
    checks.finite(options.y, "`fine_tune`'s y", remedy)
    first = keras.tree.map_structure(lambda a: np.asarray(a)[:_probe_rows(model)], options.x)
    with states_at_zero(model):
        predicted = np.asarray(model.predict(first, verbose=0), "float32")
    rows = len(keras.tree.flatten(options.x)[0])
    labels = labels_like(options.y, np.empty((rows, *predicted.shape[1:]), "float32"))
    loss = keras.losses.get(keras.saving.deserialize_keras_object(copy.deepcopy(config["loss"])))
    try:
        loss(labels[:len(predicted)], predicted)
    except Exception as error:  # any error of the loss on these labels is the labels'
        error = str(error).strip().splitlines()[0]
        raise ValueError(f"`fine_tune`'s y does not fit the model's loss ({_loss_name(loss)}) "
                         f"for outputs of shape {predicted.shape[1:]}: give the labels as for "
                         f"`model.fit`. Received: y of shape {np.shape(options.y)}. The loss "
                         f"said: {error}") from None


def _probe_rows(model) -> int:
    """Rows to try the loss on: a stateful model's fixed batch, else two."""
    return predict_batch_size(model) or 2


def _loss_name(loss) -> str:
    return getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)


def _compile_config(model, options) -> dict:
    """The original model's compile configuration, after checking that
    distillation can use it."""
    options.checked()
    config = model.get_compile_config() if model.compiled else None
    if not config:
        raise ValueError("Fine-tuning uses the original model's compile() configuration, "
                         "but the model is not compiled.")
    if len(model.outputs) != 1:
        raise ValueError(f"Distillation fine-tuning needs a single-output model; this one has "
                         f"{len(model.outputs)} outputs.")
    return config


def _scheduled_optimizer(config, options, steps: int, time_steps: int):
    """The original optimizer, its learning rate on a cosine decay over
    ``steps`` (from :meth:`FineTune.learning_rate_for`)."""
    # Keras's deserialization edits the dicts it reads: each use gets a copy.
    optimizer = keras.optimizers.deserialize(copy.deepcopy(config["optimizer"]))
    start = options.learning_rate_for(
        float(keras.ops.convert_to_numpy(optimizer.learning_rate)), time_steps)
    optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(start, decay_steps=steps)
    return optimizer


def distillation_loss(kind: str, width: int, options, original_loss, binary: bool = False):
    """The loss on the model's output: softened KL to the teacher's logits
    (``kind`` ``"logits"`` or ``"probabilities"``; ``binary``: one sigmoid
    unit, read as two classes) or squared error (``"regression"``), plus
    ``label_weight`` times the original loss on the labels packed after the
    first ``width`` values of each target."""
    temperature = float(options.temperature)
    label_weight = options.label_weight
    if label_weight is None:
        label_weight = 0.5 if options.y is not None else 0.0
    with_labels = options.y is not None and label_weight

    def loss(packed, prediction):
        from keras import ops

        soft = packed[..., :width]
        if kind == "regression":
            value = ops.mean(ops.square(prediction - soft), axis=-1)
        else:
            student_logits = _logits(prediction, kind, binary)
            p = ops.softmax(soft / temperature, axis=-1)
            log_q = ops.log_softmax(student_logits / temperature, axis=-1)
            log_p = ops.log_softmax(soft / temperature, axis=-1)
            value = temperature ** 2 * ops.sum(p * (log_p - log_q), axis=-1)
        if with_labels:
            value = value + label_weight * original_loss(packed[..., width:], prediction)
        return value

    return loss


def _logits(prediction, kind: str, binary: bool):
    """The student's output as logits (up to a constant) over its classes;
    one sigmoid unit as two classes."""
    from keras import ops

    if binary and kind == "logits":
        return ops.concatenate([ops.zeros_like(prediction), prediction], axis=-1)
    if binary:
        prediction = ops.concatenate([1 - prediction, prediction], axis=-1)
    return prediction if kind == "logits" else ops.log(ops.clip(prediction, 1e-7, 1.0))


def feature_loss(variance: float):
    """Squared error to a replaced layer's original outputs, over their variance."""
    def loss(target, prediction):
        from keras import ops

        # Per row, or per row and step for a sequence: Keras then applies
        # the layer's output mask, so padded steps do not count.
        return ops.mean(ops.square(prediction - target), axis=-1) / variance
    return loss


def labels_like(y, teacher) -> np.ndarray:
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


def output_kind(loss) -> str:
    """``"logits"``, ``"probabilities"`` or ``"regression"``: how the
    original model's outputs are read, from its loss."""
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    name = str(config.get("name") or getattr(loss, "__name__", "")).lower()
    if "crossentropy" not in name:
        return "regression"
    return "logits" if config.get("from_logits") else "probabilities"


__all__ = ["FineTune", "distill", "check_fine_tune", "distillation_loss", "feature_loss",
           "labels_like", "output_kind"]
