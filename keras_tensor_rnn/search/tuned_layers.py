"""Recurrent layers whose weights a search chooses: :func:`recurrent`, for a
keras-tuner ``build_model(hp)``.

Both of the search's model sources build their recurrent layers here: a
user's ``build_model(hp)`` and a spec's model template
(:meth:`~keras_tensor_rnn.search.space.SearchSpace.build_model`). Each layer's
choices are hyperparameters (its decomposition, rank, mode depth ``d``,
units and sharing fraction), named ``<layer>/<role>`` unless ``hp_names``
names them; layers that give a role the same name share one value (a
spec's template shares ``decomposition``, ``units``, ``d`` and, by default,
``rank`` across its layers).

Every call is recorded with the ``hp`` it was made with
(:func:`declared_layers`), so a budget knows which hyperparameter plays
which role in each layer without parsing names.

Example:

>>> def build_model(hp):
...     inputs = keras.Input((40, 8))
...     x = recurrent(hp, "lstm", units=[32, 64], return_sequences=True)(inputs)
...     x = recurrent(hp, "gru", units=[16, 32], hp_names={"decomposition": "rnn0/decomposition"})(x)
...     ...
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import weakref

from keras_tensor_rnn import checks, weight_schemes
from keras_tensor_rnn.layer_walk import computing_layers
from keras_tensor_rnn.layers import RecurrentLayer, layer_class
from keras_tensor_rnn.search.budget import SHARED_STEP

HP_ROLES = ("decomposition", "d", "rank", "shared", "units")


def valid_decompositions() -> list[str]:
    """Every name a search space can choose: the decompositions of every
    registered weight scheme."""
    return weight_schemes.decompositions()


def tuned(decomposition: str) -> tuple[str, ...]:
    """The size arguments the search tunes for ``decomposition``."""
    return weight_schemes.for_decomposition(decomposition).size_arguments(decomposition)


@dataclasses.dataclass(frozen=True)
class DeclaredLayer:
    """One :func:`recurrent` call of a build: the layer's name and the name
    of the hyperparameter of each role it declared (``{role: name}``)."""

    name: str
    hp_names: dict


# The calls of the current build of each hp object (weakly keyed: an hp
# that is garbage-collected takes its record with it).
_BUILDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# Set while a nested-rank search builds a trial's model: every layer with a
# rank is made with ``nested_ranks=True``.
_NESTED_RANKS = contextvars.ContextVar("ktr_nested_ranks", default=False)


@contextlib.contextmanager
def nested_rank_layers():
    """Within: :func:`recurrent` makes its layers with a rank trainable at
    every lower rank (``nested_ranks=True``, see :mod:`keras_tensor_rnn.nested`)."""
    token = _NESTED_RANKS.set(True)
    try:
        yield
    finally:
        _NESTED_RANKS.reset(token)


def start_build(hp) -> None:
    """Forget the layers recorded for ``hp`` (a new build names ``rnn0`` again)."""
    _BUILDS[hp] = []


def declared_layers(hp) -> list[DeclaredLayer]:
    """The :func:`recurrent` calls made with ``hp`` since :func:`start_build`."""
    return list(_BUILDS.get(hp, []))


def recurrent(hp, cell: str = "lstm", *, units=(32, 64, 128), decompositions=("tt", "cp", "dense"),
              rank=(1, 16), d=(2, 3), shared=(0.0, 1.0), recurrent_decomposition=None,
              name: str | None = None, hp_names: dict | None = None,
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
        recurrent_decomposition: a fixed decomposition of the recurrent
            kernel for the choices with a rank (default: the same as the
            input kernel's).
        name: the layer's name (default ``rnn0``, ``rnn1``, ... in the order
            of the calls in one build).
        hp_names: ``{role: hyperparameter name}`` for any of ``decomposition``,
            ``d``, ``rank``, ``shared``, ``units`` (default ``<name>/<role>``).
            Layers that give a role the same name share its value; they must
            declare it with the same choices. A ``d``, ``rank`` or ``shared``
            shared by layers with different decomposition choices is active
            in every trial (each layer uses it where its decomposition has it).
        **layer_kwargs: any other argument of the layer
            (``return_sequences``, ``dropout``, ...).

    Returns:
        A :class:`~keras_tensor_rnn.layers.TensorizedLSTM` (GRU, SimpleRNN)
        or its restricted counterpart, unbuilt.
    """
    calls = _BUILDS.setdefault(hp, [])
    name = f"rnn{len(calls)}" if name is None else name
    names = _hp_names(name, hp_names)
    choices = _checked_choices(name, decompositions, units)
    _check_ranges(name, rank, d, shared)
    _check_layer_arguments(name, cell, layer_kwargs)
    decomposition = _declare(hp, "Choice", names["decomposition"], values=choices)
    chosen, declared = {}, ["decomposition"]
    for role, declaration in (("d", {"values": [int(v) for v in d]}),
                              ("rank", {"min_value": int(rank[0]), "max_value": int(rank[1])}),
                              ("shared", {"min_value": float(shared[0]),
                                          "max_value": float(shared[1]), "step": SHARED_STEP})):
        having = [c for c in choices if role in tuned(c)]
        if not having:
            continue
        kind = {"d": "Choice", "rank": "Int", "shared": "Float"}[role]
        if _declared_under_other_conditions(hp, names[role], names["decomposition"]):
            _drop_conditions(hp, names[role])
            value = _declare(hp, kind, names[role], **declaration)
        else:
            with hp.conditional_scope(names["decomposition"], having):
                value = _declare(hp, kind, names[role], **declaration)
        declared.append(role)
        if decomposition in having:
            chosen[role] = value
    width = int(units) if isinstance(units, int) else _declare(
        hp, "Choice", names["units"], values=[int(u) for u in units])
    declared += [] if isinstance(units, int) else ["units"]
    if recurrent_decomposition is not None and "rank" in chosen:
        chosen["recurrent_decomposition"] = recurrent_decomposition
    if _NESTED_RANKS.get() and "rank" in chosen:
        layer_kwargs = {**layer_kwargs, "nested_ranks": True}
    calls.append(DeclaredLayer(name, {role: names[role] for role in declared}))
    scheme = weight_schemes.for_decomposition(decomposition)
    return layer_class(cell, scheme.name)(width, name=name, **scheme.arguments_for(
        decomposition, chosen), **layer_kwargs)


def _hp_names(name: str, hp_names: dict | None) -> dict:
    """Every role's hyperparameter name for layer ``name``."""
    given = hp_names or {}
    if not isinstance(given, dict) or sorted(set(given) - set(HP_ROLES)) or not all(
            isinstance(v, str) and v for v in given.values()):
        raise ValueError(f"`hp_names` of layer '{name}' is a dict that maps roles "
                         f"({', '.join(HP_ROLES)}) to non-empty hyperparameter names. "
                         f"Received: hp_names={hp_names!r}")
    names = {role: given.get(role, f"{name}/{role}") for role in HP_ROLES}
    shared = [r for r in HP_ROLES if list(names.values()).count(names[r]) > 1]
    if shared:
        raise ValueError(f"`hp_names` of layer '{name}' gives the roles {shared} one name "
                         f"({names[shared[0]]!r}): each role needs a hyperparameter of its own.")
    return names


def _checked_choices(name: str, decompositions, units) -> list[str]:
    decompositions = [decompositions] if isinstance(decompositions, str) else decompositions
    choices = [str(c).lower() for c in decompositions]
    if not choices or (not isinstance(units, int) and not list(units)):
        raise ValueError(f"`recurrent(...)` for layer '{name}' needs at least one choice of "
                         f"`decompositions` and of `units`. Received: "
                         f"decompositions={decompositions!r}, units={units!r}")
    listed = [units] if checks.is_int(units) else list(units)
    if not all(checks.is_int(u) and u >= 1 for u in listed):
        raise ValueError(f"`units` of layer '{name}' is a positive int or a list of positive "
                         f"ints (the choices). Received: units={units!r}")
    valid = valid_decompositions()
    for choice in choices:
        if choice not in valid:
            raise checks.unknown("decomposition", choice, valid, where=f" for layer '{name}'")
    return choices


def _check_layer_arguments(name: str, cell: str, layer_kwargs: dict) -> None:
    """``recurrent``'s other arguments are the layer's: a name neither takes
    is refused in ``recurrent``'s words, with the layer's argument closest
    to it (an argument the search chooses, given to the layer, too)."""
    import inspect

    chosen = {"decomposition": "decompositions", "unit": "units", "ranks": "rank"}
    taken = set(inspect.signature(layer_class(cell, "tensorized").__init__).parameters) | set(
        inspect.signature(layer_class(cell, "restricted").__init__).parameters)
    taken |= {"dtype", "trainable"}  # Keras's base layer arguments
    for key in layer_kwargs:
        if key in chosen:
            raise ValueError(f"`recurrent(...)` for layer '{name}' chooses the {key} itself: "
                             f"give its choices as `{chosen[key]}=`. Received: {key}=...")
        if key not in taken:
            own = set(inspect.signature(recurrent).parameters) - {"hp", "layer_kwargs"}
            raise checks.unknown("argument", key, sorted(own | taken - {"self", "kwargs"}),
                                 where=f" of `recurrent(...)` for layer '{name}'",
                                 noun="arguments")


def _check_ranges(name: str, rank, d, shared) -> None:
    """``rank`` and ``shared`` as ``(min, max)`` pairs, ``d`` as choices, in
    the caller's words (keras-tuner's own errors name its classes)."""
    import numbers

    def pair(value, valid):
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
                and valid(*value))

    if not pair(rank, lambda low, high: checks.is_int(low) and checks.is_int(high)
                and 1 <= low <= high):
        raise ValueError(f"`rank` of layer '{name}' must be (min, max) with 1 <= min <= max "
                         f"(ints), e.g. (1, 16). Received: rank={rank!r}")
    if not pair(shared, lambda low, high: 0 <= low <= high <= 1):
        raise ValueError(f"`shared` of layer '{name}' must be (min, max) with 0 <= min <= max "
                         f"<= 1, e.g. (0.0, 1.0). Received: shared={shared!r}")
    if (isinstance(d, (str, bytes)) or not isinstance(d, (list, tuple)) or not d
            or not all(checks.is_int(v) and v >= 1 for v in d)):
        raise ValueError(f"`d` of layer '{name}' is a non-empty list of mode depths (ints >= 1), "
                         f"e.g. [2, 3]. Received: d={d!r}")


def _declared_under_other_conditions(hp, name: str, parent: str) -> bool:
    """Whether ``name`` was declared before, but not under this layer's
    decomposition ``parent``: one hyperparameter shared by layers with
    different decomposition choices (``hp_names`` giving two layers one
    rank). A rebuild, or layers that share their decomposition too (a
    spec's template), declared it under ``parent``: one condition."""
    existing = _declarations(hp, name)
    return bool(existing) and not any(
        parent in {c.get_config()["name"] for c in declared.conditions} for declared in existing)


def _drop_conditions(hp, name: str) -> None:
    """Make ``name`` unconditional, active in every trial. keras-tuner keeps
    one value per name but one declaration per condition, and drops the
    value where any declaration is inactive: a name shared under different
    conditions must be one declaration without any."""
    existing = _declarations(hp, name)
    for declared in existing:
        declared.conditions = []
    hp.values.setdefault(name, existing[0].default)  # inactive until now: no value yet


def _declarations(hp, name: str) -> list:
    """Every declaration of ``name`` in ``hp`` (one per condition)."""
    return [declared for declared in hp.space if declared.name == name]


def _declare(hp, kind: str, name: str, **declaration):
    """``hp.<kind>(name, **declaration)``; a name another layer declared
    already must have been declared with the same choices (keras-tuner
    would otherwise return the other layer's value silently)."""
    for existing in hp.space:
        if existing.name == name:
            config = existing.get_config()
            if type(existing).__name__ != kind or any(
                    config.get(k) != v for k, v in declaration.items()):
                shown = {k: config.get(k) for k in declaration}
                raise ValueError(
                    f"Layers that share the hyperparameter '{name}' must declare it alike: "
                    f"{kind} {declaration} here, {type(existing).__name__} {shown} before.")
            break
    return getattr(hp, kind)(name, **declaration)


def recurrent_layers(model) -> list[RecurrentLayer]:
    """The tensorized and restricted layers of a model (also inside
    ``Bidirectional``, other wrappers and nested models)."""
    return [layer for layer in computing_layers(model.layers) if isinstance(layer, RecurrentLayer)]


__all__ = ["recurrent", "recurrent_layers", "declared_layers", "start_build", "tuned",
           "nested_rank_layers",
           "valid_decompositions", "DeclaredLayer", "HP_ROLES"]
