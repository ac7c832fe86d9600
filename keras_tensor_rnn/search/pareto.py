"""Multi-objective results: the Pareto front of finished trials, as a table
and a plot (keras-tuner itself only sums objectives)."""

from __future__ import annotations

import numpy as np


def pareto_front(points: list[dict], objectives: dict[str, str]) -> list[dict]:
    """The points no other point dominates.

    A point dominates another when it is at least as good on every objective
    and strictly better on one.

    Args:
        points: dicts holding (at least) the objective keys.
        objectives: ``{key: "max" | "min"}``.

    Returns:
        The non-dominated points, sorted by the first ``"min"`` objective
        (or the first objective).

    Example:

    >>> pts = [{"acc": 0.9, "params": 100}, {"acc": 0.8, "params": 50}, {"acc": 0.7, "params": 80}]
    >>> [p["params"] for p in pareto_front(pts, {"acc": "max", "params": "min"})]
    [50, 100]
    """
    for key, direction in objectives.items():
        if direction not in ("max", "min"):
            raise ValueError(f"Objective direction must be 'max' or 'min'. Received: {key}={direction!r}")
    sign = {k: (1 if d == "max" else -1) for k, d in objectives.items()}

    def better_or_equal(a, b):
        return all(sign[k] * a[k] >= sign[k] * b[k] for k in objectives)

    def strictly_better(a, b):
        return any(sign[k] * a[k] > sign[k] * b[k] for k in objectives)

    front = [p for p in points
             if not any(better_or_equal(q, p) and strictly_better(q, p) for q in points if q is not p)]
    order = next((k for k, d in objectives.items() if d == "min"), next(iter(objectives)))
    return sorted(front, key=lambda p: p[order])


def format_number(value) -> str:
    """A count as an integer with separators; other numbers to 4 significant
    digits, trailing zeros kept so that a column reads alike (0.3030 beside
    0.2087; no float32 noise such as 0.62699997)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    value = float(value)
    if value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:#.4g}".rstrip(".")


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table (what the CLI prints): counts as integers, other
    numbers to 4 significant digits."""
    def cell(value):
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return format_number(value)
        return str(value)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line, sep] + ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body])


def plot_front(points: list[dict], front: list[dict], x: str, y: str, path, title: str = "",
               references: dict | None = None):
    """Scatter of every trial (``x`` on a log axis) with the front drawn, and
    ``references`` (``{label: x value}``, e.g. dense models' sizes) as
    vertical lines; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = sorted({_label(p) for p in points})
    for name in names:
        sub = [p for p in points if _label(p) == name]
        ax.scatter([p[x] for p in sub], [p[y] for p in sub], label=name, alpha=0.8)
    # A front is a staircase: each point holds until a larger model beats it.
    ax.step([p[x] for p in front], [p[y] for p in front], "k--", where="post", lw=1,
            label="Pareto front")
    for (label, value), style in zip((references or {}).items(), (":", "-.", "--")):
        if value:
            ax.axvline(value, color="grey", ls=style, lw=1, label=f"{label} ({value:,})")
    ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{y} vs {x}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _label(point: dict) -> str:
    """A trial's decomposition, or its layers' (``tt + dense``) when several
    layers are tuned (``rnn0/decomposition``, ...)."""
    if "decomposition" in point:
        return str(point["decomposition"])
    layers = [str(v) for k, v in sorted(point.items()) if k.endswith("/decomposition")]
    return " + ".join(layers) or "trial"
