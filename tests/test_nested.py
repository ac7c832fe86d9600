"""Nested ranks: a layer trained so that every rank up to its own works, and
the rank-r layer taken out of it as a real, smaller layer."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn.layers import TensorizedGRU, TensorizedLSTM, TensorizedSimpleRNN
from keras_tensor_rnn.nested import NestedRankLayer, nested_layers

RANKED = ["tt", "mps", "tr", "cp", "tucker", "bt", "lowrank"]
X = np.random.default_rng(0).normal(size=(16, 7, 6)).astype("float32")


def nested_model(decomposition, **options):
    """A nested LSTM (per-step outputs) into a nested Bidirectional GRU."""
    inputs = keras.Input((7, 6))
    h = TensorizedLSTM(12, decomposition=decomposition, rank=5, d=2, nested_ranks=True,
                       return_sequences=True, name="lstm", **options)(inputs)
    h = keras.layers.Bidirectional(
        TensorizedGRU(8, decomposition=decomposition, rank=4, d=2, nested_ranks=True), name="bi")(h)
    return keras.Model(inputs, keras.layers.Dense(3)(h))


def set_inference_rank(model, rank):
    for layer in nested_layers(model):
        layer.inference_rank = min(rank, layer.cell.weight_scheme.largest_slot_rank)


@pytest.mark.parametrize("decomposition", RANKED)
def test_truncated_model_equals_the_masked_one_at_every_rank(decomposition):
    model = nested_model(decomposition)  # untrained: the equality holds for any factors
    full = model.predict(X, verbose=0)
    counts = []
    for rank in (1, 2, 3):
        set_inference_rank(model, rank)
        masked = model.predict(X, verbose=0)
        small = ktr.truncate(model, rank)
        np.testing.assert_allclose(small.predict(X, verbose=0), masked, atol=1e-5)
        counts.append(small.count_params())
        # Counted without taking it out: the same counts, layer by layer.
        layers = {id(layer): layer for layer in ktr.search.recurrent_layers(model)}
        lowered = ktr.nested.truncated_counts(model, rank)
        assert sorted(lowered.values()) == sorted(
            layer.count_params() for layer in ktr.search.recurrent_layers(small))
        assert counts[-1] == model.count_params() - sum(
            layers[key].count_params() - count for key, count in lowered.items())
        lstm = small.get_layer("lstm")
        # A real layer of that rank: its count is its configuration's count.
        assert lstm.count_params() == lstm.count_params_for(6)
        assert type(lstm).from_config(lstm.get_config()).count_params_for(6) == lstm.count_params()
        assert not lstm.cell.weight_scheme.nested_ranks
    assert counts == sorted(counts) and counts[-1] < model.count_params()
    # A nested layer counts its two state weights, as Keras counts every weight.
    assert model.get_layer("lstm").count_params() == model.get_layer("lstm").count_params_for(6)
    assert not np.allclose(masked, full)  # a lower rank does compute something else


@pytest.mark.parametrize("decomposition", ["tt", "tucker", "bt"])
def test_per_slot_ranks_and_a_recurrent_rank_of_their_own(decomposition):
    layer = TensorizedLSTM(12, decomposition=decomposition, rank=4, recurrent_rank=3, d=2,
                           gates="separate", nested_ranks=True)
    layer(X)
    kernel = layer.cell.weight_scheme.matrices["kernel"][0]
    per_slot = [max(1, r - k) for k, r in enumerate(kernel.rank)]
    small = layer.truncated(per_slot, recurrent_rank=2)
    small_scheme = small.cell.weight_scheme
    assert [m.rank for m in small_scheme.matrices["kernel"]] == [tuple(per_slot)] * 4
    assert all(max(m.rank) <= 2 for m in small_scheme.matrices["recurrent"])
    fresh = TensorizedLSTM(12, decomposition=decomposition, rank=per_slot, recurrent_rank=2,
                           d=2, gates="separate", in_modes=layer.in_modes,
                           hidden_modes=layer.hidden_modes)
    assert small.count_params() == fresh.count_params_for(6)
    # Masks cannot express per-slot ranks; the products still match slice by slice.
    scheme = layer.cell.weight_scheme
    for side, key in (("kernel", "rank"), ("recurrent", "recurrent_rank")):
        arguments = scheme.truncated_ranks(per_slot, 2)
        for matrix, factors, small_matrix, small_factors in zip(
                scheme.matrices[side], scheme.side_factors(side),
                small_scheme.matrices[side], small_scheme.side_factors(side)):
            expected = matrix.truncated(arguments[key], factors).full()
            np.testing.assert_allclose(keras.ops.convert_to_numpy(small_matrix.full(small_factors)),
                                       keras.ops.convert_to_numpy(expected), atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="torch's fit runs eagerly: each step calls the layer anew")
def test_training_steps_take_two_row_groups_and_trace_once(monkeypatch):
    traces, ranks = [], []
    original = NestedRankLayer._sampled_rank

    def recording(self):
        traces.append(self.name)
        rank = original(self)
        ranks.append(rank)
        return rank

    monkeypatch.setattr(NestedRankLayer, "_sampled_rank", recording)
    layer = TensorizedSimpleRNN(16, decomposition="cp", rank=6, nested_ranks=True, name="rnn")
    model = keras.Sequential([keras.Input((7, 6)), layer, keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(X, np.zeros((16, 1), "float32"), epochs=3, batch_size=2, verbose=0)
    # 24 steps, each at its own ranks, from one or two traces (not one per batch).
    assert int(keras.ops.convert_to_numpy(layer.nested_step)) == 24
    assert 1 <= len(traces) <= 2
    # The rule itself, eagerly: the largest rank, and a drawn one (the rows'
    # products at each: test_a_training_step_computes_the_first_rows_...).
    values = [tuple(int(keras.ops.convert_to_numpy(r)) for r in layer._sampled_rank())
              for _ in range(100)]
    assert {top for top, _ in values} == {6}
    # 100 uniform draws miss one of the 6 ranks with probability 7e-8.
    assert {drawn for _, drawn in values} == set(range(1, 7))


@pytest.mark.parametrize("implementation", ["factorized", "reconstructed"])
@pytest.mark.parametrize("layer_class,decomposition", [
    (TensorizedLSTM, "tt"), (TensorizedGRU, "tucker"), (TensorizedSimpleRNN, "cp"),
    (TensorizedLSTM, "bt"), (TensorizedGRU, "tr"), (TensorizedSimpleRNN, "mps")])
def test_a_training_step_computes_the_first_rows_at_the_largest_rank_the_rest_at_the_drawn(
        layer_class, decomposition, implementation, monkeypatch):
    layer = layer_class(8, decomposition=decomposition, rank=2, nested_ranks=True,
                        implementation=implementation, dropout=0.0)
    layer(X)
    monkeypatch.setattr(layer, "_sampled_rank", lambda: (keras.ops.convert_to_tensor(2, "int32"),
                                                         keras.ops.convert_to_tensor(1, "int32")))
    odd = X[:15]  # an odd batch: the first group takes the row left over
    trained = keras.ops.convert_to_numpy(layer(odd, training=True))
    at = {}
    for rank in (2, 1):
        layer.inference_rank = rank
        at[rank] = keras.ops.convert_to_numpy(layer(odd))
    assert np.abs(at[2] - at[1]).max() > 1e-3  # the two ranks differ
    half = 8
    np.testing.assert_allclose(trained[:half], at[2][:half], atol=1e-5)
    np.testing.assert_allclose(trained[half:], at[1][half:], atol=1e-5)


def test_a_layer_without_nested_ranks_is_unchanged_and_still_truncates():
    layer = TensorizedLSTM(12, decomposition="tt", rank=4, d=2)
    out = layer(X)
    assert not [v.name for v in layer.variables if "nested" in v.path]
    small = layer.truncated(2)
    assert small.count_params() < layer.count_params()
    assert small(X).shape == out.shape
    with pytest.raises(ValueError, match="only a built layer made with `nested_ranks=True`"):
        layer.inference_rank = 2


def test_bad_ranks_are_refused_in_the_users_words():
    model = nested_model("cp")
    lstm = model.get_layer("lstm")
    with pytest.raises(ValueError, match=r"an int from 1 to the layer's largest rank 5, "
                                         r"or one int per rank slot \(the single CP rank R\). "
                                         r"Received: rank=6"):
        lstm.truncated(6)
    with pytest.raises(ValueError, match=r"between 1 and its rank \[5\]. Received: rank=\[7\]"):
        lstm.truncated([7])
    with pytest.raises(ValueError, match=r"an int from 1 to its largest rank 5, or None for that "
                                         r"rank. Received: 0"):
        lstm.inference_rank = 0
    with pytest.raises(ValueError, match=r"`ranks` is an int \(every nested layer\) or a dict "
                                         r"\{layer name: int\}. Received: ranks=2.0"):
        ktr.truncate(model, 2.0)
    with pytest.raises(ValueError, match=r"`recurrent_rank` is an int from 1 to the recurrent "
                                         r"side's largest rank 4"):
        model.get_layer("bi").forward_layer.truncated(2, recurrent_rank=5)
    with pytest.raises(ValueError, match=r"`ranks` names \['rnn9'\], not nested-rank layers .*"
                                         r"\['bi', 'lstm'\]"):
        ktr.truncate(model, {"rnn9": 2})
    plain = keras.Sequential([keras.Input((7, 6)), TensorizedLSTM(4, rank=2, d=2)])
    with pytest.raises(ValueError, match="has no layer of its own made with `nested_ranks=True`"):
        ktr.truncate(plain, 1)
    with pytest.raises(ValueError, match="is not built"):
        TensorizedLSTM(4, rank=2, nested_ranks=True).truncated(1)


def test_truncate_and_compress_keep_default_input_names_of_a_functional_model():
    """Two default-named inputs (``input_layer``, ``input_layer_1``): the
    truncated and the compressed model's inputs have the same names, so an
    exported signature's inputs are named the same."""
    a, b = keras.Input((7, 6)), keras.Input((3,))
    gru = TensorizedGRU(8, decomposition="cp", rank=4, nested_ranks=True)
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([gru(a), b])))
    names = [layer.name for layer in model.layers if isinstance(layer, keras.layers.InputLayer)]
    x = [X, X[:, 0, :3]]
    small = ktr.truncate(model, 2)
    assert [t.name for t in small.inputs] == names
    gru.inference_rank = 2
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    dense = keras.Model([c := keras.Input((7, 6)), d := keras.Input((3,))], keras.layers.Dense(2)(
        keras.layers.Concatenate()([keras.layers.LSTM(8)(c), d])))
    compressed, _ = ktr.compress(dense, "tt", rank=2, fit_steps=0)
    assert [t.name for t in compressed.inputs] == [
        layer.name for layer in dense.layers if isinstance(layer, keras.layers.InputLayer)]


def test_truncate_keeps_masks_and_ops_of_the_graph():
    inputs = keras.Input((7, 6))
    h = keras.layers.Masking()(keras.ops.tanh(inputs))
    h = TensorizedGRU(8, decomposition="cp", rank=4, nested_ranks=True, name="rnn")(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    x = X.copy()
    x[:4, 5:] = 0.0
    small = ktr.truncate(model, 2)
    model.get_layer("rnn").inference_rank = 2
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    model.get_layer("rnn").inference_rank = None  # back to its own rank
    assert model.get_layer("rnn").inference_rank == 4
    with pytest.raises(ValueError, match="needs a decomposition with a rank"):
        TensorizedLSTM(4, decomposition="dense", nested_ranks=True)
    wrapped = keras.Sequential([keras.Input((7, 6)), model], name="outer")
    with pytest.raises(ValueError, match=r"Its sub-model\(s\) \['functional.*'\] hold some: call "
                                         r"`ktr.truncate` on a sub-model itself"):
        ktr.truncate(wrapped, 2)
    # Set in place and counted, a sub-model's layers are reached by their names.
    ktr.nested.set_inference_ranks(wrapped, {"rnn": 2})
    assert model.get_layer("rnn").inference_rank == 2
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), small.predict(x, verbose=0),
                               atol=1e-5)
    rnn = model.get_layer("rnn")
    assert ktr.nested.truncated_counts(wrapped, 2) == {id(rnn): small.get_layer("rnn")
                                                       .count_params()}
    ktr.nested.set_inference_ranks(wrapped, None)
    assert rnn.inference_rank == 4
    twice = keras.Sequential([keras.Input((7, 6)), model, keras.layers.Reshape((1, 2)),
                              TensorizedGRU(2, decomposition="cp", rank=2, nested_ranks=True,
                                            name="rnn")])
    with pytest.raises(ValueError, match="has two nested-rank layers named 'rnn'"):
        ktr.nested.set_inference_ranks(twice, 1)
    # Nested layers both of its own and in a sub-model: truncate takes out
    # its own only, and says so where `ranks` reaches the sub-model's.
    encoder = keras.Sequential([keras.Input((7, 6)), TensorizedGRU(
        5, decomposition="cp", rank=3, nested_ranks=True, return_sequences=True, name="inner")],
        name="encoder")
    inputs = keras.Input((7, 6))
    top = TensorizedGRU(4, decomposition="tt", rank=3, d=2, nested_ranks=True, name="top")
    mixed = keras.Model(inputs, top(encoder(inputs)))
    for ranks in (2, {"inner": 2}):
        with pytest.raises(ValueError, match=r"the nested-rank layer\(s\) \['inner'\] of "
                                             r"sub-model\(s\) \['encoder'\] would keep"):
            ktr.truncate(mixed, ranks)
    small = ktr.truncate(mixed, {"top": 2})
    ktr.nested.set_inference_ranks(mixed, {"top": 2})
    np.testing.assert_allclose(small.predict(X, verbose=0), mixed.predict(X, verbose=0), atol=1e-5)
    assert small.count_params() == mixed.count_params() - top.count_params() + \
        top.count_params_at(2)


def test_truncate_by_layer_name_keeps_the_others_at_their_own_rank(tmp_path):
    """A layer not named stays nested at its largest rank, whatever the
    model's inference rank was: as ``set_inference_ranks`` sets it."""
    model = nested_model("tt")
    set_inference_rank(model, 1)
    small = ktr.truncate(model, {"lstm": 2})
    assert small.get_layer("bi").forward_layer.cell.weight_scheme.nested_ranks
    ktr.nested.set_inference_ranks(model, {"lstm": 2})
    assert model.get_layer("bi").forward_layer.inference_rank == 4
    np.testing.assert_allclose(small.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)


def test_one_rank_for_both_sides_is_clipped_to_each_like_the_inference_rank():
    """A recurrent side of lower rank than the input side: one int above
    it truncates that side at its own largest, as inference_rank computes."""
    layer = TensorizedSimpleRNN(8, decomposition="tucker", rank=4, recurrent_rank=2, d=2,
                                nested_ranks=True, name="s")
    model = keras.Sequential([keras.Input((7, 6)), layer])
    for rank in (3, 4):
        layer.inference_rank = rank
        small = ktr.truncate(model, rank)
        np.testing.assert_allclose(small.predict(X, verbose=0), model.predict(X, verbose=0),
                                   atol=1e-5)
        assert max(small.get_layer("s").get_config()["recurrent_rank"]) == 2
    with pytest.raises(ValueError, match="Layer 's': A truncated `rank` is an int from 1 to the "
                                         "layer's largest rank 4"):
        layer.truncated(5)


def test_one_int_truncates_layers_of_different_largest_ranks_as_set_inference_ranks():
    """Ranks 5 (lstm) and 4 (bi): one int, or a dict value, above a layer's
    largest is clipped to it, as ``set_inference_ranks`` clips it; the
    Bidirectional is named by itself, the layer it wraps or its forward layer."""
    model = nested_model("cp")
    model.compile("adam", "mse")
    small = ktr.truncate(model, 5)
    ktr.nested.set_inference_ranks(model, 5)
    np.testing.assert_allclose(small.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    assert small.count_params() == model.count_params() - 2 * 3  # the state weights alone
    assert small.compiled and small.get_compile_config()["loss"] == "mse"
    bi = model.get_layer("bi")
    inner = bi.forward_layer.name
    counts = {ktr.truncate(model, {name: 2}).count_params()
              for name in ("bi", inner, inner.removeprefix("forward_"), bi.backward_layer.name)}
    assert len(counts) == 1 and counts.pop() < model.count_params()
    # Counted without taking it out: only the named layer's directions, clipped alike.
    lowered = ktr.nested.truncated_counts(model, {inner: 2, "lstm": 99})
    assert set(lowered) == {id(bi.forward_layer), id(bi.backward_layer),
                            id(model.get_layer("lstm"))}
    assert lowered[id(model.get_layer("lstm"))] == model.get_layer("lstm").count_params_at(5)
    with pytest.raises(ValueError, match=r"gives layer 'bi' two ranks under two of its names "
                                         r"\(2 and 3\)"):
        ktr.truncate(model, {"bi": 2, inner: 3})
    assert ktr.truncate(model, {"bi": 2, inner: 2}).count_params() == ktr.truncate(
        model, {"bi": 2}).count_params()
    with pytest.raises(ValueError, match="the ranks to count. Received: ranks=None"):
        ktr.nested.truncated_counts(model, None)
    with pytest.raises(ValueError, match="Layer 'lstm': A truncated `rank` is an int from 1"):
        model.get_layer("lstm").count_params_at(0)
    # The names nested_layers gives are the ones an error lists as valid.
    with pytest.raises(ValueError) as refused:
        ktr.truncate(model, {"nope": 2})
    assert all(repr(layer.name) in str(refused.value) for layer in nested_layers(model))
    assert ktr.truncate(model, {"lstm": 99}).count_params() == ktr.truncate(
        model, {"lstm": 5}).count_params()


def test_truncate_names_what_it_takes_for_a_layer_or_a_subclassed_model():
    model = nested_model("tt")
    with pytest.raises(TypeError, match=r"`model` must be a Keras model with nested-rank layers. "
                                        r"Received: TensorizedLSTM. For one layer, "
                                        r"`layer.truncated\(rank\)`"):
        ktr.truncate(model.get_layer("lstm"), 2)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.rnn = TensorizedLSTM(4, rank=3, d=2, nested_ranks=True)

        def call(self, x):
            return self.rnn(x)

    subclassed = Subclassed()
    subclassed(X)
    with pytest.raises(ValueError, match=r"'subclassed' is a subclassed keras.Model \(Subclassed\)"
                                         r".*`ktr.nested.set_inference_ranks\(model, ranks\)`"):
        ktr.truncate(subclassed, 2)
    ktr.nested.set_inference_ranks(subclassed, 2)  # in place, as the message says
    assert subclassed.rnn.inference_rank == 2


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="a torch Module's __getattr__ replaces the property's AttributeError "
                           "with its own, without our message")
def test_a_layer_without_nested_ranks_has_no_inference_rank_attribute():
    layer = TensorizedLSTM(4, rank=2)
    assert not hasattr(layer, "inference_rank")
    with pytest.raises(ValueError, match="only a built layer made with `nested_ranks=True`"):
        layer.inference_rank  # noqa: B018
    with pytest.raises(ValueError, match=r"`nested_ranks` is True .* or False\. Received: "
                                         r"nested_ranks='yes'"):
        TensorizedGRU(8, rank=2, nested_ranks="yes")


@pytest.mark.tf_only
def test_a_nested_model_saved_here_loads_and_truncates_in_a_fresh_process(tmp_path):
    model = nested_model("tt")
    model.get_layer("lstm").inference_rank = 3
    model.save(tmp_path / "nested.keras")
    expected = ktr.truncate(model, 2).predict(X, verbose=0)
    np.save(tmp_path / "x.npy", X)
    script = f"""
import json, numpy as np, keras, keras_tensor_rnn as ktr
model = keras.models.load_model({str(tmp_path / "nested.keras")!r})
x = np.load({str(tmp_path / "x.npy")!r})
small = ktr.truncate(model, 2)
print(json.dumps({{"rank": model.get_layer("lstm").inference_rank,
                  "out": small.predict(x, verbose=0).tolist()}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["rank"] == 3
    np.testing.assert_allclose(np.array(loaded["out"]), expected, atol=1e-5)


def test_tensorized_layers_build_inside_a_subclassed_model():
    """Keras builds a subclassed model's layers while it only traces: the
    factors' starting values are computed in numpy."""

    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.rnn = TensorizedLSTM(8, decomposition="tt", rank=4, nested_ranks=True)
            self.head = keras.layers.Dense(2)

        def call(self, x):
            return self.head(self.rnn(x))

    model = Classifier()
    model.compile("adam", "mse")
    model.fit(X, np.zeros((16, 2), "float32"), epochs=1, verbose=0)
    small = model.rnn.truncated(2)
    model.rnn.inference_rank = 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(small(X)),
                               keras.ops.convert_to_numpy(model.rnn(X)), atol=1e-5)
