"""What a nested-rank search saves: the front of `strategy="nested"` against
`"independent"` at a third of the time, and nested ranks against the same
ranks trained alone.

1. The search, on two tasks: the quickstart spec (MNIST-1D, budget 12,000)
   and examples/own_model_search.py's model (a Conv1D front end, an LSTM and
   a GRU chosen by the search, attention pooling; budget 20,000). For each
   seed, `independent` with `--trials` trials and `nested` with each of
   `--nested-trainings` trainings (2 and 3: a nested training costs more
   than an average trial, so which count takes a third of the time is
   measured; each scores up to 12 lower ranks; `finetune_epochs=0`, as the
   front is taken before any fine-tuning), the same budget, data and
   epochs per training, run one after the other. Reports wall time, models on the
   front and the hypervolume of the front in (validation accuracy,
   parameters) as docs/results.md §8 defines it (benchmarks/front_coverage.py).
2. Ranks: the quickstart template's LSTM(64), tt and cp, trained once with
   nested ranks at rank 12, then at ranks 2, 4, 8: its accuracy as
   truncated, after one epoch of fine-tuning, and the same rank's model
   trained alone for as many epochs.

3. The step's cost: one epoch of the quickstart template's LSTM(64) (tt,
   rank 12) and of the own model's two layers (cp LSTM(64) and tucker
   GRU(96), rank 8), plain and with nested ranks, in interleaved rounds
   after a first epoch (its trace): the fastest and the median epoch of
   each, and their ratios.

Writes benchmarks/results/search_cost.{json,png}; `--report` prints the
markdown tables from the JSON. Rows are written as they finish, so a
stopped run resumes.

    python benchmarks/search_cost.py                # ~12 min on 2 CPU cores
    python benchmarks/search_cost.py --quick        # a smoke run (CI)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "examples")]

from front_coverage import hypervolume  # noqa: E402

RANKS = (2, 4, 8)
TOP_RANK = 12


def quickstart_problem(quick):
    import tomllib

    from keras_tensor_rnn.search.spec import shipped_specs

    spec = tomllib.loads(shipped_specs()["quickstart"].read_text())
    if quick:
        spec["dataset"].update(num_train=256, num_test=128)
    return spec


def own_model_problem(quick):
    from own_model_search import make_build_model

    from keras_tensor_rnn import datasets

    limit = (512, 256) if quick else (None, None)
    (x, y), (xv, yv) = datasets.load_mnist1d(2, *limit)
    units = [8, 16] if quick else [32, 64, 96]
    return make_build_model(x.shape[1], x.shape[2], 10, units), (x, y, (xv, yv)), 20_000


def run_search(task, strategy, trials, epochs, seed, quick, folder):
    """One search; its wall time, front and hypervolume."""
    import keras_tensor_rnn as ktr

    # The front (and its hypervolume) is of the scored ranks: fine-tuning them
    # is measured apart (the rank table), not charged to the search here.
    common = dict(max_trials=trials, epochs=epochs, strategy=strategy, verbose=False,
                  tracking_uri=f"sqlite:///{folder}/mlflow.db", overwrite=True,
                  finetune_epochs=0)
    start = time.perf_counter()
    if task == "quickstart":
        spec = quickstart_problem(quick)
        spec["search"].update(seed=seed, directory=str(folder / "runs"),
                              project_name=f"{task}-{strategy}-{seed}")
        result = ktr.search.run(spec, **common)
        space = result.tuner.oracle.space
    else:
        build_model, (x, y, validation), budget = own_model_problem(quick)
        result = ktr.search.run(build_model, x=x, y=y, validation_data=validation, budget=budget,
                                objective="val_accuracy", seed=seed, directory=str(folder / "runs"),
                                project_name=f"{task}-{strategy}-{seed}", **common)
        space = result.tuner.oracle.space
    wall = time.perf_counter() - start
    low, high = space.smallest_count(), space.budget
    points = [(r["params"], r["val_accuracy"]) for r in result.front]
    return {"task": task, "strategy": strategy, "seed": seed, "trainings": trials,
            "wall_s": wall, "models": len(result.rows), "front": len(result.front),
            "hypervolume": hypervolume(points, low, high),
            "front_points": [[int(p), float(a)] for p, a in points]}


def rank_rows(decomposition, epochs, seed, quick):
    """Nested rank-12 model truncated to RANKS (as is, fine-tuned one epoch)
    vs each rank trained alone."""
    import keras

    import keras_tensor_rnn as ktr
    from keras_tensor_rnn.datasets import load_mnist1d
    from keras_tensor_rnn.search import SearchSpace
    from keras_tensor_rnn.search.tuned_layers import nested_rank_layers

    (x, y), (xv, yv) = load_mnist1d(4, *((256, 128) if quick else (None, None)))
    space = SearchSpace(input_shape=x.shape[1:], num_classes=10, decompositions=[decomposition],
                        rank_range=(1, TOP_RANK), d_choices=[2], units_choices=[64])
    values = {"decomposition": decomposition, "d": 2, "units": 64, "learning_rate": 5e-3}

    def accuracy(model):
        return float(model.evaluate(xv, yv, batch_size=256, verbose=0, return_dict=True)["accuracy"])

    keras.utils.set_random_seed(seed)
    with nested_rank_layers():
        nested = space.model({**values, "rank": TOP_RANK})
    nested.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
    rows = []
    for rank in RANKS:
        small = ktr.truncate(nested, rank)
        small.compile_from_config(nested.get_compile_config())
        truncated = accuracy(small)
        small.fit(x, y, epochs=1, batch_size=128, verbose=0)
        keras.utils.set_random_seed(seed)
        alone = space.model({**values, "rank": rank})
        alone.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
        rows.append({"decomposition": decomposition, "rank": rank, "seed": seed,
                     "params": small.count_params(), "nested": truncated,
                     "nested_finetuned": accuracy(small), "alone": accuracy(alone)})
    return rows


def step_model(config, nested):
    """``(compiled model, x, y)``: a configuration of the step table."""
    import keras

    from keras_tensor_rnn import datasets
    from keras_tensor_rnn.layers import TensorizedGRU, TensorizedLSTM

    (x, y), _ = datasets.load_mnist1d(4 if config == "quickstart" else 2)
    inputs = keras.Input(x.shape[1:])
    if config == "quickstart":
        h = TensorizedLSTM(64, decomposition="tt", rank=TOP_RANK, d=2, nested_ranks=nested)(inputs)
    else:
        h = keras.layers.Conv1D(16, 3, padding="same", activation="relu")(inputs)
        for layer, units, name in ((TensorizedLSTM, 64, "cp"), (TensorizedGRU, 96, "tucker")):
            h = layer(units, decomposition=name, rank=8, d=2, nested_ranks=nested,
                      return_sequences=True)(h)
        h = keras.layers.GlobalAveragePooling1D()(keras.layers.Attention()([h, h]))
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, x, y


def step_rows(rounds):
    """Epoch times, plain and nested, of each configuration, interleaved."""
    rows = []
    for config in ("quickstart", "own model"):
        runs = {nested: step_model(config, nested) for nested in (False, True)}
        times = {False: [], True: []}
        for model, x, y in runs.values():
            model.fit(x, y, epochs=1, batch_size=128, verbose=0)  # the trace
        for _ in range(rounds):
            for nested, (model, x, y) in runs.items():
                start = time.perf_counter()
                model.fit(x, y, epochs=1, batch_size=128, verbose=0)
                times[nested].append(time.perf_counter() - start)
        rows.append({"config": config, "plain_s": times[False], "nested_s": times[True]})
    return rows


def mean_std(values):
    values = list(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def report(data) -> str:
    lines = ["| task | strategy | trainings | wall (s) | models scored | on the front | "
             "hypervolume |", "|---|---|---|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in data["searches"]):
        kinds = sorted({(r["strategy"], r["trainings"]) for r in data["searches"]
                        if r["task"] == task}, key=lambda k: (k[0] == "nested", k[1]))
        for strategy, trainings in kinds:
            runs = [r for r in data["searches"] if r["task"] == task
                    and (r["strategy"], r["trainings"]) == (strategy, trainings)]
            if runs:
                lines.append(f"| {task} | {strategy} | {runs[0]['trainings']} | "
                             f"{mean_std(r['wall_s'] for r in runs)} | "
                             f"{statistics.mean(r['models'] for r in runs):.0f} | "
                             f"{statistics.mean(r['front'] for r in runs):.1f} | "
                             f"{mean_std(r['hypervolume'] for r in runs)} |")
    lines += ["", "| decomposition | rank | params | nested, truncated | nested + 1 epoch | "
              "trained alone | gap (points) |", "|---|---|---|---|---|---|---|"]
    for decomposition in dict.fromkeys(r["decomposition"] for r in data["ranks"]):
        for rank in RANKS:
            rows = [r for r in data["ranks"]
                    if r["decomposition"] == decomposition and r["rank"] == rank]
            if rows:
                gap = 100 * (statistics.mean(r["alone"] for r in rows)
                             - statistics.mean(r["nested_finetuned"] for r in rows))
                lines.append(f"| {decomposition} | {rank} | {rows[0]['params']:,} | "
                             f"{mean_std(r['nested'] for r in rows)} | "
                             f"{mean_std(r['nested_finetuned'] for r in rows)} | "
                             f"{mean_std(r['alone'] for r in rows)} | {gap:+.1f} |")
    if data.get("steps"):
        lines += ["", "| configuration | plain epoch (s) | nested epoch (s) | ratio, fastest | "
                  "ratio, median |", "|---|---|---|---|---|"]
        for row in data["steps"]:
            plain, nested = row["plain_s"], row["nested_s"]
            lines.append(f"| {row['config']} | {statistics.median(plain):.3f} "
                         f"({min(plain):.3f}-{max(plain):.3f}) | {statistics.median(nested):.3f} "
                         f"({min(nested):.3f}-{max(nested):.3f}) | {min(nested) / min(plain):.2f} | "
                         f"{statistics.median(nested) / statistics.median(plain):.2f} |")
    return "\n".join(lines)


def plot(data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in data["searches"]))
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(6 * max(len(tasks), 1), 4))
    for ax, task in zip(axes if len(tasks) > 1 else [axes], tasks):
        for strategy, colour in (("independent", "tab:blue"), ("nested", "tab:orange")):
            for run in (r for r in data["searches"]
                        if r["task"] == task and r["strategy"] == strategy):
                points = sorted(run["front_points"])
                ax.step([p for p, _ in points], [a for _, a in points], where="post",
                        color=colour, alpha=0.7,
                        label=f"{strategy}, seed {run['seed']}: {run['wall_s']:.0f} s, "
                              f"HV {run['hypervolume']:.3f}")
        ax.set_xscale("log")
        ax.set(title=task, xlabel="parameters", ylabel="validation accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=9)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--nested-trainings", default="2,3",
                   help="the nested searches' numbers of trainings (comma-separated)")
    p.add_argument("--tasks", default="quickstart,own_model")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report", action="store_true")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "search_cost.json"))
    args = p.parse_args(argv)
    output = Path(args.output)
    if args.quick:
        args.trials, args.epochs, args.seeds, args.nested_trainings = 3, 1, 1, "1"
    data = (json.loads(output.read_text()) if output.is_file()
            else {"settings": vars(args), "searches": [], "ranks": []})
    if args.report:
        print(report(data))
        return data
    output.parent.mkdir(parents=True, exist_ok=True)

    def save():
        output.write_text(json.dumps(data, indent=1))

    done = {(r["task"], r["strategy"], r["seed"], r["trainings"]) for r in data["searches"]}
    runs = [("independent", args.trials)] + [("nested", int(n))
                                             for n in args.nested_trainings.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for task in args.tasks.split(","):
                for strategy, trainings in runs:
                    if (task, strategy, seed, trainings) in done:
                        continue
                    row = run_search(task, strategy, trainings, args.epochs, seed, args.quick,
                                     Path(tmp))
                    data["searches"].append(row)
                    save()
                    print(f"{task} {strategy} {trainings} seed {seed}: {row['wall_s']:.0f} s, "
                          f"HV {row['hypervolume']:.3f}, front {row['front']}", flush=True)
            for decomposition in ("tt", "cp"):
                if any(r["decomposition"] == decomposition and r["seed"] == seed
                       for r in data["ranks"]):
                    continue
                data["ranks"] += rank_rows(decomposition, args.epochs, seed, args.quick)
                save()
    if not data.get("steps"):
        data["steps"] = step_rows(2 if args.quick else 10)
        save()
    plot(data, output.with_suffix(".png"))
    print(report(data))
    return data


if __name__ == "__main__":
    main()
