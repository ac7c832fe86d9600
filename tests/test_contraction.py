import keras
import numpy as np

from keras_tensor_rnn import contraction


def test_planned_contraction_equals_numpy_einsum(rng):
    subscripts = "bij,aipc,cjqd->bpq"
    ops = [rng.standard_normal(s).astype("float32")
           for s in [(7, 5, 6), (1, 5, 3, 4), (4, 6, 2, 1)]]
    got = keras.ops.convert_to_numpy(contraction.contract(subscripts, *ops))
    np.testing.assert_allclose(got, np.einsum(subscripts, *ops), rtol=1e-5, atol=1e-5)


def test_plan_is_cached_and_counts_flops():
    shapes = ((8, 5), (5, 3), (3, 4))
    p1 = contraction.plan("bi,ij,jk->bk", shapes)
    assert p1 is contraction.plan("bi,ij,jk->bk", shapes)
    # Best order: (ij,jk) first costs 2*5*3*4 + 2*8*5*4 = 440 < (bi,ij) first 2*8*5*3 + 2*8*3*4 = 432?
    # Whatever the order, it is no worse than either of the two.
    assert p1.flops <= min(2 * 5 * 3 * 4 + 2 * 8 * 5 * 4, 2 * 8 * 5 * 3 + 2 * 8 * 3 * 4)
    assert p1.largest_intermediate >= 8 * 4
