"""Factorising dimensions into modes.

A tensorized weight matrix of shape ``(I, O)`` is reshaped to a tensor with
``d`` input modes ``i_1..i_d`` (``prod(i) = I``) and ``d`` output modes
``o_1..o_d``. This module chooses those modes automatically (balanced
factors, padding awkward or prime sizes up to a size that factorises well).
The inverse question, the largest rank within a parameter budget, is
:func:`keras_tensor_rnn.factorizations.largest_rank`.

Example:

>>> from keras_tensor_rnn import shapes
>>> shapes.auto_modes(57600, 4)
(16, 16, 15, 15)
>>> shapes.auto_modes(97, 2)  # prime: padded to 100
(10, 10)
"""

from __future__ import annotations

import functools
import math

from keras_tensor_rnn import checks

# A factorisation whose largest factor exceeds this multiple of the ideal
# d-th root is considered unbalanced: a padded size is searched instead.
BALANCE_TOLERANCE = 2.0

# Padding is never more than this fraction of the original size (plus a
# small absolute slack for tiny sizes); powers of two always qualify, so a
# solution exists well inside this bound.
_MAX_PAD_FRACTION = 0.5


def divisors(n: int) -> list[int]:
    """The divisors of ``n``, ascending."""
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted(set(small + [n // k for k in small]))


@functools.lru_cache(maxsize=4096)
def balanced_factors(n: int, d: int) -> tuple[int, ...]:
    """The factorisation of ``n`` into exactly ``d`` factors with the smallest
    largest factor (ties: the most even one), sorted in descending order.

    No padding is done here; factors of 1 appear only when ``n`` has fewer than
    ``d`` prime factors.

    Args:
        n: positive integer.
        d: number of factors, >= 1.

    Returns:
        A tuple of ``d`` ints whose product is ``n``.
    """
    checks.positive_int(n, "n")
    checks.positive_int(d, "d")
    best = None

    def search(rest, k, cap, acc):
        nonlocal best
        if k == 1:
            if rest <= cap:
                cand = tuple(acc + [rest])
                key = (max(cand), sum(f * f for f in cand))
                if best is None or key < best[0]:
                    best = (key, cand)
            return
        low = math.ceil(rest ** (1.0 / k) - 1e-9)
        for f in divisors(rest):
            if f < low or f > cap:
                continue
            if best is not None and f > best[0][0]:
                break
            search(rest // f, k - 1, f, acc + [f])

    search(n, d, n, [])
    return best[1]


def _imbalance(factors: tuple[int, ...], n: int) -> float:
    return max(factors) / (n ** (1.0 / len(factors)))


def auto_modes(n: int, d: int) -> tuple[int, ...]:
    """Balanced modes for a dimension ``n`` split into ``d`` factors.

    When ``n`` factorises badly (a prime, or a large prime factor), the
    smallest ``n' >= n`` that factorises well is used instead; the product of
    the returned modes is then larger than ``n`` and the factorizations pad
    the matrix with zeros and slice the padding off.

    Args:
        n: the dimension, a positive int.
        d: the number of modes, a positive int.

    Returns:
        A tuple of ``d`` modes in descending order with ``prod >= n``.
    """
    checks.positive_int(n, "n")
    checks.positive_int(d, "d")
    if d == 1:
        return (n,)
    limit = n + max(4, int(n * _MAX_PAD_FRACTION))
    for m in range(n, limit + 1):
        factors = balanced_factors(m, d)
        # Tiny sizes cannot avoid factors of one; only demand balance.
        if min(factors) > 1 or m < 2**d:
            if _imbalance(factors, m) <= BALANCE_TOLERANCE:
                return factors
    return balanced_factors(2 ** math.ceil(math.log2(n)), d)  # pragma: no cover


def padded_size(n: int, d: int) -> int:
    """The size ``n`` is padded to by :func:`auto_modes`."""
    return math.prod(auto_modes(n, d))


def resolve_modes(
    in_dim: int,
    out_dim: int,
    in_modes=None,
    out_modes=None,
    d: int | None = None,
    default_d: int = 3,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validate or choose input and output modes for a ``(in_dim, out_dim)``
    matrix.

    Explicit modes must multiply exactly to their dimension. Missing ones are
    chosen by :func:`auto_modes` with the same number of modes as the other
    side (or ``d``, or ``default_d``).

    Input modes are returned in descending order and output modes in
    ascending order when chosen automatically, so that the edge cores pair
    the largest input modes with the smallest output modes (every step of a
    left-to-right contraction then shrinks the intermediate).

    Raises:
        ValueError: on non-positive dimensions or modes, product mismatch, or
            sides of different lengths.
    """
    checks.positive_int(in_dim, "in_dim")
    checks.positive_int(out_dim, "out_dim")
    if d is not None:
        checks.positive_int(d, "d")
    given = [m for m in (in_modes, out_modes) if m is not None]
    lengths = {len(tuple(m)) for m in given}
    if len(lengths) > 1:
        raise ValueError(
            "`in_modes` and `out_modes` must have the same number of modes. "
            f"Received: in_modes={tuple(in_modes)}, out_modes={tuple(out_modes)}"
        )
    if lengths and d is not None and lengths != {d}:
        raise ValueError(
            f"`d` must equal the number of given modes ({lengths.pop()}). Received: d={d}"
        )
    depth = lengths.pop() if lengths else (d or default_d)

    def check(modes, dim, name):
        modes = tuple(int(m) for m in modes)
        if any(m < 1 for m in modes):
            raise ValueError(f"`{name}` must be positive ints. Received: {name}={modes}")
        if math.prod(modes) != dim:
            raise ValueError(
                f"The product of `{name}` must equal the dimension {dim}, but "
                f"prod{modes} = {math.prod(modes)}. For example "
                f"{name}={auto_modes(dim, len(modes))} fits (padded to "
                f"{padded_size(dim, len(modes))}); leave `{name}` unset to "
                "choose modes and padding automatically."
            )
        return modes

    ins = check(in_modes, in_dim, "in_modes") if in_modes is not None else auto_modes(in_dim, depth)
    outs = (
        check(out_modes, out_dim, "out_modes")
        if out_modes is not None
        else tuple(sorted(auto_modes(out_dim, depth)))
    )
    return ins, outs
