"""Failures of the world around a run, each said in one line that names the path or the limit.

The command line (:func:`mnist_bench.cli.main`) hands every exception that reaches it to
:func:`describe`: an operating-system error (``OSError`` and its kinds: a name too long, a file
where a folder belongs or the reverse, a link loop, a read-only or full disk, the file-size
limit), running out of memory, input nested beyond Python's recursion limit, a number beyond 64
bits, a library that could not be loaded or a thread that could not be started for want of
memory. Anything else is the suite's own bug and keeps its traceback (``describe`` returns None).

:func:`check_limits` refuses, before any numeric library loads, an address-space limit
(``ulimit -v``) too small for them to load: below it they do not raise ``MemoryError`` but
abort, crash or spin for ever inside a shared library's start-up code (OpenBLAS retries its
buffer allocation in a loop), where no handler can reach. (A run under a larger limit is the
memory check's: it counts what the libraries' threads will still reserve.)

Only the standard library is imported here: the command line uses this module before anything
else loads.
"""

from __future__ import annotations

import errno
import os
import sys

#: The address space (``RLIMIT_AS``, ``RLIMIT_DATA``) the numeric libraries need to load: this
#: much, and :data:`PER_CPU` more for each CPU (each OpenBLAS starts a thread per CPU, with its
#: stack, buffer and malloc arena). Measured on 2 CPUs: numpy, scipy, scikit-learn and pandas
#: take 495 MiB with one thread and 575 MiB with two; below that their start-up code aborts,
#: crashes or spins for ever. Above it, what a run needs is the memory check's business
#: (:mod:`mnist_bench.core.memory` counts the threads still to come).
MIN_ADDRESS_SPACE = 512 << 20
PER_CPU = 80 << 20
#: The environment variable that, set to 1, shows the traceback of every failure (debugging).
TRACEBACK_ENV = "MNIST_BENCH_TRACEBACK"

#: What each kind of operating-system error means for a user of the suite (after its message).
_HINTS = {
    errno.ENAMETOOLONG: "a name in the path is over {name_max} bytes, or the whole path over "
    "{path_max} bytes",
    errno.ENOTDIR: "a file stands where a folder belongs",
    errno.EISDIR: "a folder stands where a file belongs",
    errno.EEXIST: "a file or link stands where a folder belongs",
    errno.ELOOP: "a symbolic link that leads back to itself, or a chain of too many links",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "this user may not write or read there",
    errno.EPERM: "this user may not do that there",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file-size limit RLIMIT_FSIZE, `ulimit -f`, is {fsize}",
    errno.EMFILE: "the limit on open files RLIMIT_NOFILE, `ulimit -n`, is {nofile}",
    errno.ENFILE: "the system's table of open files is full",
    errno.ENOMEM: "out of memory{memory}",
}


def _limit(name: str) -> int | None:
    """The soft value of resource limit ``name`` (``"RLIMIT_AS"``...), None when unlimited or
    unknown."""
    try:
        import resource

        soft, _ = resource.getrlimit(getattr(resource, name))
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft < 0 else soft


def size(n: int) -> str:
    """``n`` bytes in words: ``512 bytes``, ``10.0 KiB``, ``2.0 GiB``."""
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def memory_limits() -> str:
    """The address-space and data limits set on this process, as words (``""`` when none)."""
    found = [
        f"{name}, `ulimit -{flag}`, is {size(value)}"
        for name, flag in (("RLIMIT_AS", "v"), ("RLIMIT_DATA", "d"))
        if (value := _limit(name)) is not None
    ]
    return f" (the limit {' and '.join(found)})" if found else ""


def needed_to_load() -> int:
    """The address space the numeric libraries need to load on this machine (bytes)."""
    return MIN_ADDRESS_SPACE + PER_CPU * min(os.cpu_count() or 1, 256)


def check_limits() -> None:
    """Refuse (:class:`~mnist_bench.core.errors.UserError`) an address-space or data limit below
    :func:`needed_to_load`, before any numeric library is imported (see the module
    docstring)."""
    from mnist_bench.core.errors import UserError

    need = needed_to_load()
    for name, flag in (("RLIMIT_AS", "v"), ("RLIMIT_DATA", "d")):
        value = _limit(name)
        if value is not None and value < need:
            raise UserError(
                f"not enough memory: the limit {name} (`ulimit -{flag}`) is {size(value)}, "
                f"below the {size(need)} the numeric libraries need to load on "
                f"{os.cpu_count() or 1} CPUs; raise it"
            )


def cpu_time_used_up() -> str:
    """The line for SIGXCPU: the CPU-time limit is reached."""
    seconds = _limit("RLIMIT_CPU")
    limit = f" of {seconds} s" if seconds is not None else ""
    return (
        f"the CPU-time limit RLIMIT_CPU, `ulimit -t`,{limit} is used up; run the same command "
        "again under a higher limit to resume"
    )


def _oserror(exc: OSError) -> str:
    """One line for an operating-system error: the path(s), the system's words, what it means."""
    from mnist_bench.core.atomic import is_temporary

    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None and exc.filename2 is not None:
        source, target = _name(exc.filename), _name(exc.filename2)
        # a temporary of ours renamed over its file: the file is what the user knows
        moved = f"{source} -> " if not is_temporary(os.path.basename(source)) else ""
        where = f"{moved}{target}: "
    elif exc.filename is not None:
        where = f"{_name(exc.filename)}: "
    else:
        where = ""
    if exc.strerror is None:  # raised with a message only (a library's connection timeout...)
        return f"{where}{what}"
    hint = _HINTS.get(exc.errno or 0)
    if hint is None:
        return f"{where}{what}"
    fsize, nofile = _limit("RLIMIT_FSIZE"), _limit("RLIMIT_NOFILE")
    if exc.errno == errno.EFBIG and fsize is None:
        hint = "larger than the file system takes"
    words = hint.format(
        name_max=_pathconf("PC_NAME_MAX", 255),
        path_max=_pathconf("PC_PATH_MAX", 4096),
        fsize=size(fsize) if fsize is not None else "set",
        nofile=nofile if nofile is not None else "reached",
        memory=memory_limits(),
    )
    return f"{where}{what} ({words})"


def _name(filename: object) -> str:
    """An OSError's file name as text (a path, bytes, or a file descriptor's number)."""
    if isinstance(filename, str | bytes | os.PathLike):
        return os.fsdecode(filename)
    return f"file descriptor {filename}" if isinstance(filename, int) else str(filename)


def _pathconf(name: str, default: int) -> int:
    try:
        return os.pathconf("/", name)
    except (OSError, ValueError, AttributeError):
        return default


def _memory() -> str:
    return f"ran out of memory{memory_limits()}; use the dask backend or a smaller --limit"


def describe(exc: BaseException) -> str | None:
    """One line for ``exc`` when it is a failure of the world around the run (see the module
    docstring), else None: the suite's own bug, whose traceback should show."""
    if isinstance(exc, MemoryError):
        return _memory()
    if isinstance(exc, OSError):
        return _oserror(exc)
    if isinstance(exc, RecursionError):
        return (
            "the input is nested too deeply: beyond Python's recursion limit "
            f"({sys.getrecursionlimit()} levels)"
        )
    if isinstance(exc, OverflowError):
        return f"a number too large to hold (beyond 64 bits): {exc}"
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if isinstance(exc, ImportError) and (
        "failed to map segment" in text or "cannot allocate memory" in text
    ):
        return f"a library could not be loaded: {_memory()}"
    if type(exc).__name__ == "BrokenProcessPool":  # a worker killed (memory, a signal)
        return (
            "a worker process died (killed for memory or by a signal: the memory, or the "
            f"address-space limit{memory_limits() or ' (none is set)'}, ran out?)"
        )
    if isinstance(exc, RuntimeError) and "can't start new thread" in text:
        return (
            "cannot start a thread: the memory or the limit on processes (RLIMIT_NPROC, "
            f"`ulimit -u`) is used up{memory_limits()}"
        )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (pandas' ImportError
    of numpy names the loader's error only in its cause)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def show_traceback() -> bool:
    """Whether ``$MNIST_BENCH_TRACEBACK`` asks for the traceback of every failure."""
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0")
