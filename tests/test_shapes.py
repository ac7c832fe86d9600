import math

import pytest

from keras_tensor_rnn import factorizations, shapes


@pytest.mark.parametrize("n", [1, 2, 7, 28, 97, 256, 1000, 1024, 4093, 57600])
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_auto_modes_cover_and_are_balanced(n, d):
    modes = shapes.auto_modes(n, d)
    assert len(modes) == d
    assert math.prod(modes) >= n
    assert math.prod(modes) <= n * 1.5 + 4
    assert list(modes) == sorted(modes, reverse=True)
    if n >= 2**d:
        assert max(modes) <= shapes.BALANCE_TOLERANCE * math.prod(modes) ** (1 / d) + 1e-9


def test_known_modes():
    assert shapes.auto_modes(57600, 4) == (16, 16, 15, 15)
    assert shapes.auto_modes(1024, 2) == (32, 32)
    assert math.prod(shapes.auto_modes(97, 2)) > 97  # prime: padded
    assert shapes.balanced_factors(97, 2) == (97, 1)


def test_resolve_modes_defaults_and_errors():
    ins, outs = shapes.resolve_modes(64, 48, d=2)
    assert ins == (8, 8) and outs == (6, 8)
    ins, outs = shapes.resolve_modes(64, 48, in_modes=(4, 4, 4))
    assert math.prod(outs) == 48 and len(outs) == 3
    with pytest.raises(ValueError, match="must be a positive int"):
        shapes.resolve_modes(0, 4)
    with pytest.raises(ValueError, match="`d` must equal"):
        shapes.resolve_modes(64, 48, in_modes=(8, 8), d=3)
    with pytest.raises(ValueError, match="must be positive ints"):
        shapes.resolve_modes(64, 48, in_modes=(-8, -8))


def test_largest_rank_fits_budget():

    for name in ("tt", "cp", "tr", "mps", "tucker", "bt"):
        r = factorizations.largest_rank(name, (256, 1024), 20000, d=3)
        assert factorizations.get(name)((256, 1024), r, d=3).num_params <= 20000
        assert factorizations.get(name)((256, 1024), r + 1, d=3).num_params > 20000
    assert factorizations.largest_rank("tt", (256, 1024), 10) is None
    assert factorizations.largest_rank("dense", (4, 5), 20) == 4
    assert factorizations.largest_rank("dense", (4, 5), 19) is None
