"""Multi-objective results: the objective registry, the front over every
chosen objective, trials spread over the budget range, dense references."""

import numpy as np
import pytest
from conftest import search_spec

import keras_tensor_rnn as ktr
from keras_tensor_rnn.search import SearchSpace, make_oracle, objectives, pareto_front


def test_front_over_three_objectives_on_a_hand_made_set():
    points = [
        {"id": "a", "acc": 0.9, "params": 100, "ms": 5.0},
        {"id": "b", "acc": 0.8, "params": 50, "ms": 5.0},
        {"id": "c", "acc": 0.8, "params": 60, "ms": 1.0},   # slower b-alike, but fastest
        {"id": "d", "acc": 0.7, "params": 80, "ms": 6.0},   # dominated by b
        {"id": "e", "acc": 0.9, "params": 100, "ms": 4.0},  # dominates a
    ]
    front = pareto_front(points, {"acc": "max", "params": "min", "ms": "min"})
    assert {p["id"] for p in front} == {"b", "c", "e"}
    two = pareto_front(points, {"acc": "max", "params": "min"})
    assert {p["id"] for p in two} == {"a", "b", "e"}


def test_registry_directions_and_one_line_registration():
    assert objectives.direction("params") == "min"
    assert objectives.direction("val_accuracy") == "max"
    assert objectives.direction("val_mae") == "min"
    assert objectives.direction("val_perplexity") == "min"
    with pytest.raises(ValueError, match="Cannot tell whether objective 'val_wobble'"):
        objectives.direction("val_wobble")
    with pytest.raises(ValueError, match="Did you mean 'val_accuracy'"):
        objectives.direction("val_accurcy")
    objectives.register("weight_count_x2", "min", "twice the parameters",
                        lambda model, sample: 2 * model.count_params())
    assert "weight_count_x2" in objectives.measured(["weight_count_x2", "params"])


def test_trials_target_sizes_spread_over_the_budget_range():
    space = SearchSpace(input_shape=(10, 4), num_classes=10, budget=20000,
                        decompositions=["tt", "cp"], units_choices=[16, 32, 64, 128],
                        d_choices=[2], rank_range=(1, 12))
    oracle = make_oracle("random", space, "val_accuracy", max_trials=10, epochs=1, seed=0)
    low = space.smallest_count()
    targets = [oracle.target_size(k) for k in range(10)]
    assert all(low <= t <= 20000 for t in targets)
    assert min(targets) < low * 2 and max(targets) > 20000 / 2  # both ends of the range
    logs = np.log(sorted(targets))
    assert np.max(np.diff(logs)) < 0.5 * (np.log(20000) - np.log(low))  # no big gap
    largest = {"decomposition": "tt", "units": 128, "d": 2, "rank": 12, "learning_rate": 0.01}
    for k in range(5):
        repaired = space.repair(largest, budget=targets[k])
        if repaired is not None:
            assert space.count_params(repaired) <= targets[k]


@pytest.mark.tf_only
def test_search_front_over_chosen_objectives_with_dense_references(tmp_path):
    spec = search_spec(tmp_path, "objectives", ["tt", "cp", "dense"])
    spec["search"].update(max_trials=3, epochs=1,
                          objectives=["val_accuracy", "params", "model_bytes",
                                      "peak_memory_mib"])
    result = ktr.search.run(spec, verbose=False)
    assert all(row["model_bytes"] > 1000 for row in result.rows)
    assert all(row["peak_memory_mib"] >= 0 for row in result.rows)
    # The same four objectives the search used (peak memory included).
    front = pareto_front(result.rows, {"val_accuracy": "max", "params": "min",
                                       "model_bytes": "min", "peak_memory_mib": "min"})
    assert [r["trial"] for r in result.front] == [r["trial"] for r in front]
    references = result.references
    assert references["largest dense within budget"] <= 3000
    assert references["dense, same structure"] >= min(r["params"] for r in result.rows)
    assert "largest dense within budget" in result.table
