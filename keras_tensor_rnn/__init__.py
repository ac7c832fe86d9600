"""keras-tensor-rnn: tensorized and restricted recurrent layers for Keras 3.

``import keras_tensor_rnn`` registers the layers and cells with Keras, so a
``.keras`` file or an MLflow model holding them loads with
``keras.models.load_model`` after it alone. That imports Keras and its
backend, nothing more: the search, compression, export and the
TensorFlow-only modules load on first use.

>>> import keras_tensor_rnn as ktr
>>> tt = ktr.factorize(w, "tt", rank=8)  # doctest: +SKIP
"""

import importlib

from keras_tensor_rnn._version import __version__

_SUBMODULES = ("cells", "checks", "compression", "contraction", "corpora", "datasets", "export",
               "factorizations", "layers", "matmul_paths", "nested", "output_fit", "ranks", "search",
               "shapes", "weight_schemes")
_ATTRIBUTES = {
    "compress": "compression",
    "factorize": "factorizations",
    "FactorizedMatrix": "factorizations",
    "truncate": "nested",
}

__all__ = ["__version__", *_SUBMODULES, *_ATTRIBUTES]


# Registration with Keras happens when these modules run their decorators.
importlib.import_module(f"{__name__}.layers")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(__all__))
