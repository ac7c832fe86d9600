"""Time tensorized LSTMs against dense Keras LSTM, in one run, on the same inputs.

Variants (all with 256/128 units as below, timed side by side):
  dense         keras.layers.LSTM
  naive_t3f     TT input projection with t3f.matmul at every time step (TF only)
  reconstructed TensorizedLSTM(implementation="reconstructed"): full() then GEMM
  <name>        TensorizedLSTM(decomposition=<name>) for every decomposition
  tt_speed_modes  the tt layer with `hidden_modes` ordered for speed on wide
                inputs (see SHAPES): the gate-merged first output mode is
                the largest, so the contraction, which starts from the last
                input mode, carries small output modes through its big steps
plus a memory-read floor: one pass over the input tensor (a compiled sum),
and the hoisted input projection alone, timed the same way. Each variant
also reports its peak memory (MiB above the start of the variant: host
resident memory, and GPU allocator memory on a GPU; building, compiling
and timing the model included).

Shapes: "ucf11" (batch 16, 6 steps, 57,600 features, 256 units, rank 4, d 4,
dense recurrent side) and "small" (batch 128, 28 steps, 28 features, 128 units,
rank 4, d 2). Modes: forward and forward+backward (one train step), each
XLA-compiled (jit) or not. Output: JSON and a PNG bar chart of ratios to the
dense LSTM.

    python benchmarks/rnn_speed.py                 # both shapes (minutes on 2 CPU cores)
    python benchmarks/rnn_speed.py --quick         # tiny shapes, seconds
    KERAS_BACKEND=jax python benchmarks/rnn_speed.py --shapes ucf11
"""

from __future__ import annotations

import argparse
import json
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
                  recurrent_decomposition="dense", speed_hidden_modes=(16, 4, 2, 2)),
    "small": dict(batch=128, steps=28, features=28, units=128, rank=4, d=2,
                  recurrent_decomposition=None, speed_hidden_modes=(16, 8)),
    "quick": dict(batch=8, steps=4, features=96, units=16, rank=2, d=2,
                  recurrent_decomposition="dense", speed_hidden_modes=(8, 2)),
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
    hidden_modes = None
    if variant == "tt_speed_modes":
        decomposition, hidden_modes = "tt", shape["speed_hidden_modes"]
    rank = 2 if decomposition == "tucker" else shape["rank"]
    return ktr.layers.TensorizedLSTM(
        shape["units"], decomposition=decomposition, rank=rank, d=shape["d"],
        hidden_modes=hidden_modes, recurrent_decomposition=shape["recurrent_decomposition"],
        implementation=implementation)


# Calls shorter than this many ms are repeated beyond `repeats` until they
# fill it (at most 50 samples): a median of 3 of a 30 ms call on a shared
# machine moves by a third between runs.
MIN_TIMED_MS = 1500


def time_call(fn, repeats):
    fn()  # compile / warm up
    fn()
    samples = []
    while len(samples) < repeats or (sum(samples) < MIN_TIMED_MS and len(samples) < 50):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench_variant(variant, shape, x, y, jit, repeats):
    keras.utils.set_random_seed(0)
    with PeakMemory() as memory:
        model = keras.Sequential([keras.Input(x.shape[1:]), make_layer(variant, shape),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        forward = time_call(lambda: keras.ops.convert_to_numpy(model.predict_on_batch(x)),
                            repeats)
        train = time_call(lambda: model.train_on_batch(x, y), repeats)
    result = {"forward_ms": forward, "train_step_ms": train,
              "params": int(model.count_params()), **memory.result}
    layer = model.layers[0]
    if hasattr(getattr(layer, "cell", None), "project_inputs"):
        # The hoisted input projection of all steps alone, compiled and fed
        # a resident tensor exactly as the memory-read floor is (no
        # predict_on_batch overhead, no host-to-device copy of the input).
        result["projection_ms"] = compiled_ms(layer.cell.project_inputs, x, repeats, jit)
    return result


def compiled_ms(fn, x, repeats, jit=True):
    """Time ``fn`` compiled by the backend on ``x`` already on the device."""
    if keras.backend.backend() == "jax":
        import jax

        # Variables are read at trace time (constants of the compiled
        # function): fine for timing a forward pass.
        compiled, tensor = jax.jit(fn), jax.device_put(x)
        return time_call(lambda: jax.block_until_ready(compiled(tensor)), repeats)
    import tensorflow as tf

    compiled, tensor = tf.function(fn, jit_compile=jit), tf.constant(x)
    return time_call(lambda: compiled(tensor).numpy(), repeats)


def memory_floor_ms(x, repeats):
    """One pass over the input: a compiled reduction."""
    return compiled_ms(lambda a: keras.ops.sum(a), x, repeats)


def run(shapes, variants, jit_modes, repeats, output):
    results = {"backend": keras.backend.backend(), "machine": platform.processor() or
               platform.machine(), "keras": keras.__version__, "shapes": {}}
    for name in shapes:
        shape = SHAPES[name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((shape["batch"], shape["steps"], shape["features"])).astype("float32")
        y = rng.standard_normal((shape["batch"], 1)).astype("float32")
        entry = {"shape": shape, "memory_floor_ms": memory_floor_ms(x, repeats), "variants": {}}
        for variant in variants:
            if variant == "naive_t3f" and keras.backend.backend() != "tensorflow":
                continue
            for jit in jit_modes:
                key = f"{variant}{'+jit' if jit else ''}"
                try:
                    entry["variants"][key] = bench_variant(variant, shape, x, y, jit, repeats)
                except Exception as error:  # record and go on: one variant must not stop the run
                    entry["variants"][key] = {"error": f"{type(error).__name__}: {error}"[:300]}
                print(name, key, entry["variants"][key], flush=True)
        results["shapes"][name] = entry
    Path(output).write_text(json.dumps(results, indent=2))
    plot(results, Path(output).with_suffix(".png"))
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["shapes"])
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        variants = results["shapes"][name]["variants"]
        base = next((v["train_step_ms"] for k, v in variants.items()
                     if k.startswith("dense") and "train_step_ms" in v), None)
        keys = [k for k, v in variants.items() if "train_step_ms" in v]
        ratios = [base / variants[k]["train_step_ms"] if base else 0 for k in keys]
        ax.barh(keys, ratios)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("speed-up of the train step vs keras.layers.LSTM")
        ax.set_title(f"{name} ({results['backend']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["ucf11", "small"], choices=list(SHAPES))
    parser.add_argument("--variants", nargs="+",
                        default=["dense", "naive_t3f", "reconstructed"] + [
                            n for n in ktr.factorizations.names() if n != "dense"]
                        + ["tt_speed_modes"])
    parser.add_argument("--no-jit", action="store_true", help="only the non-XLA mode")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny shape, 2 repeats")
    parser.add_argument("--output", default="benchmarks/results/rnn_speed.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.shapes, args.repeats = ["quick"], 2
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    return run(args.shapes, args.variants, [False] if args.no_jit else [False, True],
               args.repeats, args.output)


if __name__ == "__main__":
    main()
