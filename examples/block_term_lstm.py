"""Block-term LSTM (Ye et al.) on UCF11-shaped video: params, step time, convergence.

Ye et al. classify UCF11 videos (11 actions) from 6 frames of 160x120 RGB,
i.e. 57,600 inputs per step, with LSTM(256) whose input-to-hidden matrix is
a block-term (BT) tensor, against tensor-train (TT) and dense LSTMs: BT has
the fewest parameters, trains faster and converges faster. The
hidden-to-hidden matrix stays dense, as in the paper. Reported per model:
LSTM and input-side parameters, one training step's time (batch 16), test
accuracy, and per-epoch training loss and test accuracy (convergence).

Offline (default), UCF11 cannot be downloaded, so the clips are synthetic
with the same shape (`keras_tensor_rnn.datasets.synthetic_ucf11`: an object
moving over a textured scene; the class is its direction, so single frames
say nothing). `--ucf11 PATH` reads the real videos (UCF11_updated_mpg,
`datasets.load_ucf11`; video files need opencv-python-headless).

    python examples/block_term_lstm.py                  # ~10 min on 2 CPU cores
    python examples/block_term_lstm.py --ucf11 ~/UCF11_updated_mpg
    python examples/block_term_lstm.py --quick          # seconds, for CI
"""

from __future__ import annotations

import _harness as h
import keras
import numpy as np

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets

NAME = "block_term_lstm"
MODELS = [("dense", None), ("tt", 2), ("tt", 4), ("bt", 1), ("bt", 2), ("bt", 4)]


def rnn(decomposition, rank, units):
    if decomposition == "dense":
        return keras.layers.LSTM(units, name="rnn")
    # Balanced modes, as in the paper (and release 0.1): the table's counts are
    # that factorization's. The default (mode_choice="speed") lets the input
    # side grow 2-5x here for a faster first product: benchmarks/README.md.
    return ktr.layers.TensorizedLSTM(
        units, decomposition=decomposition, rank=rank, d=4, recurrent_decomposition="dense",
        decomposition_options={"blocks": 2} if decomposition == "bt" else None,
        mode_choice="balanced", name="rnn")


def main(argv=None):
    p = h.parser(__doc__, epochs=8, seeds=1)
    p.add_argument("--ucf11", help="folder of the real UCF11 videos")
    p.add_argument("--clips", type=int, default=480, help="synthetic clips (80%% train)")
    p.add_argument("--units", type=int, default=256)
    args = p.parse_args(argv)
    folder = h.out_dir(args)
    models = MODELS
    if args.quick:
        args.units, args.epochs, args.clips = 16, 2, 48
        models = [("dense", None), ("tt", 2), ("bt", 1)]
    if args.ucf11:
        train, test, classes = datasets.load_ucf11(args.ucf11)
        data_name, num_classes = "UCF11", len(classes)
    else:
        x, y = datasets.synthetic_ucf11(args.clips, seed=0)
        cut = int(0.8 * len(x))
        train, test = (x[:cut], y[:cut]), (x[cut:], y[cut:])
        data_name, num_classes = f"synthetic UCF11-shaped clips ({args.clips})", 11
    frames, width = train[0].shape[1:]
    recurrent = 4 * args.units * (args.units + 1)  # dense hidden-to-hidden kernel + bias

    def build(decomposition, rank):
        keras.utils.set_random_seed(0)
        return h.compile_classifier(keras.Sequential(
            [keras.Input((frames, width)), rnn(decomposition, rank, args.units),
             keras.layers.Dense(num_classes)]), learning_rate=1e-3)

    rows = []
    for decomposition, rank in models:
        # Timing trains a few steps, so the convergence run gets a fresh,
        # identically seeded model.
        step = h.step_ms(build(decomposition, rank), train[0][:16], train[1][:16],
                         repeats=3 if args.quick else 5)
        model = build(decomposition, rank)
        history, seconds = h.fit(model, train, test, epochs=args.epochs, batch_size=16)
        params = model.get_layer("rnn").count_params()
        rows.append({"decomposition": decomposition, "rank": rank, "params": params,
                     "input_params": params - recurrent, "step_ms": step,
                     "epoch_seconds": seconds, "accuracy": history["val_accuracy"][-1],
                     "best_accuracy": max(history["val_accuracy"]), "loss": history["loss"],
                     "val_accuracy": history["val_accuracy"]})
        print(decomposition, rank, params, f"{step:.1f} ms", f"{rows[-1]['accuracy']:.3f}",
              flush=True)
    dense = rows[0]
    for row in rows:
        row["input_compression"] = dense["input_params"] / row["input_params"]
        row["speedup"] = dense["step_ms"] / row["step_ms"]

    columns = [("decomposition", "input side", ""), ("rank", "rank", ""),
               ("params", "LSTM params", ","), ("input_params", "input-side params", ","),
               ("input_compression", "input-side compression", ",.0f"),
               ("step_ms", "train step ms (batch 16)", ".1f"), ("speedup", "vs dense", ".1f"),
               ("accuracy", "test accuracy", ".3f"), ("best_accuracy", "best epoch", ".3f")]
    h.save(folder, NAME, rows, columns,
           {"data": data_name, "frames": int(frames), "features": int(width),
            "units": args.units, "d": 4, "bt_blocks": 2, "recurrent": "dense",
            "batch_size": 16, "optimizer": "Adam 1e-3"}, args)
    fig, (ax, ax2) = h.figure(2)
    for i, row in enumerate(rows):
        label = row["decomposition"] + ("" if row["rank"] is None else f" r={row['rank']}")
        epochs = np.arange(1, len(row["loss"]) + 1)
        ax.plot(epochs, row["loss"], marker=".", color=f"C{i}", label=label)
        ax2.plot(epochs, row["val_accuracy"], marker=".", color=f"C{i}", label=label)
    ax.set(xlabel="epoch", ylabel="training loss",
           title=f"LSTM({args.units}), {data_name}")
    ax2.set(xlabel="epoch", ylabel="test accuracy", title="convergence")
    ax.legend(fontsize=8)
    h.save_figure(fig, folder, NAME)
    return rows


if __name__ == "__main__":
    main()
