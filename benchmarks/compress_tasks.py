"""Compression on tasks it was not tuned on: every decomposition, three
budgets, five public tasks of different shapes, against each task's trained
dense LSTM and GRU.

The tasks install offline from package registries (no download at run
time): MNIST-1D (embedded in this package); JapaneseVowels and OSULeaf
from the UCR/UEA archive and a Daphnet accelerometer recording, bundled in
``aeon`` 1.6 (``pip install -e ".[benchmarks]"``); and the ``vader``
sentence ratings (``ktr data fetch``, from PyPI). Together: 200 to 19,000
training sequences, 1 to 256 features per step, 10 to 427 steps,
classification and regression, padded variable-length sequences (masked)
in two of them.

For each task and cell (LSTM, GRU), a dense model ``input -> [Embedding |
Masking] -> cell(--units) -> Dense`` is trained (Adam, early stopping on a
10% split). Then every decomposition of ``--decompositions`` (``auto``
included) at every budget of ``--budgets`` (fractions of the recurrent
layer's parameters) goes through the whole pipeline with its defaults:
``ktr.compress(dense, decomposition, budget=b, x=x_train[:1024],
fine_tune=(x_train, y_train, 3))``. Its test score (accuracy; R² for
regression), the recurrent layer's exact parameter count, the chosen rank,
the relative output error on ``x`` and the seconds it took are written to
``compress_tasks.json`` after every row, so a stopped run resumes where it
stopped (``--output-dir``; the dense models are kept in its
``compress_tasks_models/``).

    python benchmarks/compress_tasks.py                       # ~1.5 h on 2 cores
    python benchmarks/compress_tasks.py --tasks japanese_vowels --cells lstm
    python benchmarks/compress_tasks.py --quick               # a minute (CI)

Then ``--report`` prints the tables of docs/results.md and draws
``compress_tasks.png`` from the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets, predictions

DECOMPOSITIONS = ("tt", "mps", "tr", "cp", "tucker", "bt", "lowrank", "auto", "scratch")
# Not in the default grid (``--decompositions dense+tt dense+cp``): a dense
# input kernel with a factorized recurrent one, for narrow inputs.
TWO_SIDED = ("dense+tt", "dense+cp")
BUDGETS = (0.05, 0.1, 0.2)
CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@dataclasses.dataclass
class Task:
    """A benchmark task: arrays, what is predicted, how the model reads it."""

    name: str
    train: tuple
    test: tuple
    classes: int  # 0: regression of `targets` standardized values
    targets: int = 1
    masked: bool = False  # zero-padded steps, masked
    vocabulary: int = 0  # token ids: an Embedding(vocabulary, EMBEDDING) first
    max_epochs: int = 40
    description: str = ""

    @property
    def shape(self) -> str:
        x = self.train[0]
        features = EMBEDDING if self.vocabulary else x.shape[2]
        return f"{len(x):,} x {x.shape[1]} steps x {features} features"


EMBEDDING = 256


def _padded(sequences, length):
    """``(n, length, features)`` zero-padded after each sequence's end."""
    out = np.zeros((len(sequences), length, sequences[0].shape[0]), "float32")
    for row, seq in enumerate(sequences):
        out[row, :seq.shape[1]] = seq.T
    return out


def _labels(y):
    classes = sorted(set(y))
    return np.asarray([classes.index(v) for v in y], "int32"), len(classes)


def mnist1d() -> Task:
    train, test = datasets.load_mnist1d(features=4)
    return Task("mnist1d", train, test, classes=10, max_epochs=40,
                description="MNIST-1D (embedded), 10 classes")


def japanese_vowels() -> Task:
    from aeon.datasets import load_classification

    (x, y), (xt, yt) = (load_classification("JapaneseVowels", split=s) for s in ("train", "test"))
    stacked = np.concatenate([s for s in x], axis=1)
    mean, std = stacked.mean(axis=1, keepdims=True), stacked.std(axis=1, keepdims=True)
    # Standardized per feature, then zero-padded to the longest: Masking
    # skips the padding (a real frame is never all zeros after this).
    length = max(s.shape[1] for s in list(x) + list(xt))
    x, xt = (_padded([(s - mean) / std + 1e-3 for s in part], length) for part in (x, xt))
    (y, classes), (yt, _) = _labels(y), _labels(yt)
    return Task("japanese_vowels", (x, y), (xt, yt), classes, masked=True, max_epochs=60,
                description="JapaneseVowels (UEA, aeon): 9 speakers, 7-29 frames of 12 LPC "
                            "cepstra")


def osuleaf() -> Task:
    from aeon.datasets import load_classification

    (x, y), (xt, yt) = (load_classification("OSULeaf", split=s) for s in ("train", "test"))
    x, xt = (np.transpose(a, (0, 2, 1)).astype("float32") for a in (x, xt))
    (y, classes), (yt, _) = _labels(y), _labels(yt)
    return Task("osuleaf", (x, y), (xt, yt), classes, max_epochs=60,
                description="OSULeaf (UCR, aeon): 6 leaf species from 427-point outlines")


def daphnet_forecast(window=32, ahead=4, stride=2) -> Task:
    import warnings

    from aeon.datasets import load_daphnet_s06r02e0

    with warnings.catch_warnings():  # aeon 1.6 marks it for removal in 1.7
        warnings.simplefilter("ignore", FutureWarning)
        values, _ = load_daphnet_s06r02e0()
    values = np.asarray(values, "float32")
    cut = int(len(values) * 0.8)  # the first 80% of the recording trains
    values = (values - values[:cut].mean(axis=0)) / values[:cut].std(axis=0)

    def windows(part):
        starts = range(0, len(part) - window - ahead + 1, stride)
        return (np.stack([part[s:s + window] for s in starts]),
                np.stack([part[s + window + ahead - 1] for s in starts]))

    return Task("daphnet_forecast", windows(values[:cut]), windows(values[cut:]), classes=0,
                targets=values.shape[1], max_epochs=40,
                description="Daphnet S06R02E0 (aeon): 9 accelerometer channels at 64 Hz, "
                            f"the next {ahead}th sample forecast from {window} (regression)")


def vader_ratings(vocabulary=8000, length=40) -> Task:
    from keras_tensor_rnn import corpora

    sentences = [s for domain in corpora.VADER_DOMAINS for s in corpora.vader_sentences(domain)]
    texts = np.asarray([t for t, _ in sentences], dtype=object)
    ratings = np.asarray([r for _, r in sentences], "float32")
    train, test = datasets._split(len(texts), 0.2, 0)
    tokens, _ = datasets._vectorizer(list(texts[train]), vocabulary, length)
    mean, std = float(ratings[train].mean()), float(ratings[train].std())
    ratings = (ratings - mean) / std
    return Task("vader_ratings", (tokens(list(texts[train])), ratings[train]),
                (tokens(list(texts[test])), ratings[test]), classes=0, masked=True,
                vocabulary=vocabulary, max_epochs=12,
                description="vader (PyPI): 23,699 sentences' mean human sentiment rating "
                            "(regression), 4 domains")


TASKS = {"mnist1d": mnist1d, "japanese_vowels": japanese_vowels, "osuleaf": osuleaf,
         "daphnet_forecast": daphnet_forecast, "vader_ratings": vader_ratings}


def dense_model(task: Task, cell: str, units: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    x = task.train[0]
    inputs = keras.Input(x.shape[1:], dtype="int32" if task.vocabulary else "float32")
    h = inputs
    if task.vocabulary:
        h = keras.layers.Embedding(task.vocabulary, EMBEDDING, mask_zero=True)(h)
    elif task.masked:
        h = keras.layers.Masking(0.0)(h)
    h = CELLS[cell](units, name="rnn")(h)
    outputs = keras.layers.Dense(task.classes or task.targets, name="head")(h)
    model = keras.Model(inputs, outputs)
    if task.classes:
        model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    else:
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    return model


def trained_dense(task: Task, cell: str, units: int, folder: Path, quick: bool) -> keras.Model:
    path = folder / "compress_tasks_models" / f"{task.name}_{cell}{'_quick' if quick else ''}.keras"
    path.parent.mkdir(exist_ok=True)
    if path.exists():
        return keras.models.load_model(path)
    model = fit_dense(dense_model(task, cell, units), task, quick)
    model.save(path)
    return model


def fit_dense(model, task: Task, quick: bool) -> keras.Model:
    # A tenth of a few hundred sequences is too few to stop on: small
    # tasks train for their fixed number of epochs.
    split = 0.1 if len(task.train[0]) >= 2000 else 0.0
    stop = [keras.callbacks.EarlyStopping(patience=6, restore_best_weights=True)] if split else []
    model.fit(*task.train, epochs=1 if quick else task.max_epochs, batch_size=32,
              validation_split=split, callbacks=stop, verbose=0)
    return model


def score(model, task: Task) -> float:
    """Test accuracy, or R² for regression (targets are standardized)."""
    x, y = task.test
    predicted = model.predict(x, verbose=0, batch_size=256)
    if task.classes:
        return float(np.mean(np.argmax(predicted, axis=-1) == y))
    y = y.reshape(len(y), -1)
    return float(1 - np.mean((predicted - y) ** 2) / np.mean(np.var(y, axis=0)))


def scratch_row(dense, task: Task, cell: str, budget: float, quick: bool) -> dict:
    """The reference no compression beats for free: a dense cell with the
    most units within the budget, trained from scratch like the original."""
    limit = budget * dense.get_layer("rnn").count_params()
    units = max(u for u in range(1, dense.get_layer("rnn").units + 1)
                if dense_model(task, cell, u).get_layer("rnn").count_params() <= limit)
    start = time.perf_counter()
    model = fit_dense(dense_model(task, cell, units), task, quick)
    return {"score": score(model, task), "rnn_params": int(model.get_layer("rnn").count_params()),
            "chosen": f"dense {cell}({units}) from scratch", "rank": None,
            "seconds": time.perf_counter() - start}


def compressed_row(dense, task: Task, decomposition: str, budget: float, args) -> dict:
    x, y = task.train
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    try:
        model, report = ktr.compress(
            dense, decomposition, budget=budget, x=x[:args.fit_rows],
            fine_tune=ktr.compression.FineTune(x, y, epochs=args.epochs))
    except ValueError as error:  # no rank of this decomposition fits the budget
        return {"error": str(error)}
    layer = model.get_layer("rnn")
    return {"score": score(model, task), "rnn_params": int(layer.count_params()),
            "chosen": ktr.compression.auto.joined(
                layer.decomposition, layer.get_config().get("recurrent_decomposition")),
            "rank": layer.get_config().get("rank"),
            "output_error": report.output_error, "seconds": time.perf_counter() - start,
            "candidates": report.candidates}


def run(args) -> dict:
    folder = Path(args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("compress_tasks_quick.json" if args.quick else "compress_tasks.json")
    results = json.loads(path.read_text()) if path.exists() else {"tasks": {}, "rows": []}
    results.setdefault("settings", {}).update(units=args.units, fit_rows=args.fit_rows,
                                              epochs=args.epochs, quick=args.quick)
    done = {(r["task"], r["cell"], r["decomposition"], r["budget"]) for r in results["rows"]}
    for name in args.tasks:
        task = TASKS[name]()
        if args.quick:
            task = dataclasses.replace(task, train=tuple(a[:96] for a in task.train),
                                       test=tuple(a[:64] for a in task.test))
        for cell in args.cells:
            dense = trained_dense(task, cell, args.units, folder, args.quick)
            results["tasks"].setdefault(name, {"shape": task.shape,
                                               "description": task.description,
                                               "kind": "classification" if task.classes
                                               else "regression"})
            results["tasks"][name][f"dense_{cell}"] = {
                "score": score(dense, task),
                "rnn_params": int(dense.get_layer("rnn").count_params())}
            for budget in args.budgets:
                for decomposition in args.decompositions:
                    key = (name, cell, decomposition, budget)
                    if key in done:
                        continue
                    row = (scratch_row(dense, task, cell, budget, args.quick)
                           if decomposition == "scratch" else
                           compressed_row(dense, task, decomposition, budget, args))
                    results["rows"].append(dict(zip(("task", "cell", "decomposition", "budget"),
                                                    key), **row))
                    print(json.dumps(results["rows"][-1], default=str)[:300], flush=True)
                    path.write_text(json.dumps(results, indent=1, default=str))
    path.write_text(json.dumps(results, indent=1, default=str))
    return results


def table(results, cell, budget) -> dict:
    """``{decomposition: {task: row}}`` of one cell and budget (rows scored)."""
    found = {}
    for row in results["rows"]:
        if row["cell"] == cell and row["budget"] == budget and "score" in row:
            found.setdefault(row["decomposition"], {})[row["task"]] = row
    return found


def points_below(results, row) -> float:
    """How far ``row`` scores below its task's dense model, in points (100 x)."""
    return 100 * (results["tasks"][row["task"]][f"dense_{row['cell']}"]["score"] - row["score"])


def report(results) -> str:
    """Markdown tables: per cell and budget, each decomposition's score and
    its points below dense per task (auto: with its choice)."""
    lines = []
    tasks = list(results["tasks"])
    for cell in CELLS:
        budgets = sorted({r["budget"] for r in results["rows"] if r["cell"] == cell})
        scored = [t for t in tasks if f"dense_{cell}" in results["tasks"][t]]
        for budget in budgets:
            rows = table(results, cell, budget)
            lines += [f"\n{cell.upper()} at {budget:.0%} of its parameters: test score (points "
                      "below dense; negative: above)", "",
                      "| | " + " | ".join(scored) + " |", "|---|" + "---|" * len(scored),
                      "| dense | " + " | ".join(
                          f"{results['tasks'][t][f'dense_{cell}']['score']:.3f}"
                          for t in scored) + " |"]
            for decomposition, by_task in rows.items():
                cells = []
                for t in scored:
                    row = by_task.get(t)
                    chosen = (f", {row['chosen']}" if row and decomposition in ("auto",)
                              else "")
                    cells.append("-" if row is None else
                                 f"{row['score']:.3f} ({points_below(results, row):+.1f}{chosen})")
                lines.append(f"| {decomposition} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, path) -> None:
    """Score against budget per task (columns) and cell (rows with data),
    one colour per decomposition, dense as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["tasks"])
    cells = [c for c in CELLS if any(r["cell"] == c for r in results["rows"])]
    colours = dict(zip(DECOMPOSITIONS + TWO_SIDED, plt.get_cmap("tab20").colors[::2]
                       + plt.get_cmap("tab20").colors[1::2]))
    shown = [d for d in colours if any(r["decomposition"] == d for r in results["rows"])]
    fig, axes = plt.subplots(len(cells), len(tasks), figsize=(3.2 * len(tasks), 3.3 * len(cells)),
                             squeeze=False)
    for row_axes, cell in zip(axes, cells):
        for ax, task in zip(row_axes, tasks):
            rows = [r for r in results["rows"] if r["task"] == task and r["cell"] == cell
                    and "score" in r]
            dense = results["tasks"][task].get(f"dense_{cell}")
            if not rows or not dense:
                ax.set_visible(False)
                continue
            for decomposition in shown:
                mine = sorted((r for r in rows if r["decomposition"] == decomposition),
                              key=lambda r: r["budget"])
                if mine:
                    ax.plot([100 * r["budget"] for r in mine], [r["score"] for r in mine],
                            "o-", color=colours[decomposition], label=decomposition,
                            lw=2.5 if decomposition == "auto" else 1)
            ax.axhline(dense["score"], color="gray", ls="--", label="dense")
            low = min(r["score"] for r in rows)
            ax.set_ylim(low - 0.02, max(dense["score"], *(r["score"] for r in rows)) + 0.02)
            ax.set_title(f"{task} ({cell.upper()})", fontsize=9)
            ax.set_xticks([100 * b for b in BUDGETS], [f"{b:.0%}" for b in BUDGETS])
            ax.set_xlim(2, 23)
            ax.grid(alpha=0.3)
        row_axes[0].set_ylabel(f"{cell.upper()}: accuracy / R²")
    handles = [plt.Line2D([], [], color=colours[n], marker="o", label=n) for n in shown]
    handles.append(plt.Line2D([], [], color="gray", ls="--", label="dense"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (CI)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--decompositions", nargs="+", default=list(DECOMPOSITIONS),
                        help="also 'scratch': a dense cell of the budget's size trained from "
                             "scratch; and 'dense+tt', 'dense+cp': a dense input kernel")
    parser.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS))
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--fit-rows", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3, help="distillation epochs")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--report", action="store_true",
                        help="only print the tables and draw the plot from the JSON")
    args = parser.parse_args(argv)
    folder = Path(args.output_dir)
    name = "compress_tasks_quick" if args.quick else "compress_tasks"
    if args.report:
        results = json.loads((folder / f"{name}.json").read_text())
    else:
        with predictions.quiet_retracing():  # a new model scored per row, by design
            results = run(args)
    print(report(results))
    plot(results, folder / f"{name}.png")
    return results


if __name__ == "__main__":
    main()
