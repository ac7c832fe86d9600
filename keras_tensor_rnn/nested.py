"""Nested ranks: train a tensorized layer once so that every rank up to its
own works, then take any lower rank out as a real, smaller layer.

A rank-``r`` factorization is the rank-``R`` one with slices dropped (TT,
MPS and TR bonds, CP components, Tucker and block-term core dimensions:
:attr:`~keras_tensor_rnn.factorizations.base.FactorizedMatrix.rank_axes`).
A layer made with ``nested_ranks=True`` trains every batch at two ranks:
the first half of its rows at the largest rank, the rest at a rank ``r``
drawn uniformly from 1 to it for that step, the factors' slices beyond ``r``
zeroed by a mask (the shapes stay the same, so ``jit_compile`` and XLA
trace the step once). So every step trains the largest rank, as plain
training does, and one lower rank (the largest and a drawn width of the
"sandwich rule" of slimmable networks, on halves of one batch rather than
on the whole batch twice; FjORD's ordered dropout and DyLoRA draw nested
ranks the same way). Each half's products run on its own rows (a step
takes 1.1 to 1.25 times a plain one; docs/results.md §13). Out
of training it computes at :attr:`NestedRankLayer.inference_rank` (its own
rank unless set). :meth:`NestedRankLayer.truncated` and :func:`truncate`
then give the rank-``r`` layer or model, whose outputs equal the masked
ones and whose ``count_params`` is that rank's.

Example:

>>> layer = ktr.layers.TensorizedLSTM(32, decomposition="tt", rank=8, nested_ranks=True)
>>> model = keras.Sequential([keras.Input((20, 4)), layer, keras.layers.Dense(10)])
>>> model.compile("adam", "mse"); model.fit(x, y)          # doctest: +SKIP
>>> small = ktr.truncate(model, 2)   # every nested layer at rank 2  # doctest: +SKIP
"""

from __future__ import annotations

import keras
from keras import ops

from keras_tensor_rnn import checks

# The weights a nested layer adds (its step counter and inference rank, one
# int each): counted, as Keras counts every weight, by `count_params_for`.
STATE_WEIGHTS = 2


class NotNestedError(AttributeError, ValueError):
    """A nested-rank attribute asked of a layer without nested ranks: an
    ``AttributeError`` (so ``hasattr(layer, "inference_rank")`` is False)
    and a ``ValueError``, as the other bad calls of this module."""


class NestedRankLayer:
    """The nested-rank behaviour of the tensorized layers (a mixin of
    :class:`~keras_tensor_rnn.layers.RecurrentLayer` subclasses whose cell
    holds a :class:`~keras_tensor_rnn.weight_schemes.TensorizedWeights`).

    With ``nested_ranks=True`` the built layer owns three pieces of
    non-trainable state: a step counter and the inference rank (two int
    weights, :data:`STATE_WEIGHTS`, in ``count_params``), and a seed
    generator; a truncated layer has none of them.
    """

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        if not self.cell.weight_scheme.nested_ranks:
            return
        top = self.cell.weight_scheme.largest_slot_rank
        self.nested_step = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                           trainable=False, name="nested_step")
        self.nested_inference_rank = self.add_weight(
            shape=(), dtype="int32", initializer=keras.initializers.Constant(top),
            trainable=False, name="nested_inference_rank")
        self.nested_seed = keras.random.SeedGenerator(self.cell.seed, name="nested_seed")

    def count_params_for(self, input_dim: int) -> int:
        nested = self.cell.weight_scheme.nested_ranks
        return super().count_params_for(input_dim) + (STATE_WEIGHTS if nested else 0)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        scheme = self.cell.weight_scheme
        if not scheme.nested_ranks:
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        scheme.active_rank = (self._sampled_rank() if training
                              else ops.convert_to_tensor(self.nested_inference_rank))
        try:
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        finally:
            scheme.active_rank = None

    def _sampled_rank(self):
        """This training step's ranks, one per group of rows (the first
        half at the largest rank, the rest at a rank drawn uniformly from 1
        to it; see ``row_groups``), and
        the step counted."""
        top = self.cell.weight_scheme.largest_slot_rank
        drawn = keras.random.randint((), 1, top + 1, seed=self.nested_seed, dtype="int32")
        self.nested_step.assign(ops.add(self.nested_step, 1))
        return (ops.convert_to_tensor(top, dtype="int32"), drawn)

    @property
    def inference_rank(self) -> int:
        """The rank a nested layer computes at out of training (its own
        largest rank unless set); set it to score a lower rank without
        truncating, or to None for its own rank again."""
        self._check_nested()
        return int(ops.convert_to_numpy(self.nested_inference_rank))

    @inference_rank.setter
    def inference_rank(self, rank: int | None) -> None:
        self._check_nested()
        top = self.cell.weight_scheme.largest_slot_rank
        rank = top if rank is None else rank
        if not checks.is_int(rank) or not 1 <= rank <= top:
            raise ValueError(f"`inference_rank` of layer '{self.name}' is an int from 1 to its "
                             f"largest rank {top}, or None for that rank. Received: {rank!r}")
        self.nested_inference_rank.assign(rank)

    def _check_nested(self):
        if not self.cell.weight_scheme.nested_ranks or not self.built:
            raise NotNestedError(f"Layer '{self.name}' has no inference rank: only a built layer "
                                 "made with `nested_ranks=True` has one.")

    def truncated(self, rank, recurrent_rank=None):
        """This layer at a lower rank: a new, built layer of the same class
        and configuration whose factors are this one's leading slices (its
        outputs equal this layer's at ``inference_rank = rank``), with the
        parameter count of that rank. Works on any built tensorized layer,
        trained with nested ranks or not.

        Args:
            rank: an int (each rank slot clipped to it) or one int per slot
                of the input side's matrix, each at most the layer's own.
            recurrent_rank: the recurrent side's (default: ``rank``).

        Returns:
            The truncated layer (``nested_ranks=False``), named as this one.
        """
        if not self.built:
            raise ValueError(f"Layer '{self.name}' is not built, so it has no trained factors "
                             "to truncate: call it on data (or build it) first.")
        if self.cell.quantization_mode is not None:
            raise ValueError(f"Layer '{self.name}' is quantized ({self.cell.quantization_mode}): "
                             "truncate the float layer, then quantize the truncated model.")
        scheme = self.cell.weight_scheme
        layer, arguments = self._truncated_config(rank, recurrent_rank)
        batch = self.states[0].shape[0] if self.stateful else None
        layer.build((batch, None, self.cell.input_dim))
        layer.cell.weight_scheme.load_truncated(scheme, arguments)
        if self.cell.use_bias:
            # A copy: on JAX an assigned variable would share (and a donating
            # step delete) the other's buffer.
            layer.cell.bias.assign(ops.convert_to_numpy(self.cell.bias))
        return layer

    def count_params_at(self, rank, recurrent_rank=None) -> int:
        """``self.truncated(rank, recurrent_rank).count_params()``, counted
        from the configuration: nothing is built or copied.

        Example:

        >>> layer.count_params_at(2) == layer.truncated(2).count_params()  # doctest: +SKIP
        True
        """
        if not self.built:
            raise ValueError(f"Layer '{self.name}' is not built: its ranks per slot follow "
                             "from its input width, so build it (or call it on data) first.")
        return self._truncated_config(rank, recurrent_rank)[0].count_params_for(
            self.cell.input_dim)

    def _truncated_config(self, rank, recurrent_rank) -> tuple:
        """``(unbuilt layer, its rank arguments)``: this layer's class and
        configuration at ``rank``, without nested ranks."""
        try:
            arguments = self.cell.weight_scheme.truncated_ranks(rank, recurrent_rank)
        except ValueError as error:
            raise ValueError(f"Layer '{self.name}': {error}") from None
        config = {**self.get_config(), **arguments, "nested_ranks": False}
        return type(self).from_config(config), arguments


def nested_layers(model) -> list:
    """The nested-rank layers of ``model`` (also inside ``Bidirectional``
    and nested models)."""
    from keras_tensor_rnn.search.tuned_layers import recurrent_layers

    return [layer for layer in recurrent_layers(model)
            if isinstance(layer, NestedRankLayer) and layer.cell.weight_scheme.nested_ranks]


def nested_submodels(model) -> list[str]:
    """The names of ``model``'s sub-models that hold nested-rank layers
    (:func:`truncate` rebuilds only the model's own)."""
    return [layer.name for layer in model.layers
            if isinstance(layer, keras.Model) and nested_layers(layer)]


def set_inference_ranks(model, ranks) -> None:
    """Set the ``inference_rank`` of ``model``'s nested-rank layers, those
    of its sub-models too: an int for every one, or ``{layer name: rank}``
    as :func:`truncate` takes them (each clipped to its layer's largest
    rank; a layer not named is set to its largest rank), or None for every
    one's largest. The model then computes what ``truncate(model, ranks)``
    would (:func:`truncate` takes the model's own layers; a sub-model's,
    truncate the sub-model), with no new model and, compiled, no new trace."""
    found, ranks = _named_nested(model, ranks, "ktr.nested.set_inference_ranks", inside=True)
    for name, layer in found.items():
        _set_inference_rank(layer, ranks.get(name) if isinstance(ranks, dict) else ranks)


def _set_inference_rank(layer, rank) -> None:
    """``layer``'s (both directions of a ``Bidirectional``) inference rank:
    ``rank`` clipped to its largest, or that largest for None."""
    inner = ([layer.forward_layer, layer.backward_layer]
             if isinstance(layer, keras.layers.Bidirectional) else [layer])
    for each in inner:
        top = each.cell.weight_scheme.largest_slot_rank
        each.inference_rank = top if rank is None else min(int(rank), top)


def _named_nested(model, ranks, call: str, inside: bool = False) -> tuple[dict, object]:
    """``({name: layer})`` of ``model``'s nested-rank layers (``inside``:
    its sub-models' too), and ``ranks`` with the names of wrapped layers
    resolved to their ``Bidirectional`` (``call``: the public function
    asked, for the errors)."""
    if not isinstance(model, keras.Model):
        where = (" For one layer, `layer.truncated(rank)` or `layer.inference_rank = rank`."
                 if isinstance(model, NestedRankLayer) else "")
        raise TypeError(f"`model` must be a Keras model with nested-rank layers. Received: "
                        f"{type(model).__name__}.{where}")
    _check_ranks(ranks)
    found = _outer_nested(model, inside)
    if not found:
        raise ValueError(f"Model '{model.name}' has no layer of its own made with "
                         f"`nested_ranks=True`.{_where_nested(model, call)}")
    unbuilt = sorted(name for name, layer in found.items() if not layer.built)
    if unbuilt:
        raise ValueError(f"Model '{model.name}' has nested-rank layers that are not built "
                         f"({unbuilt}), so they have no trained factors: give the model a "
                         "`keras.Input` (or call it on data) and train it first.")
    # A Bidirectional is also named by the layer it wraps, and by its
    # directions' names (``forward_<name>``, ``backward_<name>``).
    aliases = {alias: name for name, layer in found.items()
               if isinstance(layer, keras.layers.Bidirectional)
               for alias in (layer.forward_layer.name, layer.backward_layer.name,
                             layer.forward_layer.name.removeprefix("forward_"))}
    if isinstance(ranks, dict):
        resolved = {}
        for name, rank in ranks.items():
            key = aliases.get(name, name)
            if key in resolved and resolved[key] != rank:
                raise ValueError(f"`ranks` gives layer '{key}' two ranks under two of its names "
                                 f"({resolved[key]} and {rank}): name it once.")
            resolved[key] = rank
        ranks = resolved
        unknown = sorted(set(ranks) - set(found))
        if unknown:
            wrapped = (f" (a Bidirectional also by the names of the layer it wraps and of its "
                       f"directions: {sorted(aliases)})" if aliases else "")
            raise ValueError(f"`ranks` names {unknown}, not nested-rank layers of model "
                             f"'{model.name}'. Its nested-rank layers: {sorted(found)}{wrapped}.")
    return found, ranks


def _outer_nested(model, inside: bool) -> dict:
    """``{name: layer}`` of ``model``'s own nested-rank layers (a
    ``Bidirectional`` by its own name), and with ``inside`` those of its
    sub-models, recursively."""
    found = {}
    for layer in model.layers:
        if _nested_inside(layer):
            held = {layer.name: layer}
        elif inside and isinstance(layer, keras.Model):
            held = _outer_nested(layer, True)
        else:
            continue
        for name in set(held) & set(found):
            raise ValueError(f"Model '{model.name}' has two nested-rank layers named '{name}' "
                             "(one in a sub-model): give them names of their own to set "
                             "their ranks.")
        found.update(held)
    return found


def _where_nested(model, call: str) -> str:
    """Where ``model``'s nested-rank layers are, for the error that it has
    none of its own: in a sub-model (``call`` it on that), or nowhere
    (already truncated?)."""
    from keras_tensor_rnn.search.tuned_layers import recurrent_layers

    inner = nested_submodels(model)
    if inner:
        return (f" Its sub-model(s) {inner} hold some: call `{call}` on a sub-model itself "
                f"(`{call}(model.get_layer({inner[0]!r}), ranks)`).")
    if any(isinstance(layer, NestedRankLayer) for layer in recurrent_layers(model)):
        return (" Its tensorized layers have no nested ranks (a model taken out by "
                "`ktr.truncate` has none: truncate the nested original again for another rank; "
                "`layer.truncated(rank)` takes any built tensorized layer to a lower rank).")
    return " (`layer.truncated(rank)` takes any built tensorized layer to a lower rank.)"


def truncate(model, ranks) -> keras.Model:
    """``model`` with its nested-rank layers at lower ranks: a new model
    with real, smaller layers (every other layer a copy with its weights).

    Args:
        model: a built functional or Sequential model.
        ranks: an int for every nested layer, or ``{layer name: rank}``
            (a ``Bidirectional``'s name, that of the layer it wraps, or
            either direction's, covers both directions; layers not named stay nested and
            compute at their largest rank, as :func:`set_inference_ranks`
            sets them). Each rank is clipped to its layer's largest, as
            :func:`set_inference_ranks` clips it, so one int truncates
            layers of different largest ranks.

    Returns:
        The truncated model, outputs equal to ``model``'s with each layer's
        ``inference_rank`` at its rank; compiled as ``model`` was (its loss
        and metrics, a fresh optimizer of the same configuration) when
        ``model`` is compiled.

    Example:

    >>> small = ktr.truncate(model, {"rnn0": 2, "rnn1": 4})   # doctest: +SKIP
    >>> small.count_params() < model.count_params()            # doctest: +SKIP
    True
    """
    from keras_tensor_rnn import _private_api
    from keras_tensor_rnn.compression.replaced import clone_replacing

    if ranks is None:
        raise ValueError("`ranks` is an int (every nested layer) or a dict {layer name: int}: "
                         "the ranks to take out. Received: ranks=None (to copy a model, use "
                         "`keras.models.clone_model`).")
    found, ranks = _named_nested(model, ranks, "ktr.truncate", inside=True)
    own = _outer_nested(model, False)
    if not own:  # only sub-models hold some: the error says to truncate those
        _named_nested(model, ranks, "ktr.truncate")
    beyond = [name for name in found if name not in own
              and (not isinstance(ranks, dict) or name in ranks)]
    if beyond:
        holders = nested_submodels(model)
        raise ValueError(
            f"`ktr.truncate` rebuilds the model's own layers; the nested-rank layer(s) {beyond} "
            f"of sub-model(s) {holders} would keep their size. Truncate a sub-model itself "
            f"(`ktr.truncate(model.get_layer({holders[0]!r}), ranks)`), or name only the "
            f"model's own nested-rank layers {sorted(own)} in `ranks`.")
    found = own
    if not _private_api.is_graph_model(model):
        raise ValueError(
            f"`ktr.truncate` rebuilds a model from its graph: it takes Sequential and functional "
            f"models, and '{model.name}' is a subclassed keras.Model ({type(model).__name__}). "
            "Set its layers' ranks in place with `ktr.nested.set_inference_ranks(model, ranks)`, "
            "or truncate each layer with `layer.truncated(rank)`.")
    taken = {}  # id(outer) -> the truncated layers' weights, in the clone's order

    def replacement(layer, outer):
        rank = ranks.get(outer.name) if isinstance(ranks, dict) else ranks
        if outer.name not in found or rank is None:
            return None
        new = layer.truncated(min(int(rank), layer.cell.weight_scheme.largest_slot_rank))
        taken[id(outer)] = taken.get(id(outer), []) + new.get_weights()
        return new

    truncated, clones = clone_replacing(model, replacement)
    # Kept layers get their weights; truncated ones theirs again once built
    # (a Bidirectional rebuilds its forward layer from the config).
    for layer in model.layers:
        if id(layer) in clones:  # not an input layer
            clones[id(layer)].set_weights(taken.get(id(layer)) or layer.get_weights())
    # Layers not named were copied with the model's inference ranks: set
    # them to their own, as set_inference_ranks does.
    for name in found:
        if isinstance(ranks, dict) and ranks.get(name) is None:
            _set_inference_rank(truncated.get_layer(name), None)
    return truncated


def truncated_counts(model, ranks) -> dict[int, int]:
    """The parameter counts ``truncate(model, ranks)`` gives its truncated
    layers, counted without building it: ``{id(layer): count}`` for each of
    ``model``'s nested-rank layers that ``ranks`` names (each direction of
    a ``Bidirectional`` its own; a sub-model's layers too, each at the count
    of ``layer.truncated(rank)``). Every other layer keeps its count, so the
    truncated model has ``model.count_params() - sum(layer.count_params()
    - count)`` over these.

    Args:
        model: a built model with nested-rank layers (as :func:`truncate`).
        ranks: as :func:`truncate` takes them.
    """
    if ranks is None:
        raise ValueError("`ranks` is an int (every nested layer) or a dict {layer name: int}: "
                         "the ranks to count. Received: ranks=None")
    found, ranks = _named_nested(model, ranks, "ktr.nested.truncated_counts", inside=True)
    counts = {}
    for name, layer in found.items():
        rank = ranks.get(name) if isinstance(ranks, dict) else ranks
        if rank is None:  # not named: it stays as it is
            continue
        inner = ([layer.forward_layer, layer.backward_layer]
                 if isinstance(layer, keras.layers.Bidirectional) else [layer])
        for each in inner:
            top = each.cell.weight_scheme.largest_slot_rank
            counts[id(each)] = each.count_params_at(min(int(rank), top))
    return counts


def _check_ranks(ranks) -> None:
    """A ``ValueError`` unless ``ranks`` is None, an int, or ``{name: int}``."""
    values = list(ranks.values()) if isinstance(ranks, dict) else [ranks]
    if ranks is not None and not all(checks.is_int(v) for v in values):
        raise ValueError("`ranks` is an int (every nested layer) or a dict {layer name: int}. "
                         f"Received: ranks={ranks!r}")


def _nested_inside(layer) -> bool:
    inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
    return isinstance(inner, NestedRankLayer) and inner.cell.weight_scheme.nested_ranks


__all__ = ["NestedRankLayer", "NotNestedError", "nested_layers", "truncate", "set_inference_ranks",
           "truncated_counts", "nested_submodels", "STATE_WEIGHTS"]
