"""The CNN extractors ``lenet`` and ``convnet`` on tiny data: one epoch on ~2,100 MNIST images.

Covers the import contract (TensorFlow loads only when a CNN runs), parameters, determinism,
the model cache (hit, shared by layer choices, corrupt file), layer shapes, the score and the
plumbing through the runner. Trainings are shared through one module-scoped model cache, which
LeNet is trained into first (:func:`shared`): the tests that need a trained model load it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_bench import features
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.data.datasets import Dataset, load
from mnist_bench.features.keras_cnn import KerasCNN, to_input
from mnist_bench.grid.extraction import extract

ROOT = Path(__file__).resolve().parents[1]
TINY = {"epochs": 1, "batch_size": 128, "seed": 0}
DIMS = {
    ("lenet", "logits"): 10,
    ("lenet", "dense"): 500,
    ("convnet", "dense"): 128,
    ("convnet", "logits"): 10,
}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load("mnist", limit=2500)  # 2,125 training images, 375 test images


@pytest.fixture(scope="module")
def shared(ds: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Cache, KerasCNN]:
    """A new model cache, and LeNet at :data:`TINY` trained into it: the module's first
    training, before any other test can put a model in that cache."""
    cache = Cache(tmp_path_factory.mktemp("cnn-cache"))
    return cache, fit("lenet", ds, cache)


@pytest.fixture(scope="module")
def shared_cache(shared: tuple[Cache, KerasCNN]) -> Cache:
    return shared[0]


def fit(name: str, ds: Dataset, cache: Cache | None, **params: object) -> KerasCNN:
    extractor = features.make(name, **{**TINY, **params})
    assert isinstance(extractor, KerasCNN)
    return extractor.fit(ds.images[ds.is_train], ds.labels[ds.is_train], cache=cache)


def _no_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("trained although the model is in the cache")


# -- without TensorFlow -----------------------------------------------------------------------


def test_importing_and_listing_do_not_load_tensorflow() -> None:
    code = (
        "import sys, mnist_bench.cli\n"
        "from mnist_bench import features\n"
        "import mnist_bench.features.lenet, mnist_bench.features.convnet\n"
        "import mnist_bench.features.keras_cnn\n"
        "features.make('lenet').get_params(); features.make('convnet').get_params()\n"
        "assert mnist_bench.cli.main(['list']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print('LOADED', loaded)\n"
    )
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout
    assert "lenet" in out.stdout and "convnet" in out.stdout
    # The console script as a user runs it: -X importtime lists every module imported.
    command = [sys.executable, "-X", "importtime", "-m", "mnist_bench", "list"]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| mnist_bench.features.lenet" not in out.stderr  # the registry is lazy
    assert "tensorflow" not in out.stderr and "keras" not in out.stderr
    assert "convnet" in out.stdout


def test_parameters_and_class_facts() -> None:
    lenet, convnet = features.make("lenet"), features.make("convnet")
    assert lenet.get_params() == {
        "layer": "logits",
        "epochs": 1,
        "batch_size": 128,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "seed": 0,
        "threads": 0,
    }
    assert convnet.get_params()["layer"] == "dense"
    for extractor in (lenet, convnet):
        assert extractor.supervised is True
        assert {"tensorflow", "keras", "numpy"} <= set(extractor.requires)
    with pytest.raises(UserError, match="bad parameters for extractor 'lenet'"):
        features.make("lenet", dropout=0.5)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"layer": "pool1"}, r"'layer' parameter of LeNet must be a str among .*'logits'"),
        ({"optimizer": "rmsprop"}, r"'optimizer' parameter of LeNet must be a str among"),
        ({"epochs": 0}, r"'epochs' parameter of LeNet must be an int in the range \[1, inf\)"),
        ({"threads": -1}, r"'threads' parameter of LeNet must be an int in the range \[0, inf\)"),
        ({"learning_rate": -0.1}, r"'learning_rate' parameter of LeNet"),
    ],
)
def test_bad_parameters_fail_before_training(ds: Dataset, params: dict, message: str) -> None:
    extractor = features.make("lenet", **params)  # __init__ only stores them
    with pytest.raises(ValueError, match=message):
        extractor.fit(ds.images[:10], ds.labels[:10])


def test_bad_data_fails_before_training(ds: Dataset) -> None:
    with pytest.raises(ValueError, match="needs labels"):
        features.make("lenet").fit(ds.images[:10])
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        features.make("lenet").fit(ds.images[:10], ds.labels[:9])
    with pytest.raises(ValueError, match=r"lenet takes 28x28 images .* got 14x14"):
        features.make("lenet").fit(ds.images[:10, :14, :14], ds.labels[:10])
    with pytest.raises(ValueError, match="NaN"):
        features.make("convnet").fit(np.full((2, 784), np.nan), [0, 1])


def test_clone_and_set_params_keep_only_parameters(ds: Dataset) -> None:
    from sklearn.base import clone

    lenet = features.make("lenet", epochs=2).set_params(layer="dense")
    copy = clone(lenet)
    assert copy.get_params() == lenet.get_params() and copy.get_params()["layer"] == "dense"
    assert not hasattr(copy, "model_")


# -- with TensorFlow (tiny trainings) ---------------------------------------------------------


def test_two_fresh_trainings_are_identical(
    ds: Dataset, shared: tuple[Cache, KerasCNN], capfd: pytest.CaptureFixture
) -> None:
    # the first: trained into the shared cache (nothing there to load); the second without one
    first, second = shared[1], fit("lenet", ds, None)
    assert first.from_cache_ is False and second.from_cache_ is False
    for a, b in zip(first.model_.get_weights(), second.model_.get_weights(), strict=True):
        assert np.array_equal(a, b)
    X1, X2 = first.transform(ds.images), second.transform(ds.images)
    assert X1.dtype == np.float32 and X1.shape == (len(ds), 10)
    assert np.array_equal(X1, X2)
    err = capfd.readouterr().err
    assert "lenet: training on 2,125 images" in err
    assert "lenet epoch 1/1: loss" in err and "accuracy" in err


def test_model_cache_hit_shares_the_model_across_layers(
    ds: Dataset, shared: tuple[Cache, KerasCNN], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_cache, trained = shared  # trained into the cache, which held no model
    assert trained.from_cache_ is False
    assert trained.model_path_ is not None and trained.model_path_.suffix == ".keras"
    assert trained.model_path_.parent == shared_cache.root / "models"
    assert trained.model_path_.is_file()
    assert not list(trained.model_path_.parent.glob(".*.tmp*"))  # no temporaries left
    X = trained.transform(ds.images)

    monkeypatch.setattr(KerasCNN, "_train", _no_training)
    loaded = fit("lenet", ds, shared_cache)
    assert loaded.from_cache_ is True and loaded.model_path_ == trained.model_path_
    assert np.array_equal(loaded.transform(ds.images), X)
    dense = fit("lenet", ds, shared_cache, layer="dense")  # `layer` is not part of the key
    assert dense.from_cache_ is True and dense.transform(ds.images[:7]).shape == (7, 500)
    # other training data or parameters are another model
    with pytest.raises(AssertionError, match="trained although"):
        fit("lenet", ds, shared_cache, batch_size=64)
    subset = features.make("lenet", **TINY)
    with pytest.raises(AssertionError, match="trained although"):
        subset.fit(ds.images[ds.is_train][:-1], ds.labels[ds.is_train][:-1], cache=shared_cache)


def test_corrupt_model_file_is_discarded_and_retrained(
    ds: Dataset, shared_cache: Cache, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(shutil.copytree(shared_cache.root, tmp_path / "cache"))  # holds the model
    first = fit("lenet", ds, cache)
    assert first.from_cache_ is True and first.model_path_ is not None
    assert first.model_path_.parent == cache.root / "models"
    X = first.transform(ds.images)
    first.model_path_.write_bytes(b"not a keras archive")
    with caplog.at_level(logging.WARNING):
        again = fit("lenet", ds, cache)
    assert again.from_cache_ is False
    assert "discarding corrupt model file" in caplog.text
    assert np.array_equal(again.transform(ds.images), X)  # retrained deterministically
    assert fit("lenet", ds, cache).from_cache_ is True  # and saved again


@pytest.mark.parametrize(("name", "layer"), list(DIMS))
def test_layer_shapes_and_logits_precede_the_softmax(
    ds: Dataset, shared_cache: Cache, name: str, layer: str
) -> None:
    extractor = fit(name, ds, shared_cache, layer=layer)
    X = extractor.transform(ds.images[:300])
    assert X.shape == (300, DIMS[name, layer]) and X.dtype == np.float32
    assert np.isfinite(X).all()
    if layer == "dense":
        assert (X >= 0).all()  # a ReLU output
    else:
        probabilities = np.asarray(extractor.model_(to_input(ds.images[:300])))
        softmax = np.exp(X - X.max(axis=1, keepdims=True))
        softmax /= softmax.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(softmax, probabilities, atol=1e-5)
    # flat rows [n, 784] are the same images; no images is an error, as in scikit-learn
    rows = ds.images[:300].reshape(300, -1)
    np.testing.assert_array_equal(extractor.transform(rows), X)
    with pytest.raises(ValueError, match="0 sample"):
        extractor.transform(ds.images[:0])


def test_fit_transform_passes_the_cache_and_equals_fit_then_transform(
    ds: Dataset, shared_cache: Cache
) -> None:
    from sklearn.base import clone

    train_images, train_labels = ds.images[ds.is_train], ds.labels[ds.is_train]
    extractor = features.make("lenet", **TINY)
    X = extractor.fit_transform(train_images, train_labels, cache=shared_cache)
    assert X.dtype == np.float32 and X.shape == (len(train_images), 10)
    assert extractor.model_path_ is not None and extractor.model_path_.is_file()
    again = clone(extractor).fit(train_images, train_labels, cache=shared_cache)
    assert again.from_cache_ is True
    np.testing.assert_array_equal(again.transform(train_images), X)


@pytest.mark.parametrize("name", ["lenet", "convnet"])
def test_score_is_a_plausible_accuracy(ds: Dataset, shared_cache: Cache, name: str) -> None:
    extractor = fit(name, ds, shared_cache)
    test_images, test_labels = ds.images[~ds.is_train], ds.labels[~ds.is_train]
    accuracy = extractor.score(test_images, test_labels)
    assert 0.6 < accuracy <= 1.0  # one epoch on 2,125 images: about 0.86
    logits = features.make(name, **TINY, layer="logits").fit(
        ds.images[ds.is_train], ds.labels[ds.is_train], cache=shared_cache
    )
    predicted = logits.transform(test_images).argmax(axis=1)
    assert accuracy == pytest.approx(np.mean(predicted == test_labels))


def test_runner_extract_trains_on_the_training_split_only(
    ds: Dataset, shared_cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    original = KerasCNN.fit

    def spy(self: KerasCNN, images: np.ndarray, labels: object = None, *, cache: object = None):
        seen.append(len(images))
        return original(self, images, labels, cache=cache)

    monkeypatch.setattr(KerasCNN, "fit", spy)
    feats = extract(ds, [("lenet", dict(TINY))], shared_cache)
    assert seen == [int(ds.is_train.sum())]
    assert feats.supervised is True and feats.X.shape == (len(ds), 10)
    assert 0.6 < feats.meta["test_acc"] <= 1.0 and feats.meta["fit_s"] > 0
    again = extract(ds, [("lenet", dict(TINY))], shared_cache)
    assert again.cached is True and np.array_equal(again.X, feats.X)
    assert seen == [int(ds.is_train.sum())]  # the features cache answered


@pytest.mark.slow
def test_cli_run_reports_both_splits_and_the_test_accuracy(tmp_path: Path, cli) -> None:
    config = tmp_path / "cnn.toml"
    config.write_text(
        'dataset = "mnist"\nlimit = 2500\nk = "10"\neval_k = 10\nseeds = [0]\n'
        "[features.lenet]\nepochs = 1\n[features.convnet]\nepochs = 1\n[backends.sklearn]\n"
    )
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stderr
    import pandas as pd

    rows = pd.read_csv(out / "results.csv")
    assert sorted(set(zip(rows.extractor, rows.split, strict=True))) == [
        ("convnet", "all"),
        ("convnet", "test"),
        ("lenet", "all"),
        ("lenet", "test"),
    ]
    assert rows.supervised.all() and rows.extractor_test_acc.between(0.6, 1).all()
    assert (rows[rows.split == "test"].n_samples == 375).all()
    assert (rows.purity > 0.5).all()
    again = cli(*args[:-4], "--out", str(tmp_path / "out2"), "--cache-dir", str(tmp_path / "c"))
    assert again.returncode == 0, again.stderr
    assert "training on" not in again.stderr
    rows2 = pd.read_csv(tmp_path / "out2" / "results.csv")
    metrics = ["purity", "macro_purity", "acc", "nmi", "ari", "wcss"]
    pd.testing.assert_frame_equal(rows[metrics], rows2[metrics])
