"""Hostile input, round two (issue #23), classes 4 and 5, one test class per failure class:

- silent wrong numbers (integrity): a generated dataset or a resume-journal row that changed
  after it was written is set aside with one warning and computed again, never used;
- the world around a run fails: an operating-system error (a name too long, a file where a
  folder belongs or the reverse, a link loop, a read-only or full disk, the file-size limit), a
  resource limit (a small address space, even while the libraries load), input nested beyond
  the recursion limit, numbers beyond 64 bits, a results.csv with columns named like
  compare's own, a dask scheduler nobody answers, an outside plug-in that raises or returns
  what the grid cannot use. Each is one line (exit 2) naming the path, the limit or the
  plug-in, the suite's temporaries cleaned; a bug of the suite keeps its traceback.

Most cases run in this process on scikit-learn's digits (one small run, pictures left out,
copied for each case); the resource limits run the CLI in a subprocess under ``preexec_fn``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, in_process, no_pictures, refused

from mnist_bench import clustering, features
from mnist_bench.cli import main
from mnist_bench.clustering.base import BaseBackend
from mnist_bench.core import atomic, failures
from mnist_bench.core import vocabulary as words
from mnist_bench.features.base import BaseExtractor
from mnist_bench.grid.journal import CHECKSUM, Journal, sealed

SMALL = ["--dataset", "digits", "--extractors", "raw", "--backends", "sklearn", "--k", "2-3"]
SMALL += ["--seeds", "0"]
#: The distribution the misbehaving plug-ins below claim to come from.
DIST = "mnist-bench-hostile"


def in_subprocess(
    *args: str, limit: tuple[int, int] | None = None, code: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``mnist-bench ARGS`` (or ``python -c CODE``) in a subprocess, under resource ``limit``
    (``(RLIMIT_..., bytes)``) set by ``preexec_fn``."""

    def limited() -> None:
        if limit is not None:
            resource.setrlimit(limit[0], (limit[1], limit[1]))

    command = ["-c", code] if code is not None else ["-m", "mnist_bench", *args]
    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env={**os.environ, **env},
        preexec_fn=limited,
        capture_output=True,
        text=True,
        timeout=300,
    )


def temporaries(*folders: Path) -> list[Path]:
    """The suite's temporaries left anywhere under ``folders``."""
    return [
        path
        for folder in folders
        if folder.exists()
        for path in folder.rglob("*")
        if atomic.is_temporary(path.name)
    ]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small run (digits, raw x sklearn, k 2-3, seed 0) and its cache (``../c``)."""
    folder = tmp_path_factory.mktemp("good")
    args = ["run", *SMALL, "--out", str(folder / "run"), "--cache-dir", str(folder / "c")]
    with no_pictures():
        assert main(args) == 0
    return folder / "run"


def _copy(good: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(good, tmp_path / name))


def _cache(good: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(good.parent / "c", tmp_path / "c"))


def _numbers(out: Path) -> pd.DataFrame:
    columns = [*words.ROW_KEY, "wcss", *words.METRICS, "n_iter"]
    return pd.read_csv(out / words.RESULTS)[columns]


# ------------------------------------------------------------------------- class 4: integrity


class TestJournalRowsCarryChecksums:
    """A journal row whose numbers changed after it was written, or that has no checksum, is
    dropped with one warning and its row computed again: never resumed as it is."""

    ROW: ClassVar[dict[str, Any]] = {"dataset": "digits", "purity": 0.75, "nmi": float("nan")}

    def _lines(self, tmp_path: Path, rows: list[dict[str, Any]]) -> list[str]:
        journal = Journal(tmp_path, "h")
        journal.start(rows)
        return journal.path.read_text().splitlines()

    def test_a_sealed_row_reads_back_the_same(self, tmp_path: Path) -> None:
        (line,) = self._lines(tmp_path, [self.ROW])[1:]
        parsed = json.loads(line)
        assert parsed[CHECKSUM] and sealed({**self.ROW}) == line
        assert {k: v for k, v in parsed.items() if k != CHECKSUM}.keys() == self.ROW.keys()

    @pytest.mark.parametrize(
        "damage",
        ["halved", "nan", "no checksum", "another row's checksum", "extra key", "renamed key"],
    )
    def test_an_altered_row_is_dropped(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
    ) -> None:
        rows = json.loads(pd.read_csv(good / words.RESULTS).to_json(orient="records"))
        journal = Journal(tmp_path, "h")
        journal.start(rows)
        lines = journal.path.read_text().splitlines()
        row = json.loads(lines[1])
        if damage == "halved":
            row["purity"] /= 2
        elif damage == "nan":
            row["purity"] = float("nan")
        elif damage == "no checksum":
            del row[CHECKSUM]
        elif damage == "another row's checksum":
            row[CHECKSUM] = json.loads(lines[2])[CHECKSUM]
        elif damage == "extra key":
            row["purity_a"] = 1.0
        else:
            row["purity2"] = row.pop("purity")
        lines[1] = json.dumps(row)
        journal.path.write_text("\n".join(lines) + "\n")
        capsys.readouterr()
        kept = journal.load()
        err = capsys.readouterr().err
        assert len(kept) == len(rows) - 1
        assert err.count("warning:") == 1 and "1 damaged line(s)" in err, err
        assert all(
            kept_row["purity"] == r["purity"]
            for kept_row, r in zip(kept.values(), rows[1:], strict=True)
        )

    def test_a_run_resumes_only_intact_rows(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Two rows journaled by an interrupted run, one altered since: the altered row is
        computed again and the results are the uninterrupted run's."""
        out, cache = _copy(good, tmp_path, "out"), _cache(good, tmp_path)
        rows = json.loads(pd.read_csv(out / words.RESULTS).to_json(orient="records"))
        (out / words.RESULTS).unlink()
        other = [r for r in rows if not r["in_sweep"]] or rows
        from mnist_bench.grid import config

        overrides = {"dataset": "digits", "extractors": ["raw"], "backends": ["sklearn"]}
        cfg = config.load(overrides={**overrides, "k": [2, 3], "seeds": [0]})
        Journal(out, cfg.hash()).start(rows)
        lines = (out / words.PARTIAL).read_text().splitlines()
        tampered = json.loads(lines[1])
        tampered["purity"] = tampered["purity"] / 2
        lines[1] = json.dumps(tampered)
        (out / words.PARTIAL).write_text("\n".join(lines) + "\n")
        done = in_process(capsys, "run", *SMALL, "--out", str(out), "--cache-dir", str(cache))
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("damaged line(s)") == 1, done.stderr
        pd.testing.assert_frame_equal(_numbers(out), _numbers(good))
        assert other  # the good rows were there to keep


class TestGeneratedDatasetsCarryChecksums:
    """The ``scale`` dataset written into the cache: a file that does not match its checksum
    (garbled, truncated, without one, or of other images) is discarded with one warning and
    generated again; the same images come back."""

    @pytest.fixture
    def made(self, tmp_path: Path) -> tuple[Path, np.ndarray]:
        from mnist_bench.data.scale import load_scale

        images = np.array(load_scale(300, cache_dir=tmp_path, threads=1).images)
        (path,) = (tmp_path / "datasets").glob("*.npy")
        return path, images

    @pytest.mark.parametrize(
        "damage", ["garbled", "truncated", "no checksum", "checksum list", "another shape"]
    )
    def test_damaged_images_are_made_again(
        self,
        made: tuple[Path, np.ndarray],
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
        damage: str,
    ) -> None:
        from mnist_bench.data.scale import checksum_path, load_scale

        path, images = made
        sums = checksum_path(path)
        if damage == "garbled":  # one pixel of one image: the header still reads
            data = bytearray(path.read_bytes())
            data[-1000] ^= 0x55
            path.write_bytes(bytes(data))
        elif damage == "truncated":
            path.write_bytes(path.read_bytes()[:5000])
        elif damage == "no checksum":
            sums.unlink()
        elif damage == "checksum list":
            sums.write_text("[1, 2]")
        else:
            sums.write_text(json.dumps({**json.loads(sums.read_text()), "shape": [3, 28, 28]}))
        with caplog.at_level(logging.WARNING):
            again = load_scale(300, cache_dir=tmp_path, threads=1)
        warned = [r for r in caplog.records if "damaged generated dataset" in r.getMessage()]
        assert len(warned) == 1, caplog.text
        np.testing.assert_array_equal(np.asarray(again.images), images)
        caplog.clear()
        with caplog.at_level(logging.WARNING):  # and the new file is whole
            load_scale(300, cache_dir=tmp_path, threads=1)
        assert "damaged" not in caplog.text

    @pytest.mark.ci
    def test_a_run_on_garbled_images_gives_the_same_numbers(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        """The issue's example, end to end: a garbled file of the scale dataset gave exit 0 and
        other scores; now one warning, the images made again, the same numbers."""
        args = ["run", "--dataset", "scale", "--limit", "500", "--extractors", "raw"]
        args += ["--backends", "sklearn", "--k", "10", "--seeds", "0"]
        args += ["--cache-dir", str(tmp_path / "c")]
        assert in_process(capsys, *args, "--out", str(tmp_path / "a")).returncode == 0
        (path,) = (tmp_path / "c" / "datasets").glob("*.npy")
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with caplog.at_level(logging.WARNING):
            done = in_process(capsys, *args, "--out", str(tmp_path / "b"))
        assert done.returncode == 0, done.stderr
        assert caplog.text.count("damaged generated dataset") == 1, caplog.text
        pd.testing.assert_frame_equal(_numbers(tmp_path / "b"), _numbers(tmp_path / "a"))

    def test_report_never_uses_damaged_images(
        self, made: tuple[Path, np.ndarray], tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        from mnist_bench.core.errors import UserError
        from mnist_bench.data.scale import load_scale

        path, _ = made
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x01
        path.write_bytes(bytes(data))
        with caplog.at_level(logging.WARNING), pytest.raises(UserError, match="not in the cache"):
            load_scale(300, cache_dir=tmp_path, generate=False)
        assert "ignoring the damaged generated dataset" in caplog.text
        assert path.exists()  # report leaves the cache as it is


# ------------------------------------------------------------ class 5: the world around a run


LONG = "x" * 300  # a name over NAME_MAX (255 bytes)


def _beyond_path_max(tmp_path: Path) -> Path:
    """A path of legal names, over PATH_MAX (4096 bytes) in all."""
    return tmp_path.joinpath(*(["d" * 200] * 25))


class TestOperatingSystemErrors:
    """An OSError of any kind is one line naming the path (and what it means), exit 2, with no
    temporary of the suite left behind."""

    @pytest.mark.parametrize("too_long", ["name", "path"])
    @pytest.mark.parametrize("command", ["run --out", "run --cache-dir", "report", "compare",
                                         "compare --out", "export --out"])  # fmt: skip
    def test_a_name_or_path_too_long(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        command: str,
        too_long: str,
    ) -> None:
        bad = tmp_path / LONG if too_long == "name" else _beyond_path_max(tmp_path)
        cache = str(good.parent / "c")
        args = {
            "run --out": ["run", *SMALL, "--out", str(bad), "--cache-dir", cache],
            "run --cache-dir": ["run", *SMALL, "--out", str(tmp_path / "o"), "--cache-dir",
                                str(bad)],
            "report": ["report", str(bad)],
            "compare": ["compare", str(bad), str(good)],
            "compare --out": ["compare", str(good), str(good), "--out", str(bad / "c.md")],
            "export --out": ["export", "--extractor", "raw", "--dataset", "digits", "--out",
                             str(bad / "f.npz"), "--cache-dir", cache],
        }[command]  # fmt: skip
        line = refused(in_process(capsys, *args))
        assert (LONG if too_long == "name" else "d" * 200) in line, line
        assert not temporaries(tmp_path, good.parent)

    @pytest.mark.parametrize(
        "where",
        ["cache is a file", "MNIST_BENCH_CACHE is a file", "features is a file",
         "feature .npy is a folder", "feature .json is a folder", "feature .lock is a folder",
         "labels folder is a file", "REPORT.md is a folder", "a plot is a folder"],
    )  # fmt: skip
    def test_a_file_where_a_folder_belongs_or_the_reverse(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        where: str,
    ) -> None:
        out, cache = tmp_path / "out", _cache(good, tmp_path)
        args = ["run", *SMALL, "--out", str(out), "--cache-dir", str(cache)]
        (entry,) = [p for p in (cache / "features").glob("*.npy") if np.load(p).shape[1] == 64]
        if where == "cache is a file":
            shutil.rmtree(cache)
            cache.write_text("")
            bad = cache
        elif where == "MNIST_BENCH_CACHE is a file":
            shutil.rmtree(cache)
            cache.write_text("")
            monkeypatch.setenv("MNIST_BENCH_CACHE", str(cache))
            args, bad = args[:-2], cache
        elif where == "features is a file":
            shutil.rmtree(cache / "features")
            (cache / "features").write_text("")
            bad = cache / "features"
        elif where.startswith("feature ."):
            bad = entry.with_suffix(where.split()[1])
            bad.unlink()
            bad.mkdir()
        elif where == "labels folder is a file":
            out = _copy(good, tmp_path, "out")
            shutil.rmtree(out / words.LABELS_DIR)
            (out / words.LABELS_DIR).write_text("")
            bad = out / words.LABELS_DIR
        else:
            out = _copy(good, tmp_path, "out")
            name = words.REPORT if where == "REPORT.md is a folder" else "elbow_all.png"
            bad = out / name
            bad.unlink()
            bad.mkdir()
            args = ["report", str(out), "--cache-dir", str(cache)]
        line = refused(in_process(capsys, *args))
        assert str(bad.name) in line, line
        assert not temporaries(tmp_path)

    @pytest.mark.parametrize("link", ["lock", "features"])
    def test_a_link_loop(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str
    ) -> None:
        cache = _cache(good, tmp_path)
        if link == "lock":
            for lock in (cache / "features").glob("*.lock"):
                lock.unlink()
                lock.symlink_to(lock.name)
        else:
            shutil.rmtree(cache / "features")
            (cache / "features").symlink_to("features")
        args = ["run", *SMALL, "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
        line = refused(in_process(capsys, *args))
        assert str(cache / "features") in line, line

    @pytest.mark.parametrize("code", ["EROFS", "EACCES", "ENOSPC", "EDQUOT", "EIO"])
    def test_a_disk_that_refuses_writes(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        code: str,
    ) -> None:
        """A read-only, forbidden or full disk (simulated: root writes anywhere) at the first
        file the run writes in its cache."""
        cache = tmp_path / "c"
        number = getattr(errno, code)

        def refuse(*args: Any, dir: str | None = None, **kwargs: Any) -> Any:
            raise OSError(number, os.strerror(number), dir)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        args = ["run", *SMALL, "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
        line = refused(in_process(capsys, *args))
        assert str(tmp_path) in line and os.strerror(number) in line, line  # the folder

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
    def test_a_read_only_cache(self, good: Path, tmp_path: Path, capsys: Any) -> None:
        cache = tmp_path / "c"
        cache.mkdir()
        cache.chmod(0o555)
        try:
            args = ["run", *SMALL, "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
            assert str(cache) in refused(in_process(capsys, *args))
        finally:
            cache.chmod(0o755)

    def test_the_file_size_limit(self, tmp_path: Path) -> None:
        """RLIMIT_FSIZE below the features' size: the write fails (EFBIG; Python ignores
        SIGXFSZ); one line naming the limit, and no temporary left."""
        out, cache = tmp_path / "o", tmp_path / "c"
        done = in_subprocess(
            "run", *SMALL, "--out", str(out), "--cache-dir", str(cache),
            limit=(resource.RLIMIT_FSIZE, 64 << 10),
        )  # fmt: skip
        line = refused(done)
        assert "RLIMIT_FSIZE" in line and "64.0 KiB" in line, line
        assert not temporaries(tmp_path)

    def test_describe_names_each_kind(self) -> None:
        for code, words_ in [
            (errno.ENAMETOOLONG, "over 255 bytes"),
            (errno.ENOTDIR, "a file stands where a folder belongs"),
            (errno.EISDIR, "a folder stands where a file belongs"),
            (errno.EEXIST, "stands where a folder belongs"),
            (errno.ELOOP, "symbolic link"),
            (errno.EROFS, "read-only"),
            (errno.EMFILE, "RLIMIT_NOFILE"),
        ]:
            line = failures.describe(OSError(code, os.strerror(code), "/some/where"))
            assert line is not None and line.startswith("/some/where: "), line
            assert words_ in line, line
        moved = OSError(errno.EISDIR, "Is a directory", "/d/.R.md.mnist-bench-1-abcdefgh.tmp")
        moved.filename2 = "/d/R.md"
        assert failures.describe(moved) == (
            "/d/R.md: Is a directory (a folder stands where a file belongs)"
        )
        assert failures.describe(OSError("Timed out trying to connect")) == (
            "Timed out trying to connect"
        )


class TestResourceLimits:
    """Running out of memory or another resource is one line naming the limit, exit 2, even
    while the numeric libraries load."""

    @pytest.mark.parametrize("command", ["list", "run", "report", "compare", "export"])
    def test_a_small_address_space(self, good: Path, tmp_path: Path, command: str) -> None:
        """Below about 1.5 GiB the libraries' start-up code aborts, crashes or spins (OpenBLAS
        retries its buffers for ever), where no handler reaches: refused before they load."""
        args = {
            "list": ["list"],
            "run": ["run", *SMALL, "--out", str(tmp_path / "o")],
            "report": ["report", str(good)],
            "compare": ["compare", str(good), str(good)],
            "export": ["export", "--extractor", "raw", "--out", str(tmp_path / "f.npz")],
        }[command]
        line = refused(in_subprocess(*args, limit=(resource.RLIMIT_AS, 300 << 20)))
        assert "RLIMIT_AS" in line and "300.0 MiB" in line, line
        assert not (tmp_path / "o").exists()

    def test_a_limit_just_above_what_loading_takes(self, tmp_path: Path) -> None:
        """The libraries load, and then their threads would run out of address space (where
        OpenBLAS spins and OpenMP aborts): the memory check counts those threads, one line."""
        limit = failures.needed_to_load() + (64 << 20)
        done = in_subprocess(
            "run", *SMALL, "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"),
            limit=(resource.RLIMIT_AS, limit),
        )  # fmt: skip
        assert "needs about" in refused(done)
        assert not (tmp_path / "o").exists()

    @pytest.mark.parametrize("module", ["numpy", "pandas", "pydantic"])
    def test_memory_runs_out_while_a_library_loads(self, good: Path, module: str) -> None:
        """A MemoryError raised by an import inside a command is one line naming the limit."""
        code = (
            "import sys\n"
            "class Full:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name == {module!r}: raise MemoryError\n"
            "sys.meta_path.insert(0, Full())\n"
            "from mnist_bench.cli import main\n"
            f"sys.exit(main(['compare', {str(good)!r}, {str(good)!r}]))\n"
        )
        line = refused(in_subprocess(code=code, limit=(resource.RLIMIT_AS, 64 << 30)))
        assert "ran out of memory" in line and "RLIMIT_AS" in line and "64.0 GiB" in line

    def test_the_handler_is_in_place_before_any_library_loads(self) -> None:
        """The console script imports ``mnist_bench.cli`` before ``main`` (and its handler)
        runs: that import must load no numeric library, or its MemoryError is a traceback."""
        code = (
            "import sys, mnist_bench.cli\n"
            "heavy = {'numpy', 'pandas', 'scipy', 'sklearn', 'pydantic', 'matplotlib'}\n"
            "print(sorted(heavy & {name.partition('.')[0] for name in sys.modules}))\n"
        )
        done = in_subprocess(code=code)
        assert done.returncode == 0 and done.stdout.strip() == "[]", (done.stdout, done.stderr)

    def test_the_cpu_time_limit(self, tmp_path: Path) -> None:
        """SIGXCPU at the soft RLIMIT_CPU: one line naming it, as an interruption is handled
        (the temporaries removed, the journal kept for a resume)."""

        def limited() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (1, 60))

        args = ["run", *SMALL, "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c")]
        done = subprocess.run(
            [sys.executable, "-m", "mnist_bench", *args],
            cwd=ROOT,
            preexec_fn=limited,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "RLIMIT_CPU" in refused(done)
        assert not temporaries(tmp_path)

    def test_other_resources(self) -> None:
        assert "RLIMIT_NPROC" in (failures.describe(RuntimeError("can't start new thread")) or "")
        loading = ImportError("Unable to import required dependency numpy")
        loading.__cause__ = ImportError("libopenblas.so: failed to map segment from shared object")
        assert "ran out of memory" in (failures.describe(loading) or "")
        from concurrent.futures.process import BrokenProcessPool

        assert "worker process died" in (failures.describe(BrokenProcessPool("gone")) or "")
        assert failures.describe(RuntimeError("a bug")) is None  # the suite's: a traceback
        assert failures.describe(ImportError("No module named x")) is None


class TestNestedInput:
    """Input nested beyond Python's recursion limit is one line naming the file."""

    DEEP: ClassVar[dict[str, str]] = {
        "arrays": "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "tables": "a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n",
        "a backend's parameter": "[backends.sklearn]\nmax_iter = " + "[" * 5000 + "]" * 5000,
    }

    @pytest.mark.parametrize("command", ["run", "export", "scale"])
    @pytest.mark.parametrize("shape", list(DEEP))
    def test_a_deep_config(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str, command: str
    ) -> None:
        config = tmp_path / "deep.toml"
        config.write_text(self.DEEP[shape])
        out = tmp_path / "o"
        args = {
            "run": ["run", "--config", str(config), "--out", str(out)],
            "export": ["export", "--extractor", "raw", "--config", str(config), "--out",
                       str(out / "f.npz")],
            "scale": ["scale", "--config", str(config), "--out", str(out)],
        }[command]  # fmt: skip
        line = refused(in_process(capsys, *args))
        assert str(config) in line and "nested too deeply" in line, line
        assert not out.exists()

    def test_deep_json_in_results_and_journal(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        run = _copy(good, tmp_path)
        frame = pd.read_csv(run / words.RESULTS)
        frame["backend_params"] = "[" * 5000 + "]" * 5000
        frame.to_csv(run / words.RESULTS, index=False)
        line = refused(in_process(capsys, "report", str(run)))
        assert "row 2, column 'backend_params'" in line, line
        journal = Journal(tmp_path, "h")
        journal.start([])
        with journal.path.open("a") as fh:
            fh.write("[" * 5000 + "]" * 5000 + "\n")
        assert journal.load() == {}


class TestNumbersBeyond64Bits:
    """A count in a results.csv beyond what 64 bits (or a float64, exactly) hold, or more
    clusters than images, is one line naming the file, the row and the column."""

    @pytest.mark.parametrize("value", [str(2**64), str(10**30), str(-(2**70)), str(2**53 + 1)])
    @pytest.mark.parametrize(
        "column", ["k", "n_samples", "clusters", "feature_dim", "n_iter", "threads", "seed"]
    )
    @pytest.mark.parametrize("command", ["report", "compare"])
    def test_a_count_too_large(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        command: str,
        column: str,
        value: str,
    ) -> None:
        run = _copy(good, tmp_path)
        frame = pd.read_csv(run / words.RESULTS, dtype=str, keep_default_na=False)
        frame.loc[0, column] = value
        frame.to_csv(run / words.RESULTS, index=False)
        args = ["report", str(run)] if command == "report" else ["compare", str(good), str(run)]
        line = refused(in_process(capsys, *args))
        assert f"{run / words.RESULTS}, row 2, column {column!r}" in line, line

    @pytest.mark.parametrize(
        "args",
        [["scale", "--sizes", str(10**30)], ["scale", "--timeout", "1e400"],
         ["scale", "--iterations", str(2**64)], ["compare", "--tolerance", "1e400"],
         ["run", "--k", f"2-{2**64}"], ["run", "--limit", str(2**64)]],
    )  # fmt: skip
    def test_a_flag_too_large(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
    ) -> None:
        where = [str(good), str(good)] if args[0] == "compare" else ["--out", str(tmp_path / "o")]
        line = refused(in_process(capsys, *args, *where))
        assert args[1] in line or "k =" in line, line
        assert not (tmp_path / "o").exists()

    @pytest.mark.parametrize("column", ["k", "clusters"])
    def test_more_clusters_than_images(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str
    ) -> None:
        run = _copy(good, tmp_path)
        frame = pd.read_csv(run / words.RESULTS)
        frame.loc[0, column] = 5000
        frame.to_csv(run / words.RESULTS, index=False)
        line = refused(in_process(capsys, "report", str(run)))
        assert f"row 2, column {column!r}: more clusters than" in line, line


class TestCompareWithColumnsNamedLikeItsOwn:
    """A column compare does not know, even one named like those its merge makes (``_a``,
    ``_b``, ``_merge``, ``_pos``), is left out with one warning; the comparison is unchanged."""

    @pytest.mark.parametrize("column", ["purity_a", "purity_b", "_merge", "_pos", "_pos_b",
                                        "k_a", "eval_k_b", "fit_s_a", "notes"])  # fmt: skip
    @pytest.mark.parametrize("exact", [False, True])
    def test_extra_column(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
        column: str,
        exact: bool,
    ) -> None:
        run = _copy(good, tmp_path)
        frame = pd.read_csv(run / words.RESULTS, float_precision="round_trip")  # every bit
        frame[column] = 0.5
        frame.to_csv(run / words.RESULTS, index=False, float_format="%.17g")
        flag = ["--exact"] if exact else []
        for a, b in ((good, run), (run, good)):
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                done = in_process(capsys, "compare", *flag, str(a), str(b))
            assert done.returncode == 0, (done.stdout, done.stderr)
            warned = [r.getMessage() for r in caplog.records if column in r.getMessage()]
            assert len(warned) == 1 and "left out of the comparison" in warned[0], caplog.text


class TestDaskSchedulerNobodyAnswers:
    """A --scheduler address with nothing listening: one line naming it, after a timeout."""

    def test_unanswered_scheduler(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        pytest.importorskip("distributed")
        from mnist_bench.clustering import dask_kmeans

        monkeypatch.setattr(dask_kmeans, "CONNECT_TIMEOUT_S", 1)
        with socket.socket() as probe:  # a port nothing listens on once closed
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        address = f"tcp://127.0.0.1:{port}"
        args = ["run", *SMALL[:4], "--backends", "dask", "--k", "3", "--seeds", "0"]
        args += ["--scheduler", address, "--out", str(tmp_path / "o")]
        line = refused(in_process(capsys, *args, "--cache-dir", str(good.parent / "c")))
        assert address in line and "no dask scheduler answers" in line, line


# ---------------------------------------------------------------- outside plug-ins, misbehaving


class _Backend(BaseBackend):
    def __init__(self, *, n_clusters: int = 10, seed: int = 0, threads: int = 1) -> None:
        self.n_clusters, self.seed, self.threads = n_clusters, seed, threads

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        k = self.n_clusters
        return X[:k].copy(), np.arange(len(X)) % k, 1


class Raises(_Backend):
    def _fit(self, X: np.ndarray) -> Any:
        raise RuntimeError("kaboom")


class RaisesValueError(_Backend):
    def _fit(self, X: np.ndarray) -> Any:
        raise ValueError("no such thing")


class Exits(_Backend):
    def _fit(self, X: np.ndarray) -> Any:
        sys.exit("bye")


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("no words")


class RaisesUnprintable(_Backend):
    def _fit(self, X: np.ndarray) -> Any:
        raise Unprintable


class RaisesInInit(_Backend):
    def __init__(self, **params: Any) -> None:
        raise KeyError("init")


class RaisesInPredict(_Backend):
    def predict(self, X: Any) -> np.ndarray:
        raise OSError("the plug-in's own file is gone")


class RaisesInMemoryEstimate(_Backend):
    def memory_bytes(self, n: int, d: int, k: int) -> int:
        raise ZeroDivisionError("no estimate")


class FlatCentres(_Backend):
    def _fit(self, X: np.ndarray) -> Any:
        centres, labels, n_iter = super()._fit(X)
        return centres.ravel(), labels, n_iter


class FewLabels(_Backend):
    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X)[:10]


class ColumnLabels(_Backend):
    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X)[:, None]


class FloatLabels(_Backend):
    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X).astype(float)


class NaNCentres(_Backend):
    def _fit(self, X: np.ndarray) -> Any:
        centres, labels, n_iter = super()._fit(X)
        centres[0, 0] = np.nan
        return centres, labels, n_iter

    def predict(self, X: Any) -> np.ndarray:
        return np.arange(len(X)) % self.n_clusters


class LabelsBeyondK(_Backend):
    def predict(self, X: Any) -> np.ndarray:
        return np.arange(len(X)) % self.n_clusters + 5


class NoiseWithoutChoosingK(_Backend):
    def predict(self, X: Any) -> np.ndarray:
        return np.arange(len(X)) % self.n_clusters - 1


class NoIterations(_Backend):
    def fit(self, X: Any, y: Any = None) -> Any:
        super().fit(X)
        self.n_iter_ = float("nan")
        return self


class _ChoosesK(_Backend):
    chooses_k = True
    transductive = True
    deterministic = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        key: value
        for key, value in BaseBackend._parameter_constraints.items()
        if key != "n_clusters"
    }

    def __init__(self, *, seed: int = 0, threads: int = 1) -> None:
        self.seed, self.threads = seed, threads

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        labels = np.arange(len(X)) % 4 - 1  # noise (-1) and clusters 0, 1, 2
        return np.stack([X[labels == c].mean(axis=0) for c in range(3)]), labels, 1


class ChoosesKWithNoise(_ChoosesK):
    """Allowed: -1 is noise for a backend that chooses its own k."""


class ChoosesKBelowNoise(_ChoosesK):
    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        centres, labels, n_iter = super()._fit(X)
        return centres, labels - 1, n_iter


class _Extractor(BaseExtractor):
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        pass

    def _transform(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float32)


class TransformRaises(_Extractor):
    def _transform(self, images: np.ndarray) -> np.ndarray:
        raise RuntimeError("transform failed")


class FitRaises(_Extractor):
    def _fit(self, images: np.ndarray, y: Any, **fit_params: Any) -> None:
        raise LookupError("fit failed")


class FlatFeatures(_Extractor):
    def _transform(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).sum(axis=1)


class FewRows(_Extractor):
    def _transform(self, images: np.ndarray) -> np.ndarray:
        return super()._transform(images)[:5]


class MoreRows(_Extractor):
    def _transform(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([super()._transform(images)] * 2)


class NoFeatures(_Extractor):
    def _transform(self, images: np.ndarray) -> np.ndarray:
        return np.empty((len(images), 0), dtype=np.float32)


class NaNFeatures(_Extractor):
    def _transform(self, images: np.ndarray) -> np.ndarray:
        out = super()._transform(images)
        out[::3, 1] = np.nan
        return out


BACKENDS = {
    "raises": "raised RuntimeError: kaboom",
    "raises-value-error": "raised ValueError: no such thing",
    "exits": "called sys.exit('bye')",
    "raises-unprintable": "raised Unprintable: (its message cannot be shown)",
    "raises-in-init": "raised KeyError",
    "raises-in-predict": "raised OSError: the plug-in's own file is gone",
    "raises-in-memory-estimate": "raised ZeroDivisionError: no estimate",
    "flat-centres": "plug-in 'flat-centres'",
    "few-labels": "returned labels of shape (10,), not (1797,)",
    "column-labels": "returned labels of shape (1797, 1), not (1797,)",
    "float-labels": "returned labels of dtype float64, not integers",
    "nan-centres": "returned centres that are not all finite numbers",
    "labels-beyond-k": "returned labels from 5 to 7, outside [0, 3)",
    "noise-without-choosing-k": "returned labels from -1 to 1, outside [0, 3)",
    "no-iterations": "returned n_iter_ = nan, not a count of iterations",
    "chooses-k-below-noise": "returned labels from -2 to 1, outside [-1, 3)",
}
EXTRACTORS = {
    "transform-raises": "raised RuntimeError: transform failed",
    "fit-raises": "raised LookupError: fit failed",
    "flat-features": "returned features of shape (1797,)",
    "few-rows": "returned 5 rows for 1797 images",
    "more-rows": "returned more rows than the 1797 images",
    "no-features": "returned features of shape (1797, 0)",
    "nan-features": "produced NaN or inf features for 599 images",
}


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-")).replace("Nan", "NaN")


@pytest.fixture
def outside_plugins() -> Any:
    """The misbehaving plug-ins above, registered as from another distribution."""
    registered = []
    for registry, names in (
        (clustering.BACKENDS, [*BACKENDS, "chooses-k-with-noise"]),
        (features.EXTRACTORS, EXTRACTORS),
    ):
        for name in names:
            registry.register(name, f"{__name__}:{_class_name(name)}", DIST)
            registered.append((registry, name))
    yield
    for registry, name in registered:
        registry._extra.pop(name, None)


@pytest.mark.usefixtures("outside_plugins")
class TestOutsidePlugins:
    """An outside plug-in that raises, or returns what the grid cannot use (a 1-D array, too
    few rows, NaN, labels out of range), is one line naming it, "plug-in NAME (KIND, from
    DISTRIBUTION) ...", exit 2. The suite's own plug-ins' bugs keep their traceback."""

    def _run(
        self, good: Path, tmp_path: Path, capsys: Any, extractor: str, backend: str
    ) -> subprocess.CompletedProcess[str]:
        args = ["run", "--dataset", "digits", "--extractors", extractor, "--backends", backend]
        args += ["--k", "3", "--seeds", "0", "--out", str(tmp_path / "o")]
        return in_process(capsys, *args, "--cache-dir", str(good.parent / "c"))

    @pytest.mark.parametrize("backend", list(BACKENDS))
    def test_a_backend(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str
    ) -> None:
        line = refused(self._run(good, tmp_path, capsys, "raw", backend))
        assert f"plug-in {backend!r} (backend, from {DIST})" in line, line
        assert BACKENDS[backend] in line, line

    @pytest.mark.parametrize("extractor", list(EXTRACTORS))
    def test_an_extractor(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extractor: str
    ) -> None:
        line = refused(self._run(good, tmp_path, capsys, extractor, "sklearn"))
        assert f"plug-in {extractor!r}" in line and DIST in line, line
        assert EXTRACTORS[extractor] in line, line

    def test_noise_from_a_backend_that_chooses_k(
        self, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        done = self._run(good, tmp_path, capsys, "raw", "chooses-k-with-noise")
        assert done.returncode == 0, done.stderr


class TestTheSuitesOwnBugs:
    """A bug of the suite (here: of a built-in backend) is not dressed as the world's failure:
    it keeps its traceback (no outside plug-in is registered from this module here)."""

    def _run(self, good: Path, tmp_path: Path, capsys: Any) -> Any:
        args = ["run", *SMALL[:4], "--backends", "sklearn", "--k", "3", "--seeds", "0"]
        return in_process(capsys, *args, "--out", str(tmp_path / "o"), "--cache-dir",
                          str(good.parent / "c"))  # fmt: skip

    def test_the_suites_own_bugs_keep_their_traceback(
        self,
        good: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from mnist_bench.clustering.sklearn_kmeans import SklearnKMeans

        def bug(self: Any, X: np.ndarray) -> Any:
            return 1 / 0

        monkeypatch.setattr(SklearnKMeans, "_fit", bug)
        with pytest.raises(ZeroDivisionError):
            self._run(good, tmp_path, capsys)

        def out_of_range(self: Any, X: np.ndarray) -> Any:
            return X[:3].copy(), np.full(len(X), 7), 1

        monkeypatch.setattr(SklearnKMeans, "_fit", out_of_range)
        monkeypatch.setattr(SklearnKMeans, "predict", lambda self, X: np.full(len(X), 7))
        with pytest.raises(RuntimeError, match="internal error: backend 'sklearn' returned"):
            self._run(good, tmp_path, capsys)


def test_an_installed_plugin_that_raises(tmp_path: Path) -> None:
    """Through its entry point, from a distribution installed on the path (a dist-info folder),
    in a subprocess as a user runs it: a backend raising where no call into it is wrapped (its
    memory estimate, asked before any work) is still named, by the frames of its code."""
    site = tmp_path / "site"
    info = site / "mnist_bench_hostile-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[mnist_bench.backends]\nhostile-estimate = hostile_plugin:Estimate\n"
    )
    (site / "hostile_plugin.py").write_text(
        "from mnist_bench.clustering.base import BaseBackend\n"
        "class Estimate(BaseBackend):\n"
        "    def __init__(self, *, n_clusters=10, seed=0, threads=1):\n"
        "        self.n_clusters, self.seed, self.threads = n_clusters, seed, threads\n"
        "    def memory_bytes(self, n, d, k):\n"
        "        raise ArithmeticError('cannot say')\n"
        "    def _fit(self, X):\n"
        "        raise AssertionError('never reached')\n"
    )
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    done = in_subprocess(
        "run", "--dataset", "digits", "--extractors", "raw", "--backends", "hostile-estimate",
        "--k", "3", "--seeds", "0", "--out", str(tmp_path / "o"),
        "--cache-dir", str(tmp_path / "c"), PYTHONPATH=path,
    )  # fmt: skip
    line = refused(done)
    said = "raised ArithmeticError: cannot say"
    assert f"plug-in 'hostile-estimate' (backend, from {DIST}) {said}" in line, line
    assert not (tmp_path / "o").exists()
