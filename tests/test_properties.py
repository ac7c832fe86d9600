"""Properties of the public API over models drawn the way users vary them
(hypothesis): input widths (1, primes, wide), units from 1, every cell and
decomposition, masks (``Masking``, ``Embedding(mask_zero=True)``),
``Bidirectional``, stacked and functional models with several inputs and
default names, mixed precision.

Every property runs twice: a small derandomized profile (fixed examples,
the default run and CI) and a larger random one (``-m slow``).
"""

import dataclasses

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_user_models import run_fresh

import keras_tensor_rnn as ktr

CELLS = ["lstm", "gru", "simple_rnn"]
KERAS_CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
               "simple_rnn": keras.layers.SimpleRNN}
RANKED = ["tt", "mps", "tr", "cp", "tucker", "bt"]
ALL = [*RANKED, "dense", "restricted"]
PROFILES = ["ci", pytest.param("thorough", marks=pytest.mark.slow)]


def check_property(profile, strategy, check, examples):
    """Run ``check(drawn)`` on ``examples`` draws of ``strategy`` (the
    derandomized CI profile), or five times as many random ones."""
    thorough = profile == "thorough"
    settings(max_examples=examples * 5 if thorough else examples, deadline=None,
             derandomize=not thorough, database=None, print_blob=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(
        given(strategy)(check))()


@dataclasses.dataclass
class UserModel:
    """A user-style recurrent model, drawn."""

    cell: str
    units: int
    features: int
    time: int
    masking: str  # "none", "masking" or "embedding"
    bidirectional: bool
    stacked: bool
    second_input: bool
    return_sequences: bool
    decomposition: str = "tt"
    sequential: bool = False  # keras.Sequential where the model has one input

    def inputs(self, rows=5, seed=0):
        """Sample inputs (a list with a second input), padded where masked."""
        rng = np.random.default_rng(seed)
        if self.masking == "embedding":
            x = rng.integers(1, 11, size=(rows, self.time))
        else:
            x = rng.normal(size=(rows, self.time, self.features)).astype("float32")
        if self.masking != "none" and self.time > 1:
            x[: rows // 2, self.time // 2 + 1:] = 0
        return [x, rng.normal(size=(rows, 2)).astype("float32")] if self.second_input else x

    def build(self, make_layer):
        """The model, its recurrent layers made by ``make_layer(units,
        return_sequences)``; default names."""
        if self.sequential and not self.second_input:
            return keras.Sequential(self._sequential_layers(make_layer))
        if self.masking == "embedding":
            sequence = keras.Input((self.time,), dtype="int32")
            h = keras.layers.Embedding(11, self.features, mask_zero=True)(sequence)
        else:
            sequence = keras.Input((self.time, self.features))
            h = keras.layers.Masking()(sequence) if self.masking == "masking" else sequence

        if self.stacked:
            h = self._recurrent(make_layer, True)(h)
        h = self._recurrent(make_layer, self.return_sequences)(h)
        if self.return_sequences:
            h = keras.layers.GlobalAveragePooling1D()(h)
        inputs = [sequence]
        if self.second_input:
            inputs.append(keras.Input((2,)))
            h = keras.layers.Concatenate()([h, inputs[1]])
        return keras.Model(inputs, keras.layers.Dense(2)(h))

    def _recurrent(self, make_layer, return_sequences):
        layer = make_layer(self.units, return_sequences)
        return keras.layers.Bidirectional(layer) if self.bidirectional else layer

    def _sequential_layers(self, make_layer):
        if self.masking == "embedding":
            layers = [keras.Input((self.time,), dtype="int32"),
                      keras.layers.Embedding(11, self.features, mask_zero=True)]
        else:
            layers = [keras.Input((self.time, self.features))]
            layers += [keras.layers.Masking()] if self.masking == "masking" else []

        layers += [self._recurrent(make_layer, True)] if self.stacked else []
        layers.append(self._recurrent(make_layer, self.return_sequences))
        layers += [keras.layers.GlobalAveragePooling1D()] if self.return_sequences else []
        return layers + [keras.layers.Dense(2)]

    def keras_model(self):
        cls = KERAS_CELLS[self.cell]
        return self.build(lambda units, seq: cls(units, return_sequences=seq))

    def ktr_model(self, **options):
        scheme = "restricted" if self.decomposition == "restricted" else "tensorized"
        cls = ktr.layers.layer_class(self.cell, scheme)
        if scheme == "tensorized":
            options = {"decomposition": self.decomposition, **options}
            if self.decomposition in RANKED:
                # Rank 2 is more than a recurrent kernel of 1-3 units can use.
                options.setdefault("rank", 2 if self.units >= 4 else 1)
        return self.build(lambda units, seq: cls(units, return_sequences=seq, **options))


def user_models(decompositions=ALL, max_units=9, embedding=True):
    maskings = ["none", "masking", "embedding"] if embedding else ["none", "masking"]
    return st.builds(
        UserModel, cell=st.sampled_from(CELLS), units=st.integers(1, max_units),
        features=st.sampled_from([1, 2, 3, 7, 13, 67]), time=st.integers(1, 6),
        masking=st.sampled_from(maskings), bidirectional=st.booleans(), stacked=st.booleans(),
        second_input=st.booleans(), return_sequences=st.booleans(),
        decomposition=st.sampled_from(decompositions), sequential=st.booleans())


# ------------------------------------------------- dense equals Keras's

@pytest.mark.parametrize("profile", PROFILES)
def test_dense_decomposition_equals_keras(profile):
    def check(user):
        x = user.inputs()
        theirs = user.keras_model()
        ours = dataclasses.replace(user, decomposition="dense").ktr_model()
        ours.set_weights(theirs.get_weights())
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                                   atol=2e-5, rtol=1e-4)

    check_property(profile, user_models(), check, examples=10)


@pytest.mark.parametrize("profile", PROFILES)
def test_mixed_precision_layers_match_keras_in_float16(profile):
    def check(user):
        x = user.inputs()
        theirs = user.build(lambda units, seq: KERAS_CELLS[user.cell](
            units, return_sequences=seq, dtype="mixed_float16"))
        ours = dataclasses.replace(user, decomposition="dense").ktr_model(dtype="mixed_float16")
        ours.set_weights(theirs.get_weights())
        ours_out, theirs_out = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
        assert np.all(np.isfinite(ours_out))
        np.testing.assert_allclose(ours_out, theirs_out, atol=2e-2, rtol=2e-2)
        tensorized = user.ktr_model(dtype="mixed_float16")
        assert np.all(np.isfinite(tensorized.predict(x, verbose=0)))

    check_property(profile, user_models(decompositions=RANKED), check, examples=4)


# --------------------------- a truncated nested model is the masked one

@pytest.mark.parametrize("profile", PROFILES)
def test_truncating_a_nested_model_equals_masking_it(profile):
    """At any lower rank, ``ktr.truncate`` computes what the nested model
    computes at that ``inference_rank``; at the top rank, the same model."""
    def check(drawn):
        user, rank = drawn
        x = user.inputs()
        model = user.ktr_model(nested_ranks=True)  # rank 2 (1 below 4 units)
        top = max(layer.cell.weight_scheme.largest_slot_rank
                  for layer in ktr.nested.nested_layers(model))
        full = model.predict(x, verbose=0)
        np.testing.assert_allclose(ktr.truncate(model, top).predict(x, verbose=0), full,
                                   atol=1e-5, rtol=1e-4)
        rank = min(rank, top)
        small = ktr.truncate(model, rank)
        ktr.nested.set_inference_ranks(model, rank)
        np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0),
                                   atol=1e-5, rtol=1e-4)
        assert small.count_params() <= model.count_params()

    drawn = st.tuples(user_models(decompositions=RANKED + ["lowrank"]), st.integers(1, 2))
    check_property(profile, drawn, check, examples=6)


# ------------------------------------- compress at full rank is the original

@pytest.mark.tf_only
@pytest.mark.parametrize("profile", PROFILES)
def test_compress_at_full_rank_equals_the_original(profile):
    def check(user):
        x = user.inputs()
        model = user.keras_model()
        small, report = ktr.compress(model, user.decomposition, rank="full", x=x, fit_steps=0)
        np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0),
                                   atol=1e-4, rtol=1e-3)
        assert report.params_after == small.count_params()

    check_property(profile, user_models(decompositions=RANKED, max_units=6), check, examples=4)


@pytest.mark.tf_only
@pytest.mark.parametrize("profile", PROFILES)
def test_compress_within_a_budget_with_the_data_fit_on_drawn_models(profile):
    def check(user):
        x = user.inputs(rows=8)
        model = user.keras_model()
        dense = {layer.name: layer.count_params() for layer in model.layers
                 if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))}
        size = {} if user.decomposition == "restricted" else {"budget": 0.5}
        try:
            small, report = ktr.compress(model, user.decomposition, x=x, fit_steps=3, **size)
        except ValueError as error:  # a layer too small for any rank: said so
            assert "Raise the budget" in str(error)
            return
        for layer in report.layers:
            assert layer.params_after <= 0.5 * dense[layer.name] or \
                user.decomposition == "restricted"
        assert np.all(np.isfinite(small.predict(x, verbose=0)))
        assert report.output_error is not None and np.isfinite(report.output_error)

    check_property(profile, user_models(decompositions=[*RANKED, "restricted"], max_units=6),
                   check, examples=4)


# -------------------------------------------- a .keras file in a new process

@pytest.mark.parametrize("profile", PROFILES)
def test_keras_files_load_in_a_fresh_process(profile, tmp_path_factory):
    def check(users):
        folder = tmp_path_factory.mktemp("saved")
        for k, user in enumerate(users):
            model = user.ktr_model()
            x = user.inputs(seed=k)
            model.save(folder / f"m{k}.keras")
            xs = x if isinstance(x, list) else [x]
            np.savez(folder / f"x{k}.npz", *xs)
            np.save(folder / f"y{k}.npy", model.predict(x, verbose=0))
        out = run_fresh(f"""
            import keras, numpy as np
            import keras_tensor_rnn
            for k in range({len(users)}):
                model = keras.models.load_model(f"m{{k}}.keras")
                xs = list(np.load(f"x{{k}}.npz").values())
                y = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
                print(float(np.abs(y - np.load(f"y{{k}}.npy")).max()))
        """, folder)
        assert [float(v) < 1e-5 for v in out.split()] == [True] * len(users)

    check_property(profile, st.lists(user_models(), min_size=3, max_size=3), check, examples=1)


# ----------------------------------------- a one-trial search within budget

def _search_case():
    return st.tuples(
        st.lists(st.sampled_from(ALL), min_size=1, max_size=3, unique=True),
        st.sampled_from(CELLS), st.lists(st.integers(1, 12), min_size=1, max_size=2, unique=True),
        st.integers(60, 1500), st.integers(0, 10_000))


@pytest.mark.tf_only
@pytest.mark.parametrize("profile", PROFILES)
def test_a_one_trial_search_on_a_drawn_build_model_stays_within_budget(profile, tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 5, 3)).astype("float32")
    y = rng.integers(0, 2, size=24)

    def check(case):
        decompositions, cell, units, budget, seed = case

        def build_model(hp):
            inputs = keras.Input((5, 3))
            h = ktr.search.recurrent(hp, cell, units=units, decompositions=decompositions,
                                     rank=(1, 4), d=(2,))(inputs)
            model = keras.Model(inputs, keras.layers.Dense(2)(h))
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            return model

        folder = tmp_path_factory.mktemp("search")
        try:
            result = ktr.search.run(build_model, x=x, y=y, validation_split=0.25, budget=budget,
                                    max_trials=1, epochs=1, seed=seed, verbose=False,
                                    tracking_uri=f"sqlite:///{folder}/m.db",
                                    directory=str(folder / "runs"))
        except ValueError as error:  # nothing fits: said before any training
            assert "fits the budget" in str(error)
            return
        assert [row["params"] <= budget for row in result.rows] == [True]

    check_property(profile, _search_case(), check, examples=3)


# ------------------------------------------------ LiteRT equals Keras

@pytest.mark.tf_only
@pytest.mark.parametrize("profile", PROFILES)
def test_litert_outputs_equal_keras(profile, tmp_path_factory):
    from keras_tensor_rnn import export

    def check(user):
        model = user.ktr_model()
        x = user.inputs(rows=3)
        path = export.export_litert(model, tmp_path_factory.mktemp("litert") / "m.tflite")
        np.testing.assert_allclose(export.litert_predict(path, x), model.predict(x, verbose=0),
                                   atol=1e-4, rtol=1e-3)

    single_input = user_models(embedding=False).filter(
        lambda u: not u.second_input and u.masking == "none")
    check_property(profile, single_input, check, examples=2)
