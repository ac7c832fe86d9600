"""Choosing the modes of a tensorized layer for speed.

The modes a matrix is reshaped to decide how fast its products run as much
as the contraction order does: the first pairwise product of ``x @ W`` reads
the whole input, and its cost follows the columns it writes per input mode
it consumes. A big input mode met first, with small output modes (and small
bonds) beside it, lets a 57,600-wide input meet one well-shaped GEMM that
writes less than it reads; balanced modes make that GEMM write several
times the input.

This module holds the search, for any score: candidate modes for a
dimension (:func:`candidates`) and a coordinate descent over input and
hidden modes under a parameter tolerance (:func:`choose`). The score (the
modelled time of :mod:`keras_tensor_rnn.contraction`) comes from the
weight scheme, which knows how its matrices are built from the modes.

The rule, stated once (README, "Modes"): among the candidates, the modes
whose modelled time is lowest, provided the parameter count of the layer's
weight matrices (both sides, a side kept dense included: the count a user
sees) is within ``PARAM_TOLERANCE`` of the balanced modes' count (either
way); ties and near-ties (within ``SCORE_TIE``) keep the balanced modes,
and of candidates modelled within ``SAME_SCORE`` of each other the one
closest to the balanced count is taken.

Example:

>>> from keras_tensor_rnn import mode_choice
>>> (16, 16, 15, 15) in mode_choice.candidates(57600, 4)
True
"""

from __future__ import annotations

import itertools

from keras_tensor_rnn import shapes

MODE_CHOICES = ("speed", "balanced")

# A speed choice keeps the layer's weight matrices within this fraction of
# the balanced choice's count, both ways (the rank asked for keeps its
# meaning). A side kept dense counts: where it dominates (a dense recurrent
# matrix beside a 57,600-wide factorized input), the factorized side may grow
# a few times, which buys a first product that writes far less.
PARAM_TOLERANCE = 0.10

# A candidate must be modelled at least this much faster to replace the
# current choice: below it the model cannot tell them apart.
SCORE_TIE = 0.05

# Candidates modelled within this fraction of each other are the same to
# the model: the one closest to the balanced parameter count is taken.
SAME_SCORE = 0.01

# Dimensions with at most this many ordered factorizations are searched
# exhaustively; larger ones through structured candidates.
EXHAUSTIVE = 400


def _ordered(n: int, d: int, low: int) -> list[tuple[int, ...]]:
    """Every ordered factorization of ``n`` into ``d`` factors >= ``low``."""
    if d == 1:
        return [(n,)] if n >= low else []
    out = []
    for f in shapes.divisors(n):
        if f >= low and n // f >= low ** (d - 1):
            out += [(f,) + rest for rest in _ordered(n // f, d - 1, low)]
    return out


def candidates(n: int, d: int, ones: bool = False) -> list[tuple[int, ...]]:
    """Candidate modes for the (padded) size ``n`` split into ``d`` modes.

    Every ordered factorization when there are few (factors of at least 2,
    unless ``n`` is too small for that, or ``ones``); otherwise every
    ordering of the balanced modes, and for every divisor ``m`` of ``n`` the
    modes "``m`` and the rest balanced", with ``m`` first or last and the
    rest in either order. The balanced modes (descending) come first.

    ``ones``: also modes of size 1 (for ``d >= 3``, at most ``d - 2`` of
    them). An output mode of 1 is a core that only reads input: where the
    input meets it first, the product writes the fewest columns (a tensor
    ring's first product otherwise writes ``r * r_0 * o`` columns).
    """
    balanced = shapes.balanced_factors(n, d)
    low = 1 if (n < 2 ** d or (ones and d >= 3)) else 2
    every = [c for c in (_ordered(n, d, low) if d <= 6 else [])
             if n < 2 ** d or c.count(1) <= d - 2]
    if every and len(every) <= EXHAUSTIVE:
        rest = sorted(set(every) - {balanced})
        return [balanced] + rest
    found = dict.fromkeys([balanced, *itertools.permutations(balanced)])
    for m in shapes.divisors(n):
        if m < low or n // m < low ** (d - 1):
            continue
        rest = shapes.balanced_factors(n // m, d - 1)
        for ordered_rest in (rest, tuple(reversed(rest))):
            found[(m,) + ordered_rest] = None
            found[ordered_rest + (m,)] = None
    return list(found)


def choose(score, params, in_candidates, hidden_candidates, start, rounds: int = 2):
    """Modes ``(in_modes, hidden_modes)`` minimising ``score`` by coordinate
    descent from ``start``, keeping ``params`` within ``PARAM_TOLERANCE`` of
    its value at ``start`` (above or below). At each step, of the candidates
    modelled within ``SAME_SCORE`` of the fastest, the one whose ``params``
    is closest to the start's is taken (if it beats the current choice by
    ``SCORE_TIE``).

    Args:
        score: ``(in_modes, hidden_modes) -> float``, the modelled time.
        params: ``(in_modes, hidden_modes) -> int``, the parameter count.
        in_candidates, hidden_candidates: the modes to try on each side
            (a single entry fixes that side).
        start: the balanced ``(in_modes, hidden_modes)``.
        rounds: passes over the two sides.
    """
    reference = params(*start)
    low, high = reference * (1 - PARAM_TOLERANCE), reference * (1 + PARAM_TOLERANCE)
    best, best_score = start, score(*start)
    for _ in range(rounds):
        moved = False
        for side, options in ((0, in_candidates), (1, hidden_candidates)):
            trials = [(option, best[1]) if side == 0 else (best[0], option) for option in options]
            counted = [(t, params(*t)) for t in trials if t != best]
            scored = [(score(*t), abs(n - reference), t) for t, n in counted if low <= n <= high]
            if not scored:
                continue
            fastest = min(value for value, _, _ in scored)
            # Among the candidates modelled as fast as the fastest (often the
            # same first product, differing in modes it does not see), the
            # one closest to the balanced size.
            value, _, trial = min((c for c in scored if c[0] <= fastest * (1 + SAME_SCORE)),
                                  key=lambda c: (c[1], c[0]))
            if value < best_score * (1 - SCORE_TIE):
                best, best_score, moved = trial, value, True
        if not moved:
            break
    return best


__all__ = ["MODE_CHOICES", "PARAM_TOLERANCE", "SAME_SCORE", "SCORE_TIE", "candidates", "choose"]
