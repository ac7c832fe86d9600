"""A search space under a parameter budget: what every budget oracle asks
of a space (does a point fit, the nearest point that does, the smallest
model, the dense references), written once over a counting function.

Two spaces implement the counting: :class:`~keras_tensor_rnn.search.space.SearchSpace`
(a spec's model template, counted in closed form: nothing is built) and
:class:`~keras_tensor_rnn.search.own_model.ModelBudget` (a user's
``build_model(hp)``, counted by building the model, cached).
"""

from __future__ import annotations

import abc
import functools
import itertools
import math

from keras_tensor_rnn import ranks

ROLES = ("units", "rank", "shared")
SHARED_STEP = 0.125
# The largest dense reference tries every combination of units up to this many.
DENSE_COMBINATIONS = 256


def shared_grid(start: float) -> list[float]:
    """The sharing fractions a search tries (steps of ``SHARED_STEP``) from
    ``start`` up to 1, ascending: more sharing, fewer weights."""
    steps = int(round(1 / SHARED_STEP))
    grid = [k * SHARED_STEP for k in range(steps + 1)]
    return [s for s in grid if s >= start - 1e-9]


class BudgetSpace(abc.ABC):
    """Hyperparameter values (``{name: value}``) under ``budget`` parameters.

    A subclass counts a configuration's parameters, says which names play
    which role (``"units"``, ``"rank"``, ``"shared"``), and lists the
    candidates for the smallest model; fitting, repairing, the smallest
    model and the dense references follow here.
    """

    budget: int | None = None
    budget_scope: str = "model"  # what the budget counts: "model" or "recurrent"

    @abc.abstractmethod
    def count_params(self, values: dict) -> int:
        """The parameters of ``values``'s model (what the budget counts).

        Raises:
            ValueError: ``values`` is not a valid configuration.
        """

    @abc.abstractmethod
    def role_keys(self, values: dict, role: str) -> list[str]:
        """The names in ``values`` that play ``role`` (one of :data:`ROLES`)."""

    @abc.abstractmethod
    def choices_of(self, key: str) -> list[int]:
        """The values the units hyperparameter ``key`` may take."""

    @abc.abstractmethod
    def min_rank(self, keys: list[str]) -> int:
        """The least value the rank hyperparameters ``keys`` may take."""

    @abc.abstractmethod
    def max_rank(self, keys: list[str]) -> int:
        """The largest value the rank hyperparameters ``keys`` may take."""

    @abc.abstractmethod
    def dense_equivalent(self, values: dict) -> dict:
        """``values`` with every tuned recurrent layer's kernels dense."""

    @abc.abstractmethod
    def smallest_candidates(self):
        """Configurations among which the smallest of the space is (each
        decomposition at its least units and rank, its most sharing)."""

    @abc.abstractmethod
    def no_fit_message(self, values: dict | None, params: int | None) -> str:
        """The error when the smallest configuration (``values``, ``params``;
        None when none is valid) exceeds the budget."""

    # ------------------------------------------------------------- fitting

    def fits(self, values: dict, budget: int | None = None) -> bool:
        """Whether ``values`` is valid and within ``budget`` (default: the space's)."""
        budget = self.budget if budget is None else budget
        try:
            params = self.count_params(values)
        except ValueError:
            return False
        return budget is None or params <= budget

    def repair(self, values: dict, budget: int | None = None) -> dict | None:
        """The same point if it fits; else the nearest one that does: the
        largest common cap on the ranks, after more sharing if needed, at
        the largest units that allow one. None if nothing fits with these
        decompositions. ``budget`` overrides the space's (a trial's target)."""
        budget = self.budget if budget is None else budget
        if self.fits(values, budget):
            return values
        units = self.role_keys(values, "units")
        levels = sorted({u for k in units for u in self.choices_of(k)
                         if u <= max(values[k] for k in units)}, reverse=True) if units else [None]
        for level in levels:
            for candidate in self._sharing_levels(self._units_at_most(values, units, level)):
                fixed = self._cap_ranks(candidate, budget)
                if fixed is not None:
                    return fixed
        return None

    def _units_at_most(self, values, keys, level):
        """``values`` with each units key at its largest choice <= ``level``
        (its smallest choice when none is)."""
        out = dict(values)
        for key in keys:
            choices = self.choices_of(key)
            smaller = [u for u in choices if u <= level]
            out[key] = max(smaller) if smaller else min(choices)
        return out

    def _sharing_levels(self, values):
        keys = self.role_keys(values, "shared")
        if not keys:
            return [values]
        grid = shared_grid(max(values[k] for k in keys))
        return [{**values, **{k: max(values[k], g) for k in keys}} for g in grid]

    def _cap_ranks(self, values, budget):
        keys = self.role_keys(values, "rank")
        if not keys:
            return values if self.fits(values, budget) else None

        def capped(cap):
            return {**values, **{k: min(int(values[k]), cap) for k in keys}}

        # Without a budget, the largest cap the units can take.
        cap = ranks.largest_within(lambda c: self.count_params(capped(c)), self.min_rank(keys),
                                   max(int(values[k]) for k in keys),
                                   math.inf if budget is None else budget)
        return None if cap is None else capped(cap)

    # --------------------------------------------------------- nested ranks

    def at_largest_ranks(self, values: dict, budget: int | None = None) -> dict:
        """``values`` with every rank at its largest, repaired into the
        budget (the ranks capped alike): what a nested-rank search trains.

        With ``budget`` (a training's target size, at most the space's), the
        units are set instead to the largest level at which the model at
        its largest ranks fits it, raised or lowered from ``values``'s: the
        training's lower ranks then cover the sizes below the target. Where
        even the least units do not fit at the largest ranks, the ranks are
        capped at the least units (:meth:`repair`), which leaves the most
        lower ranks below."""
        keys = self.role_keys(values, "rank")
        raised = {**values, **{k: self.max_rank([k]) for k in keys}}
        if budget is None:
            return self.repair(raised) or values
        units = self.role_keys(raised, "units")
        levels = sorted({u for k in units for u in self.choices_of(k)}, reverse=True)
        for level in levels:
            candidate = self._units_at_most(raised, units, level)
            if self.fits(candidate, budget):
                return candidate
        least = self._units_at_most(raised, units, levels[-1]) if units else raised
        return self.repair(least, budget) or self.repair(raised) or values

    def nested_points(self, values: dict, limit: int) -> list[dict]:
        """The rank combinations below ``values``'s ranks (each rank key from
        its least value up to ``values``'s), at most ``limit`` of them: all
        when they are few, else an even spread from the smallest (every key
        at its least), the same for the same ``values``. ``values`` itself
        is not among them; every one fits whatever ``values`` fits."""
        keys = self.role_keys(values, "rank")
        if not keys:
            return []
        grids = [range(self.min_rank([k]), int(values[k]) + 1) for k in keys]
        combos = [c for c in itertools.product(*grids)
                  if c != tuple(int(values[k]) for k in keys)]
        combos.sort(key=lambda c: (sum(c), c))
        if len(combos) > limit:
            step = (len(combos) - 1) / max(limit - 1, 1)
            combos = [combos[round(i * step)] for i in range(limit)]
        return [{**values, **dict(zip(keys, combo))} for combo in combos]

    # ---------------------------------------------------- the whole space

    @functools.cached_property
    def _smallest(self) -> tuple:
        best = (None, None)
        for values in self.smallest_candidates():
            try:
                params = self.count_params(values)
            except ValueError:
                continue
            if best[0] is None or params < best[1]:
                best = (values, params)
        return best

    def smallest_configuration(self) -> tuple[dict, int]:
        """The configuration with the fewest parameters, and its count.

        Raises:
            ValueError: no configuration of the space is valid.
        """
        values, params = self._smallest
        if values is None:
            raise ValueError(self.no_fit_message(None, None))
        return values, params

    def smallest_count(self) -> int:
        """Parameters of the smallest configuration of the space."""
        return self.smallest_configuration()[1]

    def check_budget(self) -> None:
        """Raise a clear error, before any training, when nothing fits."""
        if self.budget is None:
            return
        values, params = self._smallest
        if values is None or params > self.budget:
            raise ValueError(self.no_fit_message(values, params))

    def dense_references(self, values: dict) -> dict:
        """What tensorization is measured against: the parameters of
        ``values``'s model with dense recurrent kernels, and of the largest
        such dense model within the budget (None if none fits), over every
        combination of the layers' units (see :meth:`largest_dense`)."""
        dense = self.dense_equivalent(values)
        largest = self.largest_dense(dense)
        return {"dense, same structure": self.count_params(dense),
                "largest dense within budget": None if largest is None else self.count_params(largest)}

    def largest_dense(self, dense: dict, limit: int = DENSE_COMBINATIONS) -> dict | None:
        """The point of ``dense`` (a :meth:`dense_equivalent`) whose units
        give the most parameters within the budget: every combination of
        the units keys' choices when there are at most ``limit``, else a
        climb from the largest common cap that fits, raising one layer's
        units at a time by the step that adds the most parameters. None if
        no combination fits."""
        keys = self.role_keys(dense, "units")
        grids = [sorted(self.choices_of(k)) for k in keys]
        if math.prod(len(g) for g in grids) <= limit:
            points = ({**dense, **dict(zip(keys, combo))} for combo in itertools.product(*grids))
            return self._most_parameters(points)
        levels = sorted({u for g in grids for u in g}, reverse=True)
        start = next((p for p in (self._units_at_most(dense, keys, level) for level in levels)
                      if self.fits(p)), None)
        while start is not None:
            raised = [{**start, key: min(u for u in grid if u > start[key])}
                      for key, grid in zip(keys, grids) if start[key] < grid[-1]]
            better = self._most_parameters(raised)
            if better is None:
                return start
            start = better
        return None

    def _most_parameters(self, points) -> dict | None:
        """The point among ``points`` with the most parameters within the budget."""
        fitting = [(self.count_params(p), p) for p in points if self.fits(p)]
        return max(fitting, key=lambda pair: pair[0])[1] if fitting else None


__all__ = ["BudgetSpace", "ROLES", "SHARED_STEP", "shared_grid"]
