"""Every private API of Keras, keras-tuner and TensorFlow this package
touches, in one place, each with the reason, so an upgrade of one of them
breaks here and nowhere else. keras-tuner and TensorFlow are imported inside
the functions: ``import keras_tensor_rnn`` needs neither.

Keras:

- ``rnn``: the backend's scan over time (``keras.src.backend.rnn``). The public
  ``keras.layers.RNN`` runs a *cell* per step; we need the same loop over an
  already projected sequence, so that the input projection of all time steps
  is one call outside the loop.
- ``DropoutRNNCell``: the mixin whose masks ``keras.layers.RNN`` prepares
  before the loop (it checks ``isinstance`` against this exact class).

keras-tuner (functions below), plus one private hook we override rather
than call: ``Tuner._activate_all_conditions`` in ``search/tuner.py``, which
keras-tuner uses to discover a conditional space by building models; ours
declares its space instead, so no model is built outside a trial.

- ``trial_tracebacks``: keras-tuner prints every failed trial's traceback
  (its ``config.DEBUG``); a quiet search (``verbose=False``) turns it off
  while it runs.
- ``is_graph_model``: ``Functional``, the class of a functional model, is
  not exported; compression needs a graph of layers to read.
- ``untrack_variable``: a layer forgets a variable it replaced (quantization).
- ``input_layer_name``: the input layer a model's input tensor comes from
  (``KerasTensor._keras_history``): ``clone_model`` names a clone's inputs
  by their tensors, and a default-named input's tensor is ``keras_tensor_N``.
- ``call_arguments``: what a layer was called with in a functional graph
  (``Layer._inbound_nodes``, ``Node.arguments``, ``Function._nodes``): the public ``layer.input``
  gives the first tensor only, not the mask Keras passed along or an
  ``initial_state``.

TensorFlow: ``keep_tensor_lists`` and ``per_tensor_dense_weights`` below
(LiteRT conversion), and ``op_determinism`` (a search's deterministic ops,
restored when it returns).
"""

from __future__ import annotations

from keras.src.backend import rnn
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell


def call_arguments(model, layer) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of ``layer``'s one call in ``model``'s graph (the
    symbolic tensors it received: inputs, ``mask``, ``initial_state``). A
    layer keeps the calls of every graph it was used in; the model's own
    are those its graph lists (``Function._nodes``, keys from
    ``make_node_key``; a Sequential model's graph is ``_functional``).

    Raises:
        ValueError: the layer is called more than once in ``model``.
    """
    from keras.src.ops.function import make_node_key

    graph = getattr(model, "_functional", None) or model
    nodes = [node for index, node in enumerate(layer._inbound_nodes)
             if make_node_key(layer, index) in graph._nodes]
    if len(nodes) != 1:
        raise ValueError(f"Layer '{layer.name}' is called {len(nodes)} times in model "
                         f"'{model.name}'; only a layer called once can be read from the "
                         "model's graph.")
    return tuple(nodes[0].arguments.args), dict(nodes[0].arguments.kwargs)


def input_layer_name(tensor) -> str:
    """The name of the ``InputLayer`` that made the symbolic ``tensor``."""
    return tensor._keras_history.operation.name


def is_graph_model(model) -> bool:
    """Whether ``model`` is Sequential or functional, i.e. has a graph of
    layers (Keras exports no ``Functional`` class to test against)."""
    import keras
    from keras.src.models.functional import Functional

    return isinstance(model, (keras.Sequential, Functional))


def reseed_oracle(oracle, seed: int) -> None:
    """Seed a keras-tuner oracle exactly: keras-tuner stores ``seed or
    random.randint(1, 10000)``, so ``seed=0`` would give an unrepeatable
    search. Sets every random source the base oracles derive from the seed:
    ``_seed_state`` (all oracles), the Bayesian oracle's ``_random_state``
    (its initial points) and its Gaussian process (``_make_gpr``: restarts)."""
    import numpy as np

    oracle.seed = oracle._seed_state = seed
    if hasattr(oracle, "_random_state"):
        oracle._random_state = np.random.RandomState(seed)
    if hasattr(oracle, "_make_gpr"):
        oracle.gpr = oracle._make_gpr()


def is_duplicate(oracle, values: dict) -> bool:
    """Whether an oracle already tried ``values`` (``Oracle._duplicate``):
    a repaired point may land on one, and keras-tuner's own check of its
    proposals ran before the repair."""
    return oracle._duplicate(values)


def random_values(oracle) -> dict | None:
    """A random point of the oracle's space, or None when it is exhausted
    (``Oracle._random_values``): where a proposal has no new feasible
    neighbour, the search samples afresh as keras-tuner's random oracle does."""
    return oracle._random_values()


def checkpoint_path(tuner, trial_id: str) -> str:
    """keras-tuner's weights file of a trial (``Tuner._get_checkpoint_fname``):
    where its ``load_model`` and Hyperband's warm starts look, so our own
    training loop must write there."""
    return tuner._get_checkpoint_fname(trial_id)


def save_build_config(tuner, trial_id: str, model) -> None:
    """What keras-tuner's own ``Tuner.run_trial`` saves beside a trial's
    checkpoint (``_get_build_config_fname``, ``keras_tuner.src.utils.save_json``)
    so that ``load_model`` can rebuild the trial's model."""
    from keras_tuner.src import utils

    utils.save_json(tuner._get_build_config_fname(trial_id), model.get_build_config())


def objective_direction(name: str) -> str:
    """keras-tuner's inference of a metric's direction (``create_objective``,
    not exported): the rule its own tuners apply to ``objective="val_mae"``."""
    from keras_tuner.src.engine.objective import create_objective

    return create_objective(name).direction


def keep_tensor_lists(converter) -> None:
    """Keep TensorList ops for Flex in a LiteRT conversion: the public
    converter has no option for it (``_experimental_lower_tensor_list_ops``),
    and lowering them fails on a dynamic-length ``tf.while`` loop."""
    converter._experimental_lower_tensor_list_ops = False


def untrack_variable(layer, variable) -> None:
    """Stop ``layer`` tracking ``variable`` (saving, training, ``weights``):
    what Keras's quantized layers do to the float kernel they replace
    (``Layer._untrack_variable``); ours are held by the weight scheme, not
    by an attribute Keras could untrack on deletion."""
    layer._untrack_variable(variable)


def per_tensor_dense_weights(converter) -> None:
    """One quantization scale per fully-connected weight matrix in a LiteRT
    dynamic-range conversion, not one per output row: a factor such as
    low rank's ``(512, 2)`` then costs 1 KB instead of 7 KB (each scale and
    zero point is 12 bytes of metadata). The public converter has no option
    for it."""
    converter._experimental_disable_per_channel_quantization_for_dense_layers = True


def op_determinism(enabled: bool | None = None) -> bool:
    """Whether TensorFlow's op determinism is on; with ``enabled``, set it
    first. The public API can only turn it on
    (``tf.config.experimental.enable_op_determinism``); a search turns it
    off again when it returns, so the user's later unseeded training works.
    """
    from tensorflow.python.framework import config

    if enabled is not None:
        (config.enable_op_determinism if enabled else config.disable_op_determinism)()
    return config.is_op_determinism_enabled()


def trial_tracebacks(enabled: bool | None = None) -> bool:
    """Whether keras-tuner prints the traceback of each failed trial
    (``keras_tuner.src.config.DEBUG``, not exported); with ``enabled``, set
    it first. A search with ``verbose=False`` keeps them in MLflow only."""
    from keras_tuner.src import config

    if enabled is not None:
        config.DEBUG = enabled
    return config.DEBUG


__all__ = ["rnn", "DropoutRNNCell", "call_arguments", "is_graph_model", "reseed_oracle",
           "is_duplicate", "random_values", "checkpoint_path", "save_build_config",
           "objective_direction", "keep_tensor_lists", "per_tensor_dense_weights",
           "untrack_variable", "op_determinism", "trial_tracebacks"]
