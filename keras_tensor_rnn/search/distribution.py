"""How each search trial trains across devices.

A spec's ``[search] distribution`` (or ``run(..., distribution=...)``) names
one of :data:`DISTRIBUTIONS`; :func:`resolve` turns it into what the backend
uses:

- TensorFlow: a ``tf.distribute`` strategy, handed to keras-tuner as its
  ``distribution_strategy`` (keras-tuner builds and fits each trial's model
  inside ``strategy.scope()``).
- JAX: a ``keras.distribution.DataParallel`` over the local devices, set
  around each trial (``"multi_worker"`` first calls
  ``keras.distribution.initialize()``, which reads the usual JAX
  coordinator environment variables).

A ``tf.distribute.Strategy`` or ``keras.distribution.Distribution`` object
is accepted as is.

Example:

>>> from keras_tensor_rnn.search import distribution
>>> distribution.resolve("default")
Placement(strategy=None, keras_distribution=None)
>>> distribution.resolve("mirroredd")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
ValueError: Unknown distribution 'mirroredd'. ... Did you mean 'mirrored'?
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras

from keras_tensor_rnn import checks

DISTRIBUTIONS = {
    "default": "one device (the backend's default placement)",
    "mirrored": "all local GPUs (or CPUs) of this host, synchronous data parallelism",
    "multi_worker": "several hosts (TF_CONFIG on TensorFlow, the JAX coordinator "
                    "variables on JAX), synchronous data parallelism",
    "tpu": "a TPU (TPUStrategy on TensorFlow, the TPU cores on JAX)",
    "data_parallel": "same as 'mirrored' (Keras's name for it)",
}


@dataclasses.dataclass
class Placement:
    """What a trial trains under: a TF strategy or a Keras distribution (or neither)."""

    strategy: object = None
    keras_distribution: object = None

    @contextlib.contextmanager
    def scope(self):
        """Sets the Keras distribution (JAX) for the duration of a trial."""
        if self.keras_distribution is None:
            yield
            return
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(self.keras_distribution)
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)

    @property
    def num_replicas(self) -> int:
        if self.strategy is not None:
            return int(self.strategy.num_replicas_in_sync)
        if self.keras_distribution is not None:
            return int(self.keras_distribution.device_mesh.devices.size)
        return 1


def resolve(distribution) -> Placement:
    """The placement for a distribution name or object (see module docstring).

    Raises:
        ValueError: an unknown name (with the valid ones), or a strategy
            object on a backend that cannot use it.
    """
    if distribution is None or isinstance(distribution, Placement):
        return distribution or Placement()
    backend = keras.backend.backend()
    if not isinstance(distribution, str):
        if isinstance(distribution, (keras.distribution.DataParallel,
                                     keras.distribution.ModelParallel)):
            return Placement(keras_distribution=distribution)
        if type(distribution).__module__.startswith("tensorflow"):
            if backend != "tensorflow":
                raise ValueError(
                    f"A tf.distribute strategy needs the TensorFlow backend; this is '{backend}'. "
                    f"Use a name ({', '.join(DISTRIBUTIONS)}) or a keras.distribution object.")
            return Placement(strategy=distribution)
        raise ValueError(
            "`distribution` must be a name, a tf.distribute.Strategy or a "
            f"keras.distribution.Distribution. Received: {distribution!r}")
    name = distribution.strip().lower().replace("-", "_")
    if name not in DISTRIBUTIONS:
        raise checks.unknown("distribution", name, DISTRIBUTIONS, shown=f"'{distribution}'",
                             noun="names", listing="; ".join(
                                 f"'{k}' ({v})" for k, v in DISTRIBUTIONS.items()))
    if name == "default":
        return Placement()
    if backend == "tensorflow":
        return Placement(strategy=_tf_strategy(name))
    if backend == "jax":
        if name == "multi_worker":
            keras.distribution.initialize()
        devices = keras.distribution.list_devices("tpu" if name == "tpu" else None)
        return Placement(keras_distribution=keras.distribution.DataParallel(devices=devices))
    raise ValueError(f"Distributed trials support the TensorFlow and JAX backends, not '{backend}'.")


def _tf_strategy(name):
    import tensorflow as tf

    if name in ("mirrored", "data_parallel"):
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
