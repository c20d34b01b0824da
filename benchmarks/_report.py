"""Shared output for benchmark scripts: the command, then one line per figure and its target."""

from __future__ import annotations

import platform
import resource
import shlex
import sys


def header(title: str) -> None:
    print(f"# {title}")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    print(f"machine: {platform.machine()}, {platform.python_version()}, "
          f"{_cpus()} cpus")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def figure(name: str, value: float, unit: str, target: str | None = None,
           ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("  [meets target]" if ok else "  [MISSES target]")
    tgt = f"  (target {target})" if target else ""
    print(f"{name:<44} {value:>12,.2f} {unit}{tgt}{verdict}")


def available_mb() -> float | None:
    """Memory the system can give without swapping (MemAvailable), in MiB; None off Linux."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
