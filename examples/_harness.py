"""What the paper-reproduction scripts in this folder share: the command
line (``--quick``, ``--seeds``, ``--epochs``, ``--out``), seeded training of
a classifier, inference timing, the hardware record, and writing results as
JSON + a Markdown table + PNG plots (``docs/results/<name>.*``).

Not part of the library: the scripts import it from their own folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def parser(doc: str, *, epochs: int, seeds: int = 1) -> argparse.ArgumentParser:
    """The options every script takes; ``doc`` is the script's docstring."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[1:]))
    p.add_argument("--quick", action="store_true",
                   help="a tiny run (seconds) that exercises every step; CI runs it")
    p.add_argument("--seeds", type=int, default=seeds, help=f"seeds per model (default {seeds})")
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    p.add_argument("--out", default=None,
                   help="output folder (default docs/results, or ./ktr_results_quick with --quick)")
    return p


def out_dir(args) -> Path:
    folder = Path(args.out) if args.out else (
        Path("ktr_results_quick") if args.quick else RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mnist_task(args):
    """The classification task of the MNIST scripts: row-sequential MNIST
    from tfds with ``--full-data``, else MNIST-1D (10 steps of 4 values);
    512/256 examples with ``--quick``. Returns ``train, test, name``."""
    from keras_tensor_rnn import datasets

    limit = (512, 256) if args.quick else (None, None)
    if getattr(args, "full_data", False):
        return (*datasets.load_mnist(*limit), "MNIST rows (tfds)")
    return (*datasets.load_mnist1d(4, *limit), "MNIST-1D (10 x 4)")


def compile_classifier(model, learning_rate=3e-3):
    """Adam and sparse categorical cross-entropy on logits."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit(model, train, val, *, epochs, batch_size):
    """Train; returns the per-epoch history and seconds per epoch."""
    start = time.perf_counter()
    history = model.fit(*train, validation_data=val, epochs=epochs, batch_size=batch_size,
                        verbose=0)
    seconds = (time.perf_counter() - start) / max(epochs, 1)
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}, seconds


def evaluate(build, train, test, *, seeds, epochs, batch_size=128, learning_rate=3e-3,
             time_batch=256):
    """Train a fresh ``build()`` model per seed; the model's recurrent layer
    is named ``rnn``. Returns the row fields every classification script
    reports: ``params`` (of ``rnn``), mean/std/all final test accuracies,
    the per-epoch test-accuracy curves and the inference time of one batch
    of ``time_batch`` test inputs."""
    import keras

    accuracies, curves, times, seconds = [], [], [], []
    for seed in range(seeds):
        keras.utils.set_random_seed(seed)
        model = compile_classifier(build(), learning_rate)
        history, per_epoch = fit(model, train, test, epochs=epochs, batch_size=batch_size)
        accuracies.append(history["val_accuracy"][-1])
        curves.append(history["val_accuracy"])
        times.append(inference_ms(model, test[0][:time_batch]))
        seconds.append(per_epoch)
    mean, std = mean_std(accuracies)
    return {"params": int(model.get_layer("rnn").count_params()), "accuracy": mean,
            "accuracy_std": std, "accuracies": accuracies, "curves": curves,
            "inference_ms": mean_std(times)[0], "epoch_seconds": mean_std(seconds)[0]}


def inference_ms(model, x, repeats=10):
    """Median wall time of ``predict_on_batch(x)`` in milliseconds, after
    warm-up calls that compile (the search's latency measurement)."""
    from keras_tensor_rnn.search.tuner import measure_latency_ms

    return measure_latency_ms(model, x, repeats)


def interleaved_inference_ms(builders, x, rounds=3, repeats=10):
    """Inference time of several models measured fairly: each ``builders[i]()``
    is built once, then all are timed in turn for ``rounds`` rounds (each
    :func:`inference_ms`); returns the median per model, in order."""
    models = [build() for build in builders]
    samples = [[] for _ in models]
    for _ in range(rounds):
        for model, sample in zip(models, samples):
            sample.append(inference_ms(model, x, repeats))
    return [statistics.median(sample) for sample in samples]


def step_ms(model, x, y, repeats=5):
    """Median wall time of one ``train_on_batch`` in milliseconds, after one
    call that compiles."""
    model.train_on_batch(x, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def mean_std(values):
    values = [float(v) for v in values]
    return float(np.mean(values)), float(np.std(values))


def hardware() -> dict:
    import keras

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    record = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
              "python": platform.python_version(), "backend": keras.backend.backend(),
              "keras": keras.__version__, "numpy": np.__version__}
    for name in ("tensorflow", "jax"):
        if name in sys.modules:
            record[name] = sys.modules[name].__version__
    return record


def markdown_table(rows, columns) -> str:
    """``columns``: ``(key, header, format)`` triples."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else format(value, fmt) if fmt else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save(folder: Path, name: str, rows, columns, settings, args, extra=None) -> dict:
    """Write ``<name>.json`` (rows, settings, hardware, command) and
    ``<name>.md`` (the table); returns what was written to JSON."""
    record = {"name": name, "command": "python " + " ".join(
                  [os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else name,
                   *sys.argv[1:]]),
              "settings": {**settings, "quick": args.quick, "seeds": args.seeds,
                           "epochs": args.epochs},
              "hardware": hardware(), "rows": rows, **(extra or {})}
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2))
    table = markdown_table(rows, columns)
    (folder / f"{name}.md").write_text(table + "\n")
    print(table)
    return record


def figure(ncols=1, width=5.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 4), squeeze=False)
    return fig, list(axes[0])


def plot_tradeoff(ax, rows, *, group="decomposition", x="params", y="accuracy",
                  yerr="accuracy_std", annotate="rank", xlabel="recurrent-layer parameters",
                  ylabel="test accuracy"):
    """Accuracy against parameters, one line per ``group`` value; the group
    named ``dense`` is drawn as a black square."""
    groups = {}
    for row in rows:
        groups.setdefault(row[group], []).append(row)
    for name, members in groups.items():
        members = sorted(members, key=lambda r: r[x])
        style = dict(marker="s", color="black") if name == "dense" else dict(marker="o")
        ax.errorbar([r[x] for r in members], [r[y] for r in members],
                    yerr=[r.get(yerr) or 0 for r in members], capsize=3, label=name, **style)
        for r in members:
            if r.get(annotate) is not None:
                ax.annotate(f"{r[annotate]}", (r[x], r[y]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7)
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def save_figure(fig, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
