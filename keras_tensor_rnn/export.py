"""Ship a model: SavedModel, LiteRT (TFLite) and ONNX files, with their sizes.

Tensorized and restricted layers export like Keras's own (TensorFlow
backend). For LiteRT there are two routes:

- ``builtins_only=True`` (default): the input gets a static shape
  ``(batch_size, time, features)`` and the graph holds only builtin LiteRT
  ops (our contractions are plain reshape / transpose / batched matmul), so
  any LiteRT runtime runs it. The time loop stays one builtin ``WHILE`` (the
  file does not grow with the sequence); ``unroll=True`` writes every step
  out instead (faster for a few steps, larger for many).
- ``builtins_only=False``: dynamic batch and the ``tf.while`` time loop, which
  needs TensorFlow ops: the file then requires the Flex delegate
  (``tensorflow-lite-select-tf-ops``) at run time.

Either way the file stores the factors, not the dense matrices they make:
the products are traced within :func:`contraction.input_first`, so that no
op computes from the weights alone (the converter would fold it into a
constant). ``quantize`` applies LiteRT's post-training quantization
(``"dynamic"``, ``"float16"``, or full ``"int8"`` and ``"int16x8"`` with
representative data). A file holds no state between calls: stateful
layers export from zero states (:func:`states_at_zero`).

Example:

>>> path = export_litert(model, "model.tflite")  # doctest: +SKIP
>>> file_size(path)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import keras

from keras_tensor_rnn import _private_api, checks, contraction, litert_int8
from keras_tensor_rnn.layer_walk import computing_layers, states_at_zero


def file_size(path) -> int:
    """Bytes of a file, or of everything under a directory (a SavedModel).

    Raises:
        FileNotFoundError: nothing is at ``path``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No file or folder at '{path}' to measure.")
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_saved_model(model, path) -> Path:
    """``model.export(path)``: a TensorFlow SavedModel with a ``serve`` endpoint
    (TensorFlow backend)."""
    checks.require_tensorflow("A SavedModel export")
    model.export(str(path), format="tf_saved_model", verbose=False)
    return Path(path)


def unrolled(model, batch_size: int = 1, time_steps: int | None = None):
    """A copy of ``model`` whose recurrent layers unroll over static input
    shapes ``(batch_size, *input_shape[1:])``, with the same weights; an
    input without a fixed time length (``keras.Input((None, features))``)
    gets ``time_steps``. Same as ``static_shaped(..., unroll=True)``.

    Raises:
        ValueError: an input has no fixed length and ``time_steps`` is None.
    """
    return static_shaped(model, batch_size, time_steps, unroll=True)


def static_shaped(model, batch_size: int = 1, time_steps: int | None = None, *,
                  unroll: bool = False):
    """A copy of ``model`` over static input shapes ``(batch_size,
    *input_shape[1:])``, with the same weights (what a builtins-only LiteRT
    file is converted from); an input without a fixed time length gets
    ``time_steps``. ``unroll=True`` also unrolls the recurrent layers.
    Layers of a mixed-precision policy compute in float32 in the copy
    (LiteRT's builtins have no float16 recurrent step; the weights are
    float32 already).

    Raises:
        ValueError: an input has no fixed length and ``time_steps`` is None.
    """

    def clone(layer):
        config = _computing_in_float32(layer.get_config())
        if isinstance(layer, keras.layers.Bidirectional):
            for key in ("layer", "backward_layer"):
                if config.get(key):
                    config[key]["config"]["unroll"] = unroll
            copy = layer.__class__.from_config(config)
            # Keras's unrolled loop (its TensorFlow backend's rnn, unroll=True)
            # zeroes a backward layer's masked outputs with the mask in input
            # order while the outputs are in processing order, which zeroes
            # real steps. Without it, masked steps keep the last output (zeros
            # for padding after the sequence), which the mask hides.
            if unroll:
                copy.backward_layer.zero_output_for_mask = False
            return copy
        if "unroll" in config:
            config["unroll"] = unroll
        return layer.__class__.from_config(config)

    # Named as the model's inputs, so that a LiteRT signature takes them by name.
    statics = [keras.Input(batch_shape=shape, dtype=t.dtype, name=t.name) for t, shape in
               zip(model.inputs, static_input_shapes(model, batch_size, time_steps))]
    copy = keras.models.clone_model(model, clone_function=clone,
                                    input_tensors=_as_inputs_of(model, statics))
    copy.set_weights(model.get_weights())
    return copy


def _computing_in_float32(config):
    """A layer's config with every mixed-precision policy (``mixed_float16``,
    ``mixed_bfloat16``; a wrapped layer's too) replaced by ``float32``."""
    if isinstance(config, list):
        return [_computing_in_float32(value) for value in config]
    if not isinstance(config, dict):
        return config
    out = {key: _computing_in_float32(value) for key, value in config.items()}
    policy = out.get("dtype")
    name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if isinstance(name, str) and name.startswith("mixed_"):
        out["dtype"] = "float32"
    return out


def static_input_shapes(model, batch_size: int = 1, time_steps: int | None = None) -> list:
    """The static input shapes ``(batch_size, *input_shape[1:])`` of a
    builtins-only file of ``model``, an unknown time length set to
    ``time_steps``.

    Raises:
        ValueError: an input has no fixed length and ``time_steps`` is None,
            or another unknown size.
    """
    return [(batch_size,) + _static(tuple(t.shape[1:]), time_steps) for t in model.inputs]


def _input_signature(model) -> list:
    """``model.export``'s ``input_signature`` for ``model``'s own input shapes,
    given explicitly: Keras refuses a model built but never called, and the
    file's inputs keep the Keras names."""
    import tensorflow as tf

    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
    return [_as_inputs_of(model, specs)]


def _as_inputs_of(model, tensors: list):
    """``tensors`` (flat, in the order of ``model.inputs``) in the structure
    of ``model``'s inputs: one tensor, a list or a dict."""
    if isinstance(model, keras.Sequential):
        return tensors[0]
    return keras.tree.pack_sequence_as(model.input, tensors)


def _static(shape: tuple, time_steps: int | None) -> tuple:
    """``shape`` (an input's, without the batch) with its unknown length set
    to ``time_steps``."""
    if None not in shape:
        if time_steps is not None and shape and time_steps != shape[0]:
            raise ValueError(f"`time_steps={time_steps}` is for an input without a fixed time "
                             f"length; this input's is {shape[0]} (shape {(None, *shape)}). "
                             "Leave `time_steps` unset.")
        return shape
    if time_steps is None:
        raise ValueError(
            f"The model's input shape {(None, *shape)} has no fixed time length, and a file "
            "of static shapes (a builtins-only LiteRT file, an unrolled ONNX file) runs a fixed "
            "number of steps. Pass `time_steps=` (the length your device feeds, e.g. "
            "time_steps=49), or keep a dynamic length: `export_onnx` without `unroll=True`, "
            "or `export_litert(..., builtins_only=False)` (that file needs the Flex delegate).")
    checks.positive_int(time_steps, "time_steps")
    fixed = tuple(time_steps if size is None else size for size in shape[:1]) + shape[1:]
    if None in fixed:
        raise ValueError(f"Only the time length of an input can be set by `time_steps`; input "
                         f"shape {(None, *shape)} has other unknown sizes.")
    return fixed


QUANTIZATIONS = ("dynamic", "float16", "int8", "int16x8")
CALIBRATED = ("int8", "int16x8")  # the modes that calibrate activations on sample inputs


def export_litert(model, path, *, builtins_only: bool = True, batch_size: int = 1,
                  time_steps: int | None = None, unroll: bool = False, quantize: str | None = None,
                  representative_data=None) -> Path:
    """Convert ``model`` to a LiteRT (TFLite) flatbuffer at ``path``.

    Args:
        model: a Keras model (TensorFlow backend).
        path: output ``.tflite`` file.
        builtins_only: static shapes so only builtin ops are used (see the
            module docstring); else dynamic batch and the TensorFlow time
            loop, which needs the Flex delegate.
        batch_size: the static batch of the builtins-only model.
        time_steps: the time length of a builtins-only model whose input
            has none (``keras.Input((None, features))``).
        unroll: write every time step out (builtins-only) instead of one
            builtin ``WHILE`` loop: the file grows with the steps.
        quantize: None (float32), ``"dynamic"`` (weights stored as int8:
            LiteRT's dynamic-range quantization from 1,024 elements on, the
            smaller factors through :mod:`keras_tensor_rnn.litert_int8`;
            computed in float), ``"float16"`` (weights to float16) or
            ``"int8"`` (full integer quantization of weights
            and activations, calibrated on ``representative_data``, float
            inputs and outputs; the steps are then unrolled, since
            TensorFlow 2.21's calibration crashes on a ``WHILE`` loop) or
            ``"int16x8"`` (the same with int16 activations: a chain of
            factors keeps its accuracy where full int8 loses points, on
            LiteRT's slower reference kernels; float inputs only). Names
            are case-insensitive.
        representative_data: inputs for the calibrated modes (``"int8"``,
            ``"int16x8"``):
            an array of model inputs (a few hundred rows are enough), or a
            list of arrays (in the order of ``model.inputs``) or a dict (by
            the model's input keys or names) for a model of several inputs.
            Rows must have the file's input shape.

    Returns:
        ``path`` as a ``Path``.

    Example:

    >>> export_litert(model, "model.tflite", quantize="dynamic")  # doctest: +SKIP
    """
    checks.require_tensorflow("A LiteRT export")
    import tensorflow as tf

    _check_exportable(model, "export_litert")
    _check_no_keras_int8_dense(model)
    quantize = _checked_arguments(model, batch_size, builtins_only, unroll, quantize,
                                  representative_data)
    Path(path).parent.mkdir(parents=True, exist_ok=True)  # as Keras's own exports do
    # TF 2.21's calibration crashes (segfault) on a WHILE loop: it
    # calibrates the steps written out.
    unroll = unroll or quantize in CALIBRATED
    source = static_shaped(model, batch_size, time_steps, unroll=unroll) if builtins_only else model
    # The converter folds whatever is computed from weights alone: planned
    # from the input, the products leave the factors as they are (else a
    # compressed model's file can be as large as the dense model's).
    with tempfile.TemporaryDirectory() as tmp, contraction.input_first(), states_at_zero(source):
        saved = os.path.join(tmp, "saved_model")
        if builtins_only:
            source.export(saved, format="tf_saved_model", input_signature=_input_signature(source),
                          verbose=False)
        else:
            export_saved_model(source, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if not builtins_only:
            converter.target_spec.supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
            _private_api.keep_tensor_lists(converter)
        _set_quantization(converter, quantize, representative_data, source, batch_size)
        flatbuffer = _converted(converter)
    if quantize in ("dynamic",) + CALIBRATED:
        # The converter leaves weights under 1,024 elements float: the factors.
        flatbuffer, _ = litert_int8.store_weights_int8(flatbuffer)
    Path(path).write_bytes(flatbuffer)
    return Path(path)


def _converted(converter) -> bytes:
    """``converter.convert()``, without what TensorFlow's calibration prints
    of itself: the warning for the deprecated interpreter it runs (the
    files run in ai-edge-litert: :func:`litert_interpreter`) and its C++
    calibrator's settings line (``fully_quantize: 0, ...``), which
    ``TF_CPP_MIN_LOG_LEVEL`` does not silence."""
    with warnings.catch_warnings(), _native_stderr_without(_CALIBRATOR_SETTINGS):
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated",
                                category=UserWarning)
        return converter.convert()


_CALIBRATOR_SETTINGS = re.compile(r"fully_quantize: \d+, inference_type: ")


@contextlib.contextmanager
def _native_stderr_without(pattern: re.Pattern):
    """Within this context, what is written to file descriptor 2 (Python's
    and native code's stderr alike) is held, then written out in order
    without the lines ``pattern`` matches. Where descriptor 2 cannot be
    redirected, everything passes through."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not pattern.match(line)))
            sys.stderr.flush()


def _check_exportable(model, function: str) -> None:
    """A clear error, before any conversion, for a ``model`` that is not a
    Keras model (a ``.keras`` path, say)."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"`{function}` takes a Keras model: load a .keras file first with "
                        f"`keras.models.load_model(path)`. Received: {type(model).__name__}")


def _check_no_keras_int8_dense(model) -> None:
    """Keras's own int8 ``Dense`` and ``EinsumDense`` (``model.quantize``)
    feed int8 tensors to LiteRT's fully connected op, which refuses them:
    said before any conversion, with what works instead."""
    quantized = [layer.name for layer in computing_layers(model.layers)
                 if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))
                 and layer.quantization_mode is not None]
    if quantized:
        raise ValueError(
            f"Layers {quantized} hold Keras's own int8 weights (`model.quantize('int8')`), "
            "which LiteRT's converter refuses in a fully connected op. Export the float model "
            "with `export_litert(..., quantize='int8')` (or 'dynamic'), or quantize only the "
            "recurrent cells: `model.quantize('int8', filters=lambda layer: "
            "isinstance(layer, ktr.cells.RecurrentCell))`.")


def _checked_arguments(model, batch_size, builtins_only, unroll, quantize,
                       representative_data) -> str | None:
    """``export_litert``'s arguments checked; the ``quantize`` name, lower-case."""
    checks.positive_int(batch_size, "batch_size")
    if unroll and not builtins_only:
        raise ValueError("`unroll=True` writes the steps of a builtins-only file out; with "
                         "`builtins_only=False` the file keeps TensorFlow's dynamic time loop. "
                         "Use one or the other.")
    quantize = quantize.lower() if isinstance(quantize, str) else quantize
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise checks.unknown("`quantize` value", quantize, QUANTIZATIONS, noun="values",
                             shown=repr(quantize),
                             listing=", ".join(map(repr, QUANTIZATIONS)) + " or None")
    if quantize == "int16x8" and any("int" in str(t.dtype) for t in model.inputs):
        raise ValueError("`quantize='int16x8'` calibrates float inputs; this model takes integer "
                         "inputs (token ids), which TensorFlow 2.21's int16 calibration cannot "
                         "record. Use quantize='int8' or 'dynamic'.")
    if quantize in CALIBRATED and representative_data is None:
        raise ValueError(f"`quantize={quantize!r}` calibrates the activations' ranges on sample "
                         "inputs: pass `representative_data=` (e.g. a few hundred training "
                         "rows), or use quantize='dynamic', which needs none.")
    if quantize not in CALIBRATED and representative_data is not None:
        raise ValueError(f"`representative_data` calibrates quantize='int8' or 'int16x8' only. "
                         f"Received: quantize={quantize!r}.")
    return quantize


def _set_quantization(converter, quantize, representative_data, source, batch_size) -> None:
    """LiteRT's post-training quantization for ``quantize`` on ``converter``."""
    import tensorflow as tf

    if quantize is None:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return
    _private_api.per_tensor_dense_weights(converter)
    if quantize in CALIBRATED:
        converter.representative_dataset = _calibration_batches(representative_data, source,
                                                                batch_size)
    if quantize == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS]


def _calibration_batches(data, model, batch_size: int):
    """A LiteRT representative dataset: ``data`` (inputs in ``model``'s
    structure) cut into batches of ``batch_size`` rows, each a dict keyed by
    the signature's input names (at most 500 rows: calibration needs ranges,
    not epochs).

    Raises:
        ValueError: ``data`` does not match the inputs (count, row shape), has
            fewer rows than one batch, or holds non-finite values.
    """
    arrays = _arrays_per_input(data, model)
    rows = min(min(len(a) for a in arrays), 500)
    if rows < batch_size:
        raise ValueError(f"`representative_data` has {rows} rows: calibration needs at least "
                         f"one batch ({batch_size}), and a few hundred rows are best.")

    def batches():
        for start in range(0, rows - batch_size + 1, batch_size):
            yield {t.name: a[start:start + batch_size] for a, t in zip(arrays, model.inputs)}

    return batches


def _arrays_per_input(data, model) -> list:
    """``data`` as one checked array per input of the static ``model``, in the
    order of ``model.inputs``: a dict by the model's input keys or names, else
    in the order of its inputs."""
    import numpy as np

    if isinstance(data, dict):
        keys = {id(t): k for k, t in model.input.items()} if isinstance(model.input, dict) else {}
        names = [keys.get(id(t), t.name) for t in model.inputs]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"`representative_data` must have a key per model input "
                             f"({names}). Missing: {missing}; received keys: {list(data)}.")
        data = [data[n] for n in names]
    checks.holds_arrays(data, "`representative_data`")
    arrays = [np.asarray(a) for a in keras.tree.flatten(data)]
    if len(arrays) != len(model.inputs):
        raise ValueError(f"`representative_data` must hold one array per model input "
                         f"({len(model.inputs)}). Received: {len(arrays)} arrays.")
    checked = []
    for array, t in zip(arrays, model.inputs):
        row = tuple(t.shape[1:])
        if array.shape[1:] != row:
            raise ValueError(f"`representative_data` for input '{t.name}' must be rows of shape "
                             f"{row} (the file's input is {tuple(t.shape)}). Received: an array "
                             f"of shape {array.shape}.")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"`representative_data` for input '{t.name}' holds NaN or inf: "
                             "calibration ranges need finite sample inputs.")
        checked.append(array.astype(t.dtype))
    if len({len(a) for a in checked}) > 1:
        raise ValueError("`representative_data` must have as many rows for every input (one "
                         "sample per row). Received: "
                         f"{ {t.name: len(a) for t, a in zip(model.inputs, checked)} }.")
    return checked


def litert_predict(path, x):
    """Run a builtins-only LiteRT file of one input and one output on ``x``
    (one array, or a list of one) in the standalone LiteRT runtime
    (``ai-edge-litert``, what devices run; TensorFlow's deprecated
    ``tf.lite.Interpreter`` where it is not installed), its rows in batches
    of the file's static batch, as ``model.predict`` would."""
    interpreter = litert_interpreter(path)
    interpreter.allocate_tensors()
    details, outputs_details = interpreter.get_input_details(), interpreter.get_output_details()
    arrays = _input_arrays(x)
    if len(details) != 1 or len(outputs_details) != 1 or len(arrays) != 1:
        raise ValueError(f"`litert_predict` runs a file of one input and one output on one "
                         f"array; this file has {len(details)} input(s) and "
                         f"{len(outputs_details)} output(s), and `x` gives {len(arrays)} "
                         "array(s). Run a file of several inputs or outputs with LiteRT's "
                         "signature runner: `ktr.export.litert_interpreter(path)"
                         ".get_signature_runner()(**inputs)`.")
    (inp,), (out,) = details, outputs_details

    def run(chunks):
        interpreter.set_tensor(inp["index"], chunks[0])
        interpreter.invoke()
        return [interpreter.get_tensor(out["index"])]

    return _in_batches(run, arrays, [inp["dtype"]], int(inp["shape"][0]),
                       [tuple(out["shape"][1:])])[0]


def _input_arrays(x) -> list:
    """``x`` (one array, or a list, tuple or dict of one per input) as a list."""
    if isinstance(x, dict):
        return list(x.values())
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _in_batches(run, arrays, dtypes, batch, output_shapes) -> list:
    """``run`` (a list of input chunks -> a list of outputs) over ``arrays``'
    rows in chunks of ``batch`` (None: all at once), the last one padded
    with zero rows; each output's rows concatenated and cut to the input's.
    No rows give empty outputs of ``output_shapes`` (without the batch)."""
    import numpy as np

    arrays = [np.asarray(a, dtype) for a, dtype in zip(arrays, dtypes)]
    rows = len(arrays[0])
    if rows == 0:
        return [np.zeros((0, *shape), "float32") for shape in output_shapes]
    step = batch or rows
    pieces = []
    for start in range(0, rows, step):
        chunks = [a[start:start + step] for a in arrays]
        padding = step - len(chunks[0])
        chunks = [np.concatenate([c, np.zeros((padding, *c.shape[1:]), c.dtype)]) if padding
                  else c for c in chunks]
        pieces.append(run(chunks))
    return [np.concatenate(outputs)[:rows] for outputs in zip(*pieces)]


def litert_interpreter(path, num_threads: int | None = None):
    """A LiteRT interpreter of the file at ``path``: ``ai_edge_litert``'s
    (the standalone runtime: ``pip install ai-edge-litert``), else
    TensorFlow's ``tf.lite.Interpreter``, which is deprecated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path), num_threads=num_threads)


def export_onnx(model, path, *, opset_version: int | None = None, unroll: bool = False,
                batch_size: int = 1, time_steps: int | None = None) -> Path:
    """Convert ``model`` to an ONNX file at ``path`` (Keras's
    ``model.export(format="onnx")``, through ``tf2onnx``; TensorFlow backend).

    The file keeps the factors (the products are traced within
    :func:`contraction.input_first`) and runs in ``onnxruntime`` or any ONNX
    runtime. By default the batch and time length stay dynamic and the time
    loop is one ONNX ``Loop``; ``unroll=True`` writes every step out over
    the static shape ``(batch_size, time, features)`` (faster for short
    sequences; ``time_steps`` fixes an input without a time length).

    Args:
        model: a Keras model (TensorFlow backend).
        path: output ``.onnx`` file.
        opset_version: the ONNX opset (Keras's default when None).
        unroll, batch_size, time_steps: see above.

    Returns:
        ``path`` as a ``Path``.

    Example:

    >>> export_onnx(model, "model.onnx")  # doctest: +SKIP
    >>> onnx_predict("model.onnx", x)  # doctest: +SKIP
    """
    checks.require_tensorflow("An ONNX export")
    _check_exportable(model, "export_onnx")

    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        raise ImportError("An ONNX export needs tf2onnx: `pip install tf2onnx onnxruntime` "
                          "(or keras-tensor-rnn[deploy]).") from None
    source = static_shaped(model, batch_size, time_steps, unroll=True) if unroll else model
    with contraction.input_first(), warnings.catch_warnings(), states_at_zero(source):
        # Keras's numpy-2 patch of tf2onnx probes `np.object`, which warns.
        warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
        source.export(str(path), format="onnx", input_signature=_input_signature(source),
                      opset_version=opset_version, verbose=False)
    return Path(path)


def onnx_predict(path, x):
    """Run the ONNX file at ``path`` on ``x`` in ``onnxruntime`` (CPU), as
    ``model.predict`` would: one array for a file of one output, else a list
    of arrays in the order of the model's outputs. A file of a static batch
    (``export_onnx(..., unroll=True, batch_size=...)``) runs the rows in
    batches of it.

    Args:
        path: an ONNX file (:func:`export_onnx`).
        x: the inputs in the model's structure: one array, or a list/dict
            of arrays in the order of the file's inputs.
    """
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    arrays = _input_arrays(x)
    if len(arrays) != len(inputs):
        raise ValueError(f"The ONNX file '{path}' takes {len(inputs)} input(s) "
                         f"({[i.name for i in inputs]}); `x` gives {len(arrays)}. Pass one array "
                         "per input, as a list in the model's input order.")
    dtypes = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
    names, batch = [i.name for i in inputs], inputs[0].shape[0]
    shapes = [tuple(d if isinstance(d, int) else 0 for d in o.shape[1:])
              for o in session.get_outputs()]
    outputs = _in_batches(lambda chunks: session.run(None, dict(zip(names, chunks))), arrays,
                          [dtypes.get(i.type) for i in inputs],
                          batch if isinstance(batch, int) else None, shapes)
    return outputs[0] if len(outputs) == 1 else outputs
