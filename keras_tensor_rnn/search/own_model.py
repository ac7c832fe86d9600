"""The budgeted search on your own model.

Write a keras-tuner ``build_model(hp)`` as usual, with
:func:`recurrent` where a recurrent layer goes; each such layer's
decomposition, rank, mode depth, units (and sharing, for restricted layers)
become hyperparameters named after the layer (``rnn0/decomposition``,
``rnn0/rank``, ...). ``ktr.search.run(build_model, x=..., y=...,
validation_data=..., budget=...)`` then runs the budgeted, MLflow-tracked
search on it. The budget covers the whole model: every proposal is counted
(by building the model, which trains nothing) and an over-budget one is
repaired (lower ranks first, then more sharing, then fewer units of the
tuned layers) before its trial starts, so no trial over the budget is ever
trained and ``max_consecutive_failed_trials`` never ends a search.

Example:

>>> import keras, keras_tensor_rnn as ktr
>>> def build_model(hp):
...     inputs = keras.Input((40, 8))
...     x = keras.layers.Conv1D(16, 3, activation="relu")(inputs)
...     x = ktr.search.recurrent(hp, "lstm", units=[32, 64], return_sequences=True)(x)
...     x = ktr.search.recurrent(hp, "gru", units=[16, 32])(x)
...     model = keras.Model(inputs, keras.layers.Dense(1)(x))
...     model.compile("adam", "mse")
...     return model
>>> result = ktr.search.run(build_model, x=x, y=y, validation_data=(xv, yv),
...                         budget=20_000, objective="val_loss", max_trials=10)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools

import keras

from keras_tensor_rnn import checks
from keras_tensor_rnn.search.budget import BudgetSpace
from keras_tensor_rnn.search.hypermodel import OwnModelHyperModel, with_defaults
from keras_tensor_rnn.search.tuned_layers import recurrent, recurrent_layers


class ModelBudget(BudgetSpace):
    """The whole-model budget of a user's hypermodel, for the budget oracles.

    Counting a configuration builds the model (nothing is trained) and is
    cached; :meth:`repair` turns a proposal into the nearest one within the
    budget: the largest common cap on the tuned layers' ranks that fits, with
    more sharing for restricted layers if needed, then fewer units.

    Args:
        hypermodel: an :class:`OwnModelHyperModel`.
        budget: the most parameters a trial's model may have (None: no budget).
    """

    def __init__(self, hypermodel: OwnModelHyperModel, budget: int | None):
        if budget is not None:
            budget = checks.positive_int(budget, "budget")
        self.hypermodel, self.budget = hypermodel, budget
        self.hp = hypermodel.discover_space()
        self._counts = {}
        self.ranges = {p.name: p for p in self.hp.space}
        self.declared = hypermodel.declared_layers()
        self.layers = [layer.name for layer in self.declared]
        if not self.layers:
            raise ValueError("`build_model` has no `ktr.search.recurrent(hp, ...)` layer, so the "
                             "search has no recurrent weights to choose: put one where a "
                             "recurrent layer goes, e.g. `ktr.search.recurrent(hp, 'lstm', "
                             "units=[32, 64])(x)`.")

    def count_params(self, values: dict) -> int:
        """The model's parameter count for ``values`` (defaults elsewhere)."""
        key = tuple(sorted(values.items()))
        if key not in self._counts:
            hp = self.hp.copy()
            hp.values.update(values)
            with_defaults(hp)
            # Only the graph's names are reset: the full clean-up (a garbage
            # collection) would cost more than the build itself.
            keras.backend.clear_session(free_memory=False)
            self._counts[key] = int(self.hypermodel.build(hp).count_params())
        return self._counts[key]

    def role_keys(self, values: dict, role: str) -> list[str]:
        names = dict.fromkeys(layer.hp_names[role] for layer in self.declared
                              if role in layer.hp_names)
        return [name for name in names if name in values]

    def choices_of(self, key: str) -> list[int]:
        return list(self.ranges[key].values)

    def min_rank(self, keys: list[str]) -> int:
        return min(self.ranges[k].min_value for k in keys)

    def max_rank(self, keys: list[str]) -> int:
        return max(self.ranges[k].max_value for k in keys)

    def dense_equivalent(self, values: dict) -> dict:
        return {**values, **{layer.hp_names["decomposition"]: "dense" for layer in self.declared}}

    def smallest_candidates(self):
        choices = {name: self.ranges[name].values
                   for name in self.role_keys(self.ranges, "decomposition")}
        for decomposition in sorted({c for options in choices.values() for c in options}):
            values = {name: decomposition if decomposition in options else options[0]
                      for name, options in choices.items()}
            for key, pick in (("units", min), ("rank", None), ("shared", None)):
                for name in self.role_keys(self.ranges, key):
                    hp = self.ranges[name]
                    values[name] = (pick(hp.values) if pick else
                                    hp.min_value if key == "rank" else hp.max_value)
            # The mode depth has no monotone order in the count: every choice.
            depths = self.role_keys(self.ranges, "d")
            for picked in itertools.product(*(self.ranges[name].values for name in depths)):
                yield {**values, **dict(zip(depths, picked))}

    def no_fit_message(self, values, params) -> str:
        smallest = "no valid configuration" if values is None else (
            f"the smallest is {values} with {params:,} parameters")
        return (f"No configuration of `build_model` fits the budget of {self.budget:,} "
                f"parameters: {smallest}. Raise `budget`, or allow smaller units, ranks or more "
                "decompositions in `recurrent(...)`.")


__all__ = ["recurrent", "recurrent_layers", "OwnModelHyperModel", "ModelBudget", "with_defaults"]
