"""CP vs Tucker vs TT GRU (Tjandra et al.): accuracy against parameters.

Tjandra et al. re-parameterize the GRU's weight matrices (one per gate,
input and recurrent side) with CP, Tucker or tensor-train factorizations and
compare them at several sizes on sequence classification; TT gave the best
accuracy for a given parameter count. Here: GRU(256) on the same task as
`fully_tensorized_lstm.py`, each decomposition at four ranks, one chart.

Offline (default) the data is MNIST-1D (10 steps of 4 values); `--full-data`
loads row-sequential MNIST from tfds (downloads on first use).

    python examples/cp_tucker_tt_gru.py                # ~10 min on 2 CPU cores
    python examples/cp_tucker_tt_gru.py --full-data    # MNIST, networked
    python examples/cp_tucker_tt_gru.py --quick        # seconds, for CI
"""

from __future__ import annotations

import _harness as h
import keras

import keras_tensor_rnn as ktr

NAME = "cp_tucker_tt_gru"
RANKS = {"cp": [2, 8, 32, 64], "tucker": [1, 2, 3, 4], "tt": [1, 2, 4, 8]}


def build(decomposition, rank, units, input_shape):
    if decomposition == "dense":
        rnn = keras.layers.GRU(units, name="rnn")
    else:
        rnn = ktr.layers.TensorizedGRU(units, decomposition=decomposition, rank=rank,
                                       gates="separate", name="rnn")
    return keras.Sequential([keras.Input(input_shape), rnn, keras.layers.Dense(10)])


def main(argv=None):
    p = h.parser(__doc__, epochs=15, seeds=1)
    p.add_argument("--full-data", action="store_true", help="row-sequential MNIST from tfds")
    p.add_argument("--units", type=int, default=256)
    args = p.parse_args(argv)
    folder = h.out_dir(args)
    ranks = RANKS
    if args.quick:
        args.units, args.epochs, args.seeds = 16, 1, 1
        ranks = {name: values[:1] for name, values in RANKS.items()}
    train, test, data_name = h.mnist_task(args)
    input_shape = train[0].shape[1:]

    rows = []
    configs = [("dense", None)] + [(name, r) for name, values in ranks.items() for r in values]
    for decomposition, rank in configs:
        row = h.evaluate(lambda: build(decomposition, rank, args.units, input_shape),  # noqa: B023
                         train, test, seeds=args.seeds, epochs=args.epochs)
        rows.append({"decomposition": decomposition, "rank": rank, **row})
        print(decomposition, rank, row["params"], f"{row['accuracy']:.3f}", flush=True)
    dense_params = rows[0]["params"]
    for row in rows:
        row["compression"] = dense_params / row["params"]

    columns = [("decomposition", "decomposition", ""), ("rank", "rank", ""),
               ("params", "GRU params", ","), ("compression", "compression", ".1f"),
               ("accuracy", "test accuracy", ".3f"), ("inference_ms", "ms / batch of 256", ".1f"),
               ("epoch_seconds", "s / epoch", ".1f")]
    h.save(folder, NAME, rows, columns,
           {"data": data_name, "units": args.units, "gates": "separate", "batch_size": 128,
            "optimizer": "Adam 3e-3"}, args)
    fig, (ax,) = h.figure(1, width=6.5)
    h.plot_tradeoff(ax, rows, xlabel="GRU parameters")
    ax.set_title(f"CP vs Tucker vs TT GRU({args.units}), {data_name}")
    h.save_figure(fig, folder, NAME)
    return rows


if __name__ == "__main__":
    main()
