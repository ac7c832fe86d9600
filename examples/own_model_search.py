"""Budgeted search on your own model: a front end, two recurrent layers, a head.

A keras-tuner user's `build_model(hp)` on MNIST-1D (40 samples as 20 steps of
2 values): a Conv1D front end, an LSTM and a GRU whose weights the search
chooses (`ktr.search.recurrent`: decomposition, rank, units), dot-product
attention pooling, and a softmax head. `ktr.search.run(build_model, ...)`
keeps every trial's whole model under the budget (proposals are repaired
before any training), spreads the trials over the budget range, logs them
to MLflow and reports the Pareto front (accuracy vs parameters) with the
dense references: the same model with dense recurrent kernels, and the
largest dense model within the budget.

    python examples/own_model_search.py             # ~10 min on 2 CPU cores
    python examples/own_model_search.py --quick     # seconds, for CI
"""

from __future__ import annotations

import shutil

import _harness as h
import keras

from keras_tensor_rnn import datasets, search

NAME = "own_model_search"


def make_build_model(steps, features, classes, units):
    def build_model(hp):
        inputs = keras.Input((steps, features))
        x = keras.layers.Conv1D(16, 3, padding="same", activation="relu")(inputs)
        x = search.recurrent(hp, "lstm", units=units, decompositions=["tt", "cp", "restricted",
                                                                     "dense"],
                             rank=(1, 8), d=[2], return_sequences=True)(x)
        x = search.recurrent(hp, "gru", units=units, decompositions=["mps", "tucker", "dense"],
                             rank=(1, 8), d=[2], return_sequences=True)(x)
        x = keras.layers.GlobalAveragePooling1D()(keras.layers.Attention()([x, x]))
        model = keras.Model(inputs, keras.layers.Dense(classes)(x))
        model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 2e-3, 2e-2, sampling="log")),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    return build_model


def main(argv=None):
    p = h.parser(__doc__, epochs=15, seeds=1)
    p.add_argument("--max-trials", type=int, default=16)
    p.add_argument("--budget", type=int, default=20_000)
    p.add_argument("--tracking-uri", default=None, help="MLflow store (default sqlite:///mlflow.db)")
    args = p.parse_args(argv)
    folder = h.out_dir(args)
    units, limit = [32, 64, 96], (None, None)
    if args.quick:
        args.epochs, args.max_trials, args.budget, units, limit = 1, 2, 6000, [8, 16], (512, 256)
    (x, y), (xv, yv) = datasets.load_mnist1d(2, *limit)
    build_model = make_build_model(x.shape[1], x.shape[2], 10, units)
    result = search.run(build_model, x=x, y=y, validation_data=(xv, yv), budget=args.budget,
                        objective="val_accuracy", max_trials=args.max_trials, epochs=args.epochs,
                        seed=0, oracle="random", batch_size=128,
                        directory=str(folder / "ktr_runs"), project_name=NAME, overwrite=True,
                        experiment="ktr-own-model-search", tracking_uri=args.tracking_uri)
    rows = []
    for row in sorted(result.front, key=lambda r: r["params"]):
        layers = " + ".join(f"{row[f'{n}/decomposition']}({row.get(f'{n}/units')})"
                            for n in ("rnn0", "rnn1"))
        rows.append({"model": f"trial {row['trial']}: {layers}", "params": int(row["params"]),
                     "accuracy": row["val_accuracy"], "compression": row["compression"]})
    references = {k: int(v) for k, v in result.references.items() if v}
    columns = [("model", "Pareto front (LSTM + GRU weights)", ""), ("params", "params", ","),
               ("accuracy", "validation accuracy", ".3f"),
               ("compression", "vs dense recurrent kernels", ".2f")]
    h.save(folder, NAME, rows, columns,
           {"data": "MNIST-1D (20 x 2)", "oracle": "random", "budget": args.budget,
            "max_trials": args.max_trials},
           args, extra={"references": references, "trials": len(result.rows),
                        "all_params": [int(r["params"]) for r in result.rows],
                        "mlflow_parent_run": result.parent_run_id})
    if result.plot_path:
        shutil.copy(result.plot_path, folder / f"{NAME}.png")
    return result


if __name__ == "__main__":
    main()
