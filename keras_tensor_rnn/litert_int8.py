"""Small weights stored as int8 in a LiteRT flatbuffer.

LiteRT's converter quantizes a weight only from 1,024 elements on (dynamic
range quantization; the threshold is fixed in its C++ and has no option),
so the factors of a compressed layer, a few hundred numbers each, stay
float32 however the file is quantized. :func:`store_weights_int8` rewrites
a converted file: each float32 constant of at least ``min_elements``
elements and two or more dimensions, read only by ops that take any tensor
there, becomes an int8 constant with one scale per slice of its shortest
axis (symmetric, zero point 0) and a builtin ``DEQUANTIZE`` op that restores the
float tensor at run time. Biases (one dimension) stay float, as LiteRT keeps
them. Written by hand on TensorFlow's own flatbuffer object API
(``tensorflow.lite.tools.flatbuffer_utils``): no converter option does it.

Example:

>>> data = store_weights_int8(open("model.tflite", "rb").read())  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

# Ops whose inputs may be any tensor (not only a constant), so a constant
# they read can come from a DEQUANTIZE instead: the ops our products and
# gates are made of. Fused RNN ops (which need constant weights) are absent.
_FREE_INPUT_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL", "RESHAPE", "TRANSPOSE", "MUL", "ADD", "SUB",
                   "CONCATENATION", "SLICE", "STRIDED_SLICE", "SPLIT", "SQUEEZE", "EXPAND_DIMS",
                   "GATHER", "BROADCAST_TO", "PAD")
_DEQUANTIZE_VERSION = 3  # the version LiteRT's own converter writes for int8 and float16 inputs


def store_weights_int8(flatbuffer: bytes, *, min_elements: int = 32) -> tuple[bytes, int]:
    """``flatbuffer`` with its float32 weights of ``min_elements`` or more
    elements stored as int8 (see the module docstring).

    Args:
        flatbuffer: a converted LiteRT model.
        min_elements: the smallest constant quantized.

    Returns:
        ``(new_flatbuffer, count)``: the rewritten model and how many
        constants it stores as int8.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    if model.buffers[0].data is not None and len(model.buffers[0].data):
        raise ValueError("A LiteRT file's buffer 0 is empty by convention; this one holds data.")
    free_ops = {getattr(schema.BuiltinOperator, name) for name in _FREE_INPUT_OPS}
    dequantize = _opcode_index(model, schema.BuiltinOperator.DEQUANTIZE, schema)
    quantized = {}  # float buffer index -> int8 buffer index and scales
    count = 0
    for subgraph in model.subgraphs:
        readers = _readers(model, subgraph)
        for index, tensor in enumerate(subgraph.tensors):
            if not _is_weight(model, tensor, min_elements, schema) or not readers.get(index) or any(
                    code not in free_ops for code in readers[index]):
                continue
            if tensor.buffer not in quantized:
                quantized[tensor.buffer] = _quantized_buffer(model, tensor, schema)
            _dequantize_from(subgraph, index, tensor, quantized[tensor.buffer], dequantize, schema)
            count += 1
    still_read = {t.buffer for subgraph in model.subgraphs for t in subgraph.tensors}
    for buffer in set(quantized) - still_read:  # float copies no tensor reads any more
        model.buffers[buffer].data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), count


def _opcode_index(model, builtin: int, schema) -> int:
    for index, code in enumerate(model.operatorCodes):
        if code.builtinCode == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode = builtin, min(builtin, 127)
    code.version = _DEQUANTIZE_VERSION
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _readers(model, subgraph) -> dict:
    """Tensor index -> the builtin codes of the ops that read it."""
    readers = {}
    for op in subgraph.operators:
        code = model.operatorCodes[op.opcodeIndex].builtinCode
        for index in op.inputs if op.inputs is not None else []:
            readers.setdefault(int(index), []).append(code)
    return readers


def _is_weight(model, tensor, min_elements: int, schema) -> bool:
    """A float32 constant of two or more dimensions and ``min_elements`` or more."""
    shape = [] if tensor.shape is None else [int(s) for s in tensor.shape]
    data = model.buffers[tensor.buffer].data
    size = int(np.prod(shape)) if shape else 0
    return (tensor.type == schema.TensorType.FLOAT32 and not tensor.isVariable
            and not (tensor.quantization and tensor.quantization.scale is not None)
            and len(shape) >= 2 and size >= min_elements
            and data is not None and len(data) == 4 * size)


def _quantized_buffer(model, tensor, schema) -> tuple[int, int, list[float]]:
    """Append the int8 copy of ``tensor``'s buffer: ``(buffer index, axis,
    scales)``, one symmetric scale per slice of its shortest axis (each scale
    and zero point costs 12 bytes of metadata: few of them keep the saving)."""
    shape = [int(s) for s in tensor.shape]
    values = np.frombuffer(bytes(bytearray(model.buffers[tensor.buffer].data)),
                           dtype="<f4").reshape(shape)
    axis = int(np.argmin(shape))
    rows = np.moveaxis(values, axis, 0).reshape(shape[axis], -1)
    scales = np.abs(rows).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    shaped = scales.reshape([-1 if k == axis else 1 for k in range(len(shape))])
    q = np.clip(np.rint(values / shaped), -127, 127).astype(np.int8)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(q.tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    return len(model.buffers) - 1, axis, [float(s) for s in scales]


def _dequantize_from(subgraph, index, tensor, quantized, dequantize, schema) -> None:
    """Make ``tensor`` (at ``index``) the output of a ``DEQUANTIZE`` of a new
    int8 constant, run first in ``subgraph``."""
    buffer, axis, scales = quantized
    params = schema.QuantizationParametersT()
    params.scale, params.zeroPoint = scales, [0] * len(scales)
    params.quantizedDimension = axis
    source = schema.TensorT()
    source.shape, source.type, source.buffer = list(tensor.shape), schema.TensorType.INT8, buffer
    source.name, source.quantization = f"int8_{buffer}", params
    subgraph.tensors.append(source)
    tensor.buffer = 0  # the empty buffer: a computed tensor
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = dequantize, [len(subgraph.tensors) - 1], [index]
    op.builtinOptionsType = schema.BuiltinOptions.DequantizeOptions
    op.builtinOptions = schema.DequantizeOptionsT()
    subgraph.operators.insert(0, op)
