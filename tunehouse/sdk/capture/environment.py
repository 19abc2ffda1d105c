"""Recording the Python environment: interpreter, OS, host, CPU, GPUs and packages."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import socket
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tunehouse.common.environment_extra import modules_in_folder
from tunehouse.store.records import Environment


def installed_packages() -> list[str]:
    """``name==version`` of every installed distribution, sorted case-insensitively; where
    a name is installed twice, the one found first on ``sys.path`` (the one imported).

    One pass that reads each distribution's metadata file once and looks only at its
    header lines: ``Distribution.metadata`` parses the whole file (long descriptions
    included) with the email parser, and ``dist.version`` parses it again, which took
    hundreds of milliseconds of CPU with a few hundred packages installed."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name, version = _name_and_version(dist)
        if name and name.lower() not in found:
            found[name.lower()] = f"{name}=={version}"
    return [found[key] for key in sorted(found)]


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the metadata header, found as
    ``Distribution.metadata`` finds it (``METADATA``, else ``PKG-INFO``, else an old
    egg-info file); the first of each wins, as in ``Message.__getitem__``."""
    try:
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("")
    except (OSError, UnicodeDecodeError):
        return None, None
    text = text or ""
    end = text.find("\n\n")  # the header's end (a CRLF file is simply read through)
    name = version = None
    for line in (text if end < 0 else text[:end]).splitlines():
        if not line.strip():
            break  # end of the header
        key, sep, value = line.partition(":")
        if not sep or line[0] in " \t":
            continue  # a folded continuation line or no header at all
        key = key.strip().lower()
        if key == "name" and name is None:
            name = value.strip()
        elif key == "version" and version is None:
            version = value.strip()
        if name is not None and version is not None:
            break
    return name, version


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> list[dict[str, Any]]:
    """GPUs seen through nvidia-ml-py (``pynvml``) when it is importable, else ``[]``."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    gpus = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append({
                "index": index,
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "memory_mb": round(memory.total / 2**20),
            })
    except Exception:
        pass
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return gpus


def memory_gb() -> float:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 2)
    except Exception:
        return 0.0


def capture_environment(seed: int | None, packages: bool = True) -> Environment:
    """The environment record of this process."""
    extra: dict[str, Any] = {
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
    }
    for module in ("tensorflow", "keras", "numpy", "torch"):
        loaded = sys.modules.get(module)
        version = getattr(loaded, "__version__", None) if loaded else None
        if version:
            extra[f"{module}_version"] = str(version)
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        extra["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return Environment(
        python=platform.python_version(),
        platform=platform.platform(),
        hostname=socket.gethostname(),
        cpu=cpu_name(),
        cpu_count=os.cpu_count() or 0,
        memory_gb=memory_gb(),
        gpus=gpu_info(),
        packages=installed_packages() if packages else [],
        seed=seed,
        extra=extra,
    )


def distribution_modules() -> frozenset[str]:
    """The top-level module names the installed distributions provide."""
    return frozenset(importlib.metadata.packages_distributions())


def imported_distribution_modules(known: Collection[str]) -> list[str]:
    """The top-level modules this process has imported that belong to installed
    distributions (``known``: :func:`distribution_modules`), less those the script's own
    folder provides (the user's modules), sorted: what a warm interpreter imports ahead
    of a clone (``Environment.extra[WARM_IMPORTS_KEY]``)."""
    names = [name for name in list(sys.modules) if "." not in name and name in known]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    folder = script.resolve().parent if script.is_file() else Path.cwd()
    return sorted(set(names) - set(modules_in_folder(names, folder)))
