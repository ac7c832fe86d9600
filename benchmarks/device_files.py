"""What a device gets: file bytes, accuracy and batch-1 latency of LiteRT and
ONNX files of a dense LSTM and of its compressed versions.

Task: MNIST-1D as 10 steps of 4 features (offline), a dense ``LSTM(128)``
trained ``--epochs``; compressed at ``--budget`` of the LSTM's parameters
to each of ``--decompositions`` with the data-aware fit and 3 epochs of
distillation (``ktr.compress(..., x=..., fine_tune=...)``). Every model is
written as LiteRT float32 (one ``WHILE`` loop, and unrolled), dynamic-range
int8, float16 and full int8 (calibrated on 256 training rows), and as ONNX.
Accuracy is the file's own, run in the runtime users deploy
(``ai-edge-litert``, ``onnxruntime``) on the test rows; latency is the
median of ``--calls`` batch-1 calls with one thread, taken in ``--rounds``
rounds that interleave all files (the spread is the rounds' min and max).

    python benchmarks/device_files.py                # ~10 minutes on 2 cores
    python benchmarks/device_files.py --quick        # seconds (CI)

``--task kws`` measures files only (no accuracy: untrained weights) at a
keyword-spotting shape, an ``LSTM(256)`` on 49 frames of 40 features,
compressed from random weights (the weights-only fit).

Writes ``device_files[_kws].json`` and ``.png`` to ``--output-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

import keras_tensor_rnn as ktr
from keras_tensor_rnn import datasets, export

LITERT_VARIANTS = {  # name: export_litert arguments
    "litert float32": {},
    "litert float32 unrolled": {"unroll": True},
    "litert dynamic int8": {"quantize": "dynamic"},
    "litert float16": {"quantize": "float16"},
    "litert full int8": {"quantize": "int8"},
    "litert int16x8": {"quantize": "int16x8"},
}


def load_task(args):
    """``((x, y), (x_test, y_test))`` of ``args.task``."""
    if args.task == "mnist1d":
        (x, y), (x_test, y_test) = datasets.load_mnist1d(
            features=4, num_train=256 if args.quick else None)
        return (x, y), (x_test[:args.test_rows], y_test[:args.test_rows])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256 + args.test_rows, 49, 40)).astype("float32")
    y = rng.integers(0, 10, len(x))
    return (x[:256], y[:256]), (x[256:], y[256:])


def train_dense(x, y, units, epochs):
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.LSTM(units, name="lstm"),
                              keras.layers.Dense(10, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if epochs:
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def write_files(model, name, folder, calibration):
    """Every file of ``model``: ``{variant: path}``."""
    files = {}
    for variant, arguments in LITERT_VARIANTS.items():
        data = calibration if arguments.get("quantize") in export.CALIBRATED else None
        files[variant] = export.export_litert(model, Path(folder) / f"{name} {variant}.tflite",
                                              representative_data=data, **arguments)
    files["onnx float32"] = export.export_onnx(model, Path(folder) / f"{name}.onnx")
    if name == "dense":
        files["litert converter flag"] = converter_flag(model, Path(folder) / "flag.tflite")
    return files


def converter_flag(model, path):
    """What a user gets for free: the model over a static batch-1 shape (the
    builtins-only form), converted with LiteRT's one flag
    (``optimizations=[Optimize.DEFAULT]``) and nothing else."""
    import tensorflow as tf

    static = export.static_shaped(model)
    spec = tf.TensorSpec(static.inputs[0].shape, static.inputs[0].dtype)
    with tempfile.TemporaryDirectory() as folder:
        static.export(folder, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        Path(path).write_bytes(converter.convert())
    return path


def runner(path):
    """A batch-1 callable of the file at ``path`` in its runtime, one thread."""
    if str(path).endswith(".onnx"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda row: session.run(None, {name: row})[0]
    interpreter = export.litert_interpreter(path, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

    def call(row):
        interpreter.set_tensor(inp["index"], row)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return call


def accuracy(call, x, y) -> float:
    predictions = [int(np.argmax(call(x[i:i + 1]))) for i in range(len(x))]
    return float(np.mean(np.asarray(predictions) == y))


def latencies_ms(calls: dict, row, repeats: int, rounds: int) -> dict:
    """Median batch-1 latency of each callable per round, rounds interleaved."""
    per_round = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            call(row)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                call(row)
                times.append(time.perf_counter() - start)
            per_round[name].append(statistics.median(times) * 1000)
    return per_round


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        for ax, key in zip(axes, ("accuracy", "latency_ms")):
            if any(r[key] is None for r in mine):
                continue
            ax.scatter([r["bytes"] / 1000 for r in mine], [r[key] for r in mine], label=model)
            for r in mine:
                ax.annotate(r["file"].replace("litert ", ""), (r["bytes"] / 1000, r[key]),
                            fontsize=6)
    for ax, label in zip(axes, ("accuracy (test rows)", "batch-1 latency (ms, 1 thread)")):
        ax.set_xscale("log")
        ax.set_xlabel("file size (KB)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (CI)")
    parser.add_argument("--task", choices=["mnist1d", "kws"], default="mnist1d")
    parser.add_argument("--units", type=int, default=None, help="default 128 (kws: 256)")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--decompositions", nargs="+", default=["tt", "cp", "lowrank"])
    parser.add_argument("--test-rows", type=int, default=600)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    if args.quick:
        args.units, args.epochs, args.test_rows, args.calls, args.rounds = 16, 1, 32, 5, 1
        args.budget = 0.2
        args.decompositions = args.decompositions[:1]
    trained = args.task == "mnist1d"
    args.units = args.units or (128 if trained else 256)
    keras.utils.set_random_seed(0)
    (x, y), (x_test, y_test) = load_task(args)
    models = {"dense": train_dense(x, y, args.units, args.epochs if trained else 0)}
    for decomposition in args.decompositions:
        keras.utils.set_random_seed(0)
        fit = dict(x=x[:1024], fit_steps=20 if args.quick else ktr.output_fit.STEPS,
                   fine_tune=ktr.compression.FineTune(x, y, epochs=1 if args.quick else 3))
        models[f"{decomposition} {args.budget:.0%}"] = ktr.compress(
            models["dense"], decomposition, budget=args.budget, **(fit if trained else {}))[0]
    rows, calls = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name, model in models.items():
            for variant, path in write_files(model, name, folder, x[:256]).items():
                calls[(name, variant)] = runner(path)
                rows.append({"model": name, "file": variant, "params": int(model.count_params()),
                             "bytes": export.file_size(path),
                             "accuracy": (accuracy(calls[(name, variant)], x_test, y_test)
                                          if trained else None)})
        timed = latencies_ms(calls, x_test[:1], args.calls, args.rounds)
    for row in rows:
        samples = timed[(row["model"], row["file"])]
        row.update(latency_ms=statistics.median(samples), latency_spread_ms=[min(samples),
                                                                             max(samples)])
    report(rows, args)
    return rows


def report(rows, args):
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "output_dir"}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    stem = "device_files" if args.task == "mnist1d" else f"device_files_{args.task}"
    (out / f"{stem}.json").write_text(json.dumps(
        {"settings": settings, "load_average_1min": load, "rows": rows}, indent=2))
    plot(rows, out / f"{stem}.png")
    print(f"{'model':14}{'file':26}{'params':>8}{'bytes':>10}{'accuracy':>10}{'ms/call':>9}")
    for r in rows:
        shown = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        print(f"{r['model']:14}{r['file']:26}{r['params']:>8,}{r['bytes']:>10,}"
              f"{shown:>10}{r['latency_ms']:>9.3f}")


if __name__ == "__main__":
    main()
