"""Modes chosen for speed by default: the products stay exact, the chosen
modes are stored in configs, and configs of release 0.1 keep their modes."""

import math

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn import factorizations, matmul_paths, mode_choice
from keras_tensor_rnn.weight_schemes import TensorizedWeights

DECOMPOSITIONS = [n for n in factorizations.names() if n != "dense"]
MODED = [n for n in DECOMPOSITIONS if factorizations.get(n).uses_modes]


def test_candidates_multiply_to_the_size_and_start_balanced():
    for n, d in [(57600, 4), (360, 3), (256, 4), (28, 2), (8, 3)]:
        found = mode_choice.candidates(n, d)
        assert found[0] == ktr.shapes.balanced_factors(n, d)
        assert all(len(c) == d and math.prod(c) == n for c in found)
        assert len(set(found)) == len(found)
    # A wide input gets candidates with one big mode first or last.
    assert (60, 16, 15, 4) in mode_choice.candidates(57600, 4) or \
        any(c[-1] >= 60 for c in mode_choice.candidates(57600, 4))


def _choose_from_a(costs, params):
    """``choose`` over input candidates named by ``costs``' keys, starting at ``("a",)``."""
    return mode_choice.choose(lambda i, h: costs[i], lambda i, h: params[i], list(costs),
                              [None], (("a",), None))


def test_choose_respects_the_parameter_tolerance():
    costs = {("a",): 10.0, ("b",): 1.0, ("c",): 5.0, ("d",): 0.5}
    params = {("a",): 100, ("b",): 200, ("c",): 105, ("d",): 50}
    best = _choose_from_a(costs, params)
    # b and d are cheaper, but 100% larger and 50% smaller: the rank asked
    # for keeps its meaning.
    assert best == (("c",), None)


def test_choose_takes_the_size_closest_to_balanced_among_equal_scores():
    costs = {("a",): 10.0, ("b",): 5.0, ("c",): 5.02, ("d",): 5.3}
    params = {("a",): 100, ("b",): 109, ("c",): 101, ("d",): 100}
    best = _choose_from_a(costs, params)
    # b and c are the same to the model (within SAME_SCORE); c keeps the
    # size. d keeps it too but is modelled 6% slower: speed comes first.
    assert best == (("c",), None)
    assert 5.02 <= 5.0 * (1 + mode_choice.SAME_SCORE) < 5.3


def test_a_dense_side_counts_in_the_tolerance():
    """With the recurrent matrix dense, the tolerance is on the layer's
    weight matrices: the factorized input side may grow (faster first
    product) while the layer stays within 10% of its balanced size."""
    kwargs = dict(decomposition="tr", rank=4, d=4, recurrent_decomposition="dense")
    speed = TensorizedWeights(256, 4, **kwargs)
    balanced = TensorizedWeights(256, 4, **kwargs, mode_choice="balanced")
    chosen, old = speed.modes(57600), balanced.modes(57600)
    total = speed.modes_params(57600, *chosen) / balanced.modes_params(57600, *old)
    assert 1 < total <= 1 + mode_choice.PARAM_TOLERANCE
    def input_side(scheme, modes):
        return sum(m.num_params for m in scheme._side_matrices("kernel", 57600, *modes))

    assert input_side(speed, chosen) > 1.5 * input_side(balanced, old)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "tucker" else n
                                  for n in MODED])  # tucker's modes take half a minute
def test_speed_modes_at_the_ucf11_shape_are_cheaper_and_within_tolerance(name):
    rank = 2 if name == "tucker" else 4
    kwargs = dict(decomposition=name, rank=rank, d=4, recurrent_decomposition="dense")
    speed = TensorizedWeights(256, 4, **kwargs)
    balanced = TensorizedWeights(256, 4, **kwargs, mode_choice="balanced")
    chosen, old = speed.modes(57600), balanced.modes(57600)
    assert chosen != old
    assert speed.modelled_cost(57600, *chosen) < 0.95 * balanced.modelled_cost(57600, *old)
    ratio = speed.modes_params(57600, *chosen) / balanced.modes_params(57600, *old)
    assert 1 - mode_choice.PARAM_TOLERANCE <= ratio <= 1 + mode_choice.PARAM_TOLERANCE


@pytest.mark.parametrize("choice", mode_choice.MODE_CHOICES)
@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_planned_products_equal_x_times_full(name, choice):
    """Whatever modes are chosen, the layer's planned products are x @ W."""
    layer = ktr.layers.TensorizedLSTM(16, decomposition=name, rank=2, d=3, mode_choice=choice)
    layer.build((None, 5, 360))
    scheme = layer.cell.weight_scheme
    rng = np.random.default_rng(0)
    for side, width in (("kernel", 360), ("recurrent", 16)):
        matrix, factors = scheme.matrices[side][0], scheme.side_factors(side)[0]
        x = rng.standard_normal((7, width)).astype("float32")
        full = keras.ops.convert_to_numpy(matrix.full(factors)).astype("float64")
        for path in ("factorized", "reconstructed"):
            got = keras.ops.convert_to_numpy(matrix.matmul_2d(keras.ops.convert_to_tensor(x),
                                                              factors, path))
            np.testing.assert_allclose(got, x.astype("float64") @ full, rtol=2e-4, atol=2e-5)
        assert matmul_paths.choose(matrix, 7) in ("factorized", "reconstructed")


def _outputs(layer, x):
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    return model, keras.ops.convert_to_numpy(model(x))


@pytest.mark.parametrize("cls", [ktr.layers.TensorizedLSTM, ktr.layers.TensorizedGRU,
                                 ktr.layers.TensorizedSimpleRNN])
def test_resolved_modes_round_trip_through_get_config(cls):
    x = np.random.default_rng(1).standard_normal((2, 4, 960)).astype("float32")
    layer = cls(32, rank=2, d=3)
    assert layer.get_config()["in_modes"] is None  # unbuilt: chosen at build
    model, y = _outputs(layer, x)
    config = layer.get_config()
    assert math.prod(config["in_modes"]) == 960 and math.prod(config["hidden_modes"]) == 32
    assert config["mode_choice"] == "speed"
    if cls is not ktr.layers.TensorizedSimpleRNN:  # a real choice (one gate: balanced wins)
        assert config["in_modes"] != list(ktr.shapes.auto_modes(960, 3))
    again = cls.from_config(config)
    model2, _ = _outputs(again, x)
    model2.set_weights(model.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model2(x)), y)
    assert again.get_config() == config
    assert again.count_params() == layer.count_params() == layer.count_params_for(960)


def test_old_config_without_mode_choice_loads_its_balanced_modes_and_weights():
    """A config of release 0.1 stored hidden_modes=None and no mode_choice:
    it loads with the balanced modes it was saved with, and its weights."""
    x = np.random.default_rng(2).standard_normal((2, 4, 960)).astype("float32")
    old = ktr.layers.TensorizedLSTM(32, rank=2, d=3, mode_choice="balanced")
    old_model, y = _outputs(old, x)
    config = ktr.layers.TensorizedLSTM(32, rank=2, d=3).get_config()
    del config["mode_choice"]
    assert config["in_modes"] is None and config["hidden_modes"] is None
    loaded = ktr.layers.TensorizedLSTM.from_config(config)
    model, _ = _outputs(loaded, x)
    assert loaded.mode_choice == "balanced"
    assert loaded.hidden_modes == old.hidden_modes and loaded.in_modes == old.in_modes
    model.set_weights(old_model.get_weights())  # same shapes, or this raises
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), y)
    # The speed choice differs here, so the test above is not vacuous.
    speed = ktr.layers.TensorizedLSTM(32, rank=2, d=3)
    _outputs(speed, x)
    assert (speed.in_modes, speed.hidden_modes) != (old.in_modes, old.hidden_modes)


def test_cell_config_of_release_0_1_loads_balanced():
    config = ktr.cells.TensorizedGRUCell(16, rank=2).get_config()
    del config["mode_choice"]
    assert ktr.cells.TensorizedGRUCell.from_config(config).weight_scheme.mode_choice == "balanced"


def test_padded_input_keeps_balanced_input_modes_and_reloads_identically():
    x = np.random.default_rng(3).standard_normal((2, 3, 97)).astype("float32")  # prime width
    layer = ktr.layers.TensorizedLSTM(16, rank=2, d=2)
    model, y = _outputs(layer, x)
    config = layer.get_config()
    assert config["in_modes"] is None  # padded modes are re-derived, not stored
    again = ktr.layers.TensorizedLSTM.from_config(config)
    model2, _ = _outputs(again, x)
    model2.set_weights(model.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model2(x)), y)


def test_bad_mode_choice_says_what_is_valid():
    with pytest.raises(ValueError, match=r"`mode_choice` must be one of \('speed', 'balanced'\)"):
        ktr.layers.TensorizedLSTM(8, mode_choice="fast")
