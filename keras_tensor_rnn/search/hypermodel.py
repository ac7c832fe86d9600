"""The search's keras-tuner HyperModels: the interface the tuner relies on,
and its one implementation over a ``build_model(hp)`` (a user's, or a spec's
template)."""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json

import keras
import keras_tuner

from keras_tensor_rnn.search.tuned_layers import (
    DeclaredLayer,
    declared_layers,
    nested_rank_layers,
    recurrent_layers,
    start_build,
)

# Builds that discovering a build_model's conditional space may take.
_MAX_DISCOVERY_BUILDS = 100


class SearchHyperModel(keras_tuner.HyperModel, abc.ABC):
    """What the search's tuner asks of a hypermodel besides ``build(hp)``.

    It declares its whole space, conditional hyperparameters included, so
    the tuner builds no model outside a trial (keras-tuner would build
    models to discover conditional hyperparameters), and it says what a
    trial tried and measured, for the trial's MLflow run.
    """

    nested_ranks: bool = False
    """Whether trials train their ranked layers at every lower rank too (a
    nested-rank search)."""

    @abc.abstractmethod
    def declared_layers(self) -> list:
        """The tuned recurrent layers: each one's name and the names of its
        hyperparameters (:class:`~keras_tensor_rnn.search.tuned_layers.DeclaredLayer`)."""

    @abc.abstractmethod
    def declare_hyperparameters(self, hp):
        """Declare every hyperparameter of the space on ``hp``."""

    @abc.abstractmethod
    def active_values(self, hp) -> dict:
        """``{name: value}`` of the hyperparameters a trial's model is built from."""

    @abc.abstractmethod
    def measure(self, model, values: dict, counts: dict | None = None) -> dict:
        """``params``, ``recurrent_params``, ``compression`` and
        ``recurrent_compression`` of a trial's model (see
        ``tracking.METRICS``); with ``counts`` (``{id(recurrent layer):
        count}``, :func:`keras_tensor_rnn.nested.truncated_counts`), of the
        model with those layers at those counts instead: a lower rank,
        measured without taking it out."""

    @abc.abstractmethod
    def describe(self, model) -> dict:
        """Extra MLflow params of a trial's built model: what its
        hyperparameters turned into (resolved ranks and modes), or ``{}``."""


def _unnamed(config):
    """A layer's config without its ``name`` entries (nested ones too)."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    return [_unnamed(v) for v in config] if isinstance(config, (list, tuple)) else config


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class OwnModelHyperModel(SearchHyperModel):
    """A ``build_model(hp)`` as the search's hypermodel (a user's, or a
    spec's template): builds it, and measures what every trial records
    (recurrent parameters and the compression against the same model with
    dense recurrent kernels).

    Its whole space, conditional hyperparameters included, is found once by
    :meth:`discover_space`; the tuner then builds no model outside a trial.
    With ``nested_ranks`` (a nested-rank search), every layer with a rank is
    built trainable at every lower rank (:mod:`keras_tensor_rnn.nested`).
    """

    def __init__(self, build_model, name=None, nested_ranks: bool = False):
        if not callable(build_model):
            raise TypeError("`build_model` must be a function of `hp` returning a compiled "
                            f"keras.Model. Received: {type(build_model).__name__}")
        super().__init__(name=name or getattr(build_model, "__name__", None))
        self.build_model = build_model
        self.nested_ranks = nested_ranks
        self._space = None
        self._declared: dict[str, DeclaredLayer] = {}

    def default_model(self):
        """The model ``build_model`` builds with every hyperparameter at its
        default (a check's model: nothing is trained)."""
        hp = self.discover_space().copy()
        with_defaults(hp)
        keras.backend.clear_session(free_memory=False)
        return self.build(hp)

    def identity(self, model) -> dict:
        """What a resumed search compares of ``build_model``: the
        hyperparameters it declares, and digests of ``model``'s (its
        :meth:`default_model`) layers and compile configuration, layer
        names left out (Keras numbers unnamed layers anew in each session)."""
        layers = [[type(layer).__name__, _unnamed(layer.get_config())] for layer in model.layers]
        return {"hyperparameters": [p.get_config() for p in self.discover_space().space],
                "layers": _digest(layers), "compile": _digest(model.get_compile_config())}

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
            self._record(declared_layers(hp))
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

    def _record(self, layers: list[DeclaredLayer]) -> None:
        for layer in layers:
            known = self._declared.get(layer.name)
            hp_names = {**(known.hp_names if known else {}), **layer.hp_names}
            self._declared[layer.name] = DeclaredLayer(layer.name, hp_names)

    def declared_layers(self) -> list[DeclaredLayer]:
        """The ``ktr.search.recurrent`` layers of ``build_model`` and the
        names of their hyperparameters, over every build of the discovery."""
        self.discover_space()
        return list(self._declared.values())

    def declare_hyperparameters(self, hp):
        hp.merge(self.discover_space(), overwrite=False)

    def build(self, hp):
        start_build(hp)
        with nested_rank_layers() if self.nested_ranks else contextlib.nullcontext():
            model = self.build_model(hp)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`build_model(hp)` must return a keras.Model. Received: "
                            f"{type(model).__name__}")
        return model

    def active_values(self, hp) -> dict:
        return {k: v for k, v in hp.values.items()
                if not k.startswith("tuner/") and hp.is_active(k)}

    def measure(self, model, values: dict, counts: dict | None = None) -> dict:
        layers = recurrent_layers(model)
        own = sum(layer.count_params() for layer in layers)
        ours = sum((counts or {}).get(id(layer), layer.count_params()) for layer in layers)
        dense = sum(layer.cell.dense_count_for(layer.cell.input_dim) for layer in layers)
        total = model.count_params() - own + ours
        return {"params": float(total), "recurrent_params": float(ours),
                "compression": (total - ours + dense) / total,
                "recurrent_compression": dense / ours if ours else 1.0}

    def describe(self, model) -> dict:
        """The resolved ranks and modes of the model's recurrent layers:
        unprefixed for one layer, ``<layer name>/<key>`` for several."""
        layers = recurrent_layers(model)
        described = [(layer.name, layer.describe_weights(layer.cell.input_dim))
                     for layer in layers]
        if len(described) == 1:
            return described[0][1]
        return {f"{name}/{key}": value for name, items in described for key, value in items.items()}


def with_defaults(hp: keras_tuner.HyperParameters) -> None:
    """Give every active hyperparameter of ``hp`` without a value its
    default, in place (a conditional one first declared while its condition
    was off has none), and drop the values of inactive ones. A name that
    several layers declare under conditions of their own (a shared rank) is
    active where any of them is: keras-tuner keeps one declaration per
    condition, one value per name."""
    for declared in hp.space:
        if not hp.is_active(declared.name):
            hp.values.pop(declared.name, None)
        elif declared.name not in hp.values:
            hp.values[declared.name] = declared.default


class TensorizedRNNHyperModel(OwnModelHyperModel):
    """A spec's model template (:meth:`SearchSpace.build_model`) as the
    search's hypermodel: the same engine as a user's ``build_model(hp)``.

    Example:

    >>> space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=20000)
    >>> hypermodel = TensorizedRNNHyperModel(space)
    >>> model = hypermodel.build(keras_tuner.HyperParameters())  # doctest: +SKIP
    """

    def __init__(self, space, name=None):
        super().__init__(space.build_model, name=name or "tensorized_rnn",
                         nested_ranks=space.nested_ranks)
        self.space = space


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class Perplexity(keras.metrics.Mean):
    """A language model's perplexity: ``exp`` of the mean sparse categorical
    cross-entropy over every step (``y_pred`` are logits unless
    ``from_logits=False``). Logged as ``perplexity`` / ``val_perplexity``
    (minimised as an objective)."""

    def __init__(self, name="perplexity", from_logits=True, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred,
                                                             from_logits=self.from_logits)
        return super().update_state(loss, sample_weight=sample_weight)

    def result(self):
        return keras.ops.exp(super().result())

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
