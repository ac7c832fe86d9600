"""Rank allocation under a whole-model budget: more rank where the error
it removes is largest.

A uniform rank spends parameters alike on every factorized matrix, but
matrices are not alike: some carry outputs that barely change when they are
approximated, others lose most of their signal. :func:`allocate` starts
every unit (a matrix, or any group sized together) at its smallest option
and repeatedly takes the step, to a larger option of one unit, that removes
the most error per added parameter, as long as the exact total stays within
the budget: a greedy solution of the knapsack-like problem (hand-written;
the per-unit errors come from the caller, e.g. output errors on sample
data).

Example:

>>> from keras_tensor_rnn.rank_allocation import Option, allocate
>>> options = {"a": [Option(1, 10, 5.0), Option(2, 20, 1.0)],
...            "b": [Option(1, 10, 5.0), Option(2, 20, 4.5)]}
>>> chosen = allocate(options, lambda pick: sum(o.params for o in pick.values()), budget=30)
>>> chosen["a"].value, chosen["b"].value
(2, 1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable


@dataclasses.dataclass(frozen=True)
class Option:
    """One size of one unit: its ``value`` (e.g. a rank), the parameters it
    adds on its own (for ordering and the marginal rate) and its error
    (e.g. squared output error on sample data)."""

    value: object
    params: int
    error: float


def allocate(options: dict[Hashable, list[Option]], total: Callable[[dict], int],
             budget: float) -> dict[Hashable, Option]:
    """The chosen option of every unit.

    Args:
        options: per unit, its options (any order; sorted by ``params``).
        total: the exact parameter count of an assignment ``{unit: Option}``
            (what the budget bounds; it may include parameters no option
            changes, such as biases).
        budget: the largest allowed ``total``.

    Returns:
        ``{unit: Option}`` with ``total(...) <= budget``, such that no single
        step up of one unit that lowers its error still fits.

    Raises:
        ValueError: when even the smallest options exceed the budget.
    """
    ladders = {unit: sorted(opts, key=lambda o: (o.params, o.error)) for unit, opts in
               options.items()}
    chosen = {unit: ladder[0] for unit, ladder in ladders.items()}
    smallest = total(chosen)
    if smallest > budget:
        raise ValueError(f"No allocation fits a budget of {int(budget):,} parameters: the "
                         f"smallest options already total {smallest:,}.")
    while True:
        steps = []
        for unit, ladder in ladders.items():
            now = chosen[unit]
            for option in ladder[ladder.index(now) + 1:]:
                gain, cost = now.error - option.error, option.params - now.params
                if gain > 0:
                    steps.append((gain / max(cost, 1), unit, option))
        for _, unit, option in sorted(steps, key=lambda s: -s[0]):
            trial = {**chosen, unit: option}
            if total(trial) <= budget:
                chosen = trial
                break
        else:
            return chosen


__all__ = ["Option", "allocate"]
