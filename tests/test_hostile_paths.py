"""Hostile input, round two (issue #23), one class per failure class: writes through a link, a
run folder that drives work elsewhere, a user's files deleted or overwritten, refusals that
come after the output folder exists, and checks that look at too little or too much.

Every case runs in this process on scikit-learn's digits (one small run, pictures left out,
copied for each case), so the module takes seconds: a user error is one line on stderr and
exit 2 (``compare``: 1 for "differs"), with nothing written outside the folders given.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import tomllib
from conftest import in_process, no_pictures, refused

from mnist_bench.cli import main
from mnist_bench.core import atomic
from mnist_bench.core import vocabulary as words
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError

# raw x sklearn on the digits, k 9-10, seeds 0 and 1: a second or two
GRID = 'dataset = "digits"\nk = [9, 10]\nseeds = [0, 1]\nthreads = 1\n'
SMALL = GRID + "[extractors.raw]\n[backends.sklearn]\n"


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every path under ``folder`` with its content (a link: where it points)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[name] = path.read_bytes()
        else:
            found[name] = "folder"
    return found


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of :data:`SMALL` (``good/run``, cache ``good/cache``)."""
    folder = tmp_path_factory.mktemp("good")
    (folder / "grid.toml").write_text(SMALL)
    args = ["run", "--config", str(folder / "grid.toml"), "--out", str(folder / "run")]
    with no_pictures():
        assert main([*args, "--cache-dir", str(folder / "cache")]) == 0
    return folder / "run"


@pytest.fixture
def run(good: Path, tmp_path: Path) -> Path:
    """A copy of the good run, and a folder ``outside`` beside it."""
    (tmp_path / "outside").mkdir()
    return Path(shutil.copytree(good, tmp_path / "run", symlinks=True))


def _run_args(tmp_path: Path, out: Path, toml: str = SMALL) -> list[str]:
    (tmp_path / "grid.toml").write_text(toml)
    cache = tmp_path / "cache"
    return [
        "run",
        "--config",
        str(tmp_path / "grid.toml"),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]


class TestWritesThroughALink:
    """Class 1: every path the suite writes or deletes resolves inside its folder, links
    included; a link that leads outside is refused in one line and nothing is written there."""

    @pytest.mark.parametrize(
        "name",
        [
            words.DENDROGRAMS_DIR,
            words.LABELS_DIR,
            words.MONTAGES_DIR,
            words.HEATMAPS_DIR,
            words.MAPS_DIR,
        ],
    )
    def test_a_linked_subfolder_is_refused_by_run_and_report(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
    ) -> None:
        outside = tmp_path / "outside"
        shutil.rmtree(run / name, ignore_errors=True)
        (run / name).symlink_to(outside, target_is_directory=True)
        before = tree(run)
        for args in (["report", str(run)], _run_args(tmp_path, run)):
            line = refused(in_process(capsys, *args))
            assert "outside the output folder" in line, line
            assert list(outside.iterdir()) == []
            assert tree(run) == before

    @pytest.mark.parametrize("name", [words.RESULTS, words.REPORT, words.ENVIRONMENT, words.LOCK])
    def test_a_linked_file_is_refused(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
    ) -> None:
        target = tmp_path / "outside" / "theirs.txt"
        target.write_text("theirs")
        if (run / name).exists():
            shutil.copy(run / name, target)
        kept = target.read_bytes()
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(target)
        line = refused(in_process(capsys, "report", str(run)))
        assert "outside the output folder" in line
        assert target.read_bytes() == kept

    def test_a_linked_file_in_a_subfolder_is_refused_before_any_work(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        labels = run / words.labels_file("all", "raw", "sklearn", 10, 0)
        target = tmp_path / "outside" / "theirs.npz"
        shutil.move(labels, target)
        labels.symlink_to(target)
        kept = target.read_bytes()
        for args in (["report", str(run)], _run_args(tmp_path, run)):
            done = in_process(capsys, *args)
            assert "outside the output folder" in refused(done)
            assert "[1/" not in done.stderr  # refused before the first row
        assert target.read_bytes() == kept

    def test_a_users_own_link_is_left_alone(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (run / "data").symlink_to(tmp_path / "outside", target_is_directory=True)
        (run / "notes.txt").symlink_to(tmp_path / "outside" / "notes.txt")
        assert in_process(capsys, "report", str(run)).returncode == 0
        assert list((tmp_path / "outside").iterdir()) == []

    def test_a_linked_plot_is_refused_when_it_is_written(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        target = tmp_path / "outside" / "elbow.png"
        target.write_bytes(b"theirs")
        (run / words.elbow_file("all")).unlink(missing_ok=True)
        (run / words.elbow_file("all")).symlink_to(target)
        assert "outside the output folder" in refused(in_process(capsys, "report", str(run)))
        assert target.read_bytes() == b"theirs"

    def test_every_writer_and_remover_follows_the_rule(self, tmp_path: Path) -> None:
        folder, outside = tmp_path / "folder", tmp_path / "outside"
        outside.mkdir()
        (outside / "x.npz").write_bytes(b"theirs")
        folder.mkdir()
        (folder / "sub").symlink_to(outside, target_is_directory=True)
        (folder / "file.txt").symlink_to(outside / "x.npz")
        writes = [
            lambda p, f: atomic.write_text(p, "x", folder=f),
            lambda p, f: atomic.write_bytes(p, b"x", folder=f),
            lambda p, f: atomic.write_npz(p, folder=f, a=np.arange(3)),
            lambda p, f: atomic.remove(p, folder=f),
            lambda p, f: atomic.remove_tree(p, folder=f),
        ]
        for write in writes:
            for path in (folder / "sub" / "x.npz", folder / "sub" / "new" / "y.txt"):
                with pytest.raises(UserError, match="outside the folder"):
                    write(path, folder)
            with atomic.writing_in(folder), pytest.raises(UserError, match="output folder"):
                write(folder / "sub" / "x.npz", None)
        with pytest.raises(UserError, match="outside the folder"):
            atomic.write_text(folder / "file.txt", "x")  # its own folder by default
        assert tree(outside) == {"x.npz": b"theirs"}
        atomic.write_text(folder / "inside" / "ok.txt", "fine", folder=folder)
        assert (folder / "inside" / "ok.txt").read_text() == "fine"

    def test_the_cache_keeps_to_its_folder(self, tmp_path: Path) -> None:
        cache, outside = tmp_path / "cache", tmp_path / "outside"
        outside.mkdir()
        cache.mkdir()
        (cache / "features").symlink_to(outside, target_is_directory=True)
        with pytest.raises(UserError, match="outside"):
            Cache(cache).array_blocks("key", lambda: ([np.ones((2, 2))], 2, {}))
        assert list(outside.iterdir()) == []

    def test_export_and_compare_do_not_write_through_a_link(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "f.csv").write_text("theirs")
        (outside / "c.md").write_text("# mnist-bench compare\ntheirs")
        here = tmp_path / "here"  # the links' folder: outside is not in it
        here.mkdir()
        (here / "f.csv").symlink_to(outside / "f.csv")
        (here / "c.md").symlink_to(outside / "c.md")
        export = ["export", "--extractor", "raw", "--dataset", "digits"]
        export += ["--out", str(here / "f.csv"), "--cache-dir", str(good.parent / "cache")]
        assert "outside" in refused(in_process(capsys, *export))
        compare = ["compare", str(good), str(good), "--out", str(here / "c.md")]
        assert "outside" in refused(in_process(capsys, *compare))
        assert tree(outside) == {"f.csv": b"theirs", "c.md": b"# mnist-bench compare\ntheirs"}


class TestARunFolderIsUntrusted:
    """Class 2: what ``report`` reads from a run folder is checked, and ``report`` makes no
    data outside the folder and the cache it is given (a generated dataset is not made)."""

    @pytest.mark.parametrize(
        "config",
        [
            {"dataset": "../../etc", "limit": 10},
            {"dataset": "digits", "limit": -5},
            {"dataset": "digits", "limit": True},
            {"dataset": "digits", "limit": 10**15},
            {"dataset": ["digits"], "limit": None},
        ],
    )
    def test_environment_json_is_checked(
        self,
        run: Path,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
        config: dict,
    ) -> None:
        from mnist_bench.grid import environment

        env = json.loads((run / words.ENVIRONMENT).read_text())
        env["config"].update(config)
        (run / words.ENVIRONMENT).write_text(json.dumps(env))
        with caplog.at_level(logging.WARNING):
            assert environment.read(run / words.ENVIRONMENT) == {}
        assert "ignoring" in caplog.text and "config" in caplog.text
        assert in_process(capsys, "report", str(run)).returncode == 0

    def test_report_does_not_generate_a_dataset(
        self,
        run: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A crafted folder says it ran the generated ``scale`` dataset on a billion images:
        ``report`` reads it only from the cache it was given, and makes nothing."""
        from mnist_bench.reporting import maps, visuals

        default = tmp_path / "default-cache"
        monkeypatch.setenv("MNIST_BENCH_CACHE", str(default))
        frame = pd.read_csv(run / words.RESULTS)
        frame.assign(dataset="scale").to_csv(run / words.RESULTS, index=False)
        env = json.loads((run / words.ENVIRONMENT).read_text())
        env["config"].update(dataset="scale", limit=10**9)
        (run / words.ENVIRONMENT).write_text(json.dumps(env))
        shutil.rmtree(run / words.MONTAGES_DIR, ignore_errors=True)
        given = tmp_path / "given"
        with caplog.at_level(logging.WARNING):
            frame, cache = pd.read_csv(run / words.RESULTS), Cache(given)
            frame["eval_k"] = frame["eval_k"].astype(bool)
            assert visuals.ensure(run, frame, env, cache=cache) == {}
            assert maps.ensure(run, frame, env, cache=cache) == {}
            assert main(["report", str(run), "--cache-dir", str(given)]) == 0
        assert "not in the cache" in caplog.text
        assert not default.exists()
        assert not (given / "datasets").exists()

    def test_a_generated_dataset_is_only_read(self, tmp_path: Path) -> None:
        from mnist_bench.data import datasets

        with pytest.raises(UserError, match="not in the cache"):
            datasets.load("scale", 100, cache_dir=tmp_path / "c", generate=False)
        assert not (tmp_path / "c").exists()

    def test_a_damaged_linkage_file_is_a_warning(
        self, run: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        from mnist_bench.analyses.kselect.report import dendrogram_section

        path = run / words.linkage_file("all", "raw")
        with np.load(path) as npz:
            arrays = dict(npz)
        arrays["labels"] = np.full_like(arrays["labels"], 2**40, dtype=np.int64)
        atomic.write_npz(path, **arrays)
        (run / words.dendrogram_file("all", "raw")).unlink(missing_ok=True)
        with caplog.at_level(logging.WARNING):
            assert dendrogram_section(pd.read_csv(run / words.RESULTS), run) == []
        assert "is damaged: a label outside 0 .. 255" in caplog.text
        assert not (run / words.dendrogram_file("all", "raw")).exists()


class TestUserFilesAreKept:
    """Class 3: the clean-up removes only temporaries the suite made (one pattern), and
    ``compare --out`` overwrites nothing but an earlier comparison."""

    USERS: ClassVar[list[str]] = [
        ".notes.tmpl",
        "mine/.draft.tmp.md",
        "mine/.env.tmp",
        ".x.tmp",
        "labels/.y.tmp",
    ]

    def test_only_the_suites_temporaries_are_removed(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for name in self.USERS:
            (run / name).parent.mkdir(exist_ok=True)
            (run / name).write_text("mine")
        ours = []
        for sub in (".", words.LABELS_DIR, "mine"):
            prefix = atomic.temporary_prefix(run / sub / "results.csv")
            ours.append(run / sub / f"{prefix}ab12cd34.tmp")
            ours[-1].write_text("left by a killed writer")
        assert in_process(capsys, "report", str(run)).returncode == 0
        assert not any(path.exists() for path in ours)
        for name in self.USERS:
            assert (run / name).read_text() == "mine", name
        assert in_process(capsys, *_run_args(tmp_path, run)).returncode == 0
        for name in self.USERS:
            assert (run / name).read_text() == "mine", name

    def test_the_pattern(self, tmp_path: Path) -> None:
        made = []
        with atomic.atomic_path(tmp_path / "x.npz") as tmp:
            made.append(tmp.name)
        with atomic.atomic_path(tmp_path / ("f" * 254), suffix=".tmp.keras") as tmp:
            made.append(tmp.name)
        assert all(atomic.is_temporary(name) for name in made), made
        assert all(len(name.encode()) <= 255 for name in made)
        for name in [".notes.tmp", ".a.tmp", ".x.npz.12345.tmp", ".a.mnist-bench-x-12345678.tmp"]:
            assert not atomic.is_temporary(name), name

    def test_compare_out_overwrites_only_a_comparison(
        self, run: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        mine = tmp_path / "mine.md"
        mine.write_text("my notes")
        targets = [
            run / words.RESULTS,
            run / words.REPORT,
            run / words.ENVIRONMENT,
            run / words.labels_file("all", "raw", "sklearn", 10, 0),
            run / words.elbow_file("all"),
            run / "new-name.png",
            run,
            good,
            mine,
            tmp_path,
        ]
        before = tree(tmp_path)
        for target in targets:
            done = in_process(capsys, "compare", str(good), str(run), "--out", str(target))
            refused(done)
            assert done.stdout == "", target
        assert tree(tmp_path) == before
        diff = tmp_path / "diff.md"
        for _ in range(2):  # a new file, then the comparison it holds
            done = in_process(capsys, "compare", str(good), str(run), "--out", str(diff))
            assert done.returncode == 0, done.stderr
            assert diff.read_text() == done.stdout
        done = in_process(capsys, "compare", str(good), str(run), "--exact", "--out", str(diff))
        assert done.returncode == 0 and diff.read_text() == done.stdout

    def test_export_out_overwrites_only_an_export(
        self, run: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        mine = tmp_path / "mine.csv"
        mine.write_text("a,b\n1,2\n")
        export = ["export", "--extractor", "raw", "--dataset", "digits", "--limit", "100"]
        export += ["--cache-dir", str(good.parent / "cache"), "--out"]
        before = tree(tmp_path)
        for target in (run / words.RESULTS, run / words.labels_file("all", "x", "y", 1, 0), mine):
            refused(in_process(capsys, *export, str(target)))
        (tmp_path / "mine.npz").write_bytes(b"not an export")
        refused(in_process(capsys, *export, str(tmp_path / "mine.npz")))
        (tmp_path / "mine.npz").unlink()
        assert tree(tmp_path) == before
        for name in ("new.csv", "new.csv", "new.npz", "new.npz"):  # then over the export
            assert in_process(capsys, *export, str(tmp_path / name)).returncode == 0


class TestEveryCheckBeforeTheFolder:
    """Class 6: what can be refused is refused before ``--out`` exists (or, when it does, with
    nothing written in it): cells, duplicates, plug-in parameters that the library refuses."""

    CASES: ClassVar[dict[str, str]] = {
        "no cell": "[extractors.raw]\n[backends.sklearn]\n[backend_extractors]\nsklearn = ['hog']",
        "seed twice": "seeds = [3, 3]\n[extractors.raw]\n[backends.sklearn]\n",
        "split twice": "splits = ['test', 'test']\n[extractors.raw]\n[backends.sklearn]\n",
        "shared twice": (
            "[extractors.raw]\n[backends.sklearn]\n[backends.faiss]\n[shared_starts]\n"
            "extractors = ['raw']\nbackends = ['sklearn', 'faiss', 'sklearn']\n"
        ),
        "no hidden layer": "[extractors.autoencoder]\nhidden = []\n[backends.sklearn]\n",
        "init shape": "[extractors.raw]\n[backends.sklearn]\ninit = [[0.0, 1.0], [1.0, 0.0]]\n",
        "init text": "[extractors.raw]\n[backends.faiss]\ninit = [['a', 'b']]\n",
        "init, n_init": "[extractors.raw]\n[backends.sklearn]\nn_init = 3\ninit = INIT\n",
        "reg_covar 0": "[extractors.raw]\n[backends.gmm]\nreg_covar = 0.0\n",
        "cnn on 8x8": "[extractors.lenet]\n[backends.sklearn]\n",
        "umap neighbours": "limit = 40\n[extractors.umap]\nn_neighbors = 60\n[backends.sklearn]\n",
    }

    @pytest.mark.parametrize("case", list(CASES))
    def test_refused_before_the_folder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
    ) -> None:
        init = str([[0.5] * 64] * 10)
        toml = GRID.replace("k = [9, 10]", "k = [10]") + self.CASES[case].replace("INIT", init)
        if case == "seed twice":
            toml = toml.replace("seeds = [0, 1]\n", "")
        out = tmp_path / "deep" / "out"
        refused(in_process(capsys, *_run_args(tmp_path, out, toml)))
        assert not (tmp_path / "deep").exists()
        # into an existing folder: nothing written in it
        out.mkdir(parents=True)
        (out / "mine.txt").write_text("mine")
        refused(in_process(capsys, *_run_args(tmp_path, out, toml)))
        assert tree(out) == {"mine.txt": b"mine"}

    def test_duplicate_seeds_on_the_command_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = [*_run_args(tmp_path, tmp_path / "out"), "--seeds", "1,1"]
        assert "--seeds" in refused(in_process(capsys, *args))
        assert not (tmp_path / "out").exists()


class TestCheckedJustEnough:
    """Class 7: a boolean is not a width, a size is checked against the real number of images
    (not the preflight's sample), and a labels file out of range is damaged, not a lack of
    memory."""

    @pytest.mark.parametrize("hidden", ["[true]", "[64, false]", "[1.5]", "[0]", "['a']"])
    def test_hidden_widths_are_integers(self, hidden: str) -> None:
        from mnist_bench.grid import config

        text = f"{GRID}[extractors.autoencoder]\nhidden = {hidden}\n[backends.sklearn]\n"
        with pytest.raises(UserError, match="hidden"):
            config.from_mapping(tomllib.loads(text))

    def test_sizes_are_checked_against_every_image(self, tmp_path: Path) -> None:
        from mnist_bench.grid import config
        from mnist_bench.grid.checks import PREFLIGHT_IMAGES, prepare

        n = PREFLIGHT_IMAGES + 44
        grid = {"dataset": "mnist", "limit": n, "k": [10], "backends": {"sklearn": {}}}
        cfg = config.from_mapping({**grid, "extractors": {"pca": {"n_components": n - 40}}})
        prepare(cfg, Cache(tmp_path / "c"))  # more components than the sample, fewer than n
        cfg = config.from_mapping({**grid, "extractors": {"pca": {"n_components": n + 1}}})
        with pytest.raises(UserError, match=f"min\\(n_samples, n_features\\) = {n}"):
            prepare(cfg, Cache(tmp_path / "c"))
        assert not (tmp_path / "c").exists()  # the checks write nothing

    def test_a_labels_file_with_clusters_far_above_k_is_damaged(
        self,
        run: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        from mnist_bench.grid.record import labels_ok
        from mnist_bench.reporting import visuals

        path = run / words.labels_file("all", "raw", "sklearn", 10, 0)
        with np.load(path) as npz:
            index, labels = npz["index"], npz["labels"].astype(np.int64)
        labels[0] = 2**31 - 1
        atomic.write_npz(path, index=index, labels=labels)
        shutil.rmtree(run / words.MONTAGES_DIR, ignore_errors=True)
        frame = pd.read_csv(run / words.RESULTS)
        frame["eval_k"] = frame["eval_k"].astype(bool)
        with caplog.at_level(logging.WARNING):
            assert visuals.ensure(run, frame, {}) == {}
            assert main(["report", str(run)]) == 0
        assert f"{path.name} is damaged: cluster {2**31 - 1} where results.csv has k = 10" in (
            caplog.text
        )
        assert "out of memory" not in caplog.text + capsys.readouterr().err
        assert not labels_ok(path, index, 10) and labels_ok(path, index)
