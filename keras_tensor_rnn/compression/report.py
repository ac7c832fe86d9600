"""What compression did: one :class:`LayerReport` per replaced layer in a
:class:`CompressionReport`, which prints as an aligned table."""

from __future__ import annotations

import dataclasses

from keras_tensor_rnn.compression import auto


@dataclasses.dataclass
class LayerReport:
    """What compression did to one layer."""

    name: str
    replaced_by: str
    params_before: int
    params_after: int
    kernel_error: float
    recurrent_error: float
    output_error: float | None = None
    weights_fit_output_error: float | None = None  # before the data-aware fit

    @property
    def compression(self) -> float:
        return self.params_before / self.params_after


@dataclasses.dataclass
class CompressionReport:
    """Per-layer reports plus whole-model counts (and errors on ``x``).

    ``decomposition`` is the one used; with ``decomposition="auto"``,
    ``candidates`` holds every candidate's ``{"output_error", "params"}``
    after its trial fit (``{"error"}`` where no rank fit the budget).
    """

    layers: list
    params_before: int
    params_after: int
    output_error: float | None = None
    history: dict | None = None
    weights_fit_output_error: float | None = None  # before the data-aware fit
    decomposition: str | None = None
    candidates: dict | None = None  # decomposition="auto": auto.choose's table

    def __str__(self):
        header = ["layer", "replaced by", "params", "ratio", "kernel err", "recur. err",
                  "output err"]
        rows = []
        for r in self.layers:
            out = "" if r.output_error is None else f"{r.output_error:.3g}"
            if r.weights_fit_output_error is not None and r.output_error is not None:
                out = f"{r.weights_fit_output_error:.3g} -> {out}"
            rows.append([r.name, r.replaced_by, f"{r.params_before:,} -> {r.params_after:,}",
                         f"{r.compression:.1f}x", f"{r.kernel_error:.3g}",
                         f"{r.recurrent_error:.3g}", out])
        widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
        # Names read from the left, numbers from the right; two spaces apart.
        lines = ["  ".join(cell.ljust(w) if k < 2 else cell.rjust(w)
                           for k, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in [header, *rows]]
        total = (f"model: {self.params_before:,} -> {self.params_after:,} parameters "
                 f"({self.params_before / self.params_after:.1f}x)"
                 + (f", {self.decomposition}" if self.decomposition else ""))
        if self.output_error is not None:
            total += f", relative output error {self.output_error:.3g}"
            if self.weights_fit_output_error is not None:
                total += f" (weights-only fit: {self.weights_fit_output_error:.3g})"
        chosen = [auto.describe(self.decomposition, self.candidates)] if self.candidates else []
        return "\n".join(lines + [total] + chosen)


__all__ = ["LayerReport", "CompressionReport"]
