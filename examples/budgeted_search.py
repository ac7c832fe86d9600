"""Budgeted search: a model at 1% of the dense parameters, near dense accuracy.

Trains the dense reference (keras.layers.LSTM(256) + Dense(10) on MNIST-1D),
then runs the library's main job, `ktr.search.run`, with a whole-model
budget of 1% of the reference's parameters: keras-tuner's Bayesian oracle
picks the decomposition (tt, mps, tr, cp, tucker, bt, restricted), ranks,
mode depth, units and learning rate, every proposal is repaired to fit the
budget before it is built, and every trial is logged to MLflow
(`--tracking-uri`, default sqlite:///mlflow.db). Reports the best model
under the budget against the dense one, the Pareto front, and its plot.

    python examples/budgeted_search.py              # ~15 min on 2 CPU cores
    python examples/budgeted_search.py --quick      # seconds, for CI
    mlflow ui --backend-store-uri sqlite:///mlflow.db   # compare the trials
"""

from __future__ import annotations

import shutil

import _harness as h
import keras

from keras_tensor_rnn import datasets, search

NAME = "budgeted_search"


def main(argv=None):
    p = h.parser(__doc__, epochs=30, seeds=1)
    p.add_argument("--max-trials", type=int, default=20)
    p.add_argument("--fraction", type=float, default=0.01, help="budget / dense parameters")
    p.add_argument("--units", type=int, default=256, help="units of the dense reference")
    p.add_argument("--tracking-uri", default=None, help="MLflow store (default sqlite:///mlflow.db)")
    args = p.parse_args(argv)
    folder = h.out_dir(args)
    limit = (None, None)
    if args.quick:
        args.units, args.epochs, args.max_trials, args.fraction = 32, 1, 2, 0.5
        limit = (512, 256)
    train, test = datasets.load_mnist1d(4, *limit)

    keras.utils.set_random_seed(0)
    dense = h.compile_classifier(keras.Sequential(
        [keras.Input(train[0].shape[1:]), keras.layers.LSTM(args.units, name="rnn"),
         keras.layers.Dense(10)]))
    history, _ = h.fit(dense, train, test, epochs=args.epochs, batch_size=128)
    dense_accuracy, dense_params = history["val_accuracy"][-1], dense.count_params()
    budget = int(args.fraction * dense_params)
    print(f"dense LSTM({args.units}): {dense_params:,} params, accuracy {dense_accuracy:.3f}; "
          f"budget {budget:,}", flush=True)

    spec = {
        "dataset": {"name": "mnist1d", "features": 4, "num_train": limit[0],
                    "num_test": limit[1]},
        "model": {"cell": "lstm"},
        "space": {"decompositions": ["tt", "mps", "tr", "cp", "tucker", "bt", "restricted"],
                  "rank": [1, 16], "d": [2, 3], "units": [32, 64, 128],
                  "learning_rate": [3e-3, 3e-2]},
        "budget": {"max_params": budget, "scope": "model"},
        "search": {"oracle": "bayesian", "max_trials": args.max_trials, "epochs": args.epochs,
                   "batch_size": 128, "seed": 0, "directory": str(folder / "ktr_runs"),
                   "project_name": NAME, "overwrite": True,
                   # The best model under the budget, not the whole front: every
                   # trial may use the whole budget (docs/results.md section 6).
                   "spread": False},
        "tracking": {"experiment": "ktr-budgeted-search", "tracking_uri": args.tracking_uri},
    }
    if limit[0] is None:
        del spec["dataset"]["num_train"], spec["dataset"]["num_test"]
    result = search.run(spec)
    best = max(result.rows, key=lambda r: r["val_accuracy"])
    gap = dense_accuracy - best["val_accuracy"]
    rows = [{"model": f"dense LSTM({args.units})", "params": dense_params,
             "fraction": 1.0, "accuracy": dense_accuracy}]
    for row in sorted(result.front, key=lambda r: r["params"]):
        rows.append({"model": f"{row['decomposition']} ({row.get('units')} units, trial "
                              f"{row['trial']})",
                     "params": int(row["params"]), "fraction": row["params"] / dense_params,
                     "accuracy": row["val_accuracy"]})
    columns = [("model", "model (dense, then the Pareto front)", ""), ("params", "params", ","),
               ("fraction", "of dense", ".2%"), ("accuracy", "test accuracy", ".3f")]
    verdict = {"budget": budget, "dense_accuracy": dense_accuracy,
               "best_accuracy": best["val_accuracy"], "best_params": int(best["params"]),
               "gap_points": 100 * gap, "within_one_point": bool(gap <= 0.01),
               "trials": len(result.rows), "mlflow_parent_run": result.parent_run_id}
    h.save(folder, NAME, rows, columns,
           {"data": "MNIST-1D (10 x 4)", "oracle": "bayesian", "fraction": args.fraction,
            "max_trials": args.max_trials}, args, extra={"verdict": verdict})
    print(f"best under {budget:,} params: {best['val_accuracy']:.3f} with "
          f"{int(best['params']):,} params ({best['params'] / dense_params:.2%} of dense); "
          f"{100 * gap:+.1f} points from dense", flush=True)
    if result.plot_path:
        shutil.copy(result.plot_path, folder / f"{NAME}.png")
    return verdict


if __name__ == "__main__":
    main()
