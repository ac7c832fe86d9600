import keras
import numpy as np
import pytest
from conftest import gradients

from keras_tensor_rnn import contraction, factorizations


def test_planned_contraction_equals_numpy_einsum(rng):
    subscripts = "bij,aipc,cjqd->bpq"
    ops = [rng.standard_normal(s).astype("float32")
           for s in [(7, 5, 6), (1, 5, 3, 4), (4, 6, 2, 1)]]
    got = keras.ops.convert_to_numpy(contraction.contract(subscripts, *ops))
    np.testing.assert_allclose(got, np.einsum(subscripts, *ops), rtol=1e-5, atol=1e-5)


def test_plan_is_cached_and_takes_the_cheapest_order_by_the_cost_model():
    shapes = ((8, 5), (5, 3), (3, 4))
    p1 = contraction.plan("bi,ij,jk->bk", shapes)
    assert p1 is contraction.plan("bi,ij,jk->bk", shapes)
    # Every pairwise order of the chain, given to opt_einsum explicitly.
    orders = {path: contraction._plan_with("bi,ij,jk->bk", shapes, list(path))
              for path in [((0, 1), (0, 1)), ((1, 2), (0, 1)), ((0, 2), (0, 1))]}
    assert p1.cost == min(p.cost for p in orders.values())
    # (bi,ij) first: 2*8*5*3 + 2*8*3*4 = 432 FLOPs; (ij,jk) first: 440.
    assert orders[((0, 1), (0, 1))].flops == 432
    assert orders[((1, 2), (0, 1))].flops == 440
    assert p1.largest_intermediate >= 8 * 4


def test_cost_counts_flops_reads_writes_and_steps():
    p = contraction.plan("bi,ij->bj", ((8, 5), (5, 3)))
    assert (p.flops, p.traffic, p.written) == (2 * 8 * 5 * 3, 8 * 5 + 5 * 3 + 8 * 3, 8 * 3)
    assert p.cost == (p.flops + contraction.READ_COST * (8 * 5 + 5 * 3)
                      + contraction.WRITE_COST * 8 * 3 + contraction.STEP_COST)
    assert p.cost == contraction.matmul_cost(8, 5, 3)


def test_plan_traffic_counts_operands_results_and_transposes():
    # bi,ij->bj needs no transpose: read both operands, write the result.
    assert contraction.plan("bi,ij->bj", ((8, 5), (5, 3))).traffic == 8 * 5 + 5 * 3 + 8 * 3
    # ib,ij->bj: either transpose `a` (40 elements read and written again), or
    # swap the operands, transpose `b` (15) and the (j, b) result (24): 78 < 80.
    base = 8 * 5 + 5 * 3 + 8 * 3
    assert contraction.plan("ib,ij->bj", ((5, 8), (5, 3))).traffic == base + 2 * (15 + 24)
    # The executed contraction takes that order and still gives einsum's numbers.
    a, b = np.arange(40.0).reshape(5, 8), np.arange(15.0).reshape(5, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(contraction.pairwise("ib,ij->bj", a, b)),
                               np.einsum("ib,ij->bj", a, b))


def test_cost_model_rebuilds_small_loop_matrices_and_keeps_wide_ones_factorized():
    from keras_tensor_rnn import factorizations

    tt = factorizations.get("tt")
    recurrent = tt((128, 512), rank=4, d=2)
    assert recurrent.reconstruct_once(128, 28)          # small shape: one GEMM per step
    wide = tt((57600, 1024), rank=4, d=4)
    assert wide.choose_implementation(96) == "factorized"   # UCF11 projection
    assert not wide.reconstruct_once(96, 6)
    forced = tt((128, 512), rank=4, d=2, implementation="factorized")
    assert not forced.reconstruct_once(128, 28)
    assert tt((128, 512), rank=4, d=2, implementation="reconstructed").reconstruct_once(1, 1)


def ucf11_projection_plans(out_modes=None):
    """The UCF11 input projection (96 rows of 57,600 = 16*16*15*15 features,
    a rank-4 tensor train to 1,024 outputs): the planned order and the one
    with the fewest FLOPs."""
    from keras_tensor_rnn import factorizations

    tt = factorizations.get("tt")((57600, 1024), rank=4, d=4, out_modes=out_modes)
    subscripts = tt.matmul_subscripts()
    shapes = ((96,) + tt.in_modes,) + tuple(tt.factor_shapes)
    return (contraction.plan(subscripts, shapes),
            contraction._plan_with(subscripts, shapes, "optimal"))


def test_products_keep_a_wide_input_in_place():
    # Every product multiplies a small core (or product of cores) into the
    # input or an intermediate as it lies; no transpose of the input. The
    # classic layout (batch+left+contracted) transposes the input and every
    # intermediate: about 27 million elements moved.
    planned, fewest_flops = ucf11_projection_plans()
    for p in (planned, fewest_flops):
        assert p.moved < 2 * 96 * 57600
        assert p.moved < 5_000_000


@pytest.mark.parametrize("out_modes", [(16, 4, 4, 4), (64, 4, 2, 2)])
def test_small_cores_meet_before_the_wide_input(out_modes):
    # The fewest-FLOPs order runs the input through a chain of thin GEMMs
    # (contracted side 15, then 60...), each writing an intermediate of
    # millions of elements. The planned order multiplies the two last cores
    # first: the input meets one GEMM over 15*15 = 225 features. It costs
    # more FLOPs but writes several times less (measured 3x faster on CPU,
    # see benchmarks/README.md).
    planned, fewest_flops = ucf11_projection_plans(out_modes)
    assert planned.cost < fewest_flops.cost
    assert planned.flops > fewest_flops.flops
    assert 3 * planned.written < fewest_flops.written
    operands = [step.split("->")[0].split(",") for _, step in planned.steps]
    a, b = next(pair for pair in operands if "nabcd" in pair)  # the step that reads the input
    assert len(set(a) & set(b) & set("abcd")) == 2  # two input modes contracted at once


NETWORKS = [
    # tensor train (chain of cores), as matmul against a batch
    ("nabc,iaej,jbfk,kcgl->nefg", [(6, 3, 4, 5), (1, 3, 2, 2), (2, 4, 3, 2), (2, 5, 2, 1)]),
    # tensor ring: the first and last bond are shared and contracted
    ("nab,iaej,jbfi->nef", [(6, 3, 4), (2, 3, 2, 3), (3, 4, 5, 2)]),
    # CP: one rank letter shared by all factors
    ("nab,ar,br,er,fr->nef", [(6, 3, 4), (3, 5), (4, 5), (2, 5), (3, 5)]),
    # Tucker: core in the middle
    ("nab,ap,bq,pqrs,er,fs->nef", [(6, 3, 4), (3, 2), (4, 2), (2, 2, 3, 3), (2, 3), (5, 3)]),
    # batch letter kept by both operands
    ("bij,bjk->bik", [(4, 3, 5), (4, 5, 2)]),
    # summed-out letters and an outer product
    ("ij,kl->ik", [(3, 4), (5, 6)]),
]


@pytest.mark.parametrize("subscripts,shapes", NETWORKS)
def test_every_layout_gives_einsums_numbers(rng, subscripts, shapes):
    ops = [rng.standard_normal(s).astype("float32") for s in shapes]
    got = keras.ops.convert_to_numpy(contraction.contract(subscripts, *ops))
    np.testing.assert_allclose(got, np.einsum(subscripts, *ops), rtol=1e-4, atol=1e-4)


CUSTOM_GRADIENT_ONLY = pytest.mark.skipif(
    keras.backend.backend() not in contraction.CUSTOM_GRADIENT_BACKENDS,
    reason="the split and tiled gradients are written for the backends that compile with XLA")


@CUSTOM_GRADIENT_ONLY
def test_split_gradient_matmul_has_the_plain_gradient(monkeypatch):
    """A big input's product with a small factor takes its factor gradient
    as two halves (XLA's CPU dot and TensorFlow's runtime run the plain form
    slowly): the same gradients, for the factor and the input, in eager
    mode and compiled; small or odd-sized products keep the plain matmul."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 300)).astype("float32")
    w = rng.standard_normal((300, 4)).astype("float32")
    assert x.size >= contraction.SPLIT_GRADIENT_ELEMENTS
    split = []
    original = contraction._split_gradient_matmul
    monkeypatch.setattr(contraction, "_split_gradient_matmul",
                        lambda a, b: split.append(a.shape) or original(a, b))

    def loss(matmul):
        return lambda t: keras.ops.sum(keras.ops.sin(matmul(t[0], t[1])))

    want = gradients(loss(keras.ops.matmul), [x, w])
    for got in (gradients(loss(contraction._matmul), [x, w]),
                gradients(_compiled(loss(contraction._matmul)), [x, w])):
        for g, expected in zip(got, want):
            np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-3)
    assert split, "the big product did not take the split gradient"
    split.clear()
    for small in (x[:64], x[:4095]):
        contraction._matmul(keras.ops.convert_to_tensor(small), keras.ops.convert_to_tensor(w))
    assert not split


@CUSTOM_GRADIENT_ONLY
def test_tiled_matmul_has_the_plain_gradient(rng, monkeypatch):
    """A small matrix tiled over an input's leading dimension takes its
    gradient as a summed batch of ``x[p] @ g[p]^T`` (XLA's CPU dot runs the
    natural form slowly): the same gradients as the broadcast product, for
    the matrix and the input, eager and compiled; an MPS projection over a
    wide input takes this path."""
    w = rng.standard_normal((4, 30)).astype("float32")
    x = rng.standard_normal((12, 30, 8)).astype("float32")

    def loss(product):
        return lambda t: keras.ops.sum(keras.ops.sin(product(t[0], t[1])))

    def broadcast(a, b):
        return keras.ops.matmul(keras.ops.broadcast_to(a, (b.shape[0],) + tuple(a.shape)), b)

    want = gradients(loss(broadcast), [w, x])
    assert np.abs(want[0]).max() > 0.1
    for got in (gradients(loss(contraction._tiled_matmul), [w, x]),
                gradients(_compiled(loss(contraction._tiled_matmul)), [w, x])):
        for g, expected in zip(got, want):
            np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-4)

    tiled = []
    original = contraction._tiled_matmul
    monkeypatch.setattr(contraction, "_tiled_matmul",
                        lambda a, b: tiled.append(tuple(b.shape)) or original(a, b))
    mps = factorizations.get("mps")((4 * 6 * 25, 64), rank=3, d=3).initialize(seed=0)
    inputs = rng.standard_normal((16, 4 * 6 * 25)).astype("float32")
    got = keras.ops.convert_to_numpy(mps.matmul(keras.ops.convert_to_tensor(inputs)))
    np.testing.assert_allclose(got, inputs @ keras.ops.convert_to_numpy(mps.full()),
                               rtol=1e-4, atol=1e-4)
    assert tiled, "no factor of the MPS projection was tiled"


def _compiled(fn):
    """``fn`` compiled by the backend (XLA), as a Keras train step runs it."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True, autograph=False)
    import jax

    return jax.jit(fn)


@pytest.mark.parametrize("subscripts,shapes", NETWORKS + [
    # a batch of one meets a tensor train: the cheapest order multiplies the
    # cores together first (a dense matrix), which an exporter would fold
    ("nabc,iaej,jbfk,kcgl->nefg", [(1, 8, 8, 8), (1, 8, 4, 4), (4, 8, 4, 4), (4, 8, 4, 1)]),
    # MPS: input cores, then output cores, in one chain
    ("nab,iaj,jbk,kel,lfm->nef", [(1, 6, 7), (1, 6, 3), (3, 7, 3), (3, 4, 3), (3, 5, 1)]),
])
def test_input_first_chains_from_the_input_and_tiles_nothing(rng, monkeypatch, subscripts,
                                                               shapes):
    """Within `input_first` (what exporters use) every step multiplies the
    running product, which starts at the first operand, with one operand;
    no factor is tiled; the numbers are einsum's; the context ends with its
    block."""
    ops = [rng.standard_normal(s).astype("float32") for s in shapes]

    def no_tiling(*args, **kwargs):
        raise AssertionError("a factor was tiled")

    with contraction.input_first():
        assert contraction.inputs_first()
        chain = contraction.plan(subscripts, tuple(shapes))
        with monkeypatch.context() as patched:
            patched.setattr(keras.ops, "broadcast_to", no_tiling)
            got = keras.ops.convert_to_numpy(contraction.contract(subscripts, *ops))
    assert not contraction.inputs_first()
    np.testing.assert_allclose(got, np.einsum(subscripts, *ops), rtol=1e-4, atol=1e-4)
    length = len(shapes)
    for k, (positions, _) in enumerate(chain.steps):
        running = 0 if k == 0 else length - 1  # opt_einsum appends each product
        assert running in positions, chain.steps
        length -= len(positions) - 1


def test_input_first_keeps_a_batch_of_one_from_multiplying_the_factors_together():
    """What made a compressed model's LiteRT file as large as the dense one:
    at batch 1 the cost model rebuilds a recurrent matrix once per sequence,
    or multiplies factors together before the input. Within `input_first`
    neither happens."""
    from keras_tensor_rnn import factorizations, matmul_paths

    tt = factorizations.get("tt")((128, 512), rank=8, d=2)
    cp = factorizations.get("cp")((64, 256), rank=4, d=4)
    shapes = ((1,) + cp.in_modes,) + tuple(cp.factor_shapes)
    assert matmul_paths.reconstruct_once(tt, 1, 40)
    assert 0 not in contraction.plan(cp.matmul_subscripts(), shapes).steps[0][0]
    with contraction.input_first():
        assert not matmul_paths.reconstruct_once(tt, 1, 40)
        assert matmul_paths.choose(tt, 1) == "factorized"
        assert 0 in contraction.plan(cp.matmul_subscripts(), shapes).steps[0][0]
    # A dense side is its own matrix, and explicit choices are the user's.
    explicit = factorizations.get("tt")((128, 512), rank=8, d=2, implementation="reconstructed")
    with contraction.input_first():
        assert matmul_paths.choose(explicit, 1) == "reconstructed"
        assert matmul_paths.reconstruct_once(factorizations.get("dense")((128, 512)), 1, 40)


@pytest.mark.tf_only
def test_a_graph_with_an_unknown_batch_traces_where_a_product_is_tiled():
    """At 256 x 256 the input projection's plan tiles an intermediate that
    holds the batch; traced with an unknown batch (``model.export``, a new
    ``predict`` batch), its shape has a None."""
    import tensorflow as tf

    import keras_tensor_rnn as ktr

    inputs = keras.Input((10, 256))
    model = keras.Model(inputs, ktr.layers.TensorizedLSTM(256, decomposition="tt", rank=4)(inputs))
    traced = tf.function(model, input_signature=[tf.TensorSpec((None, 10, 256))])
    x = np.random.default_rng(0).standard_normal((3, 10, 256)).astype("float32")
    np.testing.assert_allclose(traced(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("have, want, axes", [
    ("abcdefg", "adebcfg", 4),  # runs [a][de][bc][fg]
    ("abcdefg", "gfedcba", 7),  # nothing moves together
    ("abcdefg", "efgabcd", 2),
])
def test_letters_that_stay_together_move_as_one_axis(monkeypatch, have, want, axes):
    """A block-term product at ``d=3`` arranges 7 letters; LiteRT's builtin
    Transpose takes at most 6 axes, so runs of letters adjacent in both
    orders are merged first, and the result equals numpy's transpose."""
    x = np.random.default_rng(0).standard_normal((2, 3, 1, 4, 2, 5, 3)).astype("float32")
    ranks = []
    transpose = keras.ops.transpose
    monkeypatch.setattr(keras.ops, "transpose",
                        lambda t, perm: ranks.append(len(perm)) or transpose(t, perm))
    got = keras.ops.convert_to_numpy(contraction._arrange(keras.ops.convert_to_tensor(x), have, want))
    np.testing.assert_array_equal(got, np.transpose(x, [have.index(c) for c in want]))
    assert ranks == [axes]
