"""What this process runs on and how it reports: the CPU, its usable cores, progress lines, and
the native libraries' known noise on stderr, filtered out."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def say(message: str) -> None:
    """One progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Lines the native libraries write to stderr that say nothing to a user of the suite (known,
#: harmless): TensorFlow's start-up notes on a machine without a GPU, and its complaint about a
#: graph attribute its own Keras writes. Each pattern names the exact message, so a real error of
#: the same library still shows.
KNOWN_NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        r"^[IWE]\d{4} .*\] oneDNN custom operations are on\.",
        r"^[IWE]\d{4} .*\] Could not find cuda drivers on your machine, GPU will not be used\.",
        r"^[IWE]\d{4} .*cuda_platform\.cc:\d+\] failed call to cuInit: ",
        r"^[IWE]\d{4} .*\] NodeDef mentions attribute use_unbounded_threadpool which is not in ",
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to ",
    )
)


@contextlib.contextmanager
def native_noise_filtered(noise: tuple[re.Pattern[str], ...] = KNOWN_NOISE) -> Iterator[None]:
    """Within the block, drop the lines written to this process's stderr (file descriptor 2,
    where native libraries write) that match one of ``noise``; every other line passes through.

    The lines go through a pipe that a thread reads; the suite's own lines pass through it too,
    in order. Outside the block stderr is as it was.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no file descriptor 2 to filter (a service, a test harness): nothing to do
        yield
        return
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_pass_lines, args=(read_end, saved, noise), daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the thread reads to its end
        # the thread reads to the pipe's end, unless a child process still holds the pipe
        # (a worker pool that outlives the block): then it goes on passing lines until exit
        thread.join(timeout=2)
        if not thread.is_alive():
            os.close(saved)


def _pass_lines(read_end: int, out: int, noise: tuple[re.Pattern[str], ...]) -> None:
    with open(read_end, "rb", buffering=0, closefd=True) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _write_unless_noise(line + b"\n", out, noise)
        if pending:
            _write_unless_noise(pending, out, noise)


def _write_unless_noise(line: bytes, out: int, noise: tuple[re.Pattern[str], ...]) -> None:
    text = line.decode("utf-8", "replace")
    if not any(pattern.search(text) for pattern in noise):
        with contextlib.suppress(OSError):
            os.write(out, line)
