"""keras-tensor-rnn: tensorized and restricted recurrent layers for Keras 3.

Submodules load on first use, so ``import keras_tensor_rnn`` (and ``ktr
--version``) does not import a deep-learning backend.

>>> import keras_tensor_rnn as ktr
>>> tt = ktr.factorize(w, "tt", rank=8)  # doctest: +SKIP
"""

import importlib

from keras_tensor_rnn._version import __version__

_SUBMODULES = ("cells", "checks", "compression", "contraction", "corpora", "datasets", "export",
               "factorizations", "layers", "matmul_paths", "output_fit", "ranks", "search", "shapes",
               "weight_schemes")
_ATTRIBUTES = {
    "compress": "compression",
    "factorize": "factorizations",
    "FactorizedMatrix": "factorizations",
}

__all__ = ["__version__", *_SUBMODULES, *_ATTRIBUTES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(__all__))
