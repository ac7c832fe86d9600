"""Diao et al.'s restricted weights: input and recurrent matrices that share
rows."""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_tensor_rnn.weight_schemes.base import WeightScheme


class RestrictedWeights(WeightScheme):
    """For every gate, the input matrix ``W_g`` and the recurrent matrix
    ``U_g`` share their first ``s = round(shared * units)`` output units (one
    matrix applied to both ``x`` and ``h``, zero-padded to the wider of the
    two); the other ``units - s`` are private to each.

    Weights per gate: ``s * max(input_dim, units) + (units - s) * (input_dim +
    units)``; with ``input_dim == units`` that is ``(2 - shared) * units**2``
    against ``2 * units**2`` for the unrestricted cell.

    Args:
        units, num_gates: the cell's shape.
        shared: the fraction of shared units, in ``[0, 1]``.

    Example:

    >>> RestrictedWeights(20, 4, shared=0.5).count_params(20)
    2400
    """

    name = "restricted"

    def __init__(self, units, num_gates, *, shared=0.5):
        super().__init__(units, num_gates)
        if isinstance(shared, bool) or not isinstance(shared, (int, float)) or not 0 <= shared <= 1:
            raise ValueError("`shared` is the fraction of shared rows and must be in [0, 1]. "
                             f"Received: shared={shared!r}")
        self.shared = float(shared)
        self.shared_units = int(round(self.shared * units))
        self.shared_kernel = self.private_kernel = self.private_recurrent_kernel = None

    @classmethod
    def decompositions(cls):
        return [cls.name]

    @classmethod
    def size_arguments(cls, decomposition):
        return ("shared",)

    @property
    def decomposition(self):
        return self.name

    def count_params(self, input_dim):
        g, s, h = self.num_gates, self.shared_units, self.units
        return g * (s * max(input_dim, h) + (h - s) * (input_dim + h))

    def describe(self, input_dim):
        return {"shared_units": self.shared_units}

    def build_variables(self, cell, input_dim):
        g, s, h = self.num_gates, self.shared_units, self.units

        def add(name, rows, columns, side):
            return cell.add_weight(shape=(rows, g * columns), name=name,
                                   **cell.weight_options(side))

        if s:
            self.shared_kernel = add("shared_kernel", max(input_dim, h), s, "kernel")
        if s < h:
            self.private_kernel = add("private_kernel", input_dim, h - s, "kernel")
            self.private_recurrent_kernel = add("private_recurrent_kernel", h, h - s, "recurrent")

    def _assemble(self, private, dim):
        """The ``(dim, gates * units)`` matrix in Keras's layout: per gate, the
        shared units first, then the private ones."""
        g, s, h = self.num_gates, self.shared_units, self.units
        parts = []
        if s:
            parts.append(ops.reshape(self.read(self.shared_kernel)[:dim], (dim, g, s)))
        if s < h:
            parts.append(ops.reshape(self.read(private), (dim, g, h - s)))
        return ops.reshape(ops.concatenate(parts, axis=-1), (dim, g * h))

    # The shared/private assembly is a concatenation: the dense kernels are
    # the cheapest form of the products, once per sequence.
    def dense_kernels(self, kernel=True, recurrent=True):
        return (self._assemble(self.private_kernel, self.input_dim) if kernel else None,
                self._assemble(self.private_recurrent_kernel, self.units) if recurrent else None)

    def _parts(self) -> tuple:
        """The three parts' variables, None for a part of zero width (no
        shared or no private units)."""
        return self.shared_kernel, self.private_kernel, self.private_recurrent_kernel

    def kernel_variables(self):
        return [v for v in self._parts() if v is not None]

    def set_kernel_variables(self, variables):
        replacements = iter(variables)
        self.shared_kernel, self.private_kernel, self.private_recurrent_kernel = (
            None if v is None else next(replacements) for v in self._parts())

    def kernel_matmul(self, x):
        return ops.matmul(x, ops.cast(self.dense_kernels(recurrent=False)[0], x.dtype))

    def recurrent_matmul(self, h, gates=None):
        return self.recurrent_operator(None, None)(h, gates)

    def load_dense(self, kernel, recurrent, inputs=None, states=None):
        """Least-squares restricted weights: a shared unit's column is the
        mean of its input and recurrent columns where both exist, the longer
        one's values elsewhere; private units are copied exactly. (Sample
        data is not used: the weights are already the least-squares fit.)"""
        g, units, s = self.num_gates, self.units, self.shared_units
        width = kernel.shape[0]
        k = kernel.reshape(width, g, units)
        u = recurrent.reshape(units, g, units)
        if s:
            shared = np.zeros((max(width, units), g, s), kernel.dtype)
            shared[:width] += k[:, :, :s]
            shared[:units] += u[:, :, :s]
            shared[: min(width, units)] /= 2.0
            self.shared_kernel.assign(shared.reshape(max(width, units), g * s))
        if s < units:
            self.private_kernel.assign(k[:, :, s:].reshape(width, g * (units - s)))
            self.private_recurrent_kernel.assign(u[:, :, s:].reshape(units, g * (units - s)))

    def get_config(self):
        return {"shared": self.shared}
