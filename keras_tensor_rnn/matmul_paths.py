"""How a factorized product ``x @ W`` is computed: through the factors, or
through ``W`` rebuilt once and one GEMM.

Both paths give the same numbers; the cheaper one depends on the batch (the
rows of ``x``), on how many products share one rebuilt ``W`` (the steps of a
recurrence), and on the shapes and ranks. Costs are the modelled times of
:mod:`keras_tensor_rnn.contraction` (FLOPs, elements read and written,
steps), so plans and paths are chosen by one cost model.

Example:

>>> from keras_tensor_rnn import factorizations, matmul_paths
>>> tt = factorizations.get("tt")((57600, 1024), rank=4, d=4)
>>> matmul_paths.choose(tt, batch=96)
'factorized'
"""

from __future__ import annotations

from keras_tensor_rnn import contraction

# Batch size assumed for planning when a tensor's batch dimension is unknown
# (symbolic tracing). The hoisted input projection of an RNN sees batch*time
# rows, so a large value is the representative case.
PLANNING_BATCH = 1024

IMPLEMENTATIONS = ("auto", "factorized", "reconstructed")


def plans(matrix, batch: int):
    """The contraction plans of ``matrix.full()`` and of ``matrix.matmul`` on
    ``batch`` rows."""
    shapes = tuple(matrix.factor_shapes)
    full_plan = contraction.plan(matrix.full_subscripts(), shapes)
    mm_plan = contraction.plan(matrix.matmul_subscripts(), ((batch,) + matrix.in_modes,) + shapes)
    return full_plan, mm_plan


def flops(matrix, batch: int) -> dict:
    """FLOPs of each path on ``batch`` rows (multiply-adds count as two)."""
    full_plan, mm_plan = plans(matrix, batch)
    gemm = 2 * batch * matrix.in_dim * matrix.out_dim
    out = {"factorized": mm_plan.flops, "reconstructed": full_plan.flops + gemm}
    # A decomposition's own product (t3f's matmul for tt) contracts the
    # factors too: the factorized count stands for it.
    out.update({name: out["factorized"] for name in matrix.extra_implementations})
    return out


def costs(matrix, batch: int, repeats: int = 1) -> dict:
    """Modelled cost of ``repeats`` products with ``batch`` rows each through
    each path, in the FLOP-equivalents of :attr:`contraction.ContractionPlan.cost`.
    The rebuilt matrix is made once and reused by every repeat."""
    full_plan, mm_plan = plans(matrix, batch)
    gemm = contraction.matmul_cost(batch, matrix.in_dim, matrix.out_dim)
    return {"factorized": repeats * mm_plan.cost, "reconstructed": full_plan.cost + repeats * gemm}


def choose(matrix, batch: int) -> str:
    """The path ``matrix.matmul`` takes for ``batch`` rows: the cheaper one
    unless ``matrix.implementation`` forces one; always through the factors
    within :func:`contraction.input_first` (an exporter's)."""
    if matrix.implementation != "auto":
        return matrix.implementation
    if contraction.inputs_first():
        return "factorized"
    modelled = costs(matrix, batch)
    return min(modelled, key=modelled.get)


def reconstruct_once(matrix, batch: int, repeats: int) -> bool:
    """Whether ``repeats`` products of ``batch`` rows each (the recurrent
    product of a ``repeats``-step sequence) are cheaper through ``W`` rebuilt
    once and ``repeats`` GEMMs. Explicit implementations are respected; a
    matrix stored as itself (``stored_as_matrix``) is at hand: always; within
    :func:`contraction.input_first`, never otherwise."""
    if matrix.stored_as_matrix:
        return True
    if matrix.implementation != "auto":
        return matrix.implementation == "reconstructed"
    if contraction.inputs_first():
        return False
    modelled = costs(matrix, batch, repeats)
    return modelled["reconstructed"] <= modelled["factorized"]


__all__ = ["PLANNING_BATCH", "IMPLEMENTATIONS", "plans", "flops", "costs", "choose",
           "reconstruct_once"]
