"""Grid configs: TOML files, CLI overrides and the checks made before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_bench.core.errors import UserError
from mnist_bench.grid import config


def test_default_config_is_the_documented_grid() -> None:
    cfg = config.load()
    assert cfg.dataset == "mnist" and cfg.limit is None
    assert {"raw", "hog"} <= set(cfg.extractors)
    assert {"sklearn", "faiss"} <= set(cfg.backends)
    assert cfg.k == list(range(1, 15))
    assert cfg.eval_k == 10
    assert cfg.seeds == [0, 1, 2]


def test_smoke_config_is_small() -> None:
    cfg = config.load(config.CONFIG_DIR / "smoke.toml")
    assert cfg.limit is not None and cfg.limit <= 5000


GRIDS = sorted(p for p in config.CONFIG_DIR.glob("*.toml") if p.name != "scale.toml")  # a study


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    cfg = config.load(path)
    assert cfg.extractors and cfg.backends and cfg.seeds
    for name in cfg.extractors:
        assert cfg.steps(name)  # every chain's steps resolve to extractors


def test_the_label_free_config_shares_the_default_grids_cache_entries() -> None:
    """Its extractors with the default grid's names have the default grid's parameters, so
    they share cache entries (and the label-free config adds PCA -> UMAP)."""
    default, label_free = config.load(), config.load(config.CONFIG_DIR / "label-free.toml")
    assert "pca-umap" in label_free.extractors and "pca-umap" not in default.extractors
    for name in set(default.extractors) & set(label_free.extractors):
        assert label_free.steps(name) == default.steps(name)


def test_overrides_win_and_keep_file_parameters() -> None:
    cfg = config.load(overrides={"extractors": ["hog"], "k": [1, 2, 3], "seeds": [4]})
    assert list(cfg.extractors) == ["hog"]
    assert cfg.extractors["hog"]["orientations"] == 9  # from default.toml
    assert cfg.k == [1, 2, 3]
    assert cfg.eval_k == 3  # default eval_k 10 is outside 1-3: the largest k is used
    assert cfg.seeds == [4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1-4", [1, 2, 3, 4]), ("10", [10]), ("2,5,10", [2, 5, 10]), ("1-2,7", [1, 2, 7])],
)
def test_parse_ks(text: str, expected: list[int]) -> None:
    assert config.parse_ks(text) == expected
    assert config.parse_ks(config.format_ks(expected)) == expected


@pytest.mark.parametrize("text", ["a", "5-2", "1-", "1.5"])
def test_bad_k(text: str) -> None:
    with pytest.raises(UserError, match="bad k value"):
        config.parse_ks(text)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown config key 'seed' .*did you mean 'seeds'"):
        config.load(_write(tmp_path, "seed = [0]\n"))


def test_malformed_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"malformed TOML in .*grid.toml.*line 2"):
        config.load(_write(tmp_path, 'dataset = "mnist"\nk = = 3\nseeds = [0]\n'))


def test_missing_file() -> None:
    with pytest.raises(UserError, match="config file not found"):
        config.load("nowhere.toml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"k": [0, 1]}, r"--k \(at 0\): Input should be greater than or equal to 1, got 0"),
        ({"k": [1, 2], "eval_k": 5}, "eval_k 5 is outside the k range 1-2"),
        ({"extractors": ["nope"]}, "unknown extractor 'nope'.*known: .*hog.*raw"),
        ({"backends": ["sklern"]}, "did you mean 'sklearn'"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"limit": -3}, "--limit: Input should be greater than or equal to 1, got -3"),
        ({"threads": -1}, "--threads: Input should be greater than or equal to 0, got -1"),
        ({"seeds": [2**32]}, r"--seeds \(at 0\): Input should be less than or equal to 2147483647"),
    ],
)
def test_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        config.load(overrides=overrides)


def test_bad_plugin_parameter(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="bad parameters for extractor 'hog'"):
        config.load(_write(tmp_path, "[features.hog]\norientation = 9\n"))
    with pytest.raises(UserError, match="set by the grid"):
        config.load(_write(tmp_path, "[backends.sklearn]\nseed = 3\n"))


def test_hash_changes_with_what_matters() -> None:
    a = config.load(overrides={"seeds": [0]})
    assert a.hash() == config.load(overrides={"seeds": [0]}).hash()
    assert a.hash() != config.load(overrides={"seeds": [1]}).hash()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the values are checked for their type, not coerced
        ("threads = true", "config key 'threads' in .*: Input should be a valid integer, got True"),
        ("eval_k = true", "config key 'eval_k' .*valid integer, got True"),
        ('holdout_split = "no"', "config key 'holdout_split' .*valid boolean, got 'no'"),
        ("splits = []", "config key 'splits' .*at least 1 item"),
        ('splits = ["all", "../x"]', r"config key 'splits' .*\(at 1\).*unknown split '../x'"),
        ("dataset = 3", "config key 'dataset' .*valid string, got 3"),
        ("seeds = [1.5]", "config key 'seeds' .*valid integer, got 1.5"),
        ("k = [true]", "config key 'k' .*valid integer, got True"),
        ('k = "1-100000000000"', "k = 100000000000 is too large: k may be at most 10,000"),
        ("limit = -1", "config key 'limit' .*greater than or equal to 1"),
        ("sweep_all_seeds = 1", "config key 'sweep_all_seeds' .*valid boolean, got 1"),
        ("backends = 3", "config key 'backends' .*valid dictionary"),
        ("[extractors.'../x']", "config key 'extractors' .*not allowed as a name"),
        ("[backend_extractors]\ngmm = 'umap'", "config key 'backend_extractors' .*valid list"),
        # plug-in parameters, checked against the plug-in's own constraints before any work
        ("[extractors.hog]\nblock_norm = 'L3'", "extractor 'hog': The 'block_norm' parameter"),
        ("[extractors.hog]\npixels_per_cell = 0", "extractor 'hog': The 'pixels_per_cell'"),
        ("[backends.sklearn]\nalgorithm = 'bogus'", "backend 'sklearn': The 'algorithm'"),
        ("[backends.sklearn]\nmax_iter = 0", "backend 'sklearn': The 'max_iter' parameter"),
        ("[backends.faiss]\nniter = -1", "backend 'faiss': The 'niter' parameter"),
        ("[backends.gmm]\ncovariance_type = 'round'", "backend 'gmm': The 'covariance_type'"),
    ],
)
def test_the_file_is_checked_before_any_work(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        config.load(_write(tmp_path, text + "\n"))
    assert "\n" not in str(info.value)


def test_a_seed_beyond_a_backends_bound_is_refused_at_load() -> None:
    with pytest.raises(UserError, match="--seeds"):
        config.load(overrides={"seeds": [4294967296]})
