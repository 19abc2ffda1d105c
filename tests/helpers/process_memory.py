"""Resident memory of another process, read from ``/proc`` (Linux): the current size
(``VmRSS``) and the peak (``VmHWM``), which ``reset_peak`` sets back to the current size.
Used by the large-batch fault tests and the benchmarks that measure the server's memory."""

from __future__ import annotations


def memory_mib(pid: int) -> dict[str, int]:
    """``{"VmRSS": current, "VmHWM": peak}`` of process ``pid``, in MiB (empty once it
    has exited)."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) // 1024
    except FileNotFoundError:
        pass
    return found


def peak_mib(pid: int) -> int:
    """The peak resident memory of ``pid`` in MiB (0 once it has exited)."""
    return memory_mib(pid).get("VmHWM", 0)


def reset_peak(pid: int) -> None:
    """Start measuring the peak afresh from the current size (needs the right to write
    the process's ``clear_refs``: the same user, or root)."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")
