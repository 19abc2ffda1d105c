"""Recording the Python environment: interpreter, OS, host, CPU, GPUs and packages."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import socket
import sys
from typing import Any

from tunehouse.store.records import Environment


def installed_packages() -> list[str]:
    """``name==version`` of every installed distribution, sorted case-insensitively."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and name.lower() not in found:
            found[name.lower()] = f"{name}=={dist.version}"
    return [found[key] for key in sorted(found)]


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
