"""``python -m bench.peak REPORT ARGS...``: run ``accord ARGS...`` as its console script does, then write its cost to REPORT.

The bench runs each command it measures through this module in a child
process of its own, so that the command starts, spawns its worker
processes and grows its memory exactly as ``accord`` on a user's machine.
REPORT receives one JSON object:

``exit_code``
    what ``accord`` exited with
``main_peak_kib``, ``worker_peak_kib``
    peak resident memory of this process (``VmHWM`` where ``/proc`` has it:
    ``getrusage`` keeps, across ``exec``, the peak of the process that
    forked it, so a bench grown to 175 MiB made every command seem that
    large), and of the largest of the child processes it waited for (its
    verify workers), from ``getrusage``
``main_cpu_seconds``, ``worker_cpu_seconds``
    user + system CPU time of this process, and of its children together
``command_seconds``
    wall-clock seconds inside the command, without the interpreter's start

Nothing but the standard library is imported before the command runs, so
the memory figures hold nothing the bench adds.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(argv: list[str]) -> int:
    report, *arguments = argv
    start = time.perf_counter()
    from cli.main import accord

    try:
        accord.main(args=arguments, prog_name="accord")
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    document = {
        "exit_code": code,
        "main_peak_kib": own_peak_kib(own.ru_maxrss),
        "worker_peak_kib": children.ru_maxrss,
        "main_cpu_seconds": own.ru_utime + own.ru_stime,
        "worker_cpu_seconds": children.ru_utime + children.ru_stime,
        "command_seconds": seconds,
    }
    with open(report, "w", encoding="utf-8") as out:
        json.dump(document, out)
    return code


def own_peak_kib(fallback: int) -> int:
    """This process's peak resident memory since its ``exec``, in KiB (``fallback`` without ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return fallback


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
