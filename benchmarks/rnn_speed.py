"""Time tensorized LSTMs against dense Keras LSTM, interleaved, in one run.

Variants (all with the units of SHAPES, timed side by side):
  dense         keras.layers.LSTM
  naive_t3f     TT input projection with t3f.matmul at every time step (TF only)
  reconstructed TensorizedLSTM(implementation="reconstructed"): full() then GEMM
  <name>        TensorizedLSTM(decomposition=<name>) for every decomposition,
                with its default modes (mode_choice="speed")
  tt_balanced   the tt layer with release 0.1's balanced modes
                (mode_choice="balanced")

Each variant runs in two modes, plain and XLA-compiled (jit); every ratio
uses each side at its best mode (dense included). Floors: one read of the
input (a compiled sum), for the input projections; and for train steps, the
train step of a linear map of the input (Dense(1) on every step, then a
linear head), which reads the input twice as every train step must (the
forward projection and the gradient of the first factor) and does Keras's
own per-step work; the recurrence of keras.layers.LSTM(units) on 16
features, as a loop and unrolled; and Keras's per-step work alone. From
these, the lowest train step a layer reading the input twice and running
Keras's fastest recurrence can take (see floors() and lowest_train_step()).
All inputs are resident tensors.

Honest timing on a shared machine: all models are built first, then timed
in rounds, each round timing every variant once (a block of calls filling
MIN_BLOCK_MS), so load that comes and goes hits all variants alike. Rounds
repeat until every variant's round medians spread by at most
TARGET_SPREAD (interquartile range / median) or MAX_ROUNDS is reached. The
JSON records each median, its spread, the load average before and after,
and the ratios. Peak memory (MiB above the variant's start: host resident
memory, GPU allocator memory on a GPU) is taken while each variant is built,
compiled and warmed up.

Shapes: "ucf11" (batch 16, 6 steps, 57,600 features, 256 units, rank 4, d 4,
dense recurrent side) and "small" (batch 128, 28 steps, 28 features, 128
units, rank 4, d 2).

    python benchmarks/rnn_speed.py                 # both shapes (minutes on 2 CPU cores)
    python benchmarks/rnn_speed.py --quick         # tiny shapes, seconds
    KERAS_BACKEND=jax python benchmarks/rnn_speed.py --shapes ucf11
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import time
from pathlib import Path

import keras
import numpy as np

import keras_tensor_rnn as ktr
from keras_tensor_rnn.memory import PeakMemory

SHAPES = {
    "ucf11": dict(batch=16, steps=6, features=57600, units=256, rank=4, d=4,
                  recurrent_decomposition="dense"),
    "small": dict(batch=128, steps=28, features=28, units=128, rank=4, d=2,
                  recurrent_decomposition=None),
    "quick": dict(batch=8, steps=4, features=96, units=16, rank=2, d=2,
                  recurrent_decomposition="dense"),
}


class NaiveT3fLSTM(keras.layers.Layer):
    """The naive baseline: a TT-matrix input projection multiplied with
    ``t3f.matmul`` inside the time loop (one call per step), dense recurrence."""

    def __init__(self, units, rank, d, **kwargs):
        super().__init__(**kwargs)
        self.units, self.rank, self.d = units, rank, d

    def build(self, input_shape):
        self.tt = ktr.factorizations.get("tt")((input_shape[-1], 4 * self.units),
                                              rank=self.rank, d=self.d)
        values = self.tt.initialize(seed=0).factors
        self.cores = [self.add_weight(shape=v.shape, initializer=_const(v), name=f"core_{k}")
                      for k, v in enumerate(values)]
        self.recurrent = self.add_weight(shape=(self.units, 4 * self.units),
                                         initializer="orthogonal", name="recurrent")
        self.bias = self.add_weight(shape=(4 * self.units,), initializer="zeros", name="bias")

    def call(self, x):
        import t3f

        tt = self.tt.to_t3f(list(self.cores))
        h = keras.ops.zeros((keras.ops.shape(x)[0], self.units), x.dtype)
        c = keras.ops.zeros_like(h)
        for t in range(x.shape[1]):
            z = t3f.matmul(x[:, t, :], tt) + keras.ops.matmul(h, self.recurrent) + self.bias
            i, f, g, o = keras.ops.split(z, 4, axis=-1)
            c = keras.ops.sigmoid(f) * c + keras.ops.sigmoid(i) * keras.ops.tanh(g)
            h = keras.ops.sigmoid(o) * keras.ops.tanh(c)
        return h


def _const(value):
    return lambda shape, dtype=None: keras.ops.cast(value, dtype or "float32")


def make_layer(variant, shape):
    if variant == "dense":
        return keras.layers.LSTM(shape["units"])
    if variant == "naive_t3f":
        return NaiveT3fLSTM(shape["units"], shape["rank"], shape["d"])
    decomposition, implementation = (("tt", "reconstructed") if variant == "reconstructed"
                                     else (variant, "auto"))
    mode_choice = "speed"
    if variant == "tt_balanced":
        decomposition, mode_choice = "tt", "balanced"
    rank = 2 if decomposition == "tucker" else shape["rank"]
    return ktr.layers.TensorizedLSTM(
        shape["units"], decomposition=decomposition, rank=rank, d=shape["d"],
        recurrent_decomposition=shape["recurrent_decomposition"],
        implementation=implementation, mode_choice=mode_choice)



# Each timed block fills at least this many ms (at least MIN_CALLS calls);
# its median is one round's sample.
MIN_BLOCK_MS = 300
BLOCK_MS = [MIN_BLOCK_MS]  # --quick lowers it
MIN_CALLS = 2
MIN_ROUNDS = 3
MAX_ROUNDS = 15
TARGET_SPREAD = 0.05


def time_block(fn):
    samples = []
    while len(samples) < MIN_CALLS or sum(samples) < BLOCK_MS[0]:
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def spread(values):
    """Interquartile range over the median (0 for fewer than 3 values)."""
    if len(values) < 3:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (q3 - q1) / statistics.median(values)


def interleave(tasks, min_rounds=MIN_ROUNDS, max_rounds=MAX_ROUNDS):
    """Time every task of ``{name: fn}`` once per round, rounds repeated
    until all spreads are at most TARGET_SPREAD. Returns ``{name: (median,
    spread, rounds)}``."""
    rounds = {name: [] for name in tasks}
    for fn in tasks.values():  # warm up (compilation) outside the rounds
        fn()
        fn()
    for k in range(max_rounds):
        for name, fn in tasks.items():
            rounds[name].append(time_block(fn))
        if k + 1 >= min_rounds and all(spread(v) <= TARGET_SPREAD for v in rounds.values()):
            break
    return {name: (statistics.median(v), spread(v), len(v)) for name, v in rounds.items()}


def build_variant(variant, shape, x, y, jit):
    keras.utils.set_random_seed(0)
    # Inputs already on the device, as the floors' are: the host-to-device
    # copy of the input is not what is compared.
    x_dev, y_dev = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    with PeakMemory() as memory:
        model = keras.Sequential([keras.Input(x.shape[1:]), make_layer(variant, shape),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        model.predict_on_batch(x_dev)
        model.train_on_batch(x_dev, y_dev)
    tasks = {"forward_ms": lambda: keras.ops.convert_to_numpy(model.predict_on_batch(x_dev)),
             "train_step_ms": lambda: model.train_on_batch(x_dev, y_dev)}
    layer = model.layers[0]
    if hasattr(getattr(layer, "cell", None), "project_inputs"):
        # The hoisted input projection of all steps alone, compiled and fed
        # a resident tensor exactly as the floors are (no predict_on_batch
        # overhead, no host-to-device copy of the input).
        tasks["projection_ms"] = compiled(layer.cell.project_inputs, x, jit)
    info = {"params": int(model.count_params()), **memory.result}
    if hasattr(layer, "in_modes"):
        info["in_modes"] = list(layer.in_modes or ())
        info["hidden_modes"] = list(layer.hidden_modes or ())
    return model, tasks, info


def compiled(fn, x, jit=True):
    """A no-argument call of ``fn`` compiled by the backend on ``x`` already
    on the device, waiting for the result."""
    if keras.backend.backend() == "jax":
        import jax

        # Variables are read at trace time (constants of the compiled
        # function): fine for timing a forward pass.
        function, tensor = jax.jit(fn), jax.device_put(x)
        return lambda: jax.block_until_ready(function(tensor))
    import tensorflow as tf

    function, tensor = tf.function(fn, jit_compile=jit, autograph=False), tf.constant(x)
    return lambda: function(tensor).numpy()


def floors(x, y, units, jit_modes):
    """What the timings are measured against, each at its best of the
    ``jit_modes`` (as the variants are):

    - ``one_read_ms``: one read of the input (a compiled sum);
    - ``train_step_floor_ms``: the train step of the cheapest model that
      uses every input feature, a linear map of each step's features
      (``Dense(1)``, then a linear head): it reads the input twice (the
      forward product and the kernel's gradient), plus Keras's own
      per-step work (optimizer update, loss, dispatch);
    - ``recurrence_ms``: the train step of ``keras.layers.LSTM(units)`` on 16
      features: the recurrent work of an LSTM of this width, apart from
      reading a wide input;
    - ``recurrence_unrolled_ms``: the same with ``unroll=True``, Keras's
      fastest form of that recurrence on a CPU for short sequences;
    - ``step_overhead_ms``: the train step of a ``Dense(1)`` on one feature,
      Keras's per-step work alone (each of the above pays it once).

    Returns the callables (one per mode, ``+jit`` for XLA) and the models
    (kept alive)."""
    x_dev, y_dev = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    narrow = keras.ops.convert_to_tensor(x[..., :16])
    tasks, models = {"one_read_ms": compiled(lambda a: keras.ops.sum(a), x)}, []
    for jit in jit_modes:
        suffix = "+jit" if jit else ""
        linear = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Dense(1),
                                   keras.layers.Flatten(), keras.layers.Dense(1)])
        recurrences = [keras.Sequential([keras.Input(tuple(narrow.shape[1:])),
                                         keras.layers.LSTM(units, unroll=unroll),
                                         keras.layers.Dense(1)]) for unroll in (False, True)]
        overhead = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        for model in (linear, *recurrences, overhead):
            model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
            models.append(model)
        for key, model, data in (("train_step_floor_ms", linear, x_dev),
                                 ("recurrence_ms", recurrences[0], narrow),
                                 ("recurrence_unrolled_ms", recurrences[1], narrow),
                                 ("step_overhead_ms", overhead, y_dev)):
            tasks[key + suffix] = functools.partial(model.train_on_batch, data, y_dev)
    return tasks, models


def lowest_train_step(floors, by_mode):
    """The least a train step can take that reads the input twice and runs
    Keras's fastest form of the LSTM recurrence (``floors`` at their best
    modes): the train-step floor plus that recurrence, less one of the two
    per-step overheads both include (the larger of the modes', so the
    bound errs low)."""
    overhead = max(v for k, v in by_mode.items() if k.startswith("step_overhead_ms"))
    recurrence = min(floors["recurrence_ms"], floors["recurrence_unrolled_ms"])
    return floors["train_step_floor_ms"] + recurrence - overhead


def _best_floors(timed):
    """``{floor: ms}`` at each floor's best mode, from ``{floor[+jit]: ms}``."""
    best = {}
    for key, value in timed.items():
        name = key.removesuffix("+jit")
        best[name] = min(value, best.get(name, float("inf")))
    return best


def run_shape(name, variants, jit_modes, max_rounds, batch_size=None):
    shape = dict(SHAPES[name], batch=batch_size or SHAPES[name]["batch"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((shape["batch"], shape["steps"], shape["features"])).astype("float32")
    y = rng.standard_normal((shape["batch"], 1)).astype("float32")
    entry = {"shape": shape, "load_before": os.getloadavg(), "variants": {}}
    floor_tasks, models = floors(x, y, shape["units"], jit_modes)
    tasks = {f"floor/{k}": fn for k, fn in floor_tasks.items()}
    for variant in variants:
        if variant == "naive_t3f" and keras.backend.backend() != "tensorflow":
            continue
        for jit in jit_modes:
            key = f"{variant}{'+jit' if jit else ''}"
            try:
                model, variant_tasks, info = build_variant(variant, shape, x, y, jit)
            except Exception as error:  # record and go on: one variant must not stop the run
                entry["variants"][key] = {"error": f"{type(error).__name__}: {error}"[:300]}
                print(name, key, entry["variants"][key], flush=True)
                continue
            models.append(model)
            entry["variants"][key] = info
            tasks.update({f"{key}/{task}": fn for task, fn in variant_tasks.items()})
    timed = interleave(tasks, max_rounds=max_rounds)
    entry["load_after"] = os.getloadavg()
    for task, (median, rel_spread, rounds) in timed.items():
        owner, what = task.split("/")
        target = (entry.setdefault("floors_by_mode", {}) if owner == "floor"
                  else entry["variants"][owner])
        target[what] = median
        target[what.replace("_ms", "_spread")] = rel_spread
        entry["rounds"] = rounds
    entry["floors"] = _best_floors({k: v for k, v in entry["floors_by_mode"].items()
                                    if "_spread" not in k})
    entry["floors"]["lowest_train_step_ms"] = lowest_train_step(entry["floors"],
                                                                entry["floors_by_mode"])
    entry["summary"] = summarise(entry)
    for variant, line in entry["summary"].items():
        print(name, variant, line, flush=True)
    return entry


def summarise(entry):
    """Per variant (best of plain and XLA): times and the ratios the
    README quotes."""
    best = {}
    for key, record in entry["variants"].items():
        if "train_step_ms" not in record:
            continue
        variant = key.removesuffix("+jit")
        for what in ("forward_ms", "train_step_ms", "projection_ms"):
            if what in record and record[what] < best.setdefault(variant, {}).get(what, float("inf")):
                best[variant][what] = record[what]
                best[variant][what.replace("_ms", "_spread")] = record[what.replace("_ms", "_spread")]
                best[variant][what.replace("_ms", "_mode")] = "xla" if key.endswith("+jit") else "plain"
        best[variant]["params"] = record["params"]
    dense = best.get("dense", {}).get("train_step_ms")
    floors = entry["floors"]
    floor1, floor2 = floors["one_read_ms"], floors["train_step_floor_ms"]
    for record in best.values():
        if dense:
            record["speedup_vs_dense"] = dense / record["train_step_ms"]
        record["train_step_over_floor"] = record["train_step_ms"] / floor2
        record["train_step_over_two_reads"] = record["train_step_ms"] / (2 * floor1)
        # Both floors pay Keras's per-step work: their sum counts it twice,
        # so this ratio flatters a little.
        record["train_step_over_floor_and_recurrence"] = (
            record["train_step_ms"] / (floor2 + floors["recurrence_ms"]))
        if "projection_ms" in record:
            record["projection_over_one_read"] = record["projection_ms"] / floor1
    return best


def markdown(results) -> str:
    """The README's table of a run: per shape and variant, the train step
    (median, spread), the speed-up over dense, the train step over its
    floor, and the input projection over one read of the input."""
    lines = []
    for name, entry in results["shapes"].items():
        floors = entry["floors"]
        lines += [f"**{name}** ({results['backend']}; load {entry['load_before'][0]:.2f} -> "
                  f"{entry['load_after'][0]:.2f}; {entry['rounds']} rounds; one read "
                  f"{floors['one_read_ms']:.2f} ms, train-step floor "
                  f"{floors['train_step_floor_ms']:.2f} ms, recurrence "
                  f"{floors['recurrence_ms']:.2f} ms{_lowest(floors)})", "",
                  "| variant | train step ms (IQR) | vs dense | / train-step floor "
                  "| / (floor + recurrence) | / two reads | projection ms | / one read | params |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for variant, r in entry["summary"].items():
            projection = (f"{r['projection_ms']:.2f} | {r['projection_over_one_read']:.1f}x"
                          if "projection_ms" in r else " | ")
            lines.append(
                f"| {variant} | {r['train_step_ms']:.1f} ({100 * r['train_step_spread']:.0f}%) "
                f"| {r.get('speedup_vs_dense', float('nan')):.1f}x "
                f"| {r['train_step_over_floor']:.2f}x "
                f"| {r['train_step_over_floor_and_recurrence']:.2f}x "
                f"| {r['train_step_over_two_reads']:.1f}x "
                f"| {projection} | {r['params']:,} |")
        lines.append("")
    return "\n".join(lines)


def _lowest(floors):
    """The header's words on :func:`lowest_train_step` (runs before it
    was measured have none)."""
    if "lowest_train_step_ms" not in floors:
        return ""
    return (f", unrolled {floors['recurrence_unrolled_ms']:.2f} ms; floor + fastest recurrence "
            f"- overhead {floors['lowest_train_step_ms']:.2f} ms = "
            f"{floors['lowest_train_step_ms'] / floors['train_step_floor_ms']:.2f}x the floor")


def device_name() -> str:
    """The accelerator the backend runs on (its name as the driver gives it),
    or ``"cpu"``."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else f"{device.platform}: {device.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    return f"gpu: {tf.config.experimental.get_device_details(gpus[0]).get('device_name', gpus[0].name)}"


def run(shapes, variants, jit_modes, max_rounds, output, batch_size=None):
    results = {"backend": keras.backend.backend(), "device": device_name(),
               "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "keras": keras.__version__, "date": time.strftime("%Y-%m-%d %H:%M"), "shapes": {}}
    for name in shapes:
        results["shapes"][name] = run_shape(name, variants, jit_modes, max_rounds, batch_size)
    Path(output).write_text(json.dumps(results, indent=2))
    plot(results, Path(output).with_suffix(".png"))
    print(markdown(results))
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["shapes"])
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        summary = results["shapes"][name]["summary"]
        keys = [k for k, v in summary.items() if "speedup_vs_dense" in v]
        ratios = [summary[k]["speedup_vs_dense"] for k in keys]
        errors = [summary[k]["speedup_vs_dense"] * summary[k]["train_step_spread"] for k in keys]
        ax.barh(keys, ratios, xerr=errors)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("train-step speed-up vs keras.layers.LSTM (best mode each)")
        ax.set_title(f"{name} ({results['backend']}, interleaved, IQR bars)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", metavar="JSON",
                        help="print the README table of an earlier run's JSON and exit")
    parser.add_argument("--shapes", nargs="+", default=["ucf11", "small"], choices=list(SHAPES))
    parser.add_argument("--variants", nargs="+",
                        default=["dense", "naive_t3f", "reconstructed"] + [
                            n for n in ktr.factorizations.names() if n != "dense"]
                        + ["tt_balanced"])
    parser.add_argument("--no-jit", action="store_true", help="only the non-XLA mode")
    parser.add_argument("--jit-only", action="store_true",
                        help="only the XLA mode (JAX: the plain mode runs eagerly, op by op)")
    parser.add_argument("--max-rounds", type=int, default=MAX_ROUNDS)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the batch of every shape (default: each shape's own, e.g. 16 at ucf11)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shape, 3 rounds of 30 ms blocks (a smoke test: no timing to quote)")
    parser.add_argument("--output", default="benchmarks/results/rnn_speed.json")
    args = parser.parse_args(argv)
    if args.table:
        results = json.loads(Path(args.table).read_text())
        for entry in results["shapes"].values():
            entry["summary"] = summarise(entry)
        Path(args.table).write_text(json.dumps(results, indent=2))
        print(markdown(results))
        return results
    BLOCK_MS[0] = 30 if args.quick else MIN_BLOCK_MS
    if args.quick:
        args.shapes, args.max_rounds = ["quick"], MIN_ROUNDS
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    modes = [False] if args.no_jit else [True] if args.jit_only else [False, True]
    return run(args.shapes, args.variants, modes, args.max_rounds, args.output, args.batch_size)


if __name__ == "__main__":
    main()
