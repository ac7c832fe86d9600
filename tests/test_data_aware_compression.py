"""Compression that keeps accuracy: fitting factors on the layer's own inputs
and hidden states, and distillation fine-tuning against the dense model."""

import keras
import numpy as np
import pytest

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets, factorizations
from keras_tensor_rnn.factorizations import data_fit

DECOMPOSITIONS = [n for n in factorizations.names() if n != "dense"]


def _anisotropic_inputs(n, width, seed=1):
    """Inputs that use a few directions much more than others, as real
    activations do."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((width, width)))[0]
    return (rng.standard_normal((n, width)) * np.geomspace(3.0, 0.01, width)) @ basis.T


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_data_fit_lowers_the_output_error_of_every_decomposition(name):
    w = np.random.default_rng(0).standard_normal((24, 16))
    x = _anisotropic_inputs(300, 24)
    weights_fit = factorizations.get(name)((24, 16), rank=2, d=2).fit(w)
    fitted = data_fit.fit_outputs(weights_fit, w, x)
    before, after = data_fit.output_error(weights_fit, w, x), data_fit.output_error(fitted, w, x)
    assert after < 0.8 * before
    assert fitted.factor_shapes == weights_fit.factor_shapes


@pytest.mark.parametrize("name", ["tt", "tr", "cp", "bt"])
def test_data_fit_gradient_matches_finite_differences(name):
    """The hand-written gradient (the einsum with one factor's subscripts as
    output, edge bonds broadcast) is the derivative of the loss."""
    from scipy.optimize import approx_fprime

    w = np.random.default_rng(0).standard_normal((12, 8))
    x = _anisotropic_inputs(50, 12)
    start = factorizations.get(name)((12, 8), rank=2, d=2).fit(w)
    loss_and_gradient, flat, unpack = data_fit.objective(start, w, x)
    point = flat + 0.05 * np.random.default_rng(2).standard_normal(flat.shape)
    numeric = approx_fprime(point, lambda v: loss_and_gradient(v)[0], 1e-7)
    np.testing.assert_allclose(loss_and_gradient(point)[1], numeric, rtol=1e-3, atol=1e-5)
    assert [f.shape for f in unpack(flat)] == [tuple(s) for s in start.factor_shapes]


@pytest.fixture(scope="module")
def trained_lstm():
    """A dense LSTM trained a few epochs on MNIST-1D (a trained layer: its
    kernels are not random)."""
    keras.utils.set_random_seed(0)
    (x, y), (x_val, y_val) = datasets.load_mnist1d(features=4, num_train=1500, num_test=400)
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.LSTM(32, name="lstm"),
                              keras.layers.Dense(10, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    return model, (x, y), (x_val, y_val)


def _product_errors(model, compressed, x):
    """Relative errors of the compressed LSTM's input and recurrent products
    on what the dense LSTM sees on ``x``: its inputs and its hidden states."""
    dense = model.get_layer("lstm")
    config = {**dense.get_config(), "return_sequences": True, "name": "states"}
    copy = keras.layers.LSTM.from_config(config)
    copy.build(x.shape)
    copy.set_weights(dense.get_weights())
    h = keras.ops.convert_to_numpy(copy(x))
    states = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1).reshape(-1, h.shape[-1])
    inputs = x.reshape(-1, x.shape[-1])
    kernel, recurrent = (keras.ops.convert_to_numpy(k) for k in (dense.cell.kernel,
                                                                   dense.cell.recurrent_kernel))
    new_kernel, new_recurrent = (keras.ops.convert_to_numpy(k)
                                 for k in compressed.get_layer("lstm").cell.dense_kernels())
    return [float(np.linalg.norm(rows @ (new - old)) / np.linalg.norm(rows @ old))
            for rows, new, old in ((inputs, new_kernel, kernel),
                                   (states, new_recurrent, recurrent))]


@pytest.mark.xdist_group("data_aware_compression")  # its module fixture, built once
def test_data_aware_fit_beats_the_weight_fit_on_a_trained_layer(trained_lstm):
    model, (x, _), _ = trained_lstm
    sample = x[:256]
    by_weights, weights_report = ktr.compress(model, "tt", budget=0.15, d=2, x=sample,
                                              fit="weights")
    by_data, data_report = ktr.compress(model, "tt", budget=0.15, d=2, x=sample, fit_steps=0)
    assert weights_report.weights_fit_output_error is None
    # The default with x is the data-aware fit; the report gives both errors.
    assert data_report.weights_fit_output_error == pytest.approx(weights_report.output_error,
                                                                 rel=1e-5)
    assert "weights-only fit" in str(data_report)
    # On the data the layer really sees, both products are closer to the
    # dense ones than the weight-space fit's (the trained kernels are far
    # from low rank in the weight metric).
    weights_errors = _product_errors(model, by_weights, sample)
    data_errors = _product_errors(model, by_data, sample)
    assert data_errors[0] < weights_errors[0]  # 4 input features: little room
    assert data_errors[1] < 0.9 * weights_errors[1]


@pytest.mark.xdist_group("data_aware_compression")  # its module fixture, built once
def test_distillation_without_labels_learns_from_the_teacher(trained_lstm):
    model, (x, _), (x_val, y_val) = trained_lstm
    teacher = np.argmax(keras.ops.convert_to_numpy(model.predict(x_val, verbose=0)), -1)

    def scores(student):
        predicted = np.argmax(keras.ops.convert_to_numpy(student.predict(x_val, verbose=0)), -1)
        return float(np.mean(predicted == teacher)), float(np.mean(predicted == y_val))

    before, _ = ktr.compress(model, "tt", budget=0.15, d=2, x=x[:256], fit_steps=0)
    tuned, report = ktr.compress(model, "tt", budget=0.15, d=2, x=x[:256], fit_steps=0,
                                 fine_tune=ktr.compression.FineTune(x, None, epochs=3))
    (agreement_before, accuracy_before), (agreement, accuracy) = scores(before), scores(tuned)
    assert agreement > agreement_before + 0.1  # it follows the teacher, with no label seen
    assert accuracy > accuracy_before + 0.05
    # 1,500 rows: too few to hold a tenth out for early stopping, all train.
    assert len(report.history["loss"]) == 3 and "val_loss" not in report.history
    assert tuned.evaluate(x_val, y_val, verbose=0)[1] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.xdist_group("data_aware_compression")  # its module fixture, built once
@pytest.mark.tf_only  # CI time: distillation on JAX is tested by the test above
def test_distillation_also_matches_the_replaced_layers_outputs(trained_lstm):
    """The replaced layer's outputs are a target of their own (hints): with
    them the compressed layer ends closer to the dense layer's outputs than
    when only the model outputs are matched, from the same start."""
    model, (x, y), _ = trained_lstm
    errors, histories = {}, {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        tune = ktr.compression.FineTune(x, y, epochs=2, feature_weight=weight, patience=5)
        _, report = ktr.compress(model, "tt", budget=0.15, d=2, x=x[:256], fit_steps=0,
                                 fine_tune=tune)
        errors[weight], histories[weight] = report.layers[0].output_error, report.history
    assert errors[1.0] < 0.9 * errors[0.0], errors
    # One loss per target: the model output, and the LSTM layer's output.
    assert len([k for k in histories[1.0] if k.endswith("_loss") and "val" not in k]) == 2
    assert not [k for k in histories[0.0] if k.endswith("_loss") and "val" not in k]


def test_fine_tune_batch_gives_enough_steps_within_keras_defaults():
    tune = ktr.compression.FineTune(None, epochs=3)
    assert tune.batch_for(3600) == 10  # 3 epochs of 10 rows: 1,080 steps
    assert tune.batch_for(10**6) == 32  # never above Keras's default batch
    assert tune.batch_for(100) == 8  # nor below 8
    assert ktr.compression.FineTune(None, batch_size=64).batch_for(100) == 64


@pytest.mark.xdist_group("data_aware_compression")  # its module fixture, built once
def test_fine_tune_refuses_a_malformed_request(trained_lstm):
    model, (x, _), _ = trained_lstm
    with pytest.raises(ValueError, match="`fine_tune` must be a tuple"):
        ktr.compress(model, "tt", rank=2, d=2, fine_tune=3)
    with pytest.raises(ValueError, match="`fit` must be one of"):
        ktr.compress(model, "tt", rank=2, d=2, fit="best")
    with pytest.raises(ValueError, match="pass them as `x`"):
        ktr.compress(model, "tt", rank=2, d=2, fit="data")


def test_allocate_takes_the_best_error_per_parameter_within_the_budget():
    from keras_tensor_rnn.rank_allocation import Option, allocate

    options = {"sensitive": [Option(1, 10, 9.0), Option(2, 20, 2.0), Option(4, 40, 0.5)],
               "robust": [Option(1, 10, 1.0), Option(2, 20, 0.9), Option(4, 40, 0.1)]}

    def total(pick):
        return 5 + sum(o.params for o in pick.values())  # 5: parameters no option changes

    chosen = allocate(options, total, budget=55)
    assert {u: o.value for u, o in chosen.items()} == {"sensitive": 4, "robust": 1}
    assert total(chosen) <= 55
    # Exactly at the boundary: one more step of any unit would not fit.
    assert all(total({**chosen, u: o}) > 55 for u, opts in options.items() for o in opts
               if o.params > chosen[u].params)
    with pytest.raises(ValueError, match="No allocation fits a budget of 20"):
        allocate(options, total, budget=20)


@pytest.mark.xdist_group("data_aware_compression")  # its module fixture, built once
@pytest.mark.tf_only  # CI time (30 s on JAX): allocation reads counts, no backend math of its own
def test_sensitivity_allocation_respects_the_whole_budget(trained_lstm):
    model, (x, _), _ = trained_lstm
    lstm = model.get_layer("lstm")
    budget = int(0.1 * lstm.count_params())
    small, report = ktr.compress(model, "tt", budget=budget, d=2, x=x[:256], fit_steps=0,
                                 allocation="sensitivity")
    layer = small.get_layer("lstm")
    assert layer.count_params() <= budget
    assert layer.count_params() > 0.6 * budget  # the budget is used, not left idle
    # The input (4 features) and recurrent (32 units) sides get their own ranks.
    assert layer.recurrent_rank is not None
    assert report.layers[0].params_after == layer.count_params()
    with pytest.raises(ValueError, match="give `budget`, `x`"):
        ktr.compress(model, "tt", rank=2, d=2, allocation="sensitivity")
    with pytest.raises(ValueError, match="`allocation` must be one of"):
        ktr.compress(model, "tt", rank=2, d=2, allocation="greedy")


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("rnn", [keras.layers.LSTM, keras.layers.GRU])
def test_trajectory_is_the_layers_own_steps(rnn, go_backwards):
    """The teacher-forcing rows are the steps the layer takes: each step's
    states are the next step's start, and the last ones are the layer's
    final states (in the layer's own time order)."""
    from keras_tensor_rnn import output_fit

    keras.utils.set_random_seed(0)
    layer = rnn(6, return_state=True, go_backwards=go_backwards)
    x = np.random.default_rng(0).standard_normal((5, 4, 3)).astype("float32")
    final = [keras.ops.convert_to_numpy(s) for s in layer(x)[1:]]
    rows, before, after = output_fit.trajectory(layer.cell, x, go_backwards)
    assert rows.shape == (20, 3) and len(before) == len(after) == len(final)
    first = 3 if go_backwards else 0
    np.testing.assert_array_equal(rows[:5], x[:, first])
    for b, a, f in zip(before, after, final):
        np.testing.assert_array_equal(b[:5], 0.0)
        np.testing.assert_allclose(b[5:], a[:-5], atol=1e-6)
        np.testing.assert_allclose(a[-5:], f, atol=1e-5)
    subset = output_fit.trajectory(layer.cell, x, go_backwards, max_rows=7)
    assert subset[0].shape == (7, 3) and subset[1][0].shape == (7, 6)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_windows_restart_the_layer_where_it_was(go_backwards, masked):
    """Each window, run from the states it starts with, gives the layer's
    own outputs at its steps; windows without a real step are left out."""
    from keras_tensor_rnn import output_fit

    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(6, return_sequences=True, go_backwards=go_backwards)
    x = np.random.default_rng(0).standard_normal((4, 10, 3)).astype("float32")
    lengths = [10, 7, 3, 1] if masked else [10] * 4
    mask = np.arange(10)[None] < np.array(lengths)[:, None]
    full = keras.ops.convert_to_numpy(layer(x, mask=mask if masked else None))
    cut, real, starts = output_fit.windows(layer.cell, x, 4, go_backwards,
                                           mask if masked else None)
    # In processing order, padded to 12 steps: three windows a sequence.
    order = (slice(None), slice(None, None, -1) if go_backwards else slice(None))
    expected_real = np.pad(mask[order], ((0, 0), (0, 2))).reshape(12, 4)
    keep = expected_real.any(axis=1)
    assert len(cut) == keep.sum() == (12 if not masked else 9 if go_backwards else 7)
    np.testing.assert_array_equal(real, expected_real[keep])
    np.testing.assert_array_equal(cut, np.pad(x[order], ((0, 0), (0, 2), (0, 0)))
                                  .reshape(12, 4, 3)[keep])
    rerun = keras.layers.RNN(layer.cell, return_sequences=True)(
        cut, mask=real, initial_state=list(starts))
    wanted = np.pad(full, ((0, 0), (0, 2), (0, 0))).reshape(12, 4, 6)[keep]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rerun)[real], wanted[real], atol=1e-5)


@pytest.mark.tf_only  # which stage runs is backend-neutral; the stages run on JAX in the tests around
@pytest.mark.parametrize("time, windowed", [(64, False), (65, True)])
def test_long_sequences_are_fit_on_windows_first(monkeypatch, time, windowed):
    """Sequences longer than 64 steps take the window stage, shorter ones do
    not; either way the fit never ends worse than it started."""
    from keras_tensor_rnn import output_fit

    assert output_fit.LONG_SEQUENCE == 2 * output_fit.WINDOW == 64
    cuts, cut = [], output_fit._windows
    monkeypatch.setattr(output_fit, "_windows", lambda *a: cuts.append(a[0].shape) or cut(*a))
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((8, time, 3)).astype("float32")
    dense = keras.layers.LSTM(8)
    dense(x)
    small = ktr.layers.TensorizedLSTM(8, decomposition="cp", rank=2)
    small(x)
    before, after = output_fit.fit_outputs(dense, small, x, steps=4)
    assert after <= before
    assert cuts == ([(8, time, 3)] if windowed else [])


@pytest.mark.xdist_group("data_aware_compression")  # its module fixture, built once
def test_output_fit_lowers_the_layers_output_error_on_a_trained_layer(trained_lstm):
    """Matching the output sequence beats matching the products alone, and
    the fit never ends worse than it started."""
    from keras_tensor_rnn import output_fit

    model, (x, _), (x_val, _) = trained_lstm
    keras.utils.set_random_seed(0)
    products, products_report = ktr.compress(model, "tt", budget=0.15, d=2, x=x[:256],
                                             fit_steps=0)
    keras.utils.set_random_seed(0)
    fitted, report = ktr.compress(model, "tt", budget=0.15, d=2, x=x[:256], fit_steps=150)
    assert report.layers[0].output_error < 0.8 * products_report.layers[0].output_error
    assert report.weights_fit_output_error == pytest.approx(
        products_report.weights_fit_output_error, rel=1e-5)
    # Also on data the fit never saw.
    def error_on(compressed):
        return ktr.output_fit.relative_error(compressed.predict(x_val, verbose=0),
                                             model.predict(x_val, verbose=0))
    assert error_on(fitted) < error_on(products)
    # Refitting the fitted layer: never worse; a copy of the dense layer: untouched.
    dense, small = model.get_layer("lstm"), fitted.get_layer("lstm")
    before, after = output_fit.fit_outputs(dense, small, x[:64], steps=5)
    assert after <= before
    exact, _ = ktr.compress(model, "tt", rank="full", d=2, x=x[:64], fit_steps=0)
    weights = [w.copy() for w in exact.get_weights()]
    before, after = output_fit.fit_outputs(dense, exact.get_layer("lstm"), x[:64])
    assert before == after < output_fit.EXACT
    for a, b in zip(weights, exact.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="an int >= 0"):
        ktr.compress(model, "tt", rank=2, d=2, x=x[:64], fit_steps=-1)
    with pytest.raises(ValueError, match=r"shape \(batch, time, features\)"):
        output_fit.fit_outputs(dense, small, x[:64, 0])


@pytest.mark.tf_only  # CI time: the output fit on JAX is tested by the trained-layer test
def test_output_fit_of_a_bidirectional_gru():
    """Both directions are fit, the backward one on its reversed sequence
    (an untrained model: no low-rank structure to find, still closer)."""
    from keras_tensor_rnn import output_fit

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((128, 6, 5)).astype("float32")
    model = keras.Sequential([keras.Input((6, 5)),
                              keras.layers.Bidirectional(keras.layers.GRU(8), name="bi"),
                              keras.layers.Dense(3)])
    products, report = ktr.compress(model, "tt", rank=2, d=2, x=x, fit_steps=0)
    dense, small = model.get_layer("bi"), products.get_layer("bi")
    for direction in ("forward_layer", "backward_layer"):
        before, after = output_fit.fit_outputs(getattr(dense, direction),
                                               getattr(small, direction), x, steps=100)
        assert after < 0.9 * before, (direction, before, after)
    fitted = ktr.output_fit.relative_error(products.predict(x, verbose=0),
                                           model.predict(x, verbose=0))
    assert fitted < 0.9 * report.output_error
