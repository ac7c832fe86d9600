"""Declarative search specs (TOML): parsing and validation.

A spec has the sections ``[dataset]``, ``[model]``, ``[space]``,
``[budget]``, ``[search]`` and ``[tracking]``; see the shipped specs
(``keras_tensor_rnn/specs/quickstart.toml``, run by name: ``ktr search quickstart``).
Unknown sections or keys and wrong types are errors that name the valid
choices (with a suggestion for typos), raised before anything is trained.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
from pathlib import Path

from keras_tensor_rnn import checks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""The MLflow store when neither the spec, the caller nor ``MLFLOW_TRACKING_URI``
names one: a sqlite file in the working directory."""

# section -> key -> (type(s), default). A default of ... means required.
SCHEMA = {
    # [dataset]: a named or tensorflow_datasets `name`, an npz `path`, or a
    # `loader = "module:function"`; other keys are the loader's options.
    "dataset": {"name": (str, "mnist1d"), "path": (str, None), "loader": (str, None)},
    "model": {"cell": (str, "lstm"), "num_layers": (int, 1), "embedding_dim": (int, 64),
              "recurrent_decomposition": (str, None), "task": (str, None)},
    "space": {"decompositions": (list, ["dense", "tt", "cp"]), "ranks": (str, "shared"),
              "rank": (list, [1, 16]), "d": (list, [2, 3]), "units": (list, [32, 64, 128]),
              "learning_rate": (list, [1e-3, 1e-2])},
    "budget": {"max_params": (int, None), "scope": (str, "model")},
    "search": {"oracle": (str, "random"), "max_trials": (int, 10), "epochs": (int, 5),
               "batch_size": (int, 128), "objective": (str, None), "seed": (int, 0),
               "directory": (str, "ktr_runs"), "project_name": (str, None),
               "overwrite": (bool, False), "verbose": (int, 0),
               "distribution": (str, "default"), "deterministic": (bool, True),
               "objectives": (list, None), "spread": (bool, True),
               "strategy": (str, "independent"), "finetune_epochs": (int, 1)},
    "tracking": {"tracking_uri": (str, None), "experiment": (str, None), "run_name": (str, None),
                 "register_as": (str, None)},
}


def shipped_specs() -> dict:
    """``{name: path}`` of the specs shipped in the package
    (``keras_tensor_rnn/specs/*.toml``): ``quickstart``, ``mnist_rows``, ..."""
    folder = importlib.resources.files("keras_tensor_rnn") / "specs"
    return {Path(entry.name).stem: Path(str(entry)) for entry in folder.iterdir()
            if entry.name.endswith(".toml")}


def spec_path(source) -> Path:
    """The TOML file ``source`` names: a path, or the name of a shipped spec
    (``"quickstart"``).

    Raises:
        ValueError: neither a file nor a shipped spec's name.
    """
    path = Path(source)
    if path.is_file():
        return path
    shipped = shipped_specs()
    if str(source) in shipped:
        return shipped[str(source)]
    raise checks.unknown("search spec", str(source), sorted(shipped), noun="shipped specs",
                         where=" (not a file, nor the name of a shipped spec)")


def load_spec(source, overrides: dict | None = None) -> dict:
    """Read a spec from a TOML path, a shipped spec's name (``"quickstart"``,
    see :func:`shipped_specs`) or a dict, and fill in defaults.

    ``overrides`` (``{section: {key: value}}``, None values ignored) replace
    the spec's own values before they are checked.

    Returns:
        ``{section: {key: value}}`` with every key of :data:`SCHEMA`, the
        dataset loader options under ``dataset["options"]`` and
        ``tracking["tracking_uri"]`` resolved (spec, then
        ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db``).
    """
    if isinstance(source, (str, Path)):
        path = spec_path(source)
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"Search spec {path} is not valid TOML: {error}") from error
        name = path.stem
    elif isinstance(source, dict):
        raw, name = source, "search"
    else:
        raise ValueError("`ktr.search.run` takes a spec (a TOML path, a shipped spec's name such "
                         "as 'quickstart', or a dict) or your own `build_model(hp)` function. "
                         f"Received: {type(source).__name__}")
    for section, values in (overrides or {}).items():
        given = {key: value for key, value in values.items() if value is not None}
        if given:
            raw = {**raw, section: {**raw.get(section, {}), **given}}
    unknown = [s for s in raw if s not in SCHEMA]
    if unknown:
        raise checks.unknown("spec section", unknown[0], SCHEMA, shown=f"[{unknown[0]}]",
                             noun="sections")
    spec = {}
    for section, keys in SCHEMA.items():
        given = dict(raw.get(section, {}))
        if not isinstance(given, dict):
            raise ValueError(f"[{section}] must be a table. Received: {given!r}")
        out = {}
        for key, (kind, default) in keys.items():
            value = given.pop(key, default)
            if value is not None and not _is(value, kind):
                raise ValueError(f"[{section}] {key} must be of type {kind.__name__}. "
                                 f"Received: {key}={value!r}")
            out[key] = value
        if section == "dataset":
            out["options"] = given
        elif given:
            bad = next(iter(given))
            raise checks.unknown("key", bad, keys, where=f" in [{section}]", noun="keys")
        spec[section] = out
    search = spec["search"]
    if search["max_trials"] < 1:
        raise ValueError(f"[search] max_trials must be >= 1. Received: {search['max_trials']}")
    if search["epochs"] < 1:
        raise ValueError(f"[search] epochs must be >= 1. Received: {search['epochs']}")
    _check_ranges(spec)
    search["project_name"] = search["project_name"] or name
    tracking = spec["tracking"]
    tracking["tracking_uri"] = (tracking["tracking_uri"] or os.environ.get("MLFLOW_TRACKING_URI")
                                or DEFAULT_TRACKING_URI)
    tracking["tracking_uri"] = absolute_sqlite_uri(tracking["tracking_uri"])
    tracking["experiment"] = tracking["experiment"] or f"ktr-{search['project_name']}"
    return spec


SPEC_KEYS = {"decompositions": "[space] decompositions", "rank": "[space] rank",
             "units": "[space] units", "d": "[space] d", "learning_rate": "[space] learning_rate",
             "budget": "[budget] max_params"}
"""What :func:`check_ranges` calls each range in a spec's errors."""


def _check_ranges(spec):
    """Values a type check lets through, checked with the keys the user wrote."""
    space = spec["space"]
    space["decompositions"] = check_ranges(
        {**{key: space[key] for key in ("decompositions", "rank", "units", "d", "learning_rate")},
         "budget": spec["budget"]["max_params"]}, SPEC_KEYS)
    if spec["search"]["batch_size"] < 1:
        raise ValueError(f"[search] batch_size must be a positive int. "
                         f"Received: {spec['search']['batch_size']!r}")
    from keras_tensor_rnn.layers import CELL_TYPES
    from keras_tensor_rnn.search.space import BUDGET_SCOPES

    for section, key, valid in (("model", "cell", sorted(CELL_TYPES)),
                                ("budget", "scope", BUDGET_SCOPES)):
        if spec[section][key] not in valid:
            raise checks.unknown(key, spec[section][key], valid, where=f" in [{section}]")


def check_ranges(values: dict, names: dict) -> list[str]:
    """Check a search space's ranges, the one place for a spec and for
    :class:`~keras_tensor_rnn.search.space.SearchSpace`: ``values`` and
    ``names`` (what the errors call each: a spec key or an argument) have
    the keys ``decompositions``, ``rank`` (``[min, max]``), ``units``, ``d``
    (lists), ``learning_rate`` (``[min, max]``) and ``budget`` (None or an
    int). Returns the decompositions lower-cased (names are case-insensitive).

    Raises:
        ValueError: naming the key, what it must be, and what it was.
    """
    from keras_tensor_rnn import weight_schemes

    def bad(key, valid):
        return ValueError(f"{names[key]} must be {valid}. Received: {values[key]!r}")

    valid = weight_schemes.decompositions()
    given = [values["decompositions"]] if isinstance(values["decompositions"], str) else list(
        values["decompositions"])
    lowered = [str(d).lower() for d in given]
    unknown = [d for d, n in zip(given, lowered) if n not in valid]
    if unknown or not lowered:
        raise ValueError(f"Unknown decomposition(s) {unknown} in {names['decompositions']}. Valid "
                         f"names: {', '.join(valid)}." + checks.suggest(unknown[0] if unknown
                                                                          else "", valid))
    rank = list(values["rank"])
    if len(rank) != 2 or not all(_is(r, int) for r in rank) or not 1 <= rank[0] <= rank[1]:
        raise bad("rank", "[min, max] with 1 <= min <= max (ints), e.g. [1, 16]")
    for key in ("units", "d"):
        if not values[key] or not all(_is(u, int) and u >= 1 for u in values[key]):
            raise bad(key, "a non-empty list of positive ints")
    lr = list(values["learning_rate"])
    if len(lr) != 2 or not all(isinstance(v, (int, float)) for v in lr) or not 0 < lr[0] <= lr[1]:
        raise bad("learning_rate", "[min, max] with 0 < min <= max, e.g. [1e-3, 1e-2]")
    budget = values["budget"]
    if budget is not None and (not _is(budget, int) or budget < 1):
        raise bad("budget", "a positive int (parameters)")
    return lowered


def absolute_sqlite_uri(uri: str) -> str:
    """``sqlite:///relative.db`` -> ``sqlite:////abs/path/relative.db``, so the
    store is the working directory's when the search starts, whatever happens
    later (and the printed ``mlflow ui`` command works from anywhere)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        return prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def _is(value, kind):
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)
