"""The README's journey (train, compress, ship, load where it runs, search,
load the best model from MLflow), each script as written there and each in
a new Python process, in one folder."""

import re
from pathlib import Path

import pytest
from test_user_models import run_fresh

README = Path(__file__).resolve().parents[1] / "README.md"


def journey_scripts() -> dict:
    """``{name: code}`` of the python blocks of the README's journey
    section, named by their first comment (``# train.py: ...``)."""
    text = README.read_text()
    section = text.split("## A whole journey, script by script", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return {re.match(r"# (\w+)\.py", block).group(1): block for block in blocks}


def test_the_journey_has_every_step():
    assert list(journey_scripts()) == ["train", "compress", "deploy", "device", "search", "best"]


@pytest.mark.tf_only
def test_the_readme_journey_runs_as_written_each_script_in_a_new_process(tmp_path):
    scripts = journey_scripts()
    run_fresh(scripts["train"], tmp_path)
    report = run_fresh(scripts["compress"], tmp_path)
    assert "TensorizedLSTM" in report and "relative output error" in report
    predictions = run_fresh(scripts["deploy"], tmp_path)
    assert re.search(r"\[[0-2] [0-2] [0-2] [0-2]\]", predictions)
    assert float(run_fresh(scripts["device"], tmp_path).split()[-1]) < 1e-4
    run_fresh(scripts["search"], tmp_path)
    assert (tmp_path / "best_model_uri.txt").read_text().startswith("models:/")
    assert run_fresh(scripts["best"], tmp_path).split("\n")[-2] == "(4, 3)"
