"""The codebase's shape: explicit layer classes with Keras's signatures, the
shared layer and factorization checks for every class and decomposition,
the layering of DESIGN.md, private APIs in one module, old files loading."""

import ast
import inspect
import re
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from layer_testing import (
    assert_config_has_every_argument,
    run_factorization_test,
    run_layer_test,
)

import keras_tensor_rnn as ktr
from keras_tensor_rnn import cells, factorizations, weight_schemes
from keras_tensor_rnn.layers import LAYERS

PACKAGE = Path(ktr.__file__).parent
KERAS_COUNTERPART = {"LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU,
                     "SimpleRNN": keras.layers.SimpleRNN}
CELLS = [cells.TensorizedLSTMCell, cells.TensorizedGRUCell, cells.TensorizedSimpleRNNCell,
         cells.RestrictedLSTMCell, cells.RestrictedGRUCell, cells.RestrictedSimpleRNNCell]


def keras_counterpart(cls):
    return KERAS_COUNTERPART[cls.__name__.replace("Tensorized", "").replace("Restricted", "")]


# ---------------------------------------------------------- the signatures


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_signature_lists_every_keras_argument_with_its_default(cls):
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(keras_counterpart(cls).__init__).parameters
    for name, param in theirs.items():
        if name in ("self", "kwargs"):
            continue
        assert name in ours, f"{cls.__name__} lacks Keras's `{name}`"
        assert ours[name].default == param.default, (name, ours[name].default, param.default)
    scheme = weight_schemes.get(cls.scheme_name)
    assert set(scheme.arguments) <= set(ours), set(scheme.arguments) - set(ours)
    assert inspect.getsource(cls).startswith("@keras.saving.register_keras_serializable")


@pytest.mark.parametrize("cls", [*LAYERS, *CELLS], ids=lambda c: c.__name__)
def test_every_constructor_argument_is_in_get_config(cls):
    """The meta-test: a new constructor argument missing from get_config fails here."""
    obj = cls(32)
    assert_config_has_every_argument(obj)
    assert inspect.getsource(cls)
    assert cls.__doc__ and "Example" in cls.__doc__ and "Args" in cls.__doc__


def test_the_meta_test_catches_a_missing_argument():
    class Leaky(ktr.layers.RestrictedGRU):
        def __init__(self, units, extra=1, **kwargs):
            super().__init__(units, **kwargs)

    with pytest.raises(AssertionError, match="lacks.*extra"):
        assert_config_has_every_argument(Leaky(4))


def test_layer_attributes_are_properties():
    layer = ktr.layers.RestrictedLSTM(8, shared=0.25)
    assert layer.decomposition == "restricted" and layer.shared == 0.25
    assert layer.recurrent_activation is keras.activations.sigmoid and layer.unit_forget_bias
    tt = ktr.layers.TensorizedGRU(8, decomposition="CP", rank=2, d=2, reset_after=False)
    assert tt.decomposition == "cp" and tt.rank == 2 and tt.reset_after is False
    assert tt.weight_scheme.name == "tensorized"
    assert not hasattr(ktr.layers.TensorizedSimpleRNN(4, rank=2, d=2), "recurrent_activation")


# ------------------------------------------------------ the shared checks

LAYER_CASES = [
    (ktr.layers.TensorizedLSTM, {"units": 6, "decomposition": "tt", "rank": 3, "d": 2}),
    (ktr.layers.TensorizedLSTM, {"units": 9, "decomposition": "bt", "rank": 2, "d": 2,
                                 "gates": "separate", "decomposition_options": {"blocks": 2},
                                 "recurrent_decomposition": "dense", "return_sequences": True,
                                 "go_backwards": True, "unit_forget_bias": False}),
    (ktr.layers.TensorizedGRU, {"units": 6, "decomposition": "cp", "rank": 4, "d": 2,
                                "reset_after": False, "dropout": 0.1, "recurrent_dropout": 0.1}),
    (ktr.layers.TensorizedGRU, {"units": 8, "decomposition": "mps", "rank": 0.5, "d": 2,
                                "implementation": "reconstructed"}),
    (ktr.layers.TensorizedSimpleRNN, {"units": 6, "decomposition": "tr", "rank": 2, "d": 2,
                                      "hidden_modes": [2, 3]}),
    (ktr.layers.TensorizedSimpleRNN, {"units": 5, "decomposition": "tucker", "rank": 2,
                                      "in_modes": [3, 4], "hidden_modes": [1, 5]}),
    (ktr.layers.RestrictedLSTM, {"units": 6, "shared": 0.5}),
    (ktr.layers.RestrictedGRU, {"units": 6, "shared": 0.25, "reset_after": False,
                                "return_sequences": True}),
    (ktr.layers.RestrictedSimpleRNN, {"units": 6, "shared": 1.0}),
]


@pytest.mark.parametrize("cls, kwargs", LAYER_CASES,
                         ids=[f"{c.__name__}-{k.get('decomposition', k.get('shared'))}"
                              for c, k in LAYER_CASES])
def test_layer(cls, kwargs, tmp_path):
    run_layer_test(cls, kwargs, tmp_path)


@pytest.mark.parametrize("shape, rank, kwargs", [((64, 48), 2, {"d": 3}),
                                                 ((30, 7), 2, {"d": 2}),      # padded modes
                                                 ((12, 20), "full", {"in_modes": [3, 4],
                                                                     "out_modes": [4, 5]})])
@pytest.mark.parametrize("name", factorizations.names())
def test_factorization(name, shape, rank, kwargs):
    run_factorization_test(name, shape, rank, np.random.default_rng(3), **kwargs)


def test_one_walk_finds_the_layers_inside_wrappers_and_sub_models():
    """Every search for a kind of layer (stateful, tensorized, Keras-quantized)
    goes through one walk: a Bidirectional's two directions, a wrapped
    layer, a sub-model's layers, never the containers."""
    from keras_tensor_rnn import layer_walk

    encoder = keras.Sequential([keras.Input((5, 3)), ktr.layers.TensorizedGRU(4, rank=2,
                                return_sequences=True, name="inner_gru")], name="encoder")
    model = keras.Sequential([
        keras.Input((5, 3)), encoder,
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True, name="lstm")),
        keras.layers.TimeDistributed(keras.layers.Dense(2, name="per_step"))], name="outer")
    assert [layer.name for layer in layer_walk.computing_layers(model.layers)] == [
        "inner_gru", "forward_lstm", "backward_lstm", "per_step"]
    assert [layer.name for layer in ktr.search.recurrent_layers(model)] == ["inner_gru"]


def test_factorization_values_are_not_mutated():
    tt = factorizations.get("tt")((16, 12), rank=2, d=2).initialize(seed=0)
    refit = tt.fit(np.ones((16, 12)))
    assert refit is not tt and tt.factors is not refit.factors
    assert not np.allclose(np.asarray(tt.full()), 1.0)


# ------------------------------------------------------------ compatibility


def test_a_file_saved_by_release_0_1_loads_and_predicts_the_same():
    fixtures = Path(__file__).parent / "fixtures"
    model = keras.models.load_model(fixtures / "release_0_1.keras")
    data = np.load(fixtures / "release_0_1.npz")
    assert model.count_params() == 2568
    assert {type(layer).__name__ for layer in model.layers} >= {
        "TensorizedLSTM", "TensorizedGRU", "TensorizedSimpleRNN", "RestrictedLSTM",
        "RestrictedGRU", "RestrictedSimpleRNN", "Bidirectional"}
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-4,
                               atol=1e-7)


# ------------------------------------------------------------------ layering


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports at module level."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_tensor_rnn"):
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("keras_tensor_rnn")}
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_no_import_cycle():
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    state = {}

    def visit(m, trail):
        if state.get(m) == "done":
            return
        assert state.get(m) != "active", " -> ".join(trail + [m])
        state[m] = "active"
        for n in graph[m]:
            if not (m.startswith(n + ".")):  # a package's own __init__ importing its modules
                visit(n, trail + [m])
        state[m] = "done"

    for m in graph:
        visit(m, [])


@pytest.mark.parametrize("lower, forbidden", [
    ("keras_tensor_rnn.factorizations", ("cells", "layers", "weight_schemes", "search",
                                         "compression")),
    ("keras_tensor_rnn.weight_schemes", ("cells", "layers", "search", "compression")),
    ("keras_tensor_rnn.cells", ("layers", "search", "compression")),
    ("keras_tensor_rnn.layers", ("search", "compression")),
])
def test_design_layering(lower, forbidden):
    """factorizations know nothing of RNNs, cells nothing of tuning."""
    for module, path in MODULES.items():
        if module == lower or module.startswith(lower + "."):
            bad = {i for i in _imports(path) for f in forbidden
                   if i.startswith(f"keras_tensor_rnn.{f}")}
            assert not bad, (module, bad)


PRIVATE_ATTRIBUTE = re.compile(r"(?<![\w.])(?!self\b|cls\b|keras_tensor_rnn\b)([A-Za-z_]\w*)\._[a-z]\w*")


def test_no_module_reaches_into_private_names():
    """Only `_private_api.py` touches Keras, keras-tuner or TensorFlow
    internals, and no module uses another object's `_private` attributes."""
    for module, path in MODULES.items():
        if module.endswith("_private_api"):
            continue
        source = path.read_text()
        for internal in ("keras.src", "keras_tuner.src", "tensorflow.python", "tf._"):
            assert internal not in source, (module, internal)
        code = "\n".join(line.split("#")[0] for line in source.splitlines())
        hits = [m.group(0) for m in PRIVATE_ATTRIBUTE.finditer(code)]
        assert not hits, (module, hits)
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and "keras_tensor_rnn" in node.module:
                private = [a.name for a in node.names if a.name.startswith("_")
                           and not a.name.startswith("__") and a.name != "_private_api"]
                assert not private, (module, private)


def test_the_private_name_check_can_fail():
    assert PRIVATE_ATTRIBUTE.search("cell._side_structures('kernel', 3)")
    assert not PRIVATE_ATTRIBUTE.search("self._side('kernel')")


DEPENDENCIES = {"keras", "keras_tuner", "tensorflow", "mlflow", "t3f", "jax", "torch"}


def inherited_private_uses(cls, source: str) -> list:
    """``self._name`` in ``cls``'s own methods where ``_name`` is defined by a
    base class outside this package (keras-tuner's ``Oracle._duplicate``,
    say): a private API of a dependency, reached through inheritance."""
    node = next(n for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    used = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "self"
            and n.attr.startswith("_") and not n.attr.startswith("__")}
    owners = {name: next((base for base in cls.__mro__ if name in vars(base)), None)
              for name in used}
    return sorted(name for name, owner in owners.items()
                  if owner is not None and owner.__module__.split(".")[0] in DEPENDENCIES)


def package_classes():
    import importlib

    for module, path in MODULES.items():
        if module.endswith("_private_api"):
            continue
        loaded = importlib.import_module(module)
        for cls in vars(loaded).values():
            if inspect.isclass(cls) and cls.__module__ == module:
                yield cls, path.read_text()


@pytest.mark.tf_only
def test_no_class_calls_a_dependencys_private_methods_through_self():
    """Private APIs of Keras, keras-tuner and TensorFlow go through
    ``_private_api.py`` also when a subclass inherits them."""
    uses = {cls.__qualname__: inherited_private_uses(cls, source)
            for cls, source in package_classes()}
    assert {name: found for name, found in uses.items() if found} == {}


def test_the_inherited_private_check_can_fail():
    import keras_tuner

    class Oracle(keras_tuner.oracles.RandomSearchOracle):
        def propose(self, values):
            return self._duplicate(values) or self._mine()

        def _mine(self):
            return None

    source = textwrap.dedent(inspect.getsource(Oracle))
    assert inherited_private_uses(Oracle, source) == ["_duplicate"]


def function_lengths() -> list:
    """``(lines, "path:line name")`` of every function of the package,
    docstring and signature included, longest first."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node.end_lineno - node.lineno + 1,
                              f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def test_no_function_is_longer_than_80_lines():
    longest = function_lengths()[:5]
    print("The longest functions:", *(f"{n:4d}  {where}" for n, where in longest), sep="\n")
    assert [entry for entry in longest if entry[0] > 80] == []


@pytest.mark.parametrize("cls", [*LAYERS, *CELLS], ids=lambda c: c.__name__)
def test_every_scheme_argument_has_the_schemes_default_in_the_signature(cls):
    """The scheme's arguments are declared once (its constructor) and
    forwarded; the layers and cells still list each one explicitly, for
    IDEs and ``inspect.signature``, with the same default."""
    scheme = weight_schemes.get("tensorized" if "Tensorized" in cls.__name__ else "restricted")
    declared = inspect.signature(scheme.__init__).parameters
    listed = inspect.signature(cls.__init__).parameters
    assert scheme.arguments
    for name in scheme.arguments:
        assert listed[name].default == declared[name].default, name
