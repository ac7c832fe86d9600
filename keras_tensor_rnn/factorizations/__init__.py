"""Factorized weight matrices, one module per decomposition, found by name.

>>> from keras_tensor_rnn import factorizations
>>> factorizations.names()
['bt', 'cp', 'dense', 'lowrank', 'mps', 'tr', 'tt', 'tucker']
>>> cls = factorizations.get("tt")
>>> tt = cls((256, 1024), rank=4, d=3).initialize(seed=0)
"""

from __future__ import annotations

from keras_tensor_rnn import checks
from keras_tensor_rnn.factorizations.base import FactorizedMatrix
from keras_tensor_rnn.factorizations.block_term import BlockTermMatrix
from keras_tensor_rnn.factorizations.cp import CPMatrix
from keras_tensor_rnn.factorizations.dense import DenseMatrix
from keras_tensor_rnn.factorizations.initializers import FactorNormal, target_variance
from keras_tensor_rnn.factorizations.lowrank import LowRankMatrix
from keras_tensor_rnn.factorizations.mps import MatrixProductState
from keras_tensor_rnn.factorizations.tr import TensorRingMatrix
from keras_tensor_rnn.factorizations.tt import TensorTrainMatrix
from keras_tensor_rnn.factorizations.tucker import TuckerMatrix

_REGISTRY: dict[str, type[FactorizedMatrix]] = {}


def register(cls: type[FactorizedMatrix]) -> type[FactorizedMatrix]:
    """Register a :class:`FactorizedMatrix` subclass under ``cls.name``
    (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, FactorizedMatrix) and cls.name):
        raise ValueError(f"Only named FactorizedMatrix subclasses can be registered. Received: {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (DenseMatrix, LowRankMatrix, TensorTrainMatrix, MatrixProductState, TensorRingMatrix,
             CPMatrix, TuckerMatrix, BlockTermMatrix):
    register(_cls)


def names() -> list[str]:
    """The registered decomposition names, sorted."""
    return sorted(_REGISTRY)


def ranked_names() -> list[str]:
    """The registered decompositions that have a rank (all but those stored
    as the matrix itself, ``dense``), sorted."""
    return [name for name in names() if not _REGISTRY[name].stored_as_matrix]


def get(identifier):
    """Resolve a decomposition.

    Args:
        identifier: a registered name (returns the class), a class (returned
            as is), an instance (returned as is) or a dict from
            :func:`serialize` (returns a new instance).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if isinstance(identifier, FactorizedMatrix):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, FactorizedMatrix):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _REGISTRY:
            raise checks.unknown("decomposition", identifier, names())
        return _REGISTRY[key]
    raise ValueError(
        "A decomposition must be a name, a FactorizedMatrix class or instance, or a "
        f"config dict. Valid names: {', '.join(names())}. Received: {identifier!r}"
    )


def serialize(matrix: FactorizedMatrix) -> dict:
    """``{"decomposition": name, "config": {...}}`` (structure only, no factors)."""
    return {"decomposition": matrix.name, "config": matrix.get_config()}


def deserialize(config: dict) -> FactorizedMatrix:
    """Inverse of :func:`serialize`."""
    try:
        name, inner = config["decomposition"], config["config"]
    except (KeyError, TypeError):
        raise ValueError(
            "A decomposition config must be {'decomposition': name, 'config': {...}}. "
            f"Received: {config!r}"
        ) from None
    return get(name).from_config(inner)


def factorize(matrix, decomposition="tt", rank=None, in_modes=None, out_modes=None, d=None,
              **options) -> FactorizedMatrix:
    """Factorize a dense matrix: ``get(decomposition).from_dense(...)``.

    Args:
        matrix: array-like ``W`` of shape ``(in_dim, out_dim)`` (numpy, any
            backend tensor, a Keras variable).
        decomposition: a name from :func:`names`.
        rank: int, per-slot list, float fraction of the dense parameter count
            in ``(0, 1]``, or ``"full"``.
        in_modes, out_modes: explicit modes (products must equal the dims);
            chosen automatically, with padding, when omitted.
        d: number of modes per side when chosen automatically (default 3).
        **options: decomposition options (``blocks`` for ``"bt"``).

    Returns:
        A :class:`FactorizedMatrix` with numpy factors: ``.matmul(x)``,
        ``.full()``, ``.num_params``, ``.flops(batch)``, ``.factors``.

    Example:

    >>> import numpy as np, keras_tensor_rnn as ktr
    >>> w = np.random.randn(784, 256).astype("float32")
    >>> tt = ktr.factorize(w, "tt", rank=8, d=2)
    >>> tt.num_params < w.size
    True
    """
    return get(decomposition).from_dense(
        matrix, rank, in_modes=in_modes, out_modes=out_modes, d=d, **options
    )


def largest_rank(decomposition, shape, budget, **kwargs) -> int | None:
    """The largest uniform int rank of ``decomposition`` whose parameter count
    fits ``budget``: a bisection over the closed-form counts (nothing is built).

    Args:
        decomposition: a registered name (``"tt"``, ``"cp"``, ...) or class.
        shape: ``(in_dim, out_dim)`` of the weight matrix.
        budget: maximum number of parameters (int).
        **kwargs: ``in_modes``, ``out_modes``, ``d`` and decomposition
            options (e.g. ``blocks`` for ``"bt"``).

    Returns:
        The rank, or None when even rank 1 exceeds the budget (``"dense"``,
        which has no rank: None when the matrix does not fit, else its own
        rank ``min(shape)``).

    Example:

    >>> largest_rank("tucker", (57600, 1024), budget=5000, d=4)  # doctest: +SKIP
    """
    return get(decomposition).largest_rank_for_budget(shape, budget, **kwargs)


__all__ = [
    "FactorizedMatrix", "FactorNormal", "DenseMatrix", "LowRankMatrix", "TensorTrainMatrix", "MatrixProductState",
    "TensorRingMatrix", "CPMatrix", "TuckerMatrix", "BlockTermMatrix", "register", "names", "ranked_names", "get",
    "serialize", "deserialize", "factorize", "target_variance", "largest_rank",
]
