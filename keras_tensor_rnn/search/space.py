"""The search space: a model template, the hyperparameters, and the budget.

Parameter counts are closed-form (``layer.count_params_for``), so a
configuration's size is known without building anything; the oracle uses
:meth:`SearchSpace.repair` to turn any sampled point into the nearest
feasible one (the largest rank that fits, then smaller units), and
:meth:`SearchSpace.check_budget` fails before any training when nothing fits.

Example:

>>> space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=5000,
...                     decompositions=["dense", "tt", "cp"])
>>> space.count_params({"decomposition": "tt", "rank": 4, "d": 2, "units": 32})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras
import keras_tuner

from keras_tensor_rnn.layers import CELL_TYPES
from keras_tensor_rnn.search.budget import BudgetSpace
from keras_tensor_rnn.search.hypermodel import Perplexity
from keras_tensor_rnn.search.spec import check_ranges
from keras_tensor_rnn.search.tuned_layers import (
    nested_rank_layers,
    recurrent,
    tuned,
    valid_decompositions,
)

BUDGET_SCOPES = ("model", "recurrent")
ARGUMENTS = {"decompositions": "`decompositions`", "rank": "`rank_range`",
             "units": "`units_choices`", "d": "`d_choices`",
             "learning_rate": "`learning_rate_range`", "budget": "`budget`"}
"""What :func:`~keras_tensor_rnn.search.spec.check_ranges` calls each range in
a :class:`SearchSpace`'s errors."""


@dataclasses.dataclass
class SearchSpace(BudgetSpace):
    """What the search may choose, and the budget it must respect.

    Args:
        input_shape: ``(time, features)`` of one example, or ``(time,)`` for
            token ids (then ``vocab_size`` and ``embedding_dim`` are needed).
        num_classes: classes of the softmax head.
        budget: maximum parameter count (None: no budget).
        budget_scope: ``"model"`` (everything) or ``"recurrent"`` (the
            recurrent layers only).
        cell: ``"lstm"``, ``"gru"`` or ``"simple_rnn"``.
        num_layers: stacked recurrent layers.
        decompositions: subset of ``dense, tt, mps, tr, cp, tucker, bt, lowrank,
            restricted``.
        ranks: ``"shared"`` (one rank for every layer) or ``"per_layer"``.
        rank_range: ``(min, max)`` of the sampled rank.
        d_choices: mode depths to choose from.
        units_choices: hidden sizes to choose from.
        learning_rate_range: ``(min, max)``, sampled log-uniformly.
        vocab_size, embedding_dim: for token inputs.
        recurrent_decomposition: fixed recurrent side (None = same as input).
        task: ``"classification"``, ``"regression"`` or ``"per_step"``.
        nested_ranks: layers with a rank are trained at every lower rank
            too (a nested-rank search; counted with their state weights).
    """

    input_shape: tuple
    num_classes: int
    budget: int | None = None
    budget_scope: str = "model"
    cell: str = "lstm"
    num_layers: int = 1
    decompositions: list = dataclasses.field(default_factory=lambda: ["dense", "tt", "cp"])
    ranks: str = "shared"
    rank_range: tuple = (1, 16)
    d_choices: list = dataclasses.field(default_factory=lambda: [2, 3])
    units_choices: list = dataclasses.field(default_factory=lambda: [32, 64, 128])
    learning_rate_range: tuple = (1e-3, 1e-2)
    vocab_size: int | None = None
    embedding_dim: int | None = None
    recurrent_decomposition: str | None = None
    task: str = "classification"
    nested_ranks: bool = False

    def __post_init__(self):
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.decompositions = check_ranges(
            {"decompositions": self.decompositions, "rank": self.rank_range,
             "units": self.units_choices, "d": self.d_choices,
             "learning_rate": self.learning_rate_range, "budget": self.budget}, ARGUMENTS)
        from keras_tensor_rnn.datasets import TASKS

        if self.task not in TASKS:
            raise ValueError(f"[model] task must be one of {TASKS}. Received: task={self.task!r}")
        if self.cell not in CELL_TYPES:
            raise ValueError(f"`cell` must be one of {sorted(CELL_TYPES)}. Received: cell={self.cell!r}")
        if self.budget_scope not in BUDGET_SCOPES:
            raise ValueError(
                f"`budget_scope` must be one of {BUDGET_SCOPES}. Received: {self.budget_scope!r}"
            )
        if self.ranks not in ("shared", "per_layer"):
            raise ValueError(f"`ranks` must be 'shared' or 'per_layer'. Received: {self.ranks!r}")
        if len(self.input_shape) == 1 and not (self.vocab_size and self.embedding_dim):
            raise ValueError("Token inputs (input_shape=(time,)) need `vocab_size` and `embedding_dim`.")
        if not 1 <= len(self.input_shape) <= 2:
            raise ValueError(f"`input_shape` must be (time, features) or (time,). Received: {self.input_shape}")

    # ------------------------------------------------------------ structure

    @property
    def factorized(self) -> list[str]:
        """The chosen decompositions with a rank to tune."""
        return [d for d in self.decompositions if "rank" in tuned(d)]

    @property
    def moded(self) -> list[str]:
        """The chosen decompositions with a mode depth ``d`` to tune."""
        return [d for d in self.decompositions if "d" in tuned(d)]

    @property
    def shared(self) -> list[str]:
        """The chosen decompositions with a sharing fraction to tune."""
        return [d for d in self.decompositions if "shared" in tuned(d)]

    def rank_names(self) -> list[str]:
        if self.ranks == "shared":
            return ["rank"]
        return [f"rank_{layer}" for layer in range(self.num_layers)]

    @property
    def feature_width(self) -> int:
        return self.embedding_dim if len(self.input_shape) == 1 else self.input_shape[-1]

    def hp_names(self, layer: int) -> dict:
        """The hyperparameter names of recurrent layer ``layer``: the
        template's layers share every one, the rank too unless ``ranks`` is
        ``"per_layer"`` (``rank_<layer>``)."""
        return {"decomposition": "decomposition", "d": "d", "shared": "shared", "units": "units",
                "rank": self.rank_names()[0 if self.ranks == "shared" else layer]}

    def recurrent_layers(self, hp) -> list:
        """The template's (unbuilt) recurrent layers, their choices declared on ``hp``."""
        per_step = self.task == "per_step"
        with nested_rank_layers() if self.nested_ranks else contextlib.nullcontext():
            return self._recurrent_layers(hp, per_step)

    def _recurrent_layers(self, hp, per_step: bool) -> list:
        return [recurrent(hp, self.cell, units=self.units_choices,
                          decompositions=self.decompositions, rank=self.rank_range,
                          d=self.d_choices, recurrent_decomposition=self.recurrent_decomposition,
                          name=f"rnn{layer}", hp_names=self.hp_names(layer),
                          return_sequences=per_step or layer < self.num_layers - 1)
                for layer in range(self.num_layers)]

    def build_model(self, hp) -> keras.Model:
        """The template as a keras-tuner ``build_model(hp)``: an optional
        embedding (token inputs), the stacked recurrent layers of
        :meth:`recurrent_layers`, a linear head (per step for ``"per_step"``),
        compiled with Adam at ``hp``'s ``learning_rate``.

        Input ``(batch, time, features)`` (or ``(batch, time)`` token ids);
        output ``(batch, num_classes)`` logits (``(batch, time, num_classes)``
        per step).
        """
        tokens = len(self.input_shape) == 1
        inputs = keras.Input(self.input_shape, dtype="int32" if tokens else None)
        x = inputs
        if tokens:
            x = keras.layers.Embedding(self.vocab_size, self.embedding_dim, mask_zero=True)(x)
        for layer in self.recurrent_layers(hp):
            x = layer(x)
        model = keras.Model(inputs, keras.layers.Dense(self.num_classes)(x))
        lo, hi = (float(bound) for bound in self.learning_rate_range)  # checked at __init__
        learning_rate = hp.Float("learning_rate", lo, hi, sampling="log")
        loss, metrics = self._loss_and_metrics()
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
        return model

    def _loss_and_metrics(self) -> tuple:
        """The template's loss and metrics, by task."""
        if self.task == "regression":
            return keras.losses.MeanSquaredError(), ["mae"]
        metrics = ["accuracy"] + ([Perplexity()] if self.task == "per_step" else [])
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics

    def metric_names(self) -> list[str]:
        """The names a trial's history logs (``loss``, the template's
        metrics, and each one's ``val_`` form): the objectives the oracle
        can rank trials by."""
        metrics = self._loss_and_metrics()[1]
        names = ["loss"] + [m if isinstance(m, str) else m.name for m in metrics]
        return names + [f"val_{name}" for name in names]

    def model(self, values: dict) -> keras.Model:
        """The compiled model of a configuration (``{name: value}``)."""
        return self.build_model(hyperparameters(values))

    def count_params(self, values: dict, scope: str | None = None) -> int:
        """Exact parameter count of a configuration (closed form).

        Raises:
            ValueError: when the configuration is invalid (e.g. a rank above
                the largest useful one for these shapes).
        """
        scope = scope or self.budget_scope
        width, count = self.feature_width, 0
        for layer in self.recurrent_layers(hyperparameters(values)):
            count += layer.count_params_for(width)
            width = layer.units
        if scope == "recurrent":
            return count
        embedding = self.vocab_size * self.embedding_dim if len(self.input_shape) == 1 else 0
        head = values["units"] * self.num_classes + self.num_classes
        return embedding + count + head

    def dense_equivalent(self, values: dict) -> dict:
        """The same configuration with dense (unfactorized) kernels."""
        return {**values, "decomposition": "dense"}

    # ------------------------------------------------- the budget's roles

    def role_keys(self, values: dict, role: str) -> list[str]:
        decomposition = values.get("decomposition")
        if role == "units":
            return ["units"] if "units" in values else []
        if role == "rank":
            return ([n for n in self.rank_names() if n in values]
                    if decomposition in self.factorized else [])
        return ["shared"] if decomposition in self.shared and "shared" in values else []

    def choices_of(self, key: str) -> list[int]:
        return list(self.units_choices)

    def min_rank(self, keys: list[str]) -> int:
        return self.rank_range[0]

    def max_rank(self, keys: list[str]) -> int:
        return self.rank_range[1]

    def smallest_candidates(self):
        for decomposition in self.decompositions:
            for units in self.units_choices:
                for d in self.d_choices if decomposition in self.moded else [None]:
                    values = {"decomposition": decomposition, "units": units}
                    if d is not None:
                        values["d"] = d
                    if decomposition in self.factorized:
                        values.update({n: self.rank_range[0] for n in self.rank_names()})
                    if decomposition in self.shared:
                        values["shared"] = 1.0
                    yield values

    def no_fit_message(self, values, params) -> str:
        if values is None:
            return "No configuration of this search space is valid for these shapes."
        return (f"No model in the search space fits the budget of {self.budget:,} parameters "
                f"({self.budget_scope}). The smallest feasible model is {values} with "
                f"{params:,} parameters: raise the budget to at least {params:,}, or widen "
                "the space (smaller units, more decompositions).")


def hyperparameters(values: dict) -> keras_tuner.HyperParameters:
    """A ``HyperParameters`` whose declarations return ``values``' values."""
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values)
    return hp


__all__ = ["SearchSpace", "valid_decompositions", "tuned"]
