"""Scale-out and faults: MirroredStrategy, chief + workers, kill and resume,
failing trials. Every multi-process case runs real processes (TensorFlow,
keras-tuner's gRPC oracle, one sqlite MLflow store)."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import keras
import pytest
from conftest import mlflow_runs, search_spec

from keras_tensor_rnn.search import distribution


def python(code, *args, env=None, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
             **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def serving(chief, address, timeout=300):
    """Wait until ``chief`` accepts connections at ``address`` (host:port)."""
    host, port = address.rsplit(":", 1)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert chief.poll() is None, "the chief exited before its oracle served"
        with socket.socket() as probe:
            if probe.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the chief's oracle did not listen at {address} in {timeout} s")


def finish(process, timeout=600):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return out


MIRRORED = """
import json, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, keras_tensor_rnn as ktr
L = ktr.layers
layers = {
    "TensorizedLSTM": lambda: L.TensorizedLSTM(8, decomposition="tt", rank=2, d=2),
    "TensorizedGRU": lambda: L.TensorizedGRU(8, decomposition="cp", rank=2, d=2),
    "TensorizedSimpleRNN": lambda: L.TensorizedSimpleRNN(8, decomposition="mps", rank=2, d=2),
    # The restricted cells share one weight scheme: one of them stands for the three.
    "RestrictedGRU": lambda: L.RestrictedGRU(8, shared=0.5),
}
rng = np.random.default_rng(0)
x = rng.standard_normal((16, 5, 12)).astype("float32")
y = rng.integers(0, 3, 16)

def losses(make, weights=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5, 12)), make(), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if weights is not None:
        model.set_weights(weights)
    start = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return start, history.history["loss"]

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
out = {"replicas": strategy.num_replicas_in_sync}
for name, make in layers.items():
    start, single = losses(make)
    with strategy.scope():
        _, mirrored = losses(make, start)
    out[name] = [single, mirrored]
print("RESULT", json.dumps(out))
"""


def test_distribution_names_resolve_on_this_backend():
    assert distribution.resolve("default").num_replicas == 1
    mirrored = distribution.resolve("mirrored")
    assert mirrored.num_replicas >= 1
    if keras.backend.backend() == "jax":
        assert isinstance(mirrored.keras_distribution, keras.distribution.DataParallel)
        with mirrored.scope():
            assert keras.distribution.distribution() is mirrored.keras_distribution
        assert keras.distribution.distribution() is None
    else:
        assert type(mirrored.strategy).__name__ == "MirroredStrategy"
    with pytest.raises(ValueError, match="Did you mean 'multi_worker'"):
        distribution.resolve("multiworker")
    with pytest.raises(ValueError, match="must be a name"):
        distribution.resolve(3)


@pytest.mark.tf_only
def test_mirrored_strategy_over_two_cpus_gives_the_single_device_losses():
    out = finish(python(MIRRORED))
    result = json.loads(out.split("RESULT", 1)[1])
    assert result.pop("replicas") == 2
    assert len(result) == 4
    for name, (single, mirrored) in result.items():
        assert len(single) == 3
        assert single[0] != single[-1], name  # it trains
        for a, b in zip(single, mirrored):
            assert abs(a - b) <= 1e-4 * max(1.0, abs(a)), (name, single, mirrored)


def tiny_spec(tmp_path, **search):
    return search_spec(tmp_path, "scale", ["tt", "cp"], **{"max_trials": 4, "epochs": 1,
                                                           "seed": 5, **search})


RUN = """
import json, sys
import keras_tensor_rnn as ktr
spec = json.loads(sys.argv[1])
role = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
ktr.search.run(spec, role=role, oracle_address=sys.argv[3] if role else None,
               tuner_id=sys.argv[4] if len(sys.argv) > 4 else None)
"""


def trial_runs(tmp_path):
    runs = mlflow_runs(tmp_path, "scale")
    parents = [r for r in runs if r.data.tags.get("ktr.role") == "search"]
    trials = [r for r in runs if r.data.tags.get("ktr.role") == "trial"]
    return parents, trials


def trial_started(line):
    """The trial id of a "[ktr] trial NN (k/N): ..." start line, else None."""
    if line.startswith("[ktr] trial") and "(" in line.split(":")[0]:
        return line.split()[2]
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.tf_only
def test_chief_and_two_workers_share_trials_and_one_parent_run(tmp_path):
    spec = json.dumps(tiny_spec(tmp_path, max_trials=3))
    address = f"127.0.0.1:{free_port()}"
    chief = python(RUN, spec, "chief", address)
    chief_log = []
    for line in chief.stdout:  # the chief has its store and oracle: start workers
        chief_log.append(line)
        if line.startswith("[ktr] <Dataset"):
            break
    serving(chief, address)  # a worker asking before the oracle listens gets UNAVAILABLE
    workers = [python(RUN, spec, "worker", address, f"worker-{k}") for k in range(2)]
    worker_logs = [finish(w) for w in workers]
    chief_log = "".join(chief_log) + finish(chief)
    assert "Pareto front" in chief_log and "3 completed trials" in chief_log
    parents, trials = trial_runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    ids = [r.data.tags["trial_id"] for r in trials]
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in trials)
    assert all(r.info.status == "FINISHED" for r in trials), [r.info.status for r in trials]
    # Both workers trained (keras-tuner hands trials to whoever asks first).
    by_worker = {r.data.tags["ktr.tuner_id"] for r in trials}
    assert by_worker <= {"worker-0", "worker-1"} and by_worker, worker_logs


@pytest.mark.slow  # CI time (50 s): a search killed mid-trial resumes in test_nested_search.py
@pytest.mark.tf_only
def test_sigkill_mid_trial_then_resume_finishes_without_duplicates(tmp_path):
    spec = tiny_spec(tmp_path, max_trials=3, epochs=3)
    spec["dataset"]["num_train"] = 2048
    first = python(RUN, json.dumps(spec))
    began = []
    for line in first.stdout:
        if trial_started(line):
            began.append(trial_started(line))
        if len(began) == 2 and f"trial {began[1]} epoch 1/3" in line:
            first.send_signal(signal.SIGKILL)  # the second trial is in its middle
            break
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    _, before = trial_runs(tmp_path)
    finished_before = {r.data.tags["trial_id"] for r in before if r.info.status == "FINISHED"}
    assert finished_before == {began[0]}
    assert any(r.info.status == "RUNNING" for r in before)  # what the kill left behind

    log = finish(python(RUN, json.dumps(spec)))  # the same spec: a changed one is refused
    assert "resuming 'scale': 1 trials already finished" in log
    rerun = [t for t in map(trial_started, log.splitlines()) if t]
    assert began[0] not in rerun          # finished trials are not trained again
    assert rerun[0] == began[1]           # the interrupted one is re-run first
    parents, trials = trial_runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    # The killed attempt keeps its run (KILLED); the trial ran again in its own.
    (killed,) = [r for r in trials if r.info.status == "KILLED"]
    assert killed.data.tags["trial_id"] == began[1]
    assert killed.data.tags["status"] == "INTERRUPTED"
    finished = [r for r in trials if r.info.status == "FINISHED"]
    ids = [r.data.tags["trial_id"] for r in finished]
    assert len(finished) == len(trials) - 1 and sorted(ids) == sorted(set(ids)), ids
    assert len(ids) == 3
    resumed = [r for r in trials if r.data.tags.get("resumed") == "true"]
    assert [r.data.tags["trial_id"] for r in resumed] == [began[1]]
    assert resumed[0].data.tags["ktr.resumed_from"] == killed.info.run_id
