"""Named datasets as ``(x_train, y_train), (x_test, y_test)`` numpy arrays of
shape ``(samples, time, features)`` (or ``(samples, time)`` token ids).

``mnist1d`` is embedded: the ``mnist1d`` package generates the real benchmark
procedurally, offline (its downloading helpers are never called). ``mnist``
(row-sequential), ``imdb_reviews`` and ``speech_commands`` load through
``tensorflow_datasets`` (downloaded by tfds on first use; tested offline with
``tfds.testing.mock_data``). :func:`load` returns any of them as a
:class:`Dataset`.

Example:

>>> from keras_tensor_rnn import datasets
>>> (x, y), (x_test, y_test) = datasets.load_mnist1d(features=4)
>>> x.shape
(4000, 10, 4)
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    data = make_dataset(args)
    return (
        np.asarray(data["x"], "float32"),
        np.asarray(data["y"], "int32"),
        np.asarray(data["x_test"], "float32"),
        np.asarray(data["y_test"], "int32"),
    )


def load_mnist1d(features: int = 4, num_train: int | None = None, num_test: int | None = None,
                 seed: int = 42):
    """MNIST-1D (Greydanus 2020): 10 classes, 40-sample 1-D signals, 4,000
    training and 1,000 test examples, generated procedurally.

    Args:
        features: values per time step; the 40 samples become
            ``(40 // features, features)`` sequences. Must divide 40.
        num_train, num_test: keep only the first examples (None = all).
        seed: the generator's seed (42 is the published benchmark).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    if isinstance(features, bool) or not isinstance(features, int) or features < 1 or 40 % features:
        raise ValueError(
            "`features` must divide the 40 samples of MNIST-1D: one of 1, 2, 4, 5, 8, 10, "
            f"20, 40. Received: features={features!r}"
        )
    x, y, x_test, y_test = _mnist1d_arrays(seed)
    x = x[:num_train].reshape(-1, 40 // features, features)
    x_test = x_test[:num_test].reshape(-1, 40 // features, features)
    return (x, y[:num_train]), (x_test, y_test[:num_test])


class Dataset:
    """A loaded dataset with what a model template needs to know about it.

    Attributes:
        x_train, y_train, x_val, y_val: numpy arrays.
        input_shape: ``(time, features)``, or ``(time,)`` for token ids.
        num_classes: int.
        vocab_size: token vocabulary size (token inputs only).
    """

    def __init__(self, name, train, val, num_classes, vocab_size=None):
        self.name = name
        (self.x_train, self.y_train), (self.x_val, self.y_val) = train, val
        self.input_shape = tuple(self.x_train.shape[1:])
        self.num_classes = int(num_classes)
        self.vocab_size = vocab_size

    def __repr__(self):
        return (f"<Dataset {self.name}: train {self.x_train.shape}, val {self.x_val.shape}, "
                f"{self.num_classes} classes>")


def _tfds_numpy(name, splits, data_dir=None, limits=(None, None)):
    """Each split as ``(inputs, labels)`` numpy arrays (inputs of varying
    length, like text or audio, as a list). Iterates the ``tf.data``
    pipeline rather than ``batch_size=-1``, which needs a known cardinality."""
    import tensorflow_datasets as tfds

    loaded, info = tfds.load(name, split=list(splits), as_supervised=True, with_info=True,
                             data_dir=data_dir)
    out = []
    for ds, limit in zip(loaded, limits):
        if limit is not None:
            ds = ds.take(limit)
        fixed = ds.element_spec[0].shape.is_fully_defined()
        if fixed:
            xs, ys = zip(*tfds.as_numpy(ds.batch(4096)))
            out.append((np.concatenate(xs), np.concatenate(ys)))
        else:
            pairs = list(tfds.as_numpy(ds))
            out.append(([p[0] for p in pairs], np.asarray([p[1] for p in pairs])))
    return out, info


def load_mnist(num_train=None, num_test=None, data_dir=None):
    """Row-sequential MNIST from tfds: 28 steps of 28 pixels in [0, 1]."""
    ((x, y), (xt, yt)), info = _tfds_numpy("mnist", ("train", "test"), data_dir,
                                           (num_train, num_test))

    def rows(images):
        return np.asarray(images, "float32").reshape(-1, 28, 28) / 255.0

    return (rows(x), np.asarray(y, "int32")), (rows(xt), np.asarray(yt, "int32"))


def load_imdb_reviews(vocab_size=10000, sequence_length=200, num_train=None, num_test=None,
                      data_dir=None):
    """IMDB reviews from tfds as token ids (``keras.layers.TextVectorization``
    adapted on the training text; 0 = padding, 1 = out of vocabulary)."""
    import keras

    ((x, y), (xt, yt)), info = _tfds_numpy("imdb_reviews", ("train", "test"), data_dir,
                                           (num_train, num_test))
    vectorize = keras.layers.TextVectorization(max_tokens=vocab_size,
                                               output_sequence_length=sequence_length)
    texts = [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in x]
    test_texts = [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in xt]
    vectorize.adapt(texts)
    tokens = np.asarray(keras.ops.convert_to_numpy(vectorize(texts)), "int32")
    test_tokens = np.asarray(keras.ops.convert_to_numpy(vectorize(test_texts)), "int32")
    return (tokens, np.asarray(y, "int32")), (test_tokens, np.asarray(yt, "int32"))


def load_speech_commands(frame_length=160, num_train=None, num_test=None, data_dir=None):
    """Speech Commands from tfds: one second at 16 kHz, cut into frames of
    ``frame_length`` samples (``(16000 // frame_length, frame_length)``),
    scaled to [-1, 1]."""
    ((x, y), (xt, yt)), info = _tfds_numpy("speech_commands", ("train", "test"), data_dir,
                                           (num_train, num_test))
    steps = 16000 // frame_length

    def frames(audio):
        out = np.zeros((len(audio), steps * frame_length), "float32")
        for i, clip in enumerate(audio):
            clip = np.asarray(clip, "float32")[: steps * frame_length] / 32768.0
            out[i, : len(clip)] = clip
        return out.reshape(-1, steps, frame_length)

    return ((frames(x), np.asarray(y, "int32")), (frames(xt), np.asarray(yt, "int32")),
            info.features["label"].num_classes)


_LOADERS = {
    "mnist1d": "load_mnist1d",
    "mnist": "load_mnist",
    "imdb_reviews": "load_imdb_reviews",
    "speech_commands": "load_speech_commands",
}
_CLASSES = {"mnist1d": 10, "mnist": 10, "imdb_reviews": 2}


def names() -> list[str]:
    return sorted(_LOADERS)


def load(name: str, **options) -> Dataset:
    """Load a named dataset (see :func:`names`) with loader ``options``.

    Raises:
        ValueError: for an unknown name (listing the valid ones) or options
            the loader does not take.
    """
    import inspect

    from keras_tensor_rnn.factorizations.base import suggest

    if name not in _LOADERS:
        raise ValueError(f"Unknown dataset '{name}'. Valid names: {', '.join(names())}."
                         + suggest(name, _LOADERS))
    loader = globals()[_LOADERS[name]]
    accepted = inspect.signature(loader).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for dataset '{name}'. Valid options: "
            f"{', '.join(accepted)}." + suggest(unknown[0], accepted))
    loaded = loader(**options)
    if name == "speech_commands":
        train, val, classes = loaded
    else:
        (train, val), classes = loaded, _CLASSES[name]
    vocab = options.get("vocab_size", 10000) if name == "imdb_reviews" else None
    return Dataset(name, train, val, classes, vocab_size=vocab)
