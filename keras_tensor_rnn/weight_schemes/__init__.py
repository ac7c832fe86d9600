"""Weight schemes: how a recurrent cell stores its kernels, found by name.

>>> from keras_tensor_rnn import weight_schemes
>>> weight_schemes.names()
['restricted', 'tensorized']
>>> weight_schemes.for_decomposition("cp").name
'tensorized'
>>> weight_schemes.for_decomposition("restricted").name
'restricted'

A scheme answers to one or more *decomposition* names (what searches and
``ktr.compress`` take): the tensorized scheme to every registered
factorization (``"dense"`` included), the restricted scheme to
``"restricted"``. Register a new one with :func:`register`.
"""

from __future__ import annotations

from keras_tensor_rnn import checks
from keras_tensor_rnn.weight_schemes.base import WeightScheme
from keras_tensor_rnn.weight_schemes.restricted import RestrictedWeights
from keras_tensor_rnn.weight_schemes.tensorized import TensorizedWeights

_REGISTRY: dict[str, type[WeightScheme]] = {}


def register(cls: type[WeightScheme]) -> type[WeightScheme]:
    """Register a :class:`WeightScheme` subclass under ``cls.name`` (usable
    as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, WeightScheme) and cls.name):
        raise ValueError(f"Only named WeightScheme subclasses can be registered. Received: {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (TensorizedWeights, RestrictedWeights):
    register(_cls)


def names() -> list[str]:
    """The registered scheme names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> type[WeightScheme]:
    """The scheme class registered as ``name``."""
    if name not in _REGISTRY:
        raise checks.unknown("weight scheme", name, names())
    return _REGISTRY[name]


def decompositions() -> list[str]:
    """Every decomposition name some scheme answers to."""
    return [d for name in names() for d in _REGISTRY[name].decompositions()]


def for_decomposition(decomposition: str) -> type[WeightScheme]:
    """The scheme class that answers to ``decomposition``."""
    for name in names():
        if decomposition in _REGISTRY[name].decompositions():
            return _REGISTRY[name]
    raise checks.unknown("decomposition", decomposition, decompositions())


__all__ = ["WeightScheme", "TensorizedWeights", "RestrictedWeights", "register", "names", "get",
           "decompositions", "for_decomposition"]
