"""Planned tensor contractions, backend-neutral.

Every factorization expresses its ``full()`` and ``matmul(x)`` as one einsum
over the input and its factors. The *order* in which such a network is
contracted decides the cost, so we ask ``opt_einsum`` (the path optimiser that
TensorFlow and JAX use themselves) for the cheapest pairwise order, cache the
plan per (subscripts, shapes), and replay it with ``keras.ops`` matmuls so the
same plan runs on every Keras backend and under XLA with static shapes.

The *layout* of each pairwise product is ours (opt_einsum only orders): every
product is one (batched) matmul on its operands as they lie in memory where
possible, a small core tiled against a big input or intermediate, so a
57,600-wide input is never transposed (hand-written: neither opt_einsum nor
the backends' einsum choose layouts across steps).

Exporters trace products within :func:`input_first`, which plans every
contraction as a chain from the input, so that a converter that folds
constants keeps the factors instead of the matrices they make.

Example:

>>> import numpy as np
>>> from keras_tensor_rnn import contraction
>>> p = contraction.plan("bi,ij,jk->bk", ((8, 5), (5, 3), (3, 4)))
>>> p.flops > 0
True
>>> y = contraction.contract("bi,ij,jk->bk", np.ones((8, 5)), np.ones((5, 3)), np.ones((3, 4)))
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import math

import keras
import numpy as np
import opt_einsum

# The cost model plans are chosen by, in FLOP-equivalents (multiply-adds count
# two). Fitted to GEMMs of the shapes factorized products meet, timed on a
# 2-core CPU (about 96 GFLOP/s in a square GEMM, 11 GB/s read): an element
# read costs about what 32 FLOPs do (the bandwidth ratio); an element a GEMM
# writes costs about 128, because GEMMs with a short contracted side (a core's
# mode of 4-16) run far below peak, and their cost follows their output size
# (e.g. 96*57,600 by 15 by 64 takes 60 ms, 8x its FLOPs at peak). One more
# pairwise step costs, forward and backward, several kernel launches,
# transposes and thin GEMMs: about 10 MFLOP of useful work forgone (0.1-0.3 ms,
# measured with benchmarks/rnn_speed.py on its "small" shape). GPUs have a
# similar balance of FLOPs to bytes.
READ_COST = 32
WRITE_COST = 128
STEP_COST = 10_000_000

# Networks up to this many operands are also planned by dynamic programming
# (a d=4 MPS matmul has 9).
DP_OPERANDS = 9

# A 2-D product whose left side holds at least this many elements, and 64
# times the right side's, gets a split gradient (:func:`_matmul`).
SPLIT_GRADIENT_ELEMENTS = 1 << 20

# Backends whose products take the hand-written gradients below (both
# compile with XLA); others keep autodiff's.
CUSTOM_GRADIENT_BACKENDS = ("jax", "tensorflow")


# Set by :func:`input_first`.
_INPUT_FIRST = contextvars.ContextVar("keras_tensor_rnn_input_first", default=False)


@contextlib.contextmanager
def input_first():
    """Within this context, every contraction is planned as a chain from its
    first operand (a product's input): each step multiplies the running
    product with one factor, and no factor is tiled. Nothing is then computed
    from the factors alone.

    For exporters whose converters fold constants (the LiteRT converter
    folds every op whose inputs are all weights): the cheapest order at
    batch 1 often multiplies small factors together first, which the
    converter would store as the dense matrix they make, and a tiled factor
    as its tiled copy. Slower at large batches; the numbers are the same.

    Example:

    >>> with input_first():  # doctest: +SKIP
    ...     model.export("saved", format="tf_saved_model")
    """
    token = _INPUT_FIRST.set(True)
    try:
        yield
    finally:
        _INPUT_FIRST.reset(token)


def inputs_first() -> bool:
    """Whether :func:`input_first` is in effect."""
    return _INPUT_FIRST.get()


@dataclasses.dataclass(frozen=True)
class ContractionPlan:
    """A pairwise contraction order for one einsum and fixed operand shapes.

    Attributes:
        steps: ``((positions, subscripts), ...)``: at each step the operands
            at ``positions`` (in the current list) are removed, contracted with
            ``subscripts`` and the result appended.
        flops: floating point operations of the whole plan (multiply-adds
            counted as two, as ``opt_einsum`` does).
        largest_intermediate: number of elements of the largest
            intermediate tensor.
        traffic: elements read and written over all steps (each step reads
            both operands and writes its result): the memory side of the
            cost, which dominates small-rank contractions on CPUs.
        moved: the part of ``traffic`` spent on transposes and tiling (zero
            when every product runs on its operands in place).
        written: the part of ``traffic`` that is written.
    """

    steps: tuple
    flops: int
    largest_intermediate: int
    traffic: int = 0
    moved: int = 0
    written: int = 0

    @property
    def cost(self) -> int:
        """Modelled time in FLOP-equivalents (see ``READ_COST``,
        ``WRITE_COST`` and ``STEP_COST``)."""
        return (self.flops + READ_COST * (self.traffic - self.written)
                + WRITE_COST * self.written + STEP_COST * len(self.steps))


def matmul_cost(rows: int, inner: int, cols: int) -> int:
    """Modelled cost of one ``(rows, inner) @ (inner, cols)`` GEMM, in the
    units of :attr:`ContractionPlan.cost`."""
    return (2 * rows * inner * cols + READ_COST * (rows * inner + inner * cols)
            + WRITE_COST * rows * cols + STEP_COST)


def plan(subscripts: str, shapes: tuple) -> ContractionPlan:
    """Cheapest pairwise order for ``subscripts`` over operands of ``shapes``,
    by the modelled cost (:attr:`ContractionPlan.cost`); within
    :func:`input_first`, the chain from the first operand that keeps the
    running product smallest.

    opt_einsum proposes the orders: the one with the fewest FLOPs (its
    exhaustive optimiser up to 5 operands, its greedy and branch-2 ones
    beyond) and, up to ``DP_OPERANDS`` operands, the one dynamic programming
    finds for FLOPs plus written elements. The second often multiplies small
    cores together first so that a big input meets one well-shaped GEMM
    instead of a chain of thin ones. The result is cached.
    """
    shapes = tuple(tuple(int(s) for s in shape) for shape in shapes)
    return _plan(subscripts, shapes, inputs_first())


@functools.lru_cache(maxsize=4096)
def _plan(subscripts: str, shapes: tuple, chain: bool) -> ContractionPlan:
    if chain:
        return _plan_with(subscripts, shapes, _chain_path(subscripts, shapes), tiling=False)
    # Exhaustive search is exact but explodes past ~5 operands; beyond, the
    # greedy and branch-2 orders are proposed (milliseconds, and as good as
    # dynamic programming on these networks: a d=4 Tucker matmul has 10
    # operands, where dynamic programming takes 30-60 ms per plan, too slow
    # for the mode search of `mode_choice`, which plans hundreds).
    strategies = ["optimal"] if len(shapes) <= 5 else ["greedy", "branch-2"]
    if len(shapes) <= DP_OPERANDS:
        # opt_einsum's "combo" scores multiply-adds plus `factor` per element
        # written; each intermediate written is read back once.
        strategies.append(opt_einsum.DynamicProgramming(
            minimize=f"combo-{(READ_COST + WRITE_COST) // 2}"))
    return min((_plan_with(subscripts, shapes, s) for s in strategies),
               key=lambda p: (p.cost, p.flops))


def _plan_with(subscripts: str, shapes: tuple, strategy, tiling: bool = True) -> ContractionPlan:
    _, info = opt_einsum.contract_path(subscripts, *shapes, shapes=True, optimize=strategy)
    steps = tuple((tuple(c[0]), c[2]) for c in info.contraction_list)
    inputs, output = subscripts.split("->")
    traffic, moved, written = _traffic(inputs.split(","), output, steps, info.size_dict, tiling)
    return ContractionPlan(
        steps=steps, flops=int(info.opt_cost),
        largest_intermediate=int(info.largest_intermediate), traffic=int(traffic),
        moved=int(moved), written=int(written),
    )


def _chain_path(subscripts: str, shapes: tuple) -> list:
    """An opt_einsum path that multiplies the first operand with one factor
    at a time, each time the factor that leaves the smallest running
    product (greedy; opt_einsum has no strategy that keeps one operand in
    every step)."""
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    if len(terms) == 1:
        return [(0,)]
    size = {c: n for term, shape in zip(terms, shapes) for c, n in zip(term, shape)}
    positions, running, letters, path = list(range(len(terms))), 0, terms[0], []

    def kept(j):
        needed = output + "".join(terms[k] for k in positions if k not in (running, j))
        return "".join(dict.fromkeys(c for c in letters + terms[j] if c in needed))

    while len(positions) > 1:
        j = min((k for k in positions if k != running),
                key=lambda k: (math.prod(size[c] for c in kept(k)), k))
        path.append(tuple(sorted((positions.index(running), positions.index(j)))))
        letters = kept(j)
        positions = [k for k in positions if k not in (running, j)] + [-1]
        running = -1
    return path


def contract(subscripts: str, *operands, contraction_plan: ContractionPlan | None = None):
    """Evaluate ``einsum(subscripts, *operands)`` pairwise along a plan.

    Each pairwise step is one (batched) matmul whose operands are laid out
    by :func:`_product` so that the big operand is not transposed;
    intermediates keep the layout their matmul produced, and only the
    final result is arranged to the requested output.

    Args:
        subscripts: explicit einsum subscripts (with ``->``).
        *operands: tensors of any Keras backend (or numpy arrays).
        contraction_plan: a plan from :func:`plan`; computed (and cached) from
            the operands' static shapes when omitted.

    Returns:
        The contracted tensor, as ``keras.ops.einsum`` would return it.
    """
    if contraction_plan is None:
        contraction_plan = plan(subscripts, tuple(tuple(op.shape) for op in operands))
    inputs, output = subscripts.split("->")
    ops = list(zip(operands, inputs.split(",")))
    last = len(contraction_plan.steps) - 1
    for k, (positions, step) in enumerate(contraction_plan.steps):
        picked = [ops.pop(p) for p in sorted(positions, reverse=True)]
        keep = step.split("->")[1]
        if len(picked) == 2:
            ops.append(_multiply(*picked, keep, output if k == last else None))
        else:
            ((x, have),) = picked
            ops.append((keras.ops.einsum(f"{have}->{keep}", x), keep))
    ((result, have),) = ops
    return _arrange(result, have, output)


def contract_numpy(subscripts: str, *operands: np.ndarray) -> np.ndarray:
    """:func:`contract` in numpy along the same plan: for constants (initial
    values), also where the backend only traces (a subclassed model's first
    call), and in the planned order (numpy's own ``optimize`` can pick an
    order whose intermediates are huge)."""
    contraction_plan = plan(subscripts, tuple(tuple(op.shape) for op in operands))
    inputs, output = subscripts.split("->")
    ops = list(zip(operands, inputs.split(",")))
    for positions, step in contraction_plan.steps:
        picked = [ops.pop(p) for p in sorted(positions, reverse=True)]
        keep = step.split("->")[1]
        ops.append((np.einsum(f"{','.join(h for _, h in picked)}->{keep}",
                              *(x for x, _ in picked)), keep))
    ((result, have),) = ops
    return np.einsum(f"{have}->{output}", result)


def pairwise(subscripts: str, a, b):
    """``einsum(subscripts, a, b)`` as transposes, reshapes and one batched
    matmul (see :func:`_product` for the layout).

    This is what einsum does internally, written out so that every backend
    and exporter sees only matmul, reshape, transpose and broadcast: LiteRT
    has no builtin Einsum op, but builtin BatchMatMul.
    """
    inputs, out = subscripts.split("->")
    sa, sb = inputs.split(",")
    result, have = _multiply((a, sa), (b, sb), out, out)
    return _arrange(result, have, out)


@dataclasses.dataclass(frozen=True)
class _Product:
    """One pairwise product laid out as a single matmul.

    ``sides``: which operand (0 or 1) is matmul's left and right argument;
    ``groups``: for each side, the letter groups it is reshaped to (one per
    matmul dimension; the side is transposed first unless its letters are
    already in that order); ``broadcast``: the left side is a matrix tiled
    over the right side's leading (batch) dimension; ``letters``: the
    result's layout; ``moved``: elements the transposes and tiling read and
    write.
    """

    sides: tuple
    groups: tuple
    broadcast: bool
    letters: str
    moved: int


def _product(sa: str, sb: str, keep: str, size: dict, final: str | None = None,
             tiling: bool = True) -> _Product:
    """The layout of ``sa,sb->keep`` (any order of ``keep``) that moves the
    fewest elements.

    Two kinds of layout are weighed, each with either operand on the left:

    - the classic one: ``batch+left+contracted @ batch+contracted+right``;
    - for products without batch letters, a matrix times a tensor whose
      contracted letters are adjacent: ``x`` seen as ``(P, K, Q)`` in its
      own order and ``w`` as ``(R, K)`` give ``(P, R, Q)`` with ``w`` tiled
      over ``P``. Chains of cores (tensor trains, MPS, Tucker) contracted
      against a big input then never transpose the input or the
      intermediates, only the small cores.

    ``final``: the required output order, when this is the last step (the
    transpose to it is counted); ``tiling=False`` leaves out the second kind.
    """

    def elements(letters):
        return math.prod(size[c] for c in letters)

    def moved(have, groups):
        return 0 if "".join(groups) == have else 2 * elements(have)

    shared = [c for c in sa if c in sb]
    batch = "".join(c for c in shared if c in keep)
    options = []
    for i in (0, 1):
        si, sj = (sa, sb) if i == 0 else (sb, sa)
        contracted = "".join(c for c in si if c in sj and c not in keep)
        left = "".join(c for c in si if c not in sj)
        right = "".join(c for c in sj if c not in si)
        groups = ((batch, left, contracted), (batch, contracted, right))
        if not batch:
            groups = tuple(g[1:] for g in groups)
        options.append(_Product((i, 1 - i), groups, False, batch + left + right,
                                moved(si, groups[0]) + moved(sj, groups[1])))
        if batch or not contracted or not tiling:
            continue
        # `si` as the big operand x = (P, K, Q), kept in place if K is adjacent.
        start = si.index(contracted[0])
        if si[start:start + len(contracted)] != contracted or start + len(contracted) == len(si):
            continue  # K not adjacent, or Q empty (the classic layout already is x @ w)
        p, q = si[:start], si[start + len(contracted):]
        tiled = elements(p) * elements(right + contracted) if p else 0
        options.append(_Product((1 - i, i), ((right, contracted),
                                             tuple(g for g in (p, contracted, q) if g)),
                                bool(p), p + right + q, moved(sj, (right, contracted)) + tiled))
    if final is not None:
        options = [dataclasses.replace(o, moved=o.moved + moved(o.letters, (final,)))
                   for o in options]
    return min(options, key=lambda o: o.moved)


def _multiply(a, b, keep, final=None):
    """``(tensor, letters)`` of the product of ``(tensor, letters)`` pairs
    ``a`` and ``b``, keeping the letters of ``keep`` (in a layout of
    :func:`_product`'s choice)."""
    (a, sa), (b, sb) = a, b
    # Indices only one operand carries and the output drops: sum them first.
    a, sa = _sum_out(a, sa, sb + keep)
    b, sb = _sum_out(b, sb, sa + keep)
    size = {c: n for c, n in zip(sa, a.shape)}
    size.update({c: n for c, n in zip(sb, b.shape)})
    known = {c: 1 if n is None else n for c, n in size.items()}
    product = _product(sa, sb, keep, known, final, tiling=not inputs_first())
    ops, have = (a, b), (sa, sb)

    def prod(letters):
        # An unknown (symbolic batch) size makes its group -1: at most one
        # letter is unknown, so every reshape has at most one -1.
        return -1 if any(size[c] is None for c in letters) else math.prod(size[c] for c in letters)

    left, right = (keras.ops.reshape(_arrange(ops[s], have[s], "".join(g)), [prod(x) for x in g])
                   for s, g in zip(product.sides, product.groups))
    result = _tiled_matmul(left, right) if product.broadcast else _matmul(left, right)
    return (keras.ops.reshape(result, [-1 if size[c] is None else size[c] for c in product.letters]),
            product.letters)


def _matmul(left, right):
    """``left @ right``. A 2-D product of a big ``left`` (an input seen as
    rows) and a small ``right`` (a factor) gets a gradient that XLA's CPU
    dot and TensorFlow's runtime both run fast (:func:`_split_gradient_matmul`);
    other products are plain ``keras.ops.matmul``."""
    shapes = (tuple(left.shape), tuple(right.shape))
    if (keras.backend.backend() not in CUSTOM_GRADIENT_BACKENDS or len(shapes[0]) != 2
            or len(shapes[1]) != 2 or None in shapes[0] + shapes[1] or shapes[0][0] % 2):
        return keras.ops.matmul(left, right)
    size = math.prod(shapes[0])
    if size < SPLIT_GRADIENT_ELEMENTS or size < 64 * math.prod(shapes[1]):
        return keras.ops.matmul(left, right)
    return _split_gradient_matmul(left, right)


@keras.ops.custom_gradient
def _split_gradient_matmul(x, w):
    """``x @ w`` whose gradient for ``w``, ``x^T @ g``, contracts ``x``'s
    rows as a batch of two halves, then sums the halves.

    The plain form contracts the many rows of the big operand in one dot,
    which XLA's CPU dot runs at a tenth of the memory speed and
    TensorFlow's runtime at a third of it. For 3,840 rows of 1,440 and 4
    columns (tt's first core at UCF11), measured on 2 CPU cores:

    ============  ========  ======  =========
    x^T @ g       TF plain  TF XLA  JAX (XLA)
    ============  ========  ======  =========
    one dot       2.1 ms    3.6 ms  3.1 ms
    two halves    1.3 ms    1.3 ms  0.9 ms
    ============  ========  ======  =========

    (the forward ``x @ w``: 1.9, 0.8 and 0.5 ms). XLA rewrites other
    equivalent forms, ``(g^T @ x)^T`` included, back into the slow dot; a
    batched dot it leaves alone. Hand-written: a layout choice neither the
    backends nor Keras make.
    """
    def gradient(*args, upstream=None):
        g = args[0] if upstream is None else upstream
        (m, k), n = x.shape, w.shape[1]
        halves = keras.ops.einsum("pmn,pmk->pnk", keras.ops.reshape(g, (2, m // 2, n)),
                                  keras.ops.reshape(x, (2, m // 2, k)))
        return (keras.ops.matmul(g, keras.ops.transpose(w)),
                keras.ops.cast(keras.ops.transpose(keras.ops.sum(halves, axis=0)), w.dtype))

    return keras.ops.matmul(x, w), gradient


def _tile(w, count):
    """``w`` repeated ``count`` times along a new leading dimension (``w``
    may hold the batch, unknown while tracing: then its dynamic shape)."""
    shape = tuple(w.shape)
    if None in shape:
        shape = tuple(keras.ops.shape(w))
    return keras.ops.broadcast_to(w, (count,) + shape)


def _tiled_product(w, x):
    """``w`` tiled over ``x``'s leading dimension, times ``x``, with
    autodiff's gradient."""
    return keras.ops.matmul(_tile(w, keras.ops.shape(x)[0]), x)


def _tiled_matmul(w, x):
    """``w @ x[p]`` for every ``p``: a matrix ``w`` of shape ``(R, K)``
    tiled over the leading dimension of ``x``, ``(P, K, Q)``, gives
    ``(P, R, Q)``, with :func:`_tiled_gradient_matmul`'s gradient on the
    backends that compile with XLA."""
    if keras.backend.backend() not in CUSTOM_GRADIENT_BACKENDS:
        return _tiled_product(w, x)
    return _tiled_gradient_matmul(w, x)


@keras.ops.custom_gradient
def _tiled_gradient_matmul(w, x):
    """``w`` tiled over ``x`` (:func:`_tiled_matmul`) whose gradient for
    ``w``, a sum over ``p`` of ``g[p] @ x[p]^T``, is taken as ``x[p] @
    g[p]^T`` summed over ``p``, then transposed.

    XLA's CPU dot runs the natural form, a batch of products with only
    ``R`` rows of output, far below the memory speed. For MPS's first
    cores at UCF11 (``x`` of shape (96, 900, 64), ``R`` = 4), the forward
    product and ``w``'s gradient, measured on 2 CPU cores: TF XLA 8.6 ->
    5.4 ms, JAX 1.6 -> 1.0 ms, TF's runtime 3.4 -> 3.7 ms (Keras compiles
    with XLA by default). ``x``'s gradient is autodiff's own. Hand-written
    for the same reason as :func:`_split_gradient_matmul`.
    """
    def gradient(*args, upstream=None):
        g = args[0] if upstream is None else upstream
        count = keras.ops.shape(g)[0]
        w_grad = keras.ops.sum(keras.ops.matmul(x, keras.ops.transpose(g, (0, 2, 1))), axis=0)
        return (keras.ops.cast(keras.ops.transpose(w_grad), w.dtype),
                keras.ops.matmul(_tile(keras.ops.transpose(w), count), g))

    return _tiled_product(w, x), gradient


def _arrange(x, have: str, want: str):
    """``x`` (letters ``have``) transposed to ``want``. Letters that lie
    next to each other in both orders move as one axis (reshapes on either
    side), so the transpose has as few axes as the permutation needs: LiteRT's
    builtin Transpose takes at most 6 (a block-term product at ``d=3`` has
    7 letters)."""
    perm = [have.index(c) for c in want]
    if perm == list(range(len(perm))):
        return x
    runs = [[perm[0]]]  # runs of `want` that are consecutive axes of `have`
    for axis in perm[1:]:
        if axis == runs[-1][-1] + 1:
            runs[-1].append(axis)
        else:
            runs.append([axis])
    if len(runs) == len(perm):
        return keras.ops.transpose(x, perm)
    shape = tuple(x.shape)

    def size(axes):
        return -1 if any(shape[a] is None for a in axes) else math.prod(shape[a] for a in axes)

    ordered = sorted(runs)
    merged = keras.ops.reshape(x, [size(run) for run in ordered])
    moved = keras.ops.transpose(merged, [ordered.index(run) for run in runs])
    return keras.ops.reshape(moved, [-1 if shape[a] is None else shape[a] for a in perm])


def _kept(have: str, keep: str) -> str:
    """The letters of ``have`` left after :func:`_sum_out`."""
    return "".join(c for c in have if c in keep)


def _sum_out(x, have, keep):
    if _kept(have, keep) == have:
        return x, have
    axes = [i for i, c in enumerate(have) if c not in keep]
    return keras.ops.sum(x, axis=axes), _kept(have, keep)


def _traffic(inputs: list, output: str, steps, size: dict,
             tiling: bool = True) -> tuple[int, int, int]:
    """Elements read and written when :func:`contract` runs ``steps``: each
    product's operands and result, plus its transposes and tiling (which
    read and write as much), plus the final arrangement. Returns the total,
    the part moved by transposes and tiling, and the part written."""
    layouts, total, moved, written = list(inputs), 0, 0, 0
    for k, (positions, step) in enumerate(steps):
        picked = [layouts.pop(p) for p in sorted(positions, reverse=True)]
        keep = step.split("->")[1]
        result = math.prod(size[c] for c in keep)
        total += sum(math.prod(size[c] for c in t) for t in picked) + result
        written += result
        if len(picked) != 2:
            layouts.append(keep)
            continue
        sa, sb = _kept(picked[0], picked[1] + keep), _kept(picked[1], picked[0] + keep)
        product = _product(sa, sb, keep, size, output if k == len(steps) - 1 else None,
                           tiling)
        total += product.moved
        moved += product.moved
        written += product.moved // 2
        layouts.append(product.letters)
    return total, moved, written
