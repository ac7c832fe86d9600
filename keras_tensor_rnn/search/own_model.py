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

import keras
import keras_tuner

from keras_tensor_rnn import checks, weight_schemes
from keras_tensor_rnn.layers import RecurrentLayer, layer_class
from keras_tensor_rnn.search.budget import SHARED_STEP, BudgetSpace
from keras_tensor_rnn.search.hypermodel import SearchHyperModel
from keras_tensor_rnn.search.space import tuned

_SUFFIX = "/decomposition"
# Builds that discovering a build_model's conditional space may take.
_MAX_DISCOVERY_BUILDS = 100
_LAYER_COUNTS: dict[int, int] = {}  # hp object id -> recurrent() calls in the current build


def recurrent(hp, cell: str = "lstm", *, units=(32, 64, 128), decompositions=("tt", "cp", "dense"),
              rank=(1, 16), d=(2, 3), shared=(0.0, 1.0), name: str | None = None,
              **layer_kwargs) -> RecurrentLayer:
    """A recurrent layer whose weights are chosen by the search.

    Args:
        hp: the ``keras_tuner.HyperParameters`` of ``build_model(hp)``.
        cell: ``"lstm"``, ``"gru"`` or ``"simple_rnn"``.
        units: the choices of units (a list), or a fixed int.
        decompositions: the choices of weights: any of
            ``ktr.weight_schemes.decompositions()`` (factorizations,
            ``"dense"``, ``"restricted"``).
        rank: ``(min, max)`` of the rank (decompositions with a rank).
        d: the choices of mode depth (decompositions with modes: not ``"lowrank"``).
        shared: ``(min, max)`` of the shared fraction (``"restricted"``).
        name: the layer's name and its hyperparameters' prefix (default
            ``rnn0``, ``rnn1``, ... in the order of the calls in one build).
        **layer_kwargs: any other argument of the layer
            (``return_sequences``, ``dropout``, ...).

    Returns:
        A :class:`~keras_tensor_rnn.layers.TensorizedLSTM` (GRU, SimpleRNN)
        or its restricted counterpart, unbuilt.
    """
    if name is None:
        count = _LAYER_COUNTS.get(id(hp), 0)
        _LAYER_COUNTS[id(hp)] = count + 1
        name = f"rnn{count}"
    decompositions = [decompositions] if isinstance(decompositions, str) else decompositions
    choices = [str(c).lower() for c in decompositions]
    if not choices or (not isinstance(units, int) and not list(units)):
        raise ValueError(f"`recurrent(...)` for layer '{name}' needs at least one choice of "
                         f"`decompositions` and of `units`. Received: "
                         f"decompositions={decompositions!r}, units={units!r}")
    valid = weight_schemes.decompositions()
    for choice in choices:
        if choice not in valid:
            raise checks.unknown("decomposition", choice, valid, where=f" for layer '{name}'")
    decomposition = hp.Choice(f"{name}{_SUFFIX}", choices)
    chosen = {}
    moded = [c for c in choices if "d" in tuned(c)]
    if moded:
        with hp.conditional_scope(f"{name}{_SUFFIX}", moded):
            depth = hp.Choice(f"{name}/d", [int(v) for v in d])
        if decomposition in moded:
            chosen["d"] = int(depth)
    ranked = [c for c in choices if "rank" in tuned(c)]
    if ranked:
        with hp.conditional_scope(f"{name}{_SUFFIX}", ranked):
            value = hp.Int(f"{name}/rank", int(rank[0]), int(rank[1]))
        if decomposition in ranked:
            chosen["rank"] = int(value)
    sharing = [c for c in choices if "shared" in tuned(c)]
    if sharing:
        with hp.conditional_scope(f"{name}{_SUFFIX}", sharing):
            fraction = hp.Float(f"{name}/shared", float(shared[0]), float(shared[1]),
                                step=SHARED_STEP)
        if decomposition in sharing:
            chosen["shared"] = fraction
    width = int(units) if isinstance(units, int) else hp.Choice(f"{name}/units",
                                                                [int(u) for u in units])
    scheme = weight_schemes.for_decomposition(decomposition)
    return layer_class(cell, scheme.name)(width, name=name, **scheme.arguments_for(
        decomposition, chosen), **layer_kwargs)


def recurrent_layers(model) -> list[RecurrentLayer]:
    """The tensorized and restricted layers of a model (also inside
    ``Bidirectional`` and nested models)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            found += [layer.forward_layer, layer.backward_layer]
        elif isinstance(layer, RecurrentLayer):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += recurrent_layers(layer)
    return found


class OwnModelHyperModel(SearchHyperModel):
    """A user's ``build_model(hp)`` as the search's hypermodel: builds it,
    and measures what every trial records (recurrent parameters and the
    compression against the same model with dense recurrent kernels).

    Its whole space, conditional hyperparameters included, is found once by
    :meth:`discover_space`; the tuner then builds no model outside a trial.
    """

    def __init__(self, build_model, name=None):
        if not callable(build_model):
            raise TypeError("`build_model` must be a function of `hp` returning a compiled "
                            f"keras.Model. Received: {type(build_model).__name__}")
        super().__init__(name=name or getattr(build_model, "__name__", None))
        self.build_model = build_model
        self._space = None

    def discover_space(self) -> keras_tuner.HyperParameters:
        """Every hyperparameter ``build_model`` declares, conditional ones
        included: keras-tuner's own discovery (build until every conditional
        scope has been active once), with each hyperparameter at its default
        instead of a random value, so that no build asks for a rank the drawn
        units cannot have, whatever order the choices are listed in."""
        if self._space is not None:
            return self._space
        space, once_active, never_active = keras_tuner.HyperParameters(), [], []
        values = {}
        for _ in range(_MAX_DISCOVERY_BUILDS):
            hp = space.copy()
            hp.values = dict(values)
            with_defaults(hp)
            keras.backend.clear_session(free_memory=False)
            self.build(hp)
            space.merge(hp, overwrite=False)
            for scope in hp.active_scopes:
                once_active.append(scope)
                never_active = [s for s in never_active if s != scope]
            never_active += [s for s in hp.inactive_scopes
                             if s not in once_active and s not in never_active]
            if not never_active:
                break
            values = {condition.name: condition.values[0] for condition in never_active[0]}
        else:
            raise ValueError(
                f"`build_model` declares conditional hyperparameters that never become active "
                f"(their conditions: {never_active[0]}), even with each condition's first value "
                "set: check the `parent_values` of its `conditional_scope`.")
        space.values = {}
        with_defaults(space)
        self._space = space
        return space

    def declare_hyperparameters(self, hp):
        hp.merge(self.discover_space(), overwrite=False)

    def build(self, hp):
        _LAYER_COUNTS[id(hp)] = 0
        model = self.build_model(hp)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`build_model(hp)` must return a keras.Model. Received: "
                            f"{type(model).__name__}")
        return model

    def active_values(self, hp) -> dict:
        return {k: v for k, v in hp.values.items()
                if not k.startswith("tuner/") and hp.is_active(k)}

    def measure(self, model, values: dict) -> dict:
        layers = recurrent_layers(model)
        ours = sum(layer.count_params() for layer in layers)
        dense = sum(layer.cell.dense_count_for(layer.cell.input_dim) for layer in layers)
        total = model.count_params()
        return {"recurrent_params": float(ours),
                "compression": (total - ours + dense) / total,
                "recurrent_compression": dense / ours if ours else 1.0}

    def describe(self, values: dict) -> dict:
        return {}


def with_defaults(hp: keras_tuner.HyperParameters) -> None:
    """Give every active hyperparameter of ``hp`` without a value its
    default, in place (a conditional one first declared while its condition
    was off has none), and drop the values of inactive ones."""
    for declared in hp.space:
        if not hp.is_active(declared):
            hp.values.pop(declared.name, None)
        elif declared.name not in hp.values:
            hp.values[declared.name] = declared.default


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
            checks.positive_int(budget, "budget")
        self.hypermodel, self.budget = hypermodel, budget
        self.hp = hypermodel.discover_space()
        self._counts = {}
        self.ranges = {p.name: p for p in self.hp.space}
        self.layers = [n[: -len(_SUFFIX)] for n in self.ranges if n.endswith(_SUFFIX)]
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
        return [f"{layer}/{role}" for layer in self.layers if f"{layer}/{role}" in values]

    def choices_of(self, key: str) -> list[int]:
        return list(self.ranges[key].values)

    def min_rank(self, keys: list[str]) -> int:
        return min(self.ranges[k].min_value for k in keys)

    def dense_equivalent(self, values: dict) -> dict:
        return {**values, **{f"{layer}{_SUFFIX}": "dense" for layer in self.layers}}

    def smallest_candidates(self):
        choices = {layer: self.ranges[f"{layer}{_SUFFIX}"].values for layer in self.layers}
        for decomposition in sorted({c for values in choices.values() for c in values}):
            values = {}
            for layer, options in choices.items():
                values[f"{layer}{_SUFFIX}"] = decomposition if decomposition in options else options[0]
                for key, pick in (("units", min), ("rank", None), ("shared", None)):
                    hp = self.ranges.get(f"{layer}/{key}")
                    if hp is not None:
                        values[hp.name] = (pick(hp.values) if pick else
                                           hp.min_value if key == "rank" else hp.max_value)
            yield values

    def no_fit_message(self, values, params) -> str:
        smallest = "no valid configuration" if values is None else (
            f"the smallest is {values} with {params:,} parameters")
        return (f"No configuration of `build_model` fits the budget of {self.budget:,} "
                f"parameters: {smallest}. Raise `budget`, or allow smaller units, ranks or more "
                "decompositions in `recurrent(...)`.")


__all__ = ["recurrent", "recurrent_layers", "OwnModelHyperModel", "ModelBudget"]
