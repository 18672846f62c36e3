"""The ``mnist-bench`` command line: ``list``, ``run``, ``report``, ``compare``, ``export``
and ``scale`` (the scale study, :mod:`mnist_bench.grid.scale`).

``compare`` exits with status 1 when run B is worse than run A (a cell judged exactly beyond the
tolerance, or judged as a draw below all of A's seeds) or the two runs do not cover the same
cells (see :mod:`mnist_bench.reporting.compare`); ``compare --exact`` when any number differs.

User errors (bad flags, configs or data) print one line on stderr and exit with status 2, and so
do failures of the world around a run (:mod:`mnist_bench.core.failures`: an operating-system
error naming its path, running out of memory or another limit, input nested too deeply, a number
beyond 64 bits) and of an outside plug-in ("plug-in NAME (...) raised ...",
:func:`mnist_bench.core.registry.blame`). Anything else is a bug of the suite and shows its
traceback; ``MNIST_BENCH_TRACEBACK=1`` shows the traceback of every failure.

Before any numeric library loads, :func:`main` pins their kernels (``--numerics``, default
``portable``: :mod:`mnist_bench.core.numerics`), so a run gives the same numbers on any x86-64
machine.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

# Only modules that import nothing but the standard library: whatever fails while the numeric
# libraries load (MemoryError under a small `ulimit -v`, say) must happen inside main's handler.
from mnist_bench.core import failures, numerics
from mnist_bench.core.errors import UserError
from mnist_bench.core.system import native_noise_filtered

DEFAULT_OUT = Path("reports/latest")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mnist-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list datasets, extractors and backends")
    for add in (_run_parser, _report_parser, _compare_parser, _export_parser, _scale_parser):
        add(sub)
    return parser


def _run_parser(sub: argparse._SubParsersAction) -> None:
    """``run``: its flags override the grid TOML (``--config``, else the default grid)."""
    run = sub.add_parser("run", help="run a grid and write its report")
    run.add_argument(
        "--config", type=Path, help="grid TOML (default: benchmarks/configs/default.toml)"
    )
    run.add_argument("--dataset", help="dataset name (see `mnist-bench list`)")
    run.add_argument(
        "--extractors",
        "--features",
        dest="extractors",
        type=_names,
        help="extractors, comma-separated (--features is the same)",
    )
    run.add_argument("--backends", type=_names, help="backends, comma-separated")
    run.add_argument("--k", help="k values: 10, 1-14 or 2,5,10")
    run.add_argument("--eval-k", help="the k evaluated on every seed (default 10)")
    run.add_argument("--seeds", help="seeds, comma-separated (default from the config)")
    run.add_argument("--limit", help="cluster a stratified subset of N images")
    run.add_argument("--threads", help="threads of every library call (0: all cores)")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (reports/latest)")
    run.add_argument("--cache-dir", type=Path, help="cache folder (~/.cache/mnist-bench)")
    run.add_argument("--scheduler", help="dask.distributed scheduler address for the dask backend")
    _numerics_flag(run)


def _report_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="re-render DIR/REPORT.md from DIR/results.csv")
    report.add_argument("dir", type=Path)
    report.add_argument(
        "--cache-dir", type=Path, help="cache folder of the 2-D map layouts (~/.cache/mnist-bench)"
    )


def _compare_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="markdown table of metric and time differences of run B against run A"
    )
    compare.add_argument("dir_a", type=Path, help="the baseline run folder")
    compare.add_argument("dir_b", type=Path, help="the run compared against it")
    compare.add_argument(
        "--tolerance",
        default="0.005",
        help="largest score change not flagged (absolute; WCSS: relative; default 0.005)",
    )
    compare.add_argument(
        "--time-band", default="1.5", help="time ratios outside [1/B, B] are flagged (default 1.5)"
    )
    compare.add_argument(
        "--all-rows", action="store_true", help="list every row, not only the flagged ones"
    )
    compare.add_argument(
        "--exact",
        action="store_true",
        help="require the same rows with the same numbers, bit for bit (times aside)",
    )
    compare.add_argument("--out", type=Path, help="also write the markdown to this file")


def _export_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="write one extractor's features of every image to a file"
    )
    export.add_argument(
        "--extractor",
        "--features",
        dest="extractor",
        required=True,
        help="the extractor (see `mnist-bench list`); --features is the same",
    )
    export.add_argument("--dataset", help="dataset name (default: the config's, else mnist)")
    export.add_argument("--limit", help="a stratified subset of N images, as `run --limit`")
    export.add_argument("--format", help="parquet, csv or npz (default: from the --out suffix)")
    export.add_argument(
        "--config",
        type=Path,
        help="take the extractor's parameters (and dataset, limit) from this grid TOML",
    )
    export.add_argument("--out", type=Path, required=True, help="the file to write")
    export.add_argument("--cache-dir", type=Path, help="cache folder (~/.cache/mnist-bench)")
    _numerics_flag(export)


def _scale_parser(sub: argparse._SubParsersAction) -> None:
    """``scale``: its flags override ``benchmarks/configs/scale.toml`` (or ``--config``)."""
    scale = sub.add_parser("scale", help="time and memory of extraction + k-means against N")
    scale.add_argument("--config", type=Path, help="the study's TOML (configs/scale.toml)")
    scale.add_argument("--sizes", help="N values, comma-separated (70000,250000,1000000)")
    scale.add_argument("--backends", type=_names, help="backends, comma-separated")
    scale.add_argument("--extractor", "--features", dest="extractor", help="one extractor (raw)")
    scale.add_argument("--threads", help="threads of every library call (2; 0: all cores)")
    scale.add_argument("--timeout", help="seconds one measurement may take (600)")
    scale.add_argument("--iterations", help="Lloyd iterations from the shared start (25)")
    scale.add_argument(
        "--out", type=Path, default=Path("reports/scale"), help="output folder (reports/scale)"
    )
    scale.add_argument("--cache-dir", type=Path, help="cache folder (~/.cache/mnist-bench)")
    scale.add_argument("--render", action="store_true", help="only re-render OUT/REPORT.md")
    scale.add_argument("--one", nargs=2, metavar=("N", "BACKEND"), help=argparse.SUPPRESS)
    scale.add_argument("--generate", metavar="N", help=argparse.SUPPRESS)
    _numerics_flag(scale)


def _numerics_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--numerics",
        help="portable (default: every library's kernels held to x86-64-v3, the same numbers on "
        f"any x86-64 machine) or native (each library picks its own); also ${numerics.MODE_ENV}",
    )


def _int(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{flag} must be an integer, got {value!r}") from None


def cmd_list() -> None:
    """Each dataset, extractor and backend with its description and the package providing it.

    Nothing is imported: descriptions are read from the plug-ins' source.
    """
    from mnist_bench import clustering, features
    from mnist_bench.data.datasets import DATASETS

    for title, registry in (
        ("datasets", DATASETS),
        ("extractors", features.EXTRACTORS),
        ("backends", clustering.BACKENDS),
    ):
        print(f"{title}:")
        plugins = registry.plugins()
        width = max(map(len, plugins), default=0)
        for name, plugin in plugins.items():
            print(f"  {name:<{width}}  {registry.describe(name)}  [{plugin.distribution}]")


def cmd_run(args: argparse.Namespace) -> None:
    from mnist_bench.analyses.time import timeshare
    from mnist_bench.analyses.time.clock import PICTURES, REPORT, STARTUP, Clock, process_age
    from mnist_bench.core import plots
    from mnist_bench.core.cache import Cache, default_cache_dir
    from mnist_bench.grid import config
    from mnist_bench.grid.checks import load_dataset, prepare
    from mnist_bench.grid.record import output_folder, write_times
    from mnist_bench.grid.runner import run_grid
    from mnist_bench.reporting import pictures
    from mnist_bench.reporting.report import render

    overrides = {
        "dataset": args.dataset,
        "extractors": args.extractors,
        "backends": args.backends,
        "k": config.parse_ks(args.k) if args.k is not None else None,
        "eval_k": _int(args.eval_k, "--eval-k"),
        "seeds": config.parse_ints(args.seeds, "--seeds") if args.seeds is not None else None,
        "limit": _int(args.limit, "--limit"),
        "threads": _int(args.threads, "--threads"),
    }
    cfg = config.load(args.config, overrides)
    if args.scheduler:
        if "dask" not in cfg.backends:
            raise UserError("--scheduler is for the dask backend, which this grid does not use")
        cfg.backends["dask"]["scheduler"] = args.scheduler
    cache = Cache(args.cache_dir or default_cache_dir())
    clock = Clock()
    clock.add(STARTUP, process_age() or 0.0, note="interpreter, imports, config")
    with clock.stage("load data"):
        ds = load_dataset(cfg, cache)
    with clock.stage("checks (parameters, sizes, memory)"):
        prepared = prepare(cfg, cache, ds)  # all that can fail before the output folder is made
    with output_folder(args.out):
        frame = run_grid(cfg, args.out, cache, clock, prepared)
        try:
            with clock.stage(PICTURES, note="montages, heatmaps, 2-D maps"):
                pictures.draw(args.out, cache, ds)
            with clock.stage(REPORT, note="REPORT.md and its plots"), plots.kept_in(cache):
                render(args.out, cache)
        except MemoryError:
            raise UserError(
                f"ran out of memory drawing the report; the results are in {args.out}: "
                f"`mnist-bench report {args.out}` with more memory draws it"
            ) from None
        # the report can be timed only once written: its table is brought up to date after
        write_times(args.out, clock, process_age())
        timeshare.refresh(args.out, frame)
    print(f"wrote {args.out / 'REPORT.md'} and {args.out / 'results.csv'}")


def cmd_report(args: argparse.Namespace) -> None:
    from mnist_bench.core.cache import Cache, default_cache_dir
    from mnist_bench.grid.record import output_folder
    from mnist_bench.grid.scale_config import is_scale_folder
    from mnist_bench.reporting import scale
    from mnist_bench.reporting.report import render

    if not (args.dir / "results.csv").is_file():
        render(args.dir)  # says what is missing, and creates nothing
    with output_folder(args.dir):  # the run's lock; removes what killed writers left behind
        if is_scale_folder(args.dir):
            print(f"wrote {scale.render(args.dir)}")
            return
        print(f"wrote {render(args.dir, Cache(args.cache_dir or default_cache_dir()))}")


def _float(value: str, flag: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"{flag} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):  # 1e400 reads as inf
        raise UserError(f"{flag} must be a finite number, got {value!r}")
    return number


def cmd_compare(args: argparse.Namespace) -> int:
    from mnist_bench.core.atomic import write_text
    from mnist_bench.reporting.compare import check_out, compare, exact

    if args.out is not None:  # before anything is printed: it overwrites only a comparison
        check_out(args.out, args.dir_a, args.dir_b)
    if args.exact:
        result = exact(args.dir_a, args.dir_b)
    else:
        result = compare(
            args.dir_a,
            args.dir_b,
            tolerance=_float(args.tolerance, "--tolerance"),
            time_band=_float(args.time_band, "--time-band"),
            all_rows=args.all_rows,
        )
    print(result.markdown)
    if args.out is not None:
        try:
            write_text(args.out, result.markdown + "\n")
        except OSError as exc:
            raise UserError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    return result.status


def cmd_export(args: argparse.Namespace) -> None:
    from mnist_bench.grid import config
    from mnist_bench.reporting.export import export

    dataset, limit = args.dataset, _int(args.limit, "--limit")
    params: dict = {}
    threads = None
    if args.config is not None:
        cfg = config.load(args.config, {})
        params = cfg.extractors.get(args.extractor, {})
        dataset = dataset or cfg.dataset
        limit = limit if limit is not None else cfg.limit
        threads = cfg.threads_in_use
    meta = export(
        args.extractor,
        args.out,
        dataset=dataset or "mnist",
        limit=limit,
        fmt=args.format,
        cache_dir=args.cache_dir,
        params=params,
        threads=threads,
    )
    source = "read from the cache" if meta["from_cache"] else "computed and cached"
    print(
        f"wrote {args.out}: {meta['n_images']:,} images x {meta['feature_dim']} {args.extractor} "
        f"features ({source})"
    )


def cmd_scale(args: argparse.Namespace) -> None:
    """The scale study (:mod:`mnist_bench.grid.scale`), or one of its measurements (``--one``,
    ``--generate``: a JSON line on stdout), or ``--render`` its report again."""
    import json

    from mnist_bench.core.cache import default_cache_dir
    from mnist_bench.grid import config, scale, scale_config
    from mnist_bench.grid.record import output_folder
    from mnist_bench.reporting.scale import render

    cfg = scale_config.load(
        args.config,
        {
            "sizes": config.parse_ints(args.sizes, "--sizes") if args.sizes else None,
            "backends": args.backends,
            "extractor": args.extractor,
            "threads": _int(args.threads, "--threads"),
            "timeout": _float(args.timeout, "--timeout") if args.timeout else None,
            "iterations": _int(args.iterations, "--iterations"),
        },
    )
    study = scale.Study(
        cfg, args.out, args.cache_dir or default_cache_dir(), numerics.choose_mode(args.numerics)
    )
    if args.one or args.generate:
        print(json.dumps(scale.child(study, args.one, _int(args.generate, "--generate"))))
        return
    with output_folder(args.out):
        if args.render:
            scale.keep_settings(study)
        else:
            scale.run(study)
        print(f"wrote {render(args.out)}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: temporaries removed on the way out, a resume hint."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


class OutOfCPUTime(KeyboardInterrupt):
    """SIGXCPU: the CPU-time limit (``ulimit -t``) is reached; handled as an interruption (the
    temporaries removed on the way out), said as the error it is."""


def _out_of_cpu_time(signum: int, frame: object) -> None:
    raise OutOfCPUTime


def _handle(signals: dict[str, Any]) -> dict[int, Any]:
    """Install the handlers ``signals`` (by name, those this platform has); the previous ones."""
    return {
        number: signal.signal(number, handler)
        for name, handler in signals.items()
        if (number := getattr(signal, name, None)) is not None
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    in_main_thread = threading.current_thread() is threading.main_thread()
    handlers = {"SIGTERM": _terminate, "SIGXCPU": _out_of_cpu_time}
    previous = _handle(handlers) if in_main_thread else {}
    try:
        args = build_parser().parse_args(argv)
        failures.check_limits()  # too little address space for the libraries even to load
        # before any numeric library is imported: they choose their kernels when they load
        with (
            numerics.pinned(numerics.choose_mode(getattr(args, "numerics", None))),
            native_noise_filtered(),
        ):
            return _dispatch(args)
    except UserError as exc:
        print(f"mnist-bench: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # MemoryError, OSError...: the grid names the cell where it can
        line = None if failures.show_traceback() else _failure(exc)
        if line is None:
            raise  # the suite's own bug: its traceback shows
        print(f"mnist-bench: error: {line}", file=sys.stderr)
        return 2
    except OutOfCPUTime:
        print(f"mnist-bench: error: {failures.cpu_time_used_up()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"mnist-bench: {what}; run the same command again to resume", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _failure(exc: Exception) -> str | None:
    """The one line for ``exc`` when the world around the run failed (an operating-system
    error, a resource limit: :func:`mnist_bench.core.failures.describe`) or an outside plug-in
    raised it (:func:`mnist_bench.core.registry.blame`); None for a bug of the suite."""
    if isinstance(exc, MemoryError | ImportError):
        return failures.describe(exc)  # the registries may not even load now
    try:
        from mnist_bench import clustering, features
        from mnist_bench.core.registry import blame
        from mnist_bench.data.datasets import DATASETS

        line = blame(exc, (features.EXTRACTORS, clustering.BACKENDS, DATASETS))
    except Exception:  # the original exception is the one to show
        line = None
    return line if line is not None else failures.describe(exc)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command; its exit status."""
    if args.command == "list":
        cmd_list()
    elif args.command == "run":
        cmd_run(args)
    elif args.command == "compare":
        return cmd_compare(args)
    elif args.command == "export":
        cmd_export(args)
    elif args.command == "scale":
        cmd_scale(args)
    else:
        cmd_report(args)
    return 0
