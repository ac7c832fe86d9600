"""Planned tensor contractions, backend-neutral.

Every factorization expresses its ``full()`` and ``matmul(x)`` as one einsum
over the input and its factors. The *order* in which such a network is
contracted decides the cost, so we ask ``opt_einsum`` (the path optimiser that
TensorFlow and JAX use themselves) for the cheapest pairwise order, cache the
plan per (subscripts, shapes), and replay it with ``keras.ops.einsum`` so the
same plan runs on every Keras backend and under XLA with static shapes.

Example:

>>> import numpy as np
>>> from keras_tensor_rnn import contraction
>>> p = contraction.plan("bi,ij,jk->bk", ((8, 5), (5, 3), (3, 4)))
>>> p.flops > 0
True
>>> y = contraction.contract("bi,ij,jk->bk", np.ones((8, 5)), np.ones((5, 3)), np.ones((3, 4)))
"""

from __future__ import annotations

import dataclasses
import functools
import math

import keras
import opt_einsum


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
    """

    steps: tuple
    flops: int
    largest_intermediate: int
    traffic: int = 0


@functools.lru_cache(maxsize=4096)
def plan(subscripts: str, shapes: tuple) -> ContractionPlan:
    """Cheapest pairwise order for ``subscripts`` over operands of ``shapes``.

    Uses opt_einsum's exhaustive optimiser for small networks, its dynamic
    programming one for larger ones and its greedy one beyond; the result is
    cached.
    """
    shapes = tuple(tuple(int(s) for s in shape) for shape in shapes)
    # Exhaustive search is exact but explodes past ~5 operands; dynamic
    # programming stays fast to ~12 (a Tucker matmul has 2d + 2); the
    # mirrored networks of `squared_norm` (up to 2 * (2d + 1)) go greedy.
    strategy = "optimal" if len(shapes) <= 5 else "dp" if len(shapes) <= 12 else "greedy"
    _, info = opt_einsum.contract_path(subscripts, *shapes, shapes=True, optimize=strategy)
    steps = tuple((tuple(c[0]), c[2]) for c in info.contraction_list)
    traffic = sum(_step_traffic(step, info.size_dict) for _, step in steps)
    return ContractionPlan(
        steps=steps, flops=int(info.opt_cost),
        largest_intermediate=int(info.largest_intermediate), traffic=int(traffic),
    )


def contract(subscripts: str, *operands, contraction_plan: ContractionPlan | None = None):
    """Evaluate ``einsum(subscripts, *operands)`` pairwise along a plan.

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
    ops = list(operands)
    for positions, step in contraction_plan.steps:
        picked = [ops.pop(p) for p in sorted(positions, reverse=True)]
        # opt_einsum's step subscripts list operands in the order popped.
        ops.append(pairwise(step, *picked) if len(picked) == 2 else keras.ops.einsum(step, *picked))
    (result,) = ops
    return result


def pairwise(subscripts: str, a, b):
    """``einsum(subscripts, a, b)`` as transpose, reshape and one batched
    matmul.

    This is what einsum does internally, written out so that every backend
    and exporter sees only matmul, reshape and transpose: LiteRT has no
    builtin Einsum op, but builtin BatchMatMul. Identity transposes are
    skipped.
    """
    inputs, out = subscripts.split("->")
    sa, sb = inputs.split(",")
    # Indices only one operand carries and the output drops: sum them first.
    a, sa = _sum_out(a, sa, sb + out)
    b, sb = _sum_out(b, sb, sa + out)
    size = {c: n for c, n in zip(sa, a.shape)}
    size.update({c: n for c, n in zip(sb, b.shape)})
    # `a @ b` or `b @ a`: whichever needs fewer elements transposed.
    known = {c: 1 if n is None else n for c, n in size.items()}
    if _transposed(sb, sa, out, known) < _transposed(sa, sb, out, known):
        a, sa, b, sb = b, sb, a, sa
    batch, left, contracted, right = _groups(sa, sb, out)

    def arrange(x, have, want, shape):
        perm = [have.index(c) for c in want]
        if perm != list(range(len(perm))):
            x = keras.ops.transpose(x, perm)
        return keras.ops.reshape(x, shape)

    def prod(letters):
        # An unknown (symbolic batch) size makes its group -1: at most one
        # letter is unknown, so every reshape has at most one -1.
        total = 1
        for c in letters:
            if size[c] is None:
                return -1
            total *= size[c]
        return total

    nb, nl, nc, nr = prod(batch), prod(left), prod(contracted), prod(right)
    a3 = arrange(a, sa, batch + left + contracted, (nb, nl, nc))
    b3 = arrange(b, sb, batch + contracted + right, (nb, nc, nr))
    c = keras.ops.reshape(keras.ops.matmul(a3, b3),
                          [-1 if size[x] is None else size[x] for x in batch + left + right])
    have = batch + left + right
    perm = [have.index(x) for x in out]
    return c if perm == list(range(len(perm))) else keras.ops.transpose(c, perm)


def _sum_out(x, have, keep):
    axes = [i for i, c in enumerate(have) if c not in keep]
    if not axes:
        return x, have
    return keras.ops.sum(x, axis=axes), "".join(c for c in have if c in keep)


def _groups(sa, sb, out):
    """Batch, left-free, contracted and right-free letters of ``sa,sb->out``:
    ``pairwise`` lays ``a`` out as batch+left+contracted, ``b`` as
    batch+contracted+right and gets batch+left+right from the matmul."""
    batch = [c for c in out if c in sa and c in sb]
    contracted = [c for c in sa if c in sb and c not in out]
    left = [c for c in sa if c not in sb]
    right = [c for c in sb if c not in sa]
    return batch, left, contracted, right


def _transposed(sa, sb, out, size):
    """Elements ``pairwise`` moves in transposes for ``sa,sb->out`` taken in
    this operand order (a read and a write of each transposed tensor)."""
    batch, left, contracted, right = _groups(sa, sb, out)
    moved = 0
    for have, want in ((sa, batch + left + contracted), (sb, batch + contracted + right),
                       ("".join(batch + left + right), list(out))):
        if list(have) != list(want):
            moved += 2 * math.prod(size[c] for c in have)
    return moved


def _step_traffic(step, size):
    """Elements one step of a plan reads and writes as ``pairwise`` runs it:
    the operands and the result, plus the transposes of the cheaper operand
    order."""
    inputs, out = step.split("->")
    terms = inputs.split(",")
    traffic = sum(math.prod(size[c] for c in t) for t in terms + [out])
    if len(terms) != 2:
        return traffic
    sa, sb = ("".join(c for c in t if c in other + out) for t, other in
              ((terms[0], terms[1]), (terms[1], terms[0])))
    return traffic + min(_transposed(sa, sb, out, size), _transposed(sb, sa, out, size))
