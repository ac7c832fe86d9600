"""The speed benchmark runs end to end in its quick mode and writes what its
README table is made of. No timing is asserted (timings belong to the
benchmark's own JSON, not to tests)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "rnn_speed.py"
GPU_CHECK = SCRIPT.with_name("gpu_check.py")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("rnn_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.tf_only  # under JAX, the GPU check's quick run below runs it
def test_quick_run_writes_times_spreads_floors_params_memory_and_a_plot(tmp_path):
    output = tmp_path / "speed.json"
    benchmark = load_benchmark()
    benchmark.main(["--quick", "--variants", "dense", "tt", "tt_balanced", "--jit-only",
                    "--output", str(output)])
    record = json.loads(output.read_text())
    shape = record["shapes"]["quick"]
    floors = shape["floors"]
    assert floors["one_read_ms"] > 0 and floors["train_step_floor_ms"] > 0
    assert floors["recurrence_ms"] > 0 and floors["recurrence_unrolled_ms"] > 0
    # (no order against the floor: at the quick shape both are Keras's overhead alone)
    assert floors["step_overhead_ms"] > 0
    assert floors["lowest_train_step_ms"] == benchmark.lowest_train_step(
        floors, shape["floors_by_mode"])
    assert floors["train_step_floor_ms"] == shape["floors_by_mode"]["train_step_floor_ms+jit"]
    assert len(shape["load_before"]) == 3 and len(shape["load_after"]) == 3
    assert shape["rounds"] >= 3
    dense, tt = shape["variants"]["dense+jit"], shape["variants"]["tt+jit"]
    for variant in (dense, tt):
        assert variant["forward_ms"] > 0 and variant["train_step_ms"] > 0
        assert variant["train_step_spread"] >= 0
        assert variant["peak_host_mib"] >= 0
    assert tt["params"] < dense["params"]
    assert tt["projection_ms"] > 0 and "projection_ms" not in dense
    # The default tt layer records the modes it chose; the balanced one the old rule's.
    assert tt["in_modes"] and tt["hidden_modes"]
    assert shape["variants"]["tt_balanced+jit"]["hidden_modes"] == [4, 4]
    summary = shape["summary"]
    assert summary["dense"]["speedup_vs_dense"] == 1.0
    assert summary["tt"]["train_step_over_floor"] > 0
    assert 0 < summary["tt"]["train_step_over_floor_and_recurrence"] < summary["tt"][
        "train_step_over_floor"]
    assert summary["tt"]["projection_over_one_read"] > 0
    assert output.with_suffix(".png").stat().st_size > 10_000


def test_floors_are_taken_at_their_best_mode():
    """As every variant is: a floor measured only in its slow mode (XLA's
    transposed product on CPU) would flatter every ratio against it."""
    best = load_benchmark()._best_floors({"one_read_ms": 1.0, "train_step_floor_ms": 2.2,
                                          "train_step_floor_ms+jit": 9.1, "recurrence_ms": 6.3,
                                          "recurrence_ms+jit": 4.3})
    assert best == {"one_read_ms": 1.0, "train_step_floor_ms": 2.2, "recurrence_ms": 4.3}


def test_lowest_train_step_adds_the_fastest_recurrence_and_counts_one_overhead():
    """The floor and the recurrence each include Keras's per-step work:
    the bound keeps one of them (the larger mode's, so it errs low)."""
    floors = {"train_step_floor_ms": 2.0, "recurrence_ms": 4.0, "recurrence_unrolled_ms": 3.0}
    by_mode = {"step_overhead_ms": 0.5, "step_overhead_ms+jit": 0.25,
               "step_overhead_spread+jit": 0.1}
    assert load_benchmark().lowest_train_step(floors, by_mode) == 2.0 + 3.0 - 0.5


def test_peak_memory_sees_an_allocation_inside_the_block():
    benchmark = load_benchmark()
    with benchmark.PeakMemory() as memory:
        block = np.ones((64, 2**20 // 8 * 2), dtype="float64")  # 128 MiB, touched
    del block
    assert 100 < memory.result["peak_host_mib"] < 400
    with benchmark.PeakMemory() as idle:
        pass
    assert idle.result["peak_host_mib"] < 50


@pytest.mark.slow  # CI time (60 s): the GPU script's smoke run; its steps are tested apart
@pytest.mark.tf_only
def test_gpu_check_quick_runs_every_step_on_a_machine_without_tensorflow(tmp_path):
    """The GPU machines have JAX and no TensorFlow: the check, in its quick
    form, runs there as it would (TensorFlow, t3f and tensorflow-datasets
    made unimportable) and writes its summary and every result."""
    blocked = tmp_path / "blocked"
    for name in ("tensorflow", "t3f", "tensorflow_datasets"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('no {name} here')")
    output = tmp_path / "out"
    done = subprocess.run([sys.executable, str(GPU_CHECK), "--quick", "--output", str(output)],
                          env={**os.environ, "PYTHONPATH": str(blocked)}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    summary = json.loads((output / "summary.json").read_text())
    statuses = {name: step["status"] for name, step in summary["steps"].items()}
    assert statuses == dict.fromkeys(["environment", "tests", "speed", "search"], "passed"), (
        done.stdout + "\n".join(step["tail"] for step in summary["steps"].values()))
    assert done.returncode == 0
    assert summary["environment"]["backend"] == "jax"
    assert summary["environment"]["tensorflow_importable"] is False
    assert json.loads((output / "rnn_speed_speed.json").read_text())["device"] == "cpu"
    assert "completed trials: 2" in (output / "search.log").read_text()
    assert "passed" in (output / "tests.log").read_text()
    assert len(list(output.iterdir())) <= 8  # what the device tool brings back


def run_script(name, *args):
    spec = importlib.util.spec_from_file_location(name, SCRIPT.with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.main(list(args))


@pytest.mark.slow  # CI time (35 s): every export path it takes is tested in test_deploy.py
@pytest.mark.tf_only  # LiteRT and ONNX files convert TensorFlow graphs
def test_device_files_benchmark_measures_every_file_of_every_model(tmp_path):
    rows = run_script("device_files", "--quick", "--output-dir", str(tmp_path))
    record = json.loads((tmp_path / "device_files.json").read_text())
    assert record["rows"] == rows and (tmp_path / "device_files.png").stat().st_size > 10_000
    files = {"litert float32", "litert float32 unrolled", "litert dynamic int8", "litert float16",
             "litert full int8", "litert int16x8", "onnx float32"}
    for model in ("dense", "tt 20%"):
        mine = {r["file"]: r for r in rows if r["model"] == model}
        assert set(mine) == files | ({"litert converter flag"} if model == "dense" else set())
        assert all(0 <= r["accuracy"] <= 1 and r["latency_ms"] > 0 and r["bytes"] > 0
                   for r in mine.values())
        # The same model in every format: float files agree on every test row.
        assert mine["litert float32"]["accuracy"] == mine["onnx float32"]["accuracy"]
        assert mine["litert float32"]["accuracy"] == mine["litert float32 unrolled"]["accuracy"]


@pytest.mark.slow  # CI time: the comparison's pipeline is the device benchmark's above
@pytest.mark.tf_only
def test_lowrank_benchmark_compares_at_exact_counts(tmp_path):
    rows = run_script("lowrank_vs_tensor", "--quick", "--output-dir", str(tmp_path))
    assert [r["decomposition"] for r in rows] == ["lowrank", "tt"]
    record = json.loads((tmp_path / "lowrank_vs_tensor.json").read_text())
    for row in rows:
        assert row["lstm_params"] <= 0.3 * record["dense_lstm_params"]
        assert 0 <= row["accuracy"] <= 1


@pytest.mark.slow  # CI time: compress's pipeline is tested in test_compress*.py
@pytest.mark.tf_only
def test_compress_tasks_benchmark_scores_every_row_within_budget(tmp_path):
    """Two archive tasks (one masked, one regression), the pipeline, auto
    and the from-scratch reference; rows within budget; a resumed run adds
    nothing."""
    args = ["--quick", "--tasks", "japanese_vowels", "daphnet_forecast", "--cells", "lstm",
            "--decompositions", "tt", "auto", "scratch", "--budgets", "0.2",
            "--output-dir", str(tmp_path)]
    record = run_script("compress_tasks", *args)
    rows = record["rows"]
    assert [(r["task"], r["decomposition"]) for r in rows] == [
        (t, d) for t in ("japanese_vowels", "daphnet_forecast") for d in ("tt", "auto", "scratch")]
    for row in rows:
        dense = record["tasks"][row["task"]]["dense_lstm"]
        assert row["rnn_params"] <= 0.2 * dense["rnn_params"]
        assert np.isfinite(row["score"])
    auto = [r for r in rows if r["decomposition"] == "auto"]
    for row in auto:  # the choice is the candidate with the lowest output error
        errors = {n: c["output_error"] for n, c in row["candidates"].items()
                  if "output_error" in c}
        assert row["chosen"] == min(errors, key=errors.get)
    assert record["tasks"]["daphnet_forecast"]["kind"] == "regression"
    assert (tmp_path / "compress_tasks_quick.png").stat().st_size > 10_000
    assert run_script("compress_tasks", *args)["rows"] == rows


@pytest.mark.slow  # CI time: the nested search is tested in test_nested_search.py
@pytest.mark.tf_only
def test_search_cost_benchmark_compares_both_strategies_and_resumes(tmp_path):
    output = tmp_path / "search_cost.json"
    data = run_script("search_cost", "--quick", "--tasks", "quickstart", "--output", str(output))
    assert [(r["task"], r["strategy"]) for r in data["searches"]] == [
        ("quickstart", "independent"), ("quickstart", "nested")]
    nested = data["searches"][1]
    assert nested["trainings"] == 1 and nested["models"] > nested["trainings"]
    for run in data["searches"]:
        assert 0 < run["hypervolume"] <= 1 and all(p <= 12000 for p, _ in run["front_points"])
    assert {(r["decomposition"], r["rank"]) for r in data["ranks"]} == {
        (d, r) for d in ("tt", "cp") for r in (2, 4, 8)}
    assert output.with_suffix(".png").stat().st_size > 10_000
    assert [row["config"] for row in data["steps"]] == ["quickstart", "own model"]
    assert all(len(row["plain_s"]) == len(row["nested_s"]) == 2 and min(row["nested_s"]) > 0
               for row in data["steps"])
    again = run_script("search_cost", "--quick", "--tasks", "quickstart", "--output", str(output))
    assert again["searches"] == data["searches"]  # resumed: nothing ran again
