"""MPS vs MPO LSTMs (Murua et al.) at matched parameter counts on real text.

Murua et al. argue that MPS tensor trains (one core per mode, input and
output modes in one chain) compress LSTMs better than MPO tensor trains
(one core per input/output mode pair, `tt` here) and are cheaper at
inference, with NLP experiments. Here: sentence sentiment with an
Embedding(256, padding masked) -> TensorizedLSTM(256) -> Dense(2) model; for each MPO rank,
the MPS rank whose LSTM has the closest parameter count; test accuracy,
LSTM parameters and inference time, against a dense LSTM.

Data: offline (default) the 10,605 movie-review sentences of the `vader`
corpus (Rotten Tomatoes snippets, Pang & Lee's sentence-polarity text,
human-rated; from the vaderSentiment 3.3.2 source distribution on PyPI,
fetched once with `ktr data fetch`), 80/20 split; `--full-data` uses
tfds imdb_reviews (25,000 + 25,000 reviews, downloads on first use).

    ktr data fetch                            # once: 2.5 MB from PyPI
    python examples/mps_vs_mpo.py             # ~10 min on 2 CPU cores
    python examples/mps_vs_mpo.py --full-data # IMDB, networked
    python examples/mps_vs_mpo.py --quick     # seconds, for CI
    python examples/mps_vs_mpo.py --timing-only   # re-time the models, keep the accuracies
"""

from __future__ import annotations

import json

import _harness as h
import keras

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets

NAME = "mps_vs_mpo"


def lstm(decomposition, rank, units):
    if decomposition == "dense":
        return keras.layers.LSTM(units, name="rnn")
    return ktr.layers.TensorizedLSTM(units, decomposition=decomposition, rank=rank, name="rnn")


def matched_mps_rank(target, units, width):
    """The MPS rank whose LSTM parameter count is closest to ``target``."""
    best = None
    for rank in range(1, 257):
        try:
            count = lstm("mps", rank, units).count_params_for(width)
        except ValueError:  # past the largest useful rank
            break
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (rank, count)
    return best[0]


def main(argv=None):
    p = h.parser(__doc__, epochs=3, seeds=2)
    p.add_argument("--full-data", action="store_true", help="tfds imdb_reviews")
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8, 16], help="MPO ranks")
    p.add_argument("--timing-only", action="store_true",
                   help="only re-measure inference times (e.g. on a quiet machine) and update "
                        "the earlier run's results in --out")
    args = p.parse_args(argv)
    folder = h.out_dir(args)
    vocab, length = 8000, 48
    if args.quick:
        args.units, args.ranks, args.seeds, args.epochs = 32, [2], 1, 1
    if args.full_data:
        length = 200
        limit = (1024, 512) if args.quick else (None, None)
        train, test = datasets.load_imdb_reviews(vocab, length, *limit)
        data_name = "IMDB reviews (tfds)"
    else:
        train, test = datasets.load_review_snippets(vocab, length)
        if args.quick:
            train, test = (train[0][:512], train[1][:512]), (test[0][:256], test[1][:256])
        data_name = "vader movie sentences"
    width = args.units

    def build(decomposition, rank):
        return keras.Sequential([keras.Input((length,), dtype="int32"),
                                 keras.layers.Embedding(vocab, width, mask_zero=True),
                                 lstm(decomposition, rank, args.units), keras.layers.Dense(2)])

    configs = [("dense", None)]
    for rank in args.ranks:
        target = lstm("tt", rank, args.units).count_params_for(width)
        configs += [("tt", rank), ("mps", matched_mps_rank(target, args.units, width))]
    # Inference is timed in its own pass, every model in turn for 3 rounds
    # (median), so that all see the same machine load; trained and
    # untrained weights cost the same.
    times = h.interleaved_inference_ms([lambda c=c: build(*c) for c in configs],
                                       test[0][:256], rounds=3)
    if args.timing_only:
        record = json.loads((folder / f"{NAME}.json").read_text())
        rows = record["rows"]
        for row, ms in zip(rows, times):
            row["inference_ms"] = ms
    else:
        rows = []
        for pair, (decomposition, rank) in enumerate(configs):
            row = h.evaluate(lambda: build(decomposition, rank), train, test,  # noqa: B023
                             seeds=args.seeds, epochs=args.epochs, batch_size=64,
                             learning_rate=2e-3)
            row["inference_ms"] = times[pair]
            label = {"tt": "MPO (tt)", "mps": "MPS", "dense": "dense"}[decomposition]
            rows.append({"model": label, "decomposition": "MPO (tt)" if decomposition == "tt"
                         else decomposition, "rank": rank, "pair": (pair + 1) // 2 or None,
                         **row})
            print(label, rank, row["params"], f"{row['accuracy']:.3f}", flush=True)
    dense_params = rows[0]["params"]
    for row in rows:
        row["compression"] = dense_params / row["params"]

    columns = [("pair", "matched pair", ""), ("model", "model", ""), ("rank", "rank", ""),
               ("params", "LSTM params", ","), ("compression", "compression", ".0f"),
               ("accuracy", "test accuracy", ".3f"), ("accuracy_std", "std", ".3f"),
               ("inference_ms", "ms / batch of 256", ".1f")]
    h.save(folder, NAME, rows, columns,
           {"data": data_name, "vocab_size": vocab, "sequence_length": length,
            "embedding_dim": width, "units": args.units, "batch_size": 64,
            "optimizer": "Adam 2e-3"}, args)
    fig, (ax, ax2) = h.figure(2)
    h.plot_tradeoff(ax, rows, xlabel="LSTM parameters")
    ax.set_title(f"MPS vs MPO LSTM({args.units}), {data_name}")
    h.plot_tradeoff(ax2, rows, y="inference_ms", yerr=None, ylabel="ms / batch of 256",
                    xlabel="LSTM parameters")
    ax2.set_title("inference time (CPU)")
    h.save_figure(fig, folder, NAME)
    return rows


if __name__ == "__main__":
    main()
