"""Ranks: parsing what users write, and the largest rank within a budget.

A rank is given as an int (the same everywhere, clipped per slot to its
largest useful value), a list (one int per rank slot), a float in ``(0, 1]``
(the largest uniform rank whose parameter count is at most this fraction of
the dense one, as tltorch does) or ``"full"`` (an exact representation).
:func:`resolve` turns any of these into a tuple of ints.

Parameter counts grow with the rank, so "the largest rank within a budget"
is one bisection, :func:`largest_within`, used by the factorizations (float
ranks), the layers' weight schemes (``largest_rank``), compression
(per-layer budgets) and the search (repairing an over-budget point).

Example:

>>> largest_within(lambda r: 10 * r, 1, 100, limit=345)
34
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class RankError(ValueError):
    """A ``rank`` a factorized matrix cannot take (a ``ValueError``)."""


def largest_within(count: Callable[[int], int], lo: int, hi: int, limit: float) -> int | None:
    """The largest ``k`` in ``[lo, hi]`` with ``count(k) <= limit``.

    Args:
        count: a non-decreasing function of ``k``; a ``ValueError`` from it
            (an invalid configuration) counts as "does not fit".
        lo, hi: the range searched.
        limit: the budget.

    Returns:
        ``k``, or None when even ``count(lo)`` exceeds ``limit``.
    """

    def fits(k):
        try:
            return count(k) <= limit
        except ValueError:
            return False

    if hi < lo or not fits(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_form(rank, argument: str = "rank") -> None:
    """Refuse a ``rank`` no matrix can take (whatever its shape), naming
    ``argument``: anything but an int >= 1, a list of such ints, a float in
    ``(0, 1]`` or ``"full"``. None (a default) passes.

    Raises:
        RankError: what is valid, and what was received.
    """
    if rank is None or isinstance(rank, str) and rank.lower() == "full":
        return
    if isinstance(rank, (float, np.floating)) and 0.0 < rank <= 1.0:
        return
    listed = isinstance(rank, (list, tuple, np.ndarray)) and np.ndim(rank) == 1 and len(rank)
    entries = list(rank) if listed else [rank]
    if all(isinstance(r, (int, np.integer)) and not isinstance(r, bool) and r >= 1
           for r in entries):
        return
    raise RankError(f"`{argument}` must be an int >= 1, a list of such ints (one per rank "
                    "slot), a float in (0, 1] (a fraction of the dense parameter count) or "
                    f"'full'. Received: {argument}={rank!r}")


def clip(rank: int, limits: Sequence[int]) -> tuple[int, ...]:
    """A uniform int rank as one value per slot, clipped to each slot's limit."""
    return tuple(min(int(rank), m) for m in limits)


def resolve(rank, *, limits: Sequence[int], full: Sequence[int], count: Callable[[int], int],
            dense_count: int, owner: str, slots: str) -> tuple[int, ...]:
    """Validate a user's ``rank`` and resolve it to one int per slot.

    Args:
        rank: int, list, float in ``(0, 1]`` or ``"full"``.
        limits: the largest useful value of each slot.
        full: what ``"full"`` resolves to.
        count: parameters at a uniform int rank (clipped per slot).
        dense_count: parameters of the dense matrix (for float ranks).
        owner: who the rank is for, in messages (``"'tt' with in_modes=..."``).
        slots: what the list entries are, in messages.

    Raises:
        RankError: naming the valid range (the largest useful rank, the
            number of slots, the smallest fraction that fits).
    """
    if not limits:
        return ()
    useful = max(limits)
    if rank is None:
        raise RankError(
            f"{owner} needs a `rank`: an int in [1, {useful}], a list of {len(limits)} ints "
            f"({slots}), a float in (0, 1] (fraction of the dense parameter count) or 'full'.")
    if isinstance(rank, str):
        if rank.lower() != "full":
            raise RankError(f"The only string rank is 'full'. Received: rank={rank!r}")
        return tuple(full)
    if isinstance(rank, bool):
        raise RankError(f"`rank` must be an int, list, float or 'full'. Received: rank={rank!r}")
    if isinstance(rank, (int, np.integer)):
        if not 1 <= rank <= useful:
            raise RankError(
                f"`rank` for {owner} must be in [1, {useful}] ({useful} is the largest useful "
                f"rank: it already represents any matrix exactly). Received: rank={int(rank)}")
        return clip(rank, limits)
    if isinstance(rank, (float, np.floating)):
        if not 0.0 < rank <= 1.0:
            raise RankError("A float `rank` is a fraction of the dense parameter count and must "
                             f"be in (0, 1]. Received: rank={float(rank)}")
        budget = float(rank) * dense_count
        best = largest_within(count, 1, useful, budget)
        if best is None:
            smallest = count(1)
            raise RankError(
                f"`rank`={float(rank)} allows {int(budget)} parameters, but the smallest "
                f"{owner} (rank 1) has {smallest}. Use rank >= {smallest / dense_count:.3g}.")
        return clip(best, limits)
    try:
        ranks = tuple(rank)
    except TypeError:
        raise RankError("`rank` must be an int, a list of ints, a float in (0, 1] or 'full'. "
                         f"Received: rank={rank!r}") from None
    if len(ranks) != len(limits):
        raise RankError(f"A list `rank` for {owner} needs {len(limits)} entries ({slots}). "
                         f"Received: rank={list(ranks)}")
    for k, (r, m) in enumerate(zip(ranks, limits)):
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 1 <= r <= m:
            raise RankError(
                f"`rank[{k}]` must be an int in [1, {m}] (the largest useful rank of that slot). "
                f"Valid maxima: {list(limits)}. Received: rank={list(ranks)}")
    return tuple(int(r) for r in ranks)


__all__ = ["RankError", "largest_within", "check_form", "clip", "resolve"]
