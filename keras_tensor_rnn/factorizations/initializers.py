"""Initialisers that give a factorized matrix the variance of a dense one.

A factorized ``W`` is a sum of ``M`` products of one entry of each of its
``F`` factors; with independent zero-mean factors its element variance is
``M * prod(var_f)``. So each factor gets ``var_f = (target / M)**(1/F)``,
where ``target`` is what Keras's initializer would give the dense kernel
(:func:`target_variance`). :func:`initialize` then rescales all factors by
one common factor so that the rebuilt matrix has the target mean square
exactly (tltorch targets the same std of the *rebuilt* tensor).

Example:

>>> from keras_tensor_rnn import factorizations
>>> from keras_tensor_rnn.factorizations import initializers
>>> tt = factorizations.get("tt")((256, 1024), rank=4, d=3)
>>> tt = initializers.initialize(tt, "glorot_uniform", seed=0)  # or tt.initialize(seed=0)
"""

from __future__ import annotations

import math

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="keras_tensor_rnn")
class FactorNormal(keras.initializers.Initializer):
    """Normal initializer rescaled to an exact root-mean-square.

    Factors of a decomposition are drawn from a normal distribution and then
    rescaled so that their empirical RMS is exactly ``stddev``. For a factor
    with few entries (edge cores, CP columns) the sample variance fluctuates a
    lot; fixing it makes the variance of the *reconstructed* matrix reliably
    close to its target.

    Args:
        stddev: target root-mean-square of the factor.
        seed: int or None, as for Keras initializers.
    """

    def __init__(self, stddev: float = 1.0, seed=None):
        self.stddev = float(stddev)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        return keras.ops.cast(self.sample(shape), dtype or keras.config.floatx())

    def sample(self, shape) -> np.ndarray:
        """The drawn factor as a float32 numpy array."""
        # numpy, not keras.random: on JAX every new shape compiles a random
        # kernel (about 0.8 s each on 2 cores, for factors of a few hundred
        # numbers). Without a seed, one is drawn from numpy's global state,
        # which keras.utils.set_random_seed seeds.
        seed = self.seed if self.seed is not None else int(np.random.randint(2**31 - 1))
        sample = np.random.default_rng(seed).standard_normal(tuple(shape))
        rms = float(np.sqrt(np.mean(np.square(sample)))) or 1.0
        return (sample * (self.stddev / rms)).astype("float32")

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}


def target_variance(initializer, in_dim: int, out_dim: int) -> float:
    """The element variance that ``initializer`` gives a dense ``(in_dim,
    out_dim)`` kernel.

    Args:
        initializer: a float (the variance itself), ``"orthogonal"``, or any
            Keras ``VarianceScaling`` initializer by name, config or instance
            (``"glorot_uniform"``, ``"he_normal"``, ``"lecun_normal"``, ...),
            ``RandomNormal`` or ``RandomUniform``.
    """
    if isinstance(initializer, (int, float)) and not isinstance(initializer, bool):
        if initializer <= 0:
            raise ValueError(f"A variance must be positive. Received: initializer={initializer}")
        return float(initializer)
    init = keras.initializers.get(initializer)
    if isinstance(init, keras.initializers.Orthogonal):
        return init.gain**2 / max(in_dim, out_dim)
    if isinstance(init, keras.initializers.VarianceScaling):
        fan = {"fan_in": in_dim, "fan_out": out_dim, "fan_avg": (in_dim + out_dim) / 2.0}[init.mode]
        return init.scale / max(1.0, fan)
    if isinstance(init, keras.initializers.RandomNormal):
        return init.stddev**2
    if isinstance(init, keras.initializers.RandomUniform):
        return (init.maxval - init.minval) ** 2 / 12.0
    raise ValueError(
        "`initializer` must be a variance (float), 'orthogonal', or a Keras "
        "VarianceScaling / RandomNormal / RandomUniform initializer. "
        f"Received: initializer={initializer!r}")


def factor_initializers(matrix, initializer="glorot_uniform", seed=None, fan=None) -> list:
    """One :class:`FactorNormal` per factor of ``matrix`` such that the
    rebuilt matrix has, in expectation, the variance ``initializer`` gives a
    dense kernel of shape ``fan`` (default ``matrix.shape``; see the module
    docstring). Factor ``k`` uses ``seed + k``."""
    variance = target_variance(initializer, *(fan or matrix.shape))
    inputs, output = matrix.full_subscripts().split("->")
    sizes = {}
    for term, shape in zip(inputs.split(","), matrix.factor_shapes):
        sizes.update(zip(term, shape))
    terms = math.prod(size for letter, size in sizes.items() if letter not in output)
    n = len(matrix.factor_shapes)
    std = (variance / terms) ** (0.5 / n)
    return [FactorNormal(std, None if seed is None else seed + k) for k in range(n)]


def initialize(matrix, initializer="glorot_uniform", seed=None, fan=None):
    """A copy of ``matrix`` with random factors whose rebuilt matrix has
    exactly the target mean square.

    The squared norm is contracted from the factors (``W`` is not formed), so
    this is cheap even for a 57,600 x 1,024 matrix. Without the final common
    rescaling, long trains (an MPS with 8 cores) start 40% off their target
    on average.
    """
    inits = factor_initializers(matrix, initializer, seed, fan)
    # In numpy throughout: a layer may be built where the backend only traces
    # (a subclassed model's first call), and these are constants anyway.
    factors = [init.sample(s) for init, s in zip(inits, matrix.factor_shapes)]
    target = target_variance(initializer, *(fan or matrix.shape))
    mean_square = matrix.squared_norm(factors) / math.prod(matrix.padded_shape)
    scale = (target / float(mean_square)) ** (0.5 / len(factors))
    return matrix.with_factors([f * float(scale) for f in factors])


def constant(value):
    """A Keras initializer returning ``value`` (cast to the requested dtype):
    how a layer turns factors computed here into its variables' start."""

    def initializer(shape, dtype=None):
        return keras.ops.cast(value, dtype or keras.config.floatx())

    return initializer


__all__ = ["FactorNormal", "target_variance", "factor_initializers", "initialize", "constant"]
