"""Budget-aware oracles: keras-tuner's own random, Bayesian and Hyperband
oracles, whose sampled points are repaired to the nearest feasible one.

Parameter counts are closed-form, so a point over the budget (or with a rank
above the largest useful one) is never built: it is lowered to the largest
rank that fits, then to smaller units, or re-sampled.
"""

from __future__ import annotations

import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_tensor_rnn import _private_api, checks
from keras_tensor_rnn.search.budget import BudgetSpace


class BudgetMixin:
    """Repairs every point an oracle proposes (see :meth:`BudgetSpace.repair`).

    With ``spread`` (the default), trial ``k`` also gets a target size spread
    over the whole budget range, log-uniformly from the smallest feasible
    model to the budget (a golden-ratio sequence: repeatable, and any prefix
    of it covers the range evenly), and its point is shrunk to that size, so
    the trials cover the Pareto front from the smallest model to the budget
    instead of clustering near the largest.

    With ``nested`` (a nested-rank search), every proposal's ranks are the
    largest instead, and its units the largest at which that model fits
    the trial's target (:meth:`BudgetSpace.at_largest_ranks`); the first
    target is the budget, the next ones spread below it: one training then
    scores every lower rank, so each covers the sizes under its own. Without
    ``spread`` its units stay the proposal's, its ranks the largest that
    fit the budget."""

    def __init__(self, space: BudgetSpace, *args, max_resamples: int = 100, seed=None,
                 spread: bool = True, nested: bool = False, **kwargs):
        self.space = space
        self.spread = spread
        self.nested = nested
        self.max_resamples = max_resamples
        super().__init__(*args, seed=seed, **kwargs)
        if seed is not None:
            # keras-tuner reads seed=0 (our spec's default) as "unseeded".
            _private_api.reseed_oracle(self, seed)

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        other_sizes = []  # feasible draws of another size than this trial's target
        for _ in range(self.max_resamples):
            if response["status"] != trial_module.TrialStatus.RUNNING:
                break
            at_target, *others = self.repairs(response["values"]) or [None]
            if at_target is not None and not _private_api.is_duplicate(self, at_target):
                return {**response, "values": at_target}
            other_sizes += [{**response, "values": point} for point in others]
            # The oracle's suggestion has no new feasible neighbour (a
            # Bayesian oracle may insist on it): sample at random instead.
            values = _private_api.random_values(self)
            response = {"status": trial_module.TrialStatus.RUNNING if values else
                        trial_module.TrialStatus.STOPPED, "values": values}
        else:
            response = {"status": trial_module.TrialStatus.STOPPED, "values": None}
        # Every draw at the target was tried already (the target sets the
        # units, so a small space maps each draw to one point): a point of
        # another size is still a new one.
        fresh = (r for r in other_sizes if not _private_api.is_duplicate(self, r["values"]))
        return next(fresh, response)

    def repairs(self, values: dict | None) -> list[dict]:
        """The feasible points for a proposal, best first: repaired to this
        trial's target size (with ``spread``), then, if another, repaired
        to the budget only. Empty if nothing fits."""
        if values is None:
            return []
        tuner_keys = {k: v for k, v in values.items() if k.startswith("tuner/")}
        if "tuner/trial_id" in tuner_keys:
            return [values]  # Hyperband continues an already feasible trial.
        model_values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        fixed = self.space.repair(model_values)
        if fixed is None:
            return []
        target = (self.target_size(len(self.trials))
                  if self.spread and self.space.budget is not None else None)
        if self.nested:
            points = [self.space.at_largest_ranks(fixed, target),
                      self.space.at_largest_ranks(fixed)]
        else:
            points = [self.space.repair(fixed, budget=target) or fixed, fixed]
        unique = [point for k, point in enumerate(points) if point not in points[:k]]
        return [{**point, **tuner_keys} for point in unique]

    def target_size(self, index: int) -> int:
        """Trial ``index``'s target parameter count (see the class docstring)."""
        low, high = self.space.smallest_count(), self.space.budget
        step = (index * 0.6180339887498949) % 1.0
        # A nested training covers the sizes below its own: the first is at
        # the budget, the next ones spread below it.
        fraction = 1.0 - step if self.nested else (0.5 + step) % 1.0
        return int(round(low * (high / low) ** fraction)) if high > low else high


class BudgetRandomSearchOracle(BudgetMixin, keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's ``RandomSearchOracle``, every proposal repaired to fit
    the budget (:class:`BudgetMixin`)."""


class BudgetBayesianOptimizationOracle(BudgetMixin,
                                       keras_tuner.oracles.BayesianOptimizationOracle):
    """keras-tuner's ``BayesianOptimizationOracle``, every proposal repaired
    to fit the budget (:class:`BudgetMixin`)."""


class BudgetHyperbandOracle(BudgetMixin, keras_tuner.oracles.HyperbandOracle):
    """keras-tuner's ``HyperbandOracle``, every proposal repaired to fit the
    budget (:class:`BudgetMixin`); a bracket's continued trials keep their
    point."""

BUDGET_ORACLES = {
    "random": BudgetRandomSearchOracle,
    "bayesian": BudgetBayesianOptimizationOracle,
    "hyperband": BudgetHyperbandOracle,
}


def check_oracle(kind: str) -> None:
    """A ``ValueError`` unless ``kind`` names a budget oracle."""
    if kind not in BUDGET_ORACLES:
        raise ValueError(f"`oracle` must be one of {sorted(BUDGET_ORACLES)}. Received: "
                         f"{kind!r}.{checks.suggest(kind, BUDGET_ORACLES)}")


def make_oracle(kind: str, space: BudgetSpace, objective, max_trials: int, epochs: int,
                seed=None, **kwargs):
    """A budget oracle of ``kind`` (``"random"``, ``"bayesian"``, ``"hyperband"``).

    A crashed trial must never stop the search, so the consecutive-failure
    limit is set past the number of trials.
    """
    check_oracle(kind)
    common = dict(objective=objective, seed=seed, max_consecutive_failed_trials=max_trials + 1,
                  **kwargs)
    if kind == "hyperband":
        # Hyperband sizes its own brackets from max_epochs (its trial count
        # follows from them, not from max_trials).
        return BudgetHyperbandOracle(space, max_epochs=epochs, **common)
    return BUDGET_ORACLES[kind](space, max_trials=max_trials, **common)
