"""Every paper-reproduction script in examples/ runs end to end in its
--quick mode and writes its JSON, Markdown table and PNG plot with the
properties its full run reports (CI runs these; the full runs make
docs/results.md)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from conftest import mlflow_runs

pytestmark = pytest.mark.tf_only

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(name, tmp_path, *extra):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        returned = module.main(["--quick", "--out", str(tmp_path), *extra])
    finally:
        sys.path.remove(str(EXAMPLES))
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    table = (tmp_path / f"{name}.md").read_text()
    assert table.startswith("| ") and table.count("\n") == len(record["rows"]) + 2
    assert record["settings"]["quick"] is True
    assert record["hardware"]["cores"] >= 1 and record["hardware"]["backend"] == "tensorflow"
    return record, returned


def test_fully_tensorized_lstm(tmp_path):
    record, _ = run_example("fully_tensorized_lstm", tmp_path)
    dense, tt = record["rows"]
    assert dense["params"] == 4 * (4 * 32 + 32 * 32 + 32)  # keras.layers.LSTM(32) on 4 inputs
    assert tt["params"] < dense["params"] and tt["compression"] > 1
    assert all(0 <= r["accuracy"] <= 1 and r["inference_ms"] > 0 for r in record["rows"])


@pytest.mark.slow  # CI time: CP, Tucker and TT GRUs are tested in test_layers
def test_cp_tucker_tt_gru(tmp_path):
    record, rows = run_example("cp_tucker_tt_gru", tmp_path)
    assert [r["decomposition"] for r in rows] == ["dense", "cp", "tucker", "tt"]
    assert rows[0]["params"] == 3 * (4 * 16 + 16 * 16 + 2 * 16)  # keras GRU(16), reset_after
    assert all(r["params"] < rows[0]["params"] for r in rows[1:])


@pytest.mark.slow  # CI time: MPS and MPO layers are tested in test_layers and test_factorizations
def test_mps_vs_mpo(tmp_path, fake_vader):
    record, rows = run_example("mps_vs_mpo", tmp_path)
    dense, mpo, mps = rows
    assert (mpo["decomposition"], mps["decomposition"]) == ("MPO (tt)", "mps")
    # Matched sizes: the MPS rank whose count is closest to the MPO layer's.
    assert abs(mps["params"] - mpo["params"]) < 0.3 * mpo["params"]
    assert record["settings"]["data"] == "vader movie sentences"
    # Re-timing keeps the trained results and replaces only the times.
    retimed, _ = run_example("mps_vs_mpo", tmp_path, "--timing-only")
    for old, new in zip(record["rows"], retimed["rows"]):
        assert new["accuracy"] == old["accuracy"] and new["inference_ms"] > 0


@pytest.mark.slow  # CI time: block-term layers are tested in test_layers and test_factorizations
def test_block_term_lstm(tmp_path):
    record, rows = run_example("block_term_lstm", tmp_path)
    dense = rows[0]
    assert dense["params"] == 4 * (57600 * 16 + 16 * 16 + 16)
    assert dense["input_params"] == 4 * 57600 * 16
    for row in rows[1:]:
        assert row["input_compression"] > 1000 and row["step_ms"] > 0
        assert len(row["loss"]) == len(row["val_accuracy"]) == 2


def test_restricted_lm(tmp_path, fake_vader):
    record, rows = run_example("restricted_lm", tmp_path)
    same = [r for r in rows if r["setting"] == "same units"]
    matched = [r for r in rows if r["setting"] == "matched size"]
    assert [r["shared"] for r in same] == [0.0, 0.5, 1.0]
    assert same[0]["params"] > same[1]["params"] > same[2]["params"]
    budget = same[0]["params"]
    for row in matched:
        assert 0.85 * budget < row["params"] <= budget and row["units"] > 16
    assert all(math.isfinite(r["perplexity"]) and r["perplexity"] > 1 for r in rows)


def test_budgeted_search(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    record, verdict = run_example("budgeted_search", tmp_path, "--tracking-uri", uri)
    assert verdict["trials"] == 2 and verdict["best_params"] <= verdict["budget"]
    assert all(r["params"] <= verdict["budget"] for r in record["rows"][1:])
    runs = mlflow_runs(tmp_path, "ktr-budgeted-search")
    assert len(runs) == 3  # the parent run and one run per trial
    assert verdict["mlflow_parent_run"] in {r.info.run_id for r in runs}


def test_own_model_search(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    record, result = run_example("own_model_search", tmp_path, "--tracking-uri", uri)
    assert record["trials"] == 2 and all(p <= 6000 for p in record["all_params"])
    assert set(record["references"]) <= {"dense, same structure", "largest dense within budget"}
    assert all(" + " in row["model"] for row in record["rows"])
    runs = mlflow_runs(tmp_path, "ktr-own-model-search")
    assert len(runs) == 3  # the parent run and one run per trial
