"""Real text corpora that install from a package registry, for offline runs.

No text corpus of the size these experiments need ships inside a Python
wheel, and code here never downloads at run time. One package-registry
source serves both text experiments:

- ``vader``: the human-rated sentence corpus of Hutto & Gilbert (ICWSM
  2014), shipped inside the source distribution of ``vaderSentiment==3.3.2``
  on PyPI (MIT licence; ``additional_resources/hutto_ICWSM_2014.tar.gz``).
  23,699 English sentences in four domains, 408,803 words, each sentence
  rated from -4 (extremely negative) to +4 (extremely positive) by about 20
  people: ``movies`` (10,605 Rotten Tomatoes snippets, the sentences of Pang
  & Lee's sentence-polarity data), ``editorials`` (5,190 New York Times
  editorial sentences), ``products`` (3,708 Amazon review sentences) and
  ``tweets`` (4,200).

Fetch it once, at install time (``pip download`` from PyPI, checked against
its SHA-256), then everything reads the file offline::

    ktr data fetch                     # or: python -m keras_tensor_rnn.corpora
    ktr data fetch --directory /data   # then KTR_DATA=/data

The folder defaults to ``$KTR_DATA``, else ``$KERAS_HOME/datasets/keras_tensor_rnn``
(``~/.keras/datasets/keras_tensor_rnn``).

Example:

>>> from keras_tensor_rnn import corpora
>>> sentences = corpora.vader_sentences("movies")  # doctest: +SKIP
>>> sentences[0]                                   # doctest: +SKIP
('The Rock is destined to be the 21st Century's new ...', 2.2666)
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

VADER_PACKAGE = "vaderSentiment==3.3.2"
VADER_FILE = "vaderSentiment-3.3.2.tar.gz"
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_DOMAINS = {
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "editorials": "nytEditorialSnippets_GroundTruth.txt",
    "products": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
_INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"


def data_dir(directory: str | os.PathLike | None = None) -> Path:
    """The folder corpora are fetched to and read from."""
    if directory is not None:
        return Path(directory)
    if os.environ.get("KTR_DATA"):
        return Path(os.environ["KTR_DATA"])
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "keras_tensor_rnn"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(directory: str | os.PathLike | None = None) -> Path:
    """Download the ``vader`` corpus (the ``vaderSentiment`` source
    distribution) from PyPI with pip, unless it is already there, and check
    its SHA-256. Returns the file's path.

    Raises:
        RuntimeError: pip could not download it (no access to PyPI), or the
            file is not the expected one.
    """
    folder = data_dir(directory)
    path = folder / VADER_FILE
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--dest", str(folder), VADER_PACKAGE]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode or not path.is_file():
            raise RuntimeError(
                f"Could not download {VADER_PACKAGE} from PyPI into {folder} "
                f"({' '.join(command)}):\n{done.stderr.strip()[-2000:]}")
    digest = _sha256(path)
    if digest != VADER_SHA256:
        raise RuntimeError(f"{path} has SHA-256 {digest}, expected {VADER_SHA256}: delete it "
                           "and fetch again.")
    return path


def vader_path(directory: str | os.PathLike | None = None) -> Path:
    """The fetched ``vader`` file, or a FileNotFoundError that says how to
    fetch it."""
    path = data_dir(directory) / VADER_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"The 'vader' corpus is not at {path}. Fetch it once (from PyPI, 2.5 MB) with "
            "`ktr data fetch` (or `python -m keras_tensor_rnn.corpora`), or set KTR_DATA to "
            "the folder that holds it.")
    return path


@functools.lru_cache(maxsize=8)
def _read_vader(path: str, domain: str):
    with tarfile.open(path) as outer:
        inner_bytes = outer.extractfile(_INNER).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        member = next(m for m in inner.getmembers() if m.name.endswith(VADER_DOMAINS[domain]))
        text = inner.extractfile(member).read().decode("utf-8", "replace")
    sentences = []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            sentences.append((parts[2].strip(), float(parts[1])))
    return tuple(sentences)


def vader_sentences(domain: str = "movies", directory=None) -> list[tuple[str, float]]:
    """The sentences of one ``vader`` domain, in file order, as
    ``(text, mean_rating)`` with ``mean_rating`` in ``[-4, 4]``.

    Args:
        domain: one of ``movies``, ``editorials``, ``products``, ``tweets``.
        directory: where the corpus was fetched (default :func:`data_dir`).
    """
    if domain not in VADER_DOMAINS:
        raise ValueError(f"Unknown vader domain '{domain}'. Valid domains: "
                         f"{', '.join(VADER_DOMAINS)}.")
    return list(_read_vader(str(vader_path(directory)), domain))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="ktr data fetch",
                                     description="Fetch the offline text corpus from PyPI.")
    parser.add_argument("--directory", default=None,
                        help="target folder (default: $KTR_DATA or ~/.keras/datasets/keras_tensor_rnn)")
    args = parser.parse_args(argv)
    try:
        path = fetch(args.directory)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"vader corpus ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
