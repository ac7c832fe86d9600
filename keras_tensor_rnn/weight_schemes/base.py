"""The interface between a recurrent cell and the matrices behind it.

A cell is step maths (LSTM, GRU, SimpleRNN) written against two products,
``kernel_matmul(x)`` (input to gates) and ``recurrent_matmul(h)`` (state to
gates), in Keras's gate order and layout. A :class:`WeightScheme` is how
those two matrices are stored: it builds their variables, counts them
exactly, computes the products (and their per-sequence prepared forms), loads
them from dense kernels, describes its resolved structure and finds the
largest rank within a budget. Compression and search use only this
interface; adding a way to store weights is one subclass, registered by
name in :mod:`keras_tensor_rnn.weight_schemes`.

The scheme is a plain object owned by its cell: its variables are created
with the cell's ``add_weight`` (so the cell tracks, saves and trains them)
and the cell's initializers, regularizers and constraints.
"""

from __future__ import annotations

import abc
import inspect
import math

from keras import ops

# A quantized factor of at least this many rows (the product of all its axes
# but the last) gets one scale per output channel: 4 bytes of scale per
# column then cost at most a quarter of the column's int8 values.
CHANNEL_SCALE_ROWS = 16


class WeightScheme(abc.ABC):
    """How a cell's kernel ``(input_dim, gates * units)`` and recurrent
    kernel ``(units, gates * units)`` are stored.

    Args:
        units: the cell's units.
        num_gates: 4 (LSTM), 3 (GRU) or 1 (SimpleRNN).

    Class attributes:
        name: the registry name.
        arguments: the constructor's keyword-only arguments (beyond
            ``units`` and ``num_gates``), read from its signature: the keys
            of :meth:`get_config`, which the cells and layers take as their
            own and forward with :meth:`arguments_of`.
    """

    name: str = ""
    arguments: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Declared once, in the constructor's signature.
        cls.arguments = tuple(name for name, parameter in
                              inspect.signature(cls.__init__).parameters.items()
                              if parameter.kind is parameter.KEYWORD_ONLY)

    @classmethod
    def arguments_of(cls, namespace: dict) -> dict:
        """This scheme's arguments as a cell or layer constructor received
        them (``namespace``: its ``locals()``), to forward to the scheme."""
        return {name: namespace[name] for name in cls.arguments}

    def __init__(self, units: int, num_gates: int):
        self.units, self.num_gates = units, num_gates
        self.input_dim = None
        self.dtype = None
        # The float scale of every int8 kernel variable, by variable name.
        self.int8_scales = {}

    # ---------------------------------------------------- the search's face

    @classmethod
    @abc.abstractmethod
    def decompositions(cls) -> list[str]:
        """The names under which searches and ``ktr.compress`` offer this
        scheme (``decomposition=`` values)."""

    @classmethod
    def arguments_for(cls, decomposition: str, options: dict) -> dict:
        """Constructor arguments of a layer storing its weights this way, for
        ``decomposition`` (one of :meth:`decompositions`), taken from
        ``options`` (every argument a caller has; the others are ignored)."""
        return {k: v for k, v in options.items() if k in cls.arguments}

    @classmethod
    @abc.abstractmethod
    def size_arguments(cls, decomposition: str) -> tuple[str, ...]:
        """The arguments that trade size for accuracy, which a search tunes
        (``("rank", "d")``, ``("shared",)``, or none)."""

    # ------------------------------------------------------------ structure

    @property
    @abc.abstractmethod
    def decomposition(self) -> str:
        """The name this configuration has among :meth:`decompositions`."""

    @abc.abstractmethod
    def count_params(self, input_dim: int) -> int:
        """Exact number of kernel weights (biases excluded) for ``input_dim``."""

    @abc.abstractmethod
    def describe(self, input_dim: int) -> dict:
        """The resolved structure (ranks, modes, shared units), flat, for logs."""

    def largest_rank(self, input_dim: int, budget: int) -> int | None:
        """The largest uniform rank whose kernels fit ``budget`` weights
        (None if none does)."""
        raise ValueError(f"'{self.decomposition}' weights have no rank to choose: size them "
                         f"with {', '.join(self.size_arguments(self.decomposition)) or 'units'}.")

    def resolved_modes(self, input_dim: int) -> tuple:
        """``(in_modes, hidden_modes)`` the kernels of an input of width
        ``input_dim`` are factorized with, or ``(None, None)`` for a scheme
        without modes."""
        return None, None

    def side_matrices(self, side: str, input_dim: int) -> list:
        """The factorized matrices (structure only) of ``side`` (``"kernel"``
        or ``"recurrent"``): what rank allocation counts and caps."""
        raise ValueError(f"'{self.decomposition}' weights are not factorized matrices: they "
                         "have no ranks to allocate.")

    def with_arguments(self, **changes) -> WeightScheme:
        """A new scheme of the same cell shape with some arguments changed."""
        return type(self)(self.units, self.num_gates, **{**self.get_config(), **changes})

    # -------------------------------------------------------------- weights

    def build(self, cell, input_dim: int) -> None:
        """Create the variables with ``cell.add_weight``."""
        self.input_dim = int(input_dim)
        self.dtype = cell.variable_dtype
        self.build_variables(cell, self.input_dim)

    @abc.abstractmethod
    def build_variables(self, cell, input_dim: int) -> None:
        """Create the kernels' variables with ``cell.add_weight``, each side
        with the options Keras's cell gives it (``cell.weight_options(side)``:
        initializer, regularizer, constraint)."""

    @abc.abstractmethod
    def kernel_matmul(self, x):
        """``x @ W`` for all gates: ``(..., input_dim) -> (..., gates * units)``."""

    @abc.abstractmethod
    def recurrent_matmul(self, h, gates=None):
        """``h @ U`` for the gates ``[first, stop)`` (all when None)."""

    def input_operator(self, batch, steps):
        """How a ``steps``-step sequence of ``batch`` rows is projected:
        ``None`` to hoist ``kernel_matmul`` out of the time loop (one product
        for all steps), or a per-step ``x_t -> x_t @ W`` with ``W`` computed
        once. Hoisting pays when the input is at least as wide as the gates;
        narrower inputs are cheaper to carry through the loop, as Keras's own
        cells do."""
        if self.input_dim >= self.num_gates * self.units or not self.rebuilds_kernel(batch, steps):
            return None
        kernel = self.dense_kernels(recurrent=False)[0]
        return lambda x: ops.matmul(x, ops.cast(kernel, x.dtype))

    def recurrent_operator(self, batch, steps):
        """``recurrent_matmul`` for a whole sequence, with what can be
        computed once per sequence (the rebuilt recurrent matrix, when that
        is cheaper) computed here, outside the time loop."""
        if not self.rebuilds_recurrent(batch, steps):
            return self.recurrent_matmul
        units, matrix = self.units, self.dense_kernels(kernel=False)[1]

        def product(h, gates=None):
            w = matrix if gates is None else matrix[:, gates[0] * units: gates[1] * units]
            return ops.matmul(h, ops.cast(w, h.dtype))

        return product

    def rebuilds_kernel(self, batch, steps) -> bool:
        """Whether a per-step product through the rebuilt kernel is cheaper
        than the factorized one for a ``steps``-step sequence."""
        return True

    def rebuilds_recurrent(self, batch, steps) -> bool:
        """Whether the recurrent matrix is rebuilt once per sequence."""
        return True

    def dense_kernels(self, kernel: bool = True, recurrent: bool = True):
        """The equivalent dense ``(kernel, recurrent_kernel)`` in Keras's
        layout, shapes ``(input_dim, gates * units)`` and ``(units, gates *
        units)`` (products of identity matrices: exact for every scheme);
        None for a side not asked for."""
        return (self.kernel_matmul(ops.eye(self.input_dim, dtype=self.dtype)) if kernel else None,
                self.recurrent_matmul(ops.eye(self.units, dtype=self.dtype)) if recurrent else None)

    # --------------------------------------------------------- quantization

    @abc.abstractmethod
    def kernel_variables(self) -> list:
        """The kernels' variables (the bias is the cell's), in creation order."""

    @abc.abstractmethod
    def set_kernel_variables(self, variables: list) -> None:
        """Hold ``variables`` in place of :meth:`kernel_variables` (same
        order, same shapes)."""

    def quantize(self, cell, quantizer) -> list:
        """Store every kernel variable as int8, created with
        ``cell.add_weight``: frozen (``trainable=False``) as in Keras's
        quantized ``Dense``, with float scales: one per output channel (the
        last axis) of each factor, or one per factor for a factor of few
        rows. The products then read the kernels through :meth:`read`.

        Args:
            cell: the cell owning the variables, inside its ``quantize`` or
                ``build`` (where Keras lets a layer add variables).
            quantizer: a ``keras.quantizers.AbsMaxQuantizer`` (or one taking
                the same ``axis`` and ``to_numpy`` arguments): returns the
                int8 values and the scale they are divided by.

        Returns:
            The float variables replaced, for the cell to untrack.

        Example (through the cell, which also untracks the float variables):

        >>> cell = ktr.cells.TensorizedSimpleRNNCell(8, decomposition="lowrank", rank=2)
        >>> cell.build((None, 6))
        >>> cell.quantize("int8")
        >>> [v.dtype for v in cell.weight_scheme.kernel_variables()]
        ['int8', 'int8', 'int8', 'int8']
        """
        replaced = self.kernel_variables()
        self.set_kernel_variables([self._int8_variable(cell, v, quantizer) for v in replaced])
        return replaced

    def _int8_variable(self, cell, variable, quantizer):
        """The int8 copy of ``variable`` (same name and shape), its scale kept
        in :attr:`int8_scales`: shape ``variable.shape[-1:]`` (per output
        channel), or ``(1,)`` for a factor of fewer than
        :data:`CHANNEL_SCALE_ROWS` rows, whose per-channel scales would cost
        more than a quarter of its int8 values."""
        shape, name = tuple(variable.shape), variable.name
        per_channel = math.prod(shape[:-1]) >= CHANNEL_SCALE_ROWS
        scale_shape = shape[-1:] if per_channel else (1,)
        axis = tuple(range(len(shape) - 1 if per_channel else len(shape)))
        values, scale = quantizer(variable, axis=axis, to_numpy=True)
        stored = cell.add_weight(shape=shape, name=name, initializer="zeros", dtype="int8",
                                 trainable=False)
        self.int8_scales[name] = cell.add_weight(shape=scale_shape, name=f"{name}_scale",
                                                 initializer="ones", trainable=False)
        stored.assign(values)
        self.int8_scales[name].assign(ops.reshape(scale, scale_shape))
        return stored

    def read(self, variable):
        """A kernel variable as the products use it: the variable itself, or,
        once quantized, its int8 values over their scales in float (the
        products accumulate in float)."""
        scale = self.int8_scales.get(variable.name)
        if scale is None:
            return variable
        return ops.divide(ops.cast(variable, self.dtype), scale)

    @abc.abstractmethod
    def load_dense(self, kernel, recurrent, inputs=None, states=None) -> None:
        """Set the variables to (the best fit of) dense kernels in Keras's
        layout (numpy arrays). With sample ``inputs`` (rows of the layer's
        input) and ``states`` (rows of its hidden states), schemes that can
        fit in the data metric match the products on them rather than the
        weights."""

    @abc.abstractmethod
    def get_config(self) -> dict:
        """The constructor arguments (``arguments``), JSON-serialisable."""
