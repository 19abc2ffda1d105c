"""Starting task processes that die with their agent."""

from __future__ import annotations

import os
import sys

#: Linux: the task's process is killed when the agent dies (``PR_SET_PDEATHSIG``, kept
#: across exec), so an agent killed outright leaves no orphan holding a GPU. The signal
#: comes when the *thread* that started the process ends: start processes from a thread
#: that lives as long as they should.
LAUNCH = ("import ctypes, os, sys\n"
          "ctypes.CDLL(None).prctl(1, 9)\n"
          "if os.getppid() != int(sys.argv[1]): sys.exit(137)\n"
          "os.execv(sys.argv[2], sys.argv[2:])\n")


def launch_prefix() -> list[str]:
    """What goes before a task process's own argv: the ``PR_SET_PDEATHSIG`` launcher on
    Linux, nothing elsewhere."""
    if sys.platform != "linux":
        return []
    return [sys.executable, "-S", "-c", LAUNCH, str(os.getpid())]
