"""Named datasets as ``(x_train, y_train), (x_test, y_test)`` numpy arrays of
shape ``(samples, time, features)`` (or ``(samples, time)`` token ids).

``mnist1d`` is embedded: the ``mnist1d`` package generates the real benchmark
procedurally, offline (its downloading helpers are never called). ``mnist``
(row-sequential), ``imdb_reviews`` and ``speech_commands`` load through
``tensorflow_datasets`` (downloaded by tfds on first use; tested offline with
``tfds.testing.mock_data``). ``review_snippets`` (sentence sentiment) and
:func:`load_word_lm` (language modelling) read the real ``vader`` text corpus
offline once ``ktr data fetch`` has put it on disk
(:mod:`keras_tensor_rnn.corpora`). :func:`load` returns the classification
sets as a :class:`Dataset`. UCF11 videos load from a local copy
(:func:`load_ucf11`); :func:`synthetic_ucf11` makes clips of their shape.

Example:

>>> from keras_tensor_rnn import datasets
>>> (x, y), (x_test, y_test) = datasets.load_mnist1d(features=4)
>>> x.shape
(4000, 10, 4)
"""

from __future__ import annotations

import functools
from pathlib import Path

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


TASKS = ("classification", "regression", "per_step")


def infer_task(x, y) -> str:
    """``"per_step"`` when every step has a label (``y`` of shape ``(n, time)``
    with integer labels, e.g. sequence labelling or next-token prediction),
    ``"regression"`` for float targets, else ``"classification"``."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.floating):
        return "regression"
    if y.ndim == 2 and np.ndim(x) >= 2 and y.shape[1] == np.shape(x)[1] and y.shape[1] > 1:
        return "per_step"
    return "classification"


class Dataset:
    """A loaded dataset with what a model template needs to know about it.

    Attributes:
        x_train, y_train, x_val, y_val: numpy arrays.
        input_shape: ``(time, features)``, or ``(time,)`` for token ids.
        num_classes: classes (classification, per-step) or outputs (regression).
        vocab_size: token vocabulary size (token inputs only).
        task: ``"classification"``, ``"regression"`` or ``"per_step"``.
    """

    def __init__(self, name, train, val, num_classes, vocab_size=None, task=None):
        self.name = name
        (self.x_train, self.y_train), (self.x_val, self.y_val) = train, val
        self.task = task or infer_task(self.x_train, self.y_train)
        self.input_shape = tuple(self.x_train.shape[1:])
        self.num_classes = int(num_classes)
        self.vocab_size = vocab_size

    def __repr__(self):
        outputs = (f"{self.num_classes} output(s)" if self.task == "regression"
                   else f"{self.num_classes} classes")
        return (f"<Dataset {self.name}: train {self.x_train.shape}, val {self.x_val.shape}, "
                f"{outputs}>")


def _tfds_numpy(name, splits, data_dir=None, limits=(None, None)):
    """Each split as ``(inputs, labels)`` numpy arrays (inputs of varying
    length, like text or audio, as a list). Iterates the ``tf.data``
    pipeline rather than ``batch_size=-1``, which needs a known cardinality."""
    import tensorflow_datasets as tfds

    try:
        loaded, info = tfds.load(name, split=list(splits), as_supervised=True, with_info=True,
                                 data_dir=data_dir)
    except Exception as error:  # tfds raises what its download stack raises (requests, ...)
        if not _looks_offline(error):
            raise
        where = data_dir or "~/tensorflow_datasets"
        raise ValueError(
            f"Dataset '{name}' is not in {where} and could not be downloaded "
            f"({type(error).__name__}). Download it once on a machine with network access: "
            f"python -c \"import tensorflow_datasets as tfds; tfds.load('{name}', "
            f"data_dir='DIR')\", then give data_dir = 'DIR' in [dataset].") from None
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


def _looks_offline(error) -> bool:
    """A failed download (no network, a refused or timed-out connection)."""
    names = {type(e).__name__ for e in _chain(error)}
    text = " ".join(str(e) for e in _chain(error)).lower()
    return bool(names & {"ConnectionError", "DownloadError", "Timeout", "ConnectTimeout",
                         "MaxRetryError", "NewConnectionError", "URLError", "gaierror"}) or any(
        word in text for word in ("failed to establish a new connection", "name or service not known",
                                  "temporary failure in name resolution", "network is unreachable"))


def _chain(error):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def load_tfds(name, data_dir=None, num_train=None, num_test=None, train_split="train",
              test_split="test", vocab_size=10000, sequence_length=200):
    """Any tensorflow_datasets dataset with supervised keys (``features`` and
    ``label``), as sequences: an image ``(rows, cols, channels)`` becomes
    ``rows`` steps of ``cols * channels`` values, a 1-D signal ``(time,)``
    ``time`` steps of one value, text token ids (``TextVectorization``
    adapted on the training text), and higher ranks keep their first axis as
    time. ``num_classes`` comes from the label feature."""
    ((x, y), (xt, yt)), info = _tfds_numpy(name, (train_split, test_split), data_dir,
                                           (num_train, num_test))
    first = x[0] if isinstance(x, list) else x[:1][0]
    if isinstance(first, (bytes, str)) or getattr(getattr(first, "dtype", None), "kind", "") in "OSU":
        vectorize, _ = _vectorizer(_texts(x), vocab_size, sequence_length)
        x, xt = (np.asarray(vectorize(_texts(rows)), "int32") for rows in (x, xt))
    else:
        x, xt = (_as_sequences(rows) for rows in (x, xt))
    label = info.features[info.supervised_keys[1]] if info.supervised_keys else None
    classes = getattr(label, "num_classes", None) or int(max(np.max(y), np.max(yt)) + 1)
    return ((x, np.asarray(y)), (xt, np.asarray(yt))), int(classes)


def _texts(rows):
    return [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in rows]


def _as_sequences(rows):
    """Examples as ``(time, features)`` float32 arrays (padded to the longest)."""
    rows = [np.asarray(r, "float32") for r in rows]
    steps = max(r.shape[0] for r in rows)
    feats = max(int(np.prod(r.shape[1:])) for r in rows) if rows[0].ndim > 1 else 1
    out = np.zeros((len(rows), steps, feats), "float32")
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r.reshape(r.shape[0], feats)
    scale = float(np.max(np.abs(out))) or 1.0
    return out / scale if scale > 255 / 2 else out


def load_npz(path):
    """Arrays from an ``.npz`` file: ``x_train, y_train, x_val, y_val``
    (``x_test, y_test`` are kept as ``dataset.test`` when present)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"[dataset] path: no file at '{path}'.")
    with np.load(path, allow_pickle=False) as arrays:
        missing = [k for k in ("x_train", "y_train", "x_val", "y_val") if k not in arrays]
        if missing:
            raise ValueError(f"[dataset] path: '{path}' lacks the arrays {missing}; it needs "
                             f"x_train, y_train, x_val, y_val (and optionally x_test, y_test). "
                             f"Found: {sorted(arrays.files)}.")
        loaded = {k: arrays[k] for k in arrays.files}
    return _arrays_dataset(path.stem, loaded)


def load_function(reference, **options):
    """The arrays a function returns: ``reference`` is ``"module:function"``;
    the function takes the other ``[dataset]`` keys as arguments and returns
    ``(x_train, y_train, x_val, y_val)``, a dict with those keys, or a
    :class:`Dataset`."""
    import importlib

    module_name, _, function_name = str(reference).partition(":")
    if not module_name or not function_name:
        raise ValueError(f"[dataset] loader must be 'module:function'. Received: {reference!r}")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"[dataset] loader: cannot import {reference!r}: {error}") from None
    loaded = function(**options)
    if isinstance(loaded, Dataset):
        return loaded
    if isinstance(loaded, (tuple, list)) and len(loaded) == 4:
        loaded = dict(zip(("x_train", "y_train", "x_val", "y_val"), loaded))
    if not isinstance(loaded, dict):
        raise ValueError(f"[dataset] loader {reference!r} must return (x_train, y_train, x_val, "
                         f"y_val), a dict with those keys or a Dataset. Received: "
                         f"{type(loaded).__name__}")
    return _arrays_dataset(function_name, loaded)


def _arrays_dataset(name, arrays):
    x, y = np.asarray(arrays["x_train"]), np.asarray(arrays["y_train"])
    task = infer_task(x, y)
    if task == "regression":
        outputs = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    else:
        outputs = int(max(np.max(y), np.max(arrays["y_val"])) + 1)
    vocab = int(max(np.max(x), np.max(arrays["x_val"])) + 1) if x.ndim == 2 and np.issubdtype(
        x.dtype, np.integer) else None
    dataset = Dataset(name, (x, y), (np.asarray(arrays["x_val"]), np.asarray(arrays["y_val"])),
                      outputs, vocab_size=vocab, task=task)
    if "x_test" in arrays and "y_test" in arrays:
        dataset.test = (np.asarray(arrays["x_test"]), np.asarray(arrays["y_test"]))
    return dataset


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
    ((x, y), (xt, yt)), info = _tfds_numpy("imdb_reviews", ("train", "test"), data_dir,
                                           (num_train, num_test))

    def text(rows):
        return [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in rows]

    tokens, _ = _vectorizer(text(x), vocab_size, sequence_length)
    return (tokens(text(x)), np.asarray(y, "int32")), (tokens(text(xt)), np.asarray(yt, "int32"))


def _vectorizer(texts, vocab_size, sequence_length=None):
    """A ``keras.layers.TextVectorization`` adapted on ``texts`` (0 =
    padding, 1 = out of vocabulary), returning token ids as numpy arrays
    (a list of arrays when ``sequence_length`` is None)."""
    import keras

    vectorize = keras.layers.TextVectorization(
        max_tokens=vocab_size, output_sequence_length=sequence_length,
        ragged=sequence_length is None)
    vectorize.adapt(texts)

    def tokens(batch):
        ids = vectorize(batch)
        if sequence_length is None:
            return [np.asarray(row, "int32") for row in ids.to_list()]
        return np.asarray(keras.ops.convert_to_numpy(ids), "int32")

    return tokens, vectorize.get_vocabulary()


def _split(n, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(n)
    cut = n - int(round(n * test_fraction))
    return order[:cut], order[cut:]


def load_review_snippets(vocab_size=8000, sequence_length=48, domain="movies",
                         test_fraction=0.2, seed=0, data_dir=None):
    """Sentence sentiment on a real corpus available offline: the ``vader``
    corpus (:mod:`keras_tensor_rnn.corpora`, fetched from PyPI with ``ktr
    data fetch``). Label 1 when the sentence's mean human rating is positive.
    ``domain="movies"``: 10,605 Rotten Tomatoes sentences (Pang & Lee's
    sentence-polarity text), 51% positive.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` with token ids of shape
        ``(samples, sequence_length)`` (0 = padding, 1 = out of vocabulary),
        split at random with ``seed``; the vocabulary is adapted on the
        training part only.
    """
    from keras_tensor_rnn import corpora

    sentences = corpora.vader_sentences(domain, data_dir)
    texts = np.asarray([t for t, _ in sentences], dtype=object)
    labels = np.asarray([score > 0 for _, score in sentences], "int32")
    train, test = _split(len(texts), test_fraction, seed)
    tokens, _ = _vectorizer(list(texts[train]), vocab_size, sequence_length)
    return ((tokens(list(texts[train])), labels[train]),
            (tokens(list(texts[test])), labels[test]))


def load_word_lm(corpus="vader", vocab_size=10000, sequence_length=35, test_fraction=0.1,
                 seed=0, num_sentences=None, data_dir=None):
    """A word-level language-modelling corpus as PTB-style (input, next
    word) windows.

    Sentences are lower-cased, stripped of punctuation, split on whitespace,
    joined into one stream with an end-of-sentence token, and cut into
    windows of ``sequence_length`` tokens; the targets are the same windows
    shifted by one word. Whole sentences (not windows) are split into train
    and test at random with ``seed``, and the vocabulary (the
    ``vocab_size - 1`` most frequent training words plus end-of-sentence;
    rarer words become id 1, out of vocabulary, as ``<unk>`` in PTB) is
    built on the training sentences.

    Args:
        corpus: ``"vader"``: the 23,699 sentences (408,803 words) of all four
            domains of the offline ``vader`` corpus (``ktr data fetch``);
            ``"lm1b"``: the One Billion Word news benchmark through tfds
            (networked; PTB itself is not in tfds); or a list of sentences.
        num_sentences: keep only this many sentences (None = all; for
            ``lm1b`` the first ones of its training split).

    Returns:
        ``(x_train, y_train), (x_test, y_test), vocabulary`` with int32
        arrays of shape ``(windows, sequence_length)``; ``vocabulary[i]`` is
        the word of id ``i`` (``vocabulary[-1] == "<eos>"``).
    """
    if isinstance(corpus, (list, tuple)):
        sentences = list(corpus)
    elif corpus == "vader":
        from keras_tensor_rnn import corpora

        sentences = [text for domain in corpora.VADER_DOMAINS
                     for text, _ in corpora.vader_sentences(domain, data_dir)]
    elif corpus == "lm1b":
        import tensorflow_datasets as tfds

        ds = tfds.load("lm1b", split="train", data_dir=data_dir)
        if num_sentences is not None:
            ds = ds.take(num_sentences)
        sentences = [row["text"].decode("utf-8", "replace") for row in tfds.as_numpy(ds)]
    else:
        raise ValueError(f"Unknown language-model corpus '{corpus}'. Valid: 'vader', 'lm1b', "
                         "or a list of sentences.")
    sentences = sentences[:num_sentences]
    if len(sentences) < 2:
        raise ValueError(f"A language-model corpus needs at least 2 sentences; got "
                         f"{len(sentences)}.")
    train, test = _split(len(sentences), test_fraction, seed)
    picked = [sentences[i] for i in train]
    tokens, vocabulary = _vectorizer(picked, vocab_size - 1)
    eos = len(vocabulary)

    def windows(indices):
        rows = tokens([sentences[i] for i in indices])
        stream = np.concatenate([np.append(row, eos) for row in rows]).astype("int32")
        count = (len(stream) - 1) // sequence_length
        if count < 1:
            raise ValueError(f"Too little text for one window of {sequence_length} tokens.")
        x = stream[: count * sequence_length].reshape(count, sequence_length)
        y = stream[1: count * sequence_length + 1].reshape(count, sequence_length)
        return x, y

    return windows(train), windows(test), [*map(str, vocabulary), "<eos>"]


UCF11_CLASSES = ("basketball", "biking", "diving", "golf_swing", "horse_riding", "soccer_juggling",
                 "swing", "tennis_swing", "trampoline_jumping", "volleyball_spiking",
                 "walking")
_VIDEO_SUFFIXES = (".mpg", ".mpeg", ".avi", ".mp4", ".mov", ".mkv")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _evenly_spaced(count, frames):
    """``frames`` indices spread evenly over ``range(count)``, ends included."""
    return np.linspace(0, count - 1, frames).round().astype(int)


def _clip_frames(clip: Path, frames: int, size):
    """``frames`` evenly spaced frames of a video file (decoded with
    OpenCV) or of a folder of frame images (decoded with Pillow), resized
    to ``size = (width, height)``, RGB in [0, 1]: ``(frames, height, width, 3)``."""
    if clip.is_dir():
        from PIL import Image

        paths = sorted(p for p in clip.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        images = [np.asarray(Image.open(paths[i]).convert("RGB").resize(size))
                  for i in _evenly_spaced(len(paths), frames)]
    else:
        try:
            import cv2
        except ImportError as error:
            raise ImportError(f"Decoding the video {clip} needs OpenCV: pip install "
                              "'keras-tensor-rnn[video]' (opencv-python-headless), or extract "
                              "frames to folders of images, one folder per clip.") from error
        video = cv2.VideoCapture(str(clip))
        decoded = []
        ok, frame = video.read()
        while ok:
            decoded.append(cv2.cvtColor(cv2.resize(frame, size), cv2.COLOR_BGR2RGB))
            ok, frame = video.read()
        video.release()
        if not decoded:
            raise ValueError(f"OpenCV could not decode any frame of {clip}.")
        images = [decoded[i] for i in _evenly_spaced(len(decoded), frames)]
    return np.stack(images).astype("float32") / 255.0


def load_ucf11(path, frames=6, size=(160, 120), test_fraction=0.2, seed=0, flatten=True):
    """UCF11 (YouTube Action) from a local copy, the setting of Ye et al.
    (2018): ``frames`` frames per clip at 160x120 RGB, i.e. 57,600 features
    per step. UCF11 cannot be downloaded by code (fetch ``UCF11_updated_mpg``
    yourself); tfds has no UCF11.

    Args:
        path: the dataset folder, ``<path>/<action>/<group>/<clip>``, where a
            clip is a video file (needs ``opencv-python-headless``) or a
            folder of frame images. Actions are the sub-folders (the 11 of
            :data:`UCF11_CLASSES` for the real data).
        frames: evenly spaced frames taken from each clip.
        size: ``(width, height)`` each frame is resized to.
        test_fraction: share of the *groups* (same actors and scenes) held
            out, so that no scene is in both splits.
        flatten: ``(clips, frames, height*width*3)`` when True, else
            ``(clips, frames, height, width, 3)``.

    Returns:
        ``(x_train, y_train), (x_test, y_test), class_names``.
    """
    root = Path(path)
    actions = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not actions:
        raise ValueError(f"No action folders in {root}: expected <path>/<action>/<group>/<clip>.")
    clips = []
    for label, action in enumerate(actions):
        for group in sorted(p for p in (root / action).iterdir() if p.is_dir()):
            for clip in sorted(group.iterdir()):
                if clip.is_dir() or clip.suffix.lower() in _VIDEO_SUFFIXES:
                    clips.append((clip, label, f"{action}/{group.name}"))
    if not clips:
        raise ValueError(f"No clips (videos or frame folders) under {root}/<action>/<group>/.")
    groups = sorted({g for _, _, g in clips})
    _, test_idx = _split(len(groups), test_fraction, seed)
    test_groups = {groups[i] for i in test_idx}

    def stack(selected):
        x = np.stack([_clip_frames(c, frames, tuple(size)) for c, _, _ in selected])
        if flatten:
            x = x.reshape(len(selected), frames, -1)
        return x, np.asarray([label for _, label, _ in selected], "int32")

    train = [c for c in clips if c[2] not in test_groups]
    test = [c for c in clips if c[2] in test_groups]
    return stack(train), stack(test), actions


def synthetic_ucf11(num_clips=480, frames=6, size=(160, 120), num_classes=11, seed=0,
                    flatten=True):
    """UCF11-shaped clips with a learnable action, for offline runs: the
    shape of :func:`load_ucf11` (``frames`` steps of ``160*120*3 = 57,600``
    features), not its content.

    Each clip is a textured background (smooth noise, a different scene per
    clip) with a 24x24 object that moves across the frames; the class is the
    direction of motion (``num_classes`` evenly spaced angles), so a model
    must compare frames (one frame alone says nothing about the class). The
    object's colour, start point, speed and the background are random.

    Returns:
        ``(x, y)``: float32 in [0, 1], ``(num_clips, frames, 57600)`` (or
        ``(num_clips, frames, height, width, 3)`` with ``flatten=False``),
        and int32 labels.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, num_clips).astype("int32")
    x = np.empty((num_clips, frames, height, width, 3), "float32")
    coarse = rng.random((num_clips, height // 8 + 1, width // 8 + 1, 3), dtype="float32")
    background = coarse.repeat(8, axis=1).repeat(8, axis=2)[:, :height, :width] * 0.5
    side = 24
    for i in range(num_clips):
        angle = 2 * np.pi * y[i] / num_classes
        speed = rng.uniform(6, 10)
        step = np.array([np.sin(angle), np.cos(angle)]) * speed
        start = np.array([height, width]) / 2 - step * (frames - 1) / 2
        start += rng.uniform(-12, 12, 2)
        colour = rng.uniform(0.6, 1.0, 3).astype("float32")
        for t in range(frames):
            top, left = np.clip((start + step * t).round().astype(int), 0,
                                [height - side, width - side])
            x[i, t] = background[i]
            x[i, t, top:top + side, left:left + side] = colour
    x += rng.normal(0, 0.03, x.shape).astype("float32")
    np.clip(x, 0, 1, out=x)
    if flatten:
        x = x.reshape(num_clips, frames, -1)
    return x, y


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
    "review_snippets": "load_review_snippets",
}
_CLASSES = {"mnist1d": 10, "mnist": 10, "imdb_reviews": 2, "review_snippets": 2}
_TOKENS = {"imdb_reviews", "review_snippets"}


def names() -> list[str]:
    """The named datasets (any tensorflow_datasets name works too)."""
    return sorted(_LOADERS)


def _in_tfds(name: str) -> bool:
    import tensorflow_datasets as tfds

    return name.split(":")[0].split("/")[0] in set(tfds.list_builders())


def load(name: str, **options) -> Dataset:
    """Load a named dataset (see :func:`names`) with loader ``options``.

    Raises:
        ValueError: for an unknown name (listing the valid ones) or options
            the loader does not take.
    """
    import inspect

    from keras_tensor_rnn import checks

    if name not in _LOADERS:
        if not _in_tfds(name):
            raise checks.unknown("dataset", name, names(),
                                 listing=", ".join(names()) + " (or any tensorflow_datasets name)")
        (train, val), classes = load_tfds(name, **options)
        return Dataset(name, train, val, classes)
    loader = globals()[_LOADERS[name]]
    accepted = inspect.signature(loader).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise checks.unknown("option(s)", unknown[0], accepted, shown=str(unknown),
                             where=f" for dataset '{name}'", noun="options")
    loaded = loader(**options)
    if name == "speech_commands":
        train, val, classes = loaded
    else:
        (train, val), classes = loaded, _CLASSES[name]
    vocab = None
    if name in _TOKENS:
        vocab = options.get("vocab_size",
                            inspect.signature(loader).parameters["vocab_size"].default)
    return Dataset(name, train, val, classes, vocab_size=vocab)
