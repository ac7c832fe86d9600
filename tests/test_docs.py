"""The documentation as a user meets it: the MkDocs site builds with
``--strict`` and its reference holds the whole public API, the spec keys
and the CLI; every Python block of the README and the guides runs as
written, each page in a new process; the journey's scripts run one after
another in one folder."""

import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from test_user_models import run_fresh

import keras_tensor_rnn as ktr
from keras_tensor_rnn.search import spec as spec_module

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "guides"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", flags=re.S)


def python_blocks(path: Path) -> list:
    return PYTHON_BLOCK.findall(path.read_text())


def journey_scripts() -> dict:
    """``{name: code}`` of the journey guide's blocks, named by their first
    comment (``# train.py: ...``)."""
    blocks = python_blocks(GUIDES / "journey.md")
    return {re.match(r"# (\w+)\.py", block).group(1): block for block in blocks}


# ------------------------------------------------------------------ the site

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as CI builds it."""
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(folder)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    return folder


def inventory(site: Path) -> set:
    """The names mkdocstrings documented (``objects.inv``, Sphinx's format)."""
    data = (site / "objects.inv").read_bytes()
    body = data.split(b"zlib.\n", 1)[1]
    return {line.split()[0] for line in zlib.decompress(body).decode().splitlines()}


def documented_name(module, name: str) -> str:
    """Where ``module.name`` is defined: the name the reference lists it under."""
    value = getattr(module, name)
    if isinstance(value, type(sys)):
        return value.__name__
    if name == "__version__":
        return module.__name__
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    return f"{module.__name__}.{name}"


@pytest.mark.tf_only
def test_the_reference_documents_every_public_name(site):
    names = inventory(site)
    public = [documented_name(ktr, name) for name in ktr.__all__]
    public += [documented_name(ktr.search, name) for name in ktr.search.__all__]
    public += [documented_name(ktr.layers, name) for name in ktr.layers.__all__]
    assert "keras_tensor_rnn.compression.convert.compress" in public
    assert [name for name in public if name not in names] == []


@pytest.mark.tf_only
def test_the_cli_reference_is_the_parsers_help(site):
    page = (site / "reference" / "cli" / "index.html").read_text()
    for command in ("search", "compress", "data"):
        assert f"usage: ktr {command}" in page
    for option in ("--max-trials", "--tracking-uri", "--time-steps", "--fit-steps", "--directory"):
        assert option in page
    assert "--version" in page


def test_the_spec_reference_lists_every_key_with_its_default():
    page = (ROOT / "docs" / "reference" / "spec.md").read_text()
    sections = dict(re.findall(r"^## \[(\w+)\]\n(.*?)(?=^## |\Z)", page, flags=re.S | re.M))
    assert set(sections) == set(spec_module.SCHEMA)
    for section, keys in spec_module.SCHEMA.items():
        rows = dict(re.findall(r"^\| `(\w+)` \| \w+ \| `?(.*?)`? \|", sections[section], flags=re.M))
        assert set(rows) == set(keys), section
        for key, (_, default) in keys.items():
            assert rows[key] == toml_text(default), (section, key)


def toml_text(value) -> str:
    """``value`` as the spec reference shows a default (TOML, ``None`` for unset)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_text, value)) + "]"
    return f'"{value}"' if isinstance(value, str) else repr(value)


# ---------------------------------------------------------- the code blocks

GUIDE_PAGES = sorted(path.name for path in GUIDES.glob("*.md")
                     if path.name != "journey.md" and python_blocks(path))


def test_the_guides_have_code_to_run():
    assert {"layers.md", "factorizations.md", "search.md", "own_model.md",
            "compress.md"} <= set(GUIDE_PAGES)


@pytest.mark.tf_only
@pytest.mark.parametrize("page", ["README.md", *GUIDE_PAGES])
def test_every_python_block_runs_as_written(page, tmp_path):
    path = ROOT / page if page == "README.md" else GUIDES / page
    output = run_fresh("\n".join(python_blocks(path)), tmp_path)
    assert output.strip(), f"{page}'s blocks print nothing a reader could compare"


def test_the_journey_has_every_step():
    assert list(journey_scripts()) == ["train", "compress", "deploy", "device", "search", "best"]


@pytest.mark.tf_only
def test_the_journey_runs_as_written_each_script_in_a_new_process(tmp_path):
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
