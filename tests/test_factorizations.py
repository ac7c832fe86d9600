"""Every registered decomposition against numpy: the shared interface tests."""

import math

import keras
import numpy as np
import pytest
from conftest import BACKEND, gradients

import keras_tensor_rnn as ktr
from keras_tensor_rnn import contraction, factorizations, matmul_paths

NAMES = factorizations.names()
FACTORIZED = [n for n in NAMES if n != "dense"]

# (in_dim, out_dim, d): a prime input dimension, and d = 2..4.
SHAPES = [(97, 40, 2), (64, 48, 3), (36, 32, 4)]
SHAPE_IDS = [f"{i}x{o}-d{d}" for i, o, d in SHAPES]


def expected_params(m):
    """Closed-form parameter counts, written independently of the classes."""
    ins, outs, r = m.in_modes, m.out_modes, m.rank
    d = len(ins)
    if m.name == "dense":
        return m.in_dim * m.out_dim
    if m.name == "lowrank":
        return r[0] * (m.in_dim + m.out_dim)
    if m.name == "tt":
        rr = (1, *r, 1)
        return sum(rr[k] * ins[k] * outs[k] * rr[k + 1] for k in range(d))
    if m.name == "tr":
        rr = (*r, r[0])
        return sum(rr[k] * ins[k] * outs[k] * rr[k + 1] for k in range(d))
    if m.name == "mps":
        modes, rr = ins + outs, (1, *r, 1)
        return sum(rr[k] * modes[k] * rr[k + 1] for k in range(2 * d))
    if m.name == "cp":
        return r[0] * sum(i * o for i, o in zip(ins, outs))
    if m.name == "tucker":
        return math.prod(r) + sum(n * rk for n, rk in zip(ins + outs, r))
    if m.name == "bt":
        return m.blocks * (math.prod(r) + sum(i * o * rk for i, o, rk in zip(ins, outs, r)))
    raise AssertionError(f"no formula for {m.name}")


def decaying_matrix(rng, in_dim, out_dim):
    """A matrix with a decaying spectrum in every unfolding, so lower ranks
    are meaningfully worse and higher ranks meaningfully better."""
    ii = np.linspace(0, 1, in_dim)[:, None]
    jj = np.linspace(0, 1, out_dim)[None, :]
    smooth = np.exp(-3 * (ii - jj) ** 2) + np.sin(5 * ii * jj)
    return (smooth + 0.05 * rng.standard_normal((in_dim, out_dim))).astype("float32")


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_matmul_equals_x_times_full(name, shape, rng):
    in_dim, out_dim, d = shape
    m = factorizations.get(name)((in_dim, out_dim), rank=3, d=d).initialize(seed=0)
    x = rng.standard_normal((2, 5, in_dim)).astype("float32")
    y = to_np(m.matmul(x))
    assert y.shape == (2, 5, out_dim)
    full = to_np(m.full())
    assert full.shape == (in_dim, out_dim)
    np.testing.assert_allclose(y, x @ full, rtol=1e-4, atol=1e-4 * np.abs(y).max())
    # Both paths of the planner give the same numbers.
    for path in ("factorized", "reconstructed"):
        forced = factorizations.get(name)((in_dim, out_dim), rank=3, d=d, implementation=path)
        y_path = to_np(forced.matmul(x, factors=m.factors))
        np.testing.assert_allclose(y_path, y, rtol=1e-4, atol=1e-4 * np.abs(y).max())


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_from_dense_full_rank_is_exact(name, shape, rng):
    in_dim, out_dim, d = shape
    w = rng.standard_normal((in_dim, out_dim)).astype("float32")
    m = ktr.factorize(w, name, "full", d=d)
    assert m.reconstruction_error(w) < 1e-5
    np.testing.assert_allclose(to_np(m.full()), w, atol=1e-4)


@pytest.mark.parametrize("name", FACTORIZED)
def test_reconstruction_error_falls_with_rank(name, rng):
    w = decaying_matrix(rng, 64, 48)
    probe = factorizations.get(name)((64, 48), "full", d=3)
    top = max(probe.max_ranks)
    ranks = sorted({1, 2, 4, max(1, top // 2), top})
    errors = [ktr.factorize(w, name, r, d=3).reconstruction_error(w) for r in ranks]
    assert all(b <= a + 1e-6 for a, b in zip(errors, errors[1:])), dict(zip(ranks, errors))
    assert errors[-1] < 0.5 * errors[0], dict(zip(ranks, errors))


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name", NAMES)
def test_num_params_is_real_weight_count(name, shape):
    in_dim, out_dim, d = shape
    m = factorizations.get(name)((in_dim, out_dim), rank=2, d=d).initialize(seed=0)
    assert m.num_params == sum(int(np.prod(f.shape)) for f in m.factors)
    assert m.num_params == expected_params(m)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_factor(name, rng):
    m = factorizations.get(name)((30, 20), rank=2, d=2).initialize(seed=3)
    x = rng.standard_normal((4, 30)).astype("float32")
    arrays = [to_np(f) for f in m.factors]
    grads = gradients(lambda fs: keras.ops.sum(keras.ops.square(m.matmul(x, factors=fs))), arrays)
    assert len(grads) == len(arrays)
    for g, a in zip(grads, arrays):
        assert g.shape == a.shape
        assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("d", [2, 3, 4])
def test_initializer_matches_glorot_variance(name, d):
    shape = (256, 192)
    m = factorizations.get(name)(shape, rank=4, d=d)
    target = 2.0 / sum(shape)
    observed = [float(np.var(to_np(m.initialize(seed=s).full()))) for s in range(2)]
    assert abs(np.mean(observed) / target - 1) < 0.2, observed


@pytest.mark.parametrize("name", FACTORIZED)
def test_initializer_is_configurable(name):
    m = factorizations.get(name)((128, 64), rank=3, d=2)
    he = float(np.var(to_np(m.initialize("he_normal", seed=0).full())))
    assert abs(he / (2.0 / 128) - 1) < 0.2
    fixed = float(np.var(to_np(m.initialize(0.01, seed=0).full())))
    assert abs(fixed / 0.01 - 1) < 0.2


@pytest.mark.tf_only  # CI time: the same numpy and einsum paths on every backend
@pytest.mark.parametrize("name", FACTORIZED)
def test_ucf11_sized_matrix(name, rng):
    """57,600 x 1,024 (the UCF11 input projection of a 256-unit LSTM), small ranks."""
    rank = 2 if name == "tucker" else 4
    m = factorizations.get(name)((57600, 1024), rank=rank, d=4).initialize(seed=0)
    assert m.num_params == expected_params(m)
    # A matrix factorization keeps both full dimensions: 250x, not 10,000x.
    assert m.num_params < 57600 * 1024 / (250 if name == "lowrank" else 10000)
    x = rng.standard_normal((3, 57600)).astype("float32")
    y = to_np(m.matmul(x))
    full = to_np(m.full())
    np.testing.assert_allclose(y, x @ full, rtol=1e-3, atol=1e-4 * np.abs(y).max())
    # Planned by modelled time (FLOPs, memory, steps), which beats a dense
    # GEMM's, with at most half its FLOPs.
    assert matmul_paths.costs(m, 96)["factorized"] < contraction.matmul_cost(96, 57600, 1024)
    assert m.flops(96) < 2 * 96 * 57600 * 1024 / 2
    target = 2.0 / (57600 + 1024)
    assert abs(np.var(full) / target - 1) < 0.2


@pytest.mark.tf_only  # t3f's TT-SVD; the numpy path is covered at smaller sizes
def test_ucf11_tt_from_dense_of_a_low_rank_matrix(rng):
    tt = factorizations.get("tt")((57600, 1024), rank=3, d=4).initialize(seed=1)
    w = to_np(tt.full())
    fitted = ktr.factorize(w, "tt", 3, d=4)
    assert fitted.reconstruction_error(w) < 1e-4


@pytest.mark.parametrize("name", FACTORIZED)
def test_float_rank_is_largest_rank_under_budget(name):
    for fraction in (0.05, 0.3):
        m = factorizations.get(name)((128, 96), rank=fraction, d=2)
        assert m.num_params <= fraction * 128 * 96
        r = max(m.rank)
        if r < max(m.max_ranks):
            bigger = factorizations.get(name)((128, 96), rank=r + 1, d=2)
            assert bigger.num_params > fraction * 128 * 96
        assert ktr.factorizations.largest_rank(name, (128, 96), fraction * 128 * 96, d=2) == r


@pytest.mark.parametrize("name", FACTORIZED)
def test_list_rank_per_slot(name):
    probe = factorizations.get(name)((64, 48), "full", d=3)
    ranks = [max(1, m // 2) for m in probe.max_ranks]
    m = factorizations.get(name)((64, 48), ranks, d=3)
    assert list(m.rank) == ranks


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    m = factorizations.get(name)((97, 40), rank=3, d=2)
    clone = factorizations.deserialize(factorizations.serialize(m))
    assert type(clone) is type(m)
    assert clone.get_config() == m.get_config()
    assert clone.factor_shapes == m.factor_shapes


# ---------------------------------------------------------------- bad input


def test_unknown_decomposition_lists_valid_names():
    with pytest.raises(ValueError, match="Valid names: bt, cp, dense, lowrank, mps, tr, tt, tucker") as e:
        factorizations.get("ttt")
    assert "Did you mean 'tt'" in str(e.value)
    with pytest.raises(ValueError, match="Valid names"):
        ktr.factorize(np.ones((4, 4)), "svd", 2)


@pytest.mark.parametrize("name", FACTORIZED)
@pytest.mark.parametrize("rank", [0, -3])
def test_non_positive_rank(name, rank):
    with pytest.raises(ValueError, match=r"must be in \[1, \d+\].*Received: rank="):
        factorizations.get(name)((64, 48), rank=rank, d=3)


@pytest.mark.parametrize("name", FACTORIZED)
def test_rank_above_largest_useful(name):
    top = max(factorizations.get(name)((64, 48), "full", d=3).max_ranks)
    with pytest.raises(ValueError, match=f"largest useful rank.*Received: rank={top + 1}"):
        factorizations.get(name)((64, 48), rank=top + 1, d=3)
    bad_list = [m + 1 for m in factorizations.get(name)((64, 48), "full", d=3).max_ranks]
    with pytest.raises(ValueError, match=r"rank\[0\]` must be an int in \[1, \d+\]"):
        factorizations.get(name)((64, 48), rank=bad_list, d=3)


@pytest.mark.parametrize("rank", [0.0, -0.5, 1.5])
def test_float_rank_outside_unit_interval(rank):
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        factorizations.get("tt")((64, 48), rank=rank, d=3)


def test_float_rank_too_small_for_any_model():
    with pytest.raises(ValueError, match="smallest 'tucker' model"):
        factorizations.get("tucker")((64, 48), rank=1e-4, d=3)


def test_mode_products_must_match():
    with pytest.raises(ValueError, match=r"product of `in_modes` must equal the dimension 64.*in_modes=\("):
        factorizations.get("tt")((64, 48), rank=2, in_modes=(4, 4, 2), out_modes=(4, 4, 3))
    with pytest.raises(ValueError, match="same number of modes"):
        factorizations.get("tt")((64, 48), rank=2, in_modes=(8, 8), out_modes=(4, 4, 3))
    with pytest.raises(ValueError, match="must be 2-D"):
        ktr.factorize(np.ones((4, 4, 4)), "tt", 2)


def test_wrong_rank_list_length_and_type():
    with pytest.raises(ValueError, match="needs 2 entries"):
        factorizations.get("tt")((64, 48), rank=[2, 2, 2], d=3)
    with pytest.raises(ValueError, match=r"rank\[0\]` must be an int"):
        factorizations.get("tt")((64, 48), rank=[2.5, 2], d=3)
    with pytest.raises(ValueError, match="only string rank is 'full'"):
        factorizations.get("tt")((64, 48), rank="max", d=3)
    with pytest.raises(ValueError, match="must be an int, a list"):
        factorizations.get("tt")((64, 48), rank=object(), d=3)
    with pytest.raises(ValueError, match="needs a `rank`"):
        factorizations.get("cp")((64, 48), d=3)


def test_wrong_input_width_and_factor_shapes(rng):
    m = factorizations.get("tt")((64, 48), rank=2, d=3).initialize(seed=0)
    with pytest.raises(ValueError, match="in_dim=64"):
        m.matmul(np.ones((2, 63), "float32"))
    with pytest.raises(ValueError, match="must have shapes"):
        m.with_factors([np.ones((1, 2, 3, 4))])


# ---------------------------------------------------------------- backends


@pytest.mark.tf_only
def test_tt_is_a_t3f_tensor_train_on_tensorflow(rng):
    import t3f

    w = rng.standard_normal((60, 24)).astype("float32")
    tt = ktr.factorize(w, "tt", 4, d=2)
    as_t3f = tt.to_t3f()
    assert isinstance(as_t3f, t3f.TensorTrain) and as_t3f.is_tt_matrix()
    einsum_full = factorizations.TensorTrainMatrix.__mro__[1].full(tt)
    np.testing.assert_allclose(to_np(t3f.full(as_t3f)), to_np(einsum_full), atol=1e-5)
    via_t3f = factorizations.get("tt")((60, 24), 4, d=2, implementation="t3f")
    x = rng.standard_normal((5, 60)).astype("float32")
    np.testing.assert_allclose(
        to_np(via_t3f.matmul(x, factors=tt.factors)), to_np(tt.matmul(x)), rtol=1e-4, atol=1e-4
    )


def test_tt_rounding(rng):
    w = rng.standard_normal((64, 48)).astype("float32")
    tt = ktr.factorize(w, "tt", 8, d=3)
    same = tt.round(8)
    np.testing.assert_allclose(to_np(same.full()), to_np(tt.full()), atol=1e-4)
    lower = tt.round(3)
    assert lower.rank == (3, 3)
    direct = ktr.factorize(to_np(tt.full()), "tt", 3, d=3)
    rebuilt = to_np(tt.full())
    assert lower.reconstruction_error(rebuilt) <= direct.reconstruction_error(rebuilt) * 1.05 + 1e-6


def test_backend_is_the_expected_one():
    assert BACKEND in ("tensorflow", "jax", "torch")
