"""Offline corpora and the loaders of the paper-reproduction examples:
the ``vader`` corpus read from its (here: faked, same layout) PyPI source
distribution, sentiment and language-model splits, UCF11 from folders and
the synthetic UCF11-shaped clips."""

import numpy as np
import pytest
from conftest import write_fake_vader

from keras_tensor_rnn import cli, corpora, datasets

pytestmark = pytest.mark.tf_only


def test_vader_sentences_parse_every_domain(fake_vader):
    for domain in corpora.VADER_DOMAINS:
        sentences = corpora.vader_sentences(domain)
        assert len(sentences) == 300
        text, score = sentences[0]
        assert isinstance(text, str) and text.endswith(".") and -4 <= score <= 4
        assert "\r" not in text


def test_vader_errors_say_what_to_do(tmp_path, monkeypatch, fake_vader):
    with pytest.raises(ValueError, match="Valid domains: movies, editorials, products, tweets"):
        corpora.vader_sentences("books")
    monkeypatch.setenv("KTR_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="ktr data fetch"):
        corpora.vader_sentences("movies")


def test_fetch_checks_the_file(tmp_path, capsys):
    # A file of the right name but other content is refused, not used.
    write_fake_vader(tmp_path)
    with pytest.raises(RuntimeError, match="SHA-256"):
        corpora.fetch(tmp_path)
    assert cli.main(["data", "fetch", "--directory", str(tmp_path)]) == 1
    assert "SHA-256" in capsys.readouterr().err


def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.delenv("KTR_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert corpora.data_dir() == tmp_path / "kh" / "datasets" / "keras_tensor_rnn"
    monkeypatch.setenv("KTR_DATA", str(tmp_path / "d"))
    assert corpora.data_dir() == tmp_path / "d"
    assert corpora.data_dir(tmp_path / "x") == tmp_path / "x"


def test_review_snippets_split_and_labels(fake_vader):
    (x, y), (xt, yt) = datasets.load_review_snippets(vocab_size=50, sequence_length=16,
                                                     test_fraction=0.2, seed=1)
    assert x.shape == (240, 16) and xt.shape == (60, 16) and x.dtype == np.int32
    assert set(np.unique(np.concatenate([y, yt]))) == {0, 1}
    assert x.max() < 50 and (x[:, 0] > 0).all()
    # Labels follow the ratings: the positive words' ids only occur in label-1 rows.
    sentences = corpora.vader_sentences("movies")
    assert np.mean([s > 0 for _, s in sentences]) == pytest.approx(
        np.concatenate([y, yt]).mean())
    again = datasets.load_review_snippets(vocab_size=50, sequence_length=16, seed=1)
    np.testing.assert_array_equal(again[0][0], x)


def test_word_lm_windows_are_shifted_by_one(fake_vader):
    # 20 distinct words in the fake corpus: a vocabulary of 10 maps the
    # rarest to id 1 (out of vocabulary).
    (x, y), (xt, yt), vocabulary = datasets.load_word_lm("vader", vocab_size=10,
                                                         sequence_length=7)
    assert x.shape[1] == 7 and x.shape == y.shape and xt.shape == yt.shape
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x[1:, 0], y[:-1, -1])
    assert len(vocabulary) == 10 and vocabulary[-1] == "<eos>" and vocabulary[:2] == ["", "[UNK]"]
    eos = len(vocabulary) - 1
    assert (x == eos).sum() > 0 and x.max() == eos and x.min() == 1
    assert all(isinstance(word, str) for word in vocabulary)


def test_word_lm_from_a_list_and_bad_input():
    sentences = [f"word{i % 5} and word{i % 3} ." for i in range(40)]
    (x, y), (xt, yt), vocabulary = datasets.load_word_lm(sentences, vocab_size=100,
                                                         sequence_length=5, test_fraction=0.25)
    assert "word1" in vocabulary and len(vocabulary) <= 100
    assert xt.shape[0] > 0
    with pytest.raises(ValueError, match="Valid: 'vader', 'lm1b'"):
        datasets.load_word_lm("ptb")
    with pytest.raises(ValueError, match="at least 2 sentences"):
        datasets.load_word_lm(["one"])


def test_synthetic_ucf11_shape_and_content():
    x, y = datasets.synthetic_ucf11(24, seed=3)
    assert x.shape == (24, 6, 57600) and x.dtype == np.float32 and y.dtype == np.int32
    assert 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(datasets.synthetic_ucf11(24, seed=3)[0], x)
    # The class is the direction of motion: the object's centre (the pixels
    # that differ from the clip's median frame) moves along the class angle.
    frames, labels = datasets.synthetic_ucf11(22, seed=0, flatten=False)
    assert frames.shape == (22, 6, 120, 160, 3)
    for clip, label in zip(frames, labels):
        moving = np.abs(clip - np.median(clip, axis=0)).sum(-1) > 0.5
        centres = np.array([np.argwhere(m).mean(0) for m in moving])
        step = (centres[-1] - centres[0]) / 5
        angle = 2 * np.pi * label / 11
        assert np.dot(step / np.linalg.norm(step), [np.sin(angle), np.cos(angle)]) > 0.9


def test_load_ucf11_from_frame_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for action in ("biking", "diving"):
        for group in range(1, 6):
            clip = tmp_path / action / f"v_{action}_{group:02d}" / f"v_{action}_{group:02d}_01"
            clip.mkdir(parents=True)
            for t in range(9):
                pixels = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(clip / f"{t:03d}.png")
    (x, y), (xt, yt), classes = datasets.load_ucf11(tmp_path, frames=3, size=(16, 12),
                                                    test_fraction=0.2)
    assert classes == ["biking", "diving"]
    assert x.shape == (8, 3, 16 * 12 * 3) and xt.shape == (2, 3, 576)
    assert 0 <= x.min() and x.max() <= 1 and set(y) == {0, 1}
    with pytest.raises(ValueError, match="No action folders"):
        datasets.load_ucf11(tmp_path / "missing")


def test_review_snippets_is_a_named_dataset(fake_vader):
    data = datasets.load("review_snippets", vocab_size=40, sequence_length=12)
    assert data.input_shape == (12,) and data.num_classes == 2 and data.vocab_size == 40
    assert data.x_train.shape[0] == 240
    assert datasets.load("review_snippets").vocab_size == 8000  # the loader's default
    assert "review_snippets" in datasets.names()


def test_a_dataset_says_classes_or_outputs_by_its_task():
    from keras_tensor_rnn.datasets import Dataset

    x = np.zeros((4, 3, 2), "float32")
    regression = Dataset("r", (x, np.zeros(4, "float32")), (x, np.zeros(4, "float32")), 1)
    classes = Dataset("c", (x, np.arange(4) % 3), (x, np.arange(4) % 3), 3)
    assert str(regression).endswith("1 output(s)>") and str(classes).endswith("3 classes>")
