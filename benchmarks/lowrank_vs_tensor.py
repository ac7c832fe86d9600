"""The low-rank baseline against the tensor decompositions, at equal budgets.

One dense ``LSTM(--units)`` trained on MNIST-1D (``--features`` values per
step, offline), then ``ktr.compress`` to each of ``--decompositions`` at each
of ``--budgets`` (fractions of the LSTM's parameters) with the same recipe:
the data-aware fit on 1,024 training rows, then ``--epochs`` of
distillation. Test accuracy and the exact parameter count of each, so the
decompositions are compared at the parameters they really use (a uniform
rank can leave part of a budget unspent).

    python benchmarks/lowrank_vs_tensor.py            # ~15 minutes on 2 cores
    python benchmarks/lowrank_vs_tensor.py --quick    # seconds (CI)

Writes ``lowrank_vs_tensor.json`` and ``lowrank_vs_tensor.png`` to ``--output-dir``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets


def train_dense(x, y, units, epochs):
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.LSTM(units, name="lstm"),
                              keras.layers.Dense(10, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def compressed_row(dense, decomposition, budget, data, args):
    """Accuracy and size of ``dense`` compressed to ``decomposition`` at ``budget``."""
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(0)
    try:
        model, _ = ktr.compress(dense, decomposition, budget=budget, x=x[:1024],
                                fit_steps=args.fit_steps,
                                fine_tune=ktr.compression.FineTune(x, y, epochs=args.epochs))
    except ValueError as error:  # no rank of this decomposition fits the budget
        return {"decomposition": decomposition, "budget": budget, "error": str(error)}
    layer = model.get_layer("lstm")
    return {"decomposition": decomposition, "budget": budget,
            "lstm_params": int(layer.count_params()), "params": int(model.count_params()),
            "rank": layer.get_config().get("rank"),
            "accuracy": float(model.evaluate(x_test, y_test, verbose=0)[1])}


def plot(rows, dense_accuracy, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for decomposition in dict.fromkeys(r["decomposition"] for r in rows):
        mine = [r for r in rows if r["decomposition"] == decomposition and "accuracy" in r]
        ax.plot([r["lstm_params"] for r in mine], [r["accuracy"] for r in mine], "o-",
                label=decomposition)
    ax.axhline(dense_accuracy, color="gray", linestyle="--", label="dense")
    ax.set_xscale("log")
    ax.set_xlabel("LSTM parameters")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (CI)")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--dense-epochs", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=3, help="distillation epochs")
    parser.add_argument("--fit-steps", type=int, default=ktr.output_fit.STEPS)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--decompositions", nargs="+", default=["lowrank", "tt", "cp", "tucker"])
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    if args.quick:
        args.units, args.dense_epochs, args.epochs, args.fit_steps = 16, 1, 1, 10
        args.budgets, args.decompositions = [0.3], ["lowrank", "tt"]
    keras.utils.set_random_seed(0)
    data = datasets.load_mnist1d(features=args.features, num_train=256 if args.quick else None)
    (x, y), (x_test, y_test) = data
    dense = train_dense(x, y, args.units, args.dense_epochs)
    dense_accuracy = float(dense.evaluate(x_test, y_test, verbose=0)[1])
    rows = [compressed_row(dense, decomposition, budget, data, args)
            for budget in args.budgets for decomposition in args.decompositions]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "output_dir"}
    (out / "lowrank_vs_tensor.json").write_text(json.dumps(
        {"settings": settings, "dense_accuracy": dense_accuracy,
         "dense_lstm_params": int(dense.get_layer("lstm").count_params()), "rows": rows},
        indent=2))
    plot(rows, dense_accuracy, out / "lowrank_vs_tensor.png")
    print(f"dense LSTM({args.units}): accuracy {dense_accuracy:.3f}")
    for r in rows:
        shown = (f"{r['lstm_params']:>7,} params  accuracy {r['accuracy']:.3f}  rank {r['rank']}"
                 if "accuracy" in r else r["error"])
        print(f"{r['budget']:>5.0%} {r['decomposition']:8} {shown}")
    return rows


if __name__ == "__main__":
    main()
