"""How well a search covers the Pareto front: spread targets vs plain random search.

Runs the quickstart spec (MNIST-1D, budget 12,000 parameters) with the
same trial count and seeds twice per seed: with the budget oracle's
spread targets (`spread = true`, the default: trial k is shrunk to a size
spread log-uniformly from the smallest feasible model to the budget) and as
plain keras-tuner random search with the same budget repair (`spread =
false`). Reports the hypervolume of each front in (validation accuracy,
parameters), with parameters on a log scale from the smallest feasible
model to the budget (1 = a model at the smallest size with accuracy 1).
Writes docs/results/front_coverage.{json,md,png}.

    python benchmarks/front_coverage.py                 # ~6 min on 2 CPU cores
    python benchmarks/front_coverage.py --trials 4 --epochs 1 --seeds 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hypervolume(points, low, high):
    """The area dominated by ``points`` (``(params, accuracy)``; fewer params
    and more accuracy are better) above accuracy 0 and left of the budget,
    with params on a log axis scaled to [0, 1] over [low, high]."""
    def scaled(params):
        return min(1.0, max(0.0, math.log(params / low) / math.log(high / low)))

    area, best = 0.0, 0.0
    ordered = sorted((scaled(p), a) for p, a in points)
    for (x, a), nxt in zip(ordered, [x for x, _ in ordered[1:]] + [1.0]):
        best = max(best, a)
        area += (nxt - x) * best
    return area


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--oracle", default="random", help="random (default) or bayesian")
    p.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = p.parse_args(argv)
    import tomllib

    import keras_tensor_rnn as ktr
    from keras_tensor_rnn.search.spec import shipped_specs

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs, start = [], time.time()
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            for spread in (True, False):
                spec = tomllib.loads(shipped_specs()["quickstart"].read_text())
                spec["search"].update(max_trials=args.trials, epochs=args.epochs, seed=seed,
                                      oracle=args.oracle,
                                      spread=spread, directory=folder, overwrite=True,
                                      project_name=f"coverage-{args.oracle}-{seed}-{spread}")
                spec["tracking"]["tracking_uri"] = f"sqlite:///{folder}/mlflow.db"
                result = ktr.search.run(spec, verbose=False)
                space = result.tuner.hypermodel.space
                points = [(r["params"], r["val_accuracy"]) for r in result.rows]
                front = [(r["params"], r["val_accuracy"]) for r in result.front]
                runs.append({"seed": seed, "spread": spread, "points": points, "front": front,
                             "hypervolume": hypervolume(front, space.smallest_count(),
                                                        space.budget),
                             "smallest": space.smallest_count(), "budget": space.budget})
                print(f"seed {seed} spread={spread}: hypervolume {runs[-1]['hypervolume']:.4f}, "
                      f"{len(front)} on the front, params {sorted(p for p, _ in points)}",
                      flush=True)
    summary = {}
    for spread in (True, False):
        values = [r["hypervolume"] for r in runs if r["spread"] == spread]
        summary["spread" if spread else f"plain {args.oracle}"] = {
            "mean": statistics.mean(values), "std": statistics.pstdev(values), "runs": values}
    record = {"command": "python " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "settings": vars(args), "seconds": round(time.time() - start), "runs": runs,
              "summary": summary}
    name = "front_coverage" if args.oracle == "random" else f"front_coverage_{args.oracle}"
    (out / f"{name}.json").write_text(json.dumps(record, indent=2))
    lines = ["| search | hypervolume (mean ± std over seeds) | per seed |", "|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['mean']:.3f} ± {s['std']:.3f} | "
                     + ", ".join(f"{v:.3f}" for v in s["runs"]) + " |")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, args.seeds, figsize=(4.5 * args.seeds, 3.6), squeeze=False)
    for ax, seed in zip(axes[0], range(args.seeds)):
        for run in (r for r in runs if r["seed"] == seed):
            label = "spread" if run["spread"] else f"plain {args.oracle}"
            xs, ys = zip(*sorted(run["points"]))
            ax.scatter(xs, ys, alpha=0.6, label=f"{label} (HV {run['hypervolume']:.3f})")
            fx, fy = zip(*sorted(run["front"]))
            ax.step(fx, fy, where="post", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("params")
        ax.set_ylabel("val_accuracy")
        ax.set_title(f"seed {seed}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)
    return record


if __name__ == "__main__":
    main()
