"""``decomposition="auto"``: the decomposition chosen by the data.

Which decomposition keeps a trained layer best at a given size depends on
the layer and its data (benchmarks/compress_tasks.py: at 10% of an LSTM,
the best and the worst differ by tens of points on some tasks, and no one
decomposition is best everywhere). So every candidate is converted at the
same budget and fit on the sample inputs: the kernels' products, then
:data:`TRIAL_STEPS` steps of each stage of the output fit (seconds each).
The products fit alone does not rank them: it leaves every candidate's
model output about as far from the original's (relative errors of 0.85 to
1.0 on the benchmark, against 0.3 to 0.6 once the outputs are fit). The
candidate whose model output is then closest to the original's on ``x`` is
kept, and the whole pipeline runs for it alone. Hand-written: no library
chooses among tensor decompositions.

Example:

>>> small, report = ktr.compress(model, "auto", budget=0.1, x=x_train[:1024])  # doctest: +SKIP
>>> report.decomposition, report.candidates["tt"]["output_error"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# What ``decomposition=None`` (compress's default) is without a budget and
# sample inputs to choose by: the best single decomposition over
# benchmarks/compress_tasks.py's tasks (docs/results.md §12).
WITHOUT_DATA = "tt"
# Every decomposition with a rank, so all of them meet any budget.
CANDIDATES = ("tt", "mps", "tr", "cp", "tucker", "bt", "lowrank")
# Output-fit steps of each stage when a candidate is tried.
TRIAL_STEPS = 200


def trial_steps(fit_steps) -> int:
    """The output-fit steps a candidate is tried with: :data:`TRIAL_STEPS`,
    fewer if ``compress`` was given fewer (0: the products fit alone)."""
    return TRIAL_STEPS if fit_steps is None else min(int(fit_steps), TRIAL_STEPS)


def resolve_default(decomposition, rank, budget, x):
    """``decomposition`` as given, or for ``None`` (compress's default):
    ``"auto"`` when there is something to choose by (a ``budget`` and
    sample inputs ``x``, no ``rank``), else :data:`WITHOUT_DATA`.

    Example:

    >>> resolve_default(None, rank=None, budget=0.1, x=np.zeros((8, 5, 3)))  # doctest: +SKIP
    'auto'
    >>> resolve_default(None, rank=4, budget=None, x=None)
    'tt'
    """
    if decomposition is not None:
        return decomposition
    return "auto" if budget is not None and rank is None and x is not None else WITHOUT_DATA


def is_auto(decomposition) -> bool:
    """Whether ``decomposition`` asks for a choice: ``"auto"`` or a list of names."""
    return (isinstance(decomposition, str) and decomposition.lower() == "auto") or isinstance(
        decomposition, (list, tuple))


def sides(name: str) -> tuple[str, str | None]:
    """``(decomposition, recurrent_decomposition)`` of a name: ``"cp"`` is
    ``("cp", None)`` (both sides cp); ``"dense+cp"``, the input side's
    decomposition and the recurrent side's, is ``("dense", "cp")``."""
    if "+" in name:
        kernel, recurrent = name.split("+", 1)
        return kernel, recurrent
    return name, None


def joined(decomposition: str, recurrent: str | None) -> str:
    """The name of a layer's two sides (the inverse of :func:`sides`):
    ``"cp"`` when both are cp, ``"dense+cp"`` for a dense input side."""
    return decomposition if recurrent in (None, decomposition) else f"{decomposition}+{recurrent}"


def checked_sides(name: str, where: str = "") -> tuple[str, str | None]:
    """:func:`sides` of ``name``, each side a decomposition (of the
    tensorized layers, for ``"a+b"``: their two sides may differ).

    Raises:
        ValueError: a side that is not a decomposition, said with ``name``.
    """
    from keras_tensor_rnn import checks, weight_schemes
    from keras_tensor_rnn.weight_schemes.tensorized import TensorizedWeights

    valid = (TensorizedWeights.decompositions() if "+" in name
             else weight_schemes.decompositions())
    for side in sides(name):
        if side is not None and side not in valid:
            known = ", ".join(valid)
            if "+" not in name:
                raise checks.unknown("decomposition", name, valid, where=where)
            raise ValueError(f"Unknown decomposition '{side}' in '{name}'{where}: "
                             "'<input side>+<recurrent side>' names each side's decomposition "
                             f"(e.g. 'dense+cp'), each one of {known}."
                             + checks.suggest(side, valid))
    return sides(name)


def candidates_of(decomposition) -> tuple:
    """The names to choose among: :data:`CANDIDATES` for ``"auto"``, else
    the list given (each a decomposition with a rank, or two sides with a
    rank on one: ``"dense+cp"``).

    Raises:
        ValueError: an empty list, an unknown name, or a name without a rank.
    """
    from keras_tensor_rnn import checks, weight_schemes

    if isinstance(decomposition, str):
        return CANDIDATES
    names = tuple(str(name).lower() for name in decomposition)
    if not names:
        raise ValueError("The list of decompositions to choose among is empty: give at least "
                         f"one of {', '.join(CANDIDATES)}, or decomposition='auto' for all.")
    for name in names:
        if "+" not in name and name not in weight_schemes.decompositions():
            raise checks.unknown("decomposition", name, CANDIDATES, where=" in the list")
        kernel, recurrent = checked_sides(name, " in the list")
        if (recurrent or kernel) not in CANDIDATES:
            raise ValueError("A list of decompositions is chosen among at one budget: each must "
                             f"have a rank: one of {', '.join(CANDIDATES)}, or a dense input side "
                             f"with one of them on the recurrent side ('dense+cp'). Received: "
                             f"{list(decomposition)!r}")
    return tuple(dict.fromkeys(names))


def check(rank, budget, x) -> None:
    """A choice compares candidates at one size, by their outputs on ``x``."""
    if budget is None or rank is not None:
        raise ValueError("Choosing the decomposition (decomposition='auto' or a list) compares "
                         "the candidates at the same size: give `budget` (not `rank`, whose "
                         "parameter count differs from one decomposition to another). "
                         f"Received: rank={rank!r}, budget={budget!r}")
    if x is None:
        raise ValueError("Choosing the decomposition (decomposition='auto' or a list) keeps the "
                         "candidate whose outputs on sample inputs are closest to the "
                         "original's: pass them as `x` (a few hundred to a thousand training "
                         "sequences).")


def choose(score: Callable[[str], tuple], candidates: Sequence[str]) -> tuple[str, dict]:
    """The candidate with the lowest output error.

    Args:
        score: ``score(name) -> (output error, the replaced layers'
            parameters)``; raises
            ``ValueError`` where no rank of ``name`` fits.
        candidates: the names to try.

    Returns:
        ``(name, table)``: the choice, and ``{name: {"output_error",
        "params"}}`` (``{"error": message}`` where it did not fit), in the
        order tried.

    Raises:
        ValueError: no candidate fits.
    """
    table = {}
    for name in candidates:
        try:
            error, params = score(name)
        except ValueError as failure:
            table[name] = {"error": str(failure)}
            continue
        table[name] = {"output_error": float(error), "params": int(params)}
    fitted = {name: row["output_error"] for name, row in table.items() if "output_error" in row}
    if not fitted:
        first, *others = table
        raise ValueError(f"No candidate decomposition fits the budget. {first}: "
                         f"{table[first]['error']}" + (f" The others ({', '.join(others)}) do "
                                                       "not fit either." if others else ""))
    return min(fitted, key=fitted.get), table


def describe(chosen: str, table: dict) -> str:
    """One line for the report: every candidate's output error, the choice marked."""
    parts = [f"{name} {row['output_error']:.3g}" + (" (chosen)" if name == chosen else "")
             if "output_error" in row else f"{name} does not fit" for name, row in table.items()]
    return "decomposition chosen by output error on x: " + ", ".join(parts)


__all__ = ["CANDIDATES", "TRIAL_STEPS", "WITHOUT_DATA", "resolve_default", "trial_steps",
           "is_auto", "sides", "joined", "checked_sides", "candidates_of", "check", "choose",
           "describe"]
