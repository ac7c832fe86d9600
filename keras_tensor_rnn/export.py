"""Ship a model: SavedModel and LiteRT (TFLite) files, with their sizes.

Tensorized and restricted layers export like Keras's own (TensorFlow
backend). For LiteRT there are two routes:

- ``builtins_only=True`` (default): the recurrent layers are rebuilt with
  ``unroll=True`` and the input gets a static shape ``(batch_size, time,
  features)``; the graph then holds only builtin LiteRT ops (our contractions
  are plain reshape / transpose / batched matmul), so any LiteRT runtime runs
  it.
- ``builtins_only=False``: dynamic batch and the ``tf.while`` time loop, which
  needs TensorFlow ops: the file then requires the Flex delegate
  (``tensorflow-lite-select-tf-ops``) at run time.

Either way the file stores the factors, not the dense matrices they make:
the products are traced within :func:`contraction.input_first`, so that no
op computes from the weights alone (the converter would fold it into a
constant).

Example:

>>> path = export_litert(model, "model.tflite")  # doctest: +SKIP
>>> file_size(path)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras

from keras_tensor_rnn import _private_api, checks, contraction


def file_size(path) -> int:
    """Bytes of a file, or of everything under a directory (a SavedModel)."""
    path = Path(path)
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
    gets ``time_steps``.

    Raises:
        ValueError: an input has no fixed length and ``time_steps`` is None.
    """

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Bidirectional):
            for key in ("layer", "backward_layer"):
                if config.get(key):
                    config[key]["config"]["unroll"] = True
            copy = layer.__class__.from_config(config)
            # Keras's unrolled loop (its TensorFlow backend's rnn, unroll=True)
            # zeroes a backward layer's masked outputs with the mask in input
            # order while the outputs are in processing order, which zeroes
            # real steps. Without it, masked steps keep the last output (zeros
            # for padding after the sequence), which the mask hides.
            copy.backward_layer.zero_output_for_mask = False
            return copy
        if "unroll" in config:
            config["unroll"] = True
        return layer.__class__.from_config(config)

    # Named as the model's inputs, so that a LiteRT signature takes them by name.
    statics = [keras.Input(batch_shape=(batch_size,) + _static(tuple(t.shape[1:]), time_steps),
                           dtype=t.dtype, name=t.name) for t in model.inputs]
    copy = keras.models.clone_model(model, clone_function=clone,
                                    input_tensors=_as_inputs_of(model, statics))
    copy.set_weights(model.get_weights())
    return copy


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
            f"The model's input shape {(None, *shape)} has no fixed time length, and a "
            "builtins-only LiteRT file unrolls the recurrence over a fixed number of steps. Pass "
            "`time_steps=` (the length your device feeds, e.g. time_steps=49), or "
            "`builtins_only=False` to keep the time loop (the file then needs the Flex delegate).")
    checks.positive_int(time_steps, "time_steps")
    fixed = tuple(time_steps if size is None else size for size in shape[:1]) + shape[1:]
    if None in fixed:
        raise ValueError(f"Only the time length of an input can be set by `time_steps`; input "
                         f"shape {(None, *shape)} has other unknown sizes.")
    return fixed


def export_litert(model, path, *, builtins_only: bool = True, batch_size: int = 1,
                  time_steps: int | None = None) -> Path:
    """Convert ``model`` to a LiteRT (TFLite) flatbuffer at ``path``.

    Args:
        model: a Keras model (TensorFlow backend).
        path: output ``.tflite`` file.
        builtins_only: unroll with static shapes so only builtin ops are used
            (see the module docstring); else keep the time loop and dynamic
            batch, which needs the Flex delegate.
        batch_size: the static batch of the builtins-only model.
        time_steps: the time length of a builtins-only model whose input
            has none (``keras.Input((None, features))``).
    """
    checks.require_tensorflow("A LiteRT export")
    import tensorflow as tf

    source = unrolled(model, batch_size, time_steps) if builtins_only else model
    # The converter folds whatever is computed from weights alone: planned
    # from the input, the products leave the factors as they are (else a
    # compressed model's file can be as large as the dense model's).
    with tempfile.TemporaryDirectory() as tmp, contraction.input_first():
        saved = os.path.join(tmp, "saved_model")
        if builtins_only:
            specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in source.inputs]
            source.export(saved, format="tf_saved_model",
                          input_signature=[_as_inputs_of(source, specs)], verbose=False)
        else:
            export_saved_model(source, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if builtins_only:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                                   tf.lite.OpsSet.SELECT_TF_OPS]
            _private_api.keep_tensor_lists(converter)
        Path(path).write_bytes(converter.convert())
    return Path(path)


def litert_predict(path, x):
    """Run a builtins-only LiteRT file on ``x`` (batch = its static batch)."""
    import numpy as np
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    details, outputs_details = interpreter.get_input_details(), interpreter.get_output_details()
    if len(details) != 1 or len(outputs_details) != 1 or isinstance(x, (list, tuple, dict)):
        raise ValueError(f"`litert_predict` runs a file of one input and one output; this one has "
                         f"{len(details)} inputs and {len(outputs_details)} outputs. Run it with "
                         "LiteRT's signature runner: `tf.lite.Interpreter(model_path=path)"
                         ".get_signature_runner()(**inputs)`.")
    (inp,), (out,) = details, outputs_details
    batch = inp["shape"][0]
    outputs = []
    for start in range(0, len(x), batch):
        chunk = np.asarray(x[start:start + batch], inp["dtype"])
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk),) + chunk.shape[1:],
                                                    chunk.dtype)])
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"]))
    return np.concatenate(outputs)[: len(x)]
