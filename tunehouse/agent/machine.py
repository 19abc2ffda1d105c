"""What the agent reports about its machine: host name, GPUs, CPU, memory and GPU use.

GPUs are found through nvidia-ml-py (``pynvml``) when it is installed and a driver is
present; without either the machine simply has no GPUs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from tunehouse.common.gpus import gpu_uuid, open_nvml


def host_name() -> str:
    return socket.gethostname() or "localhost"


class MachineStats:
    """CPU, memory and per-GPU utilisation and memory, sampled on demand (cheap: the
    caller is the heartbeat, about once a second). ``gpus`` restricts the GPUs reported to
    those (indices or UUIDs) the agent serves."""

    def __init__(self, gpus: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._nvml = open_nvml()
        self._gpus = gpus
        try:
            import psutil

            self._psutil: Any = psutil
            psutil.cpu_percent(None)
        except ImportError:  # pragma: no cover - psutil is a dependency
            self._psutil = None

    def discover_gpus(self) -> list[str]:
        """Indices of every GPU nvidia-ml-py sees ([] without it or without a driver)."""
        if self._nvml is None:
            return []
        with self._lock:
            try:
                return [str(i) for i in range(self._nvml.nvmlDeviceGetCount())]
            except Exception:
                return []

    def sample(self) -> dict[str, Any]:
        stats: dict[str, Any] = {}
        if self._psutil is not None:
            memory = self._psutil.virtual_memory()
            stats.update(cpu_percent=float(self._psutil.cpu_percent(None)),
                         memory_used_percent=float(memory.percent),
                         memory_used_gb=round(memory.used / 2**30, 3),
                         memory_total_gb=round(memory.total / 2**30, 3))
        gpus = self._gpu_stats()
        if gpus:
            stats["gpus"] = gpus
        return stats

    def _gpu_stats(self) -> list[dict[str, Any]]:
        nvml = self._nvml
        if nvml is None:
            return []
        found: list[dict[str, Any]] = []
        with self._lock:
            try:
                for index in range(nvml.nvmlDeviceGetCount()):
                    handle = nvml.nvmlDeviceGetHandleByIndex(index)
                    uuid = gpu_uuid(nvml, handle)
                    if self._gpus is not None and str(index) not in self._gpus \
                            and uuid not in self._gpus:
                        continue
                    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                    found.append({"index": index, "uuid": uuid,
                                  "name": _text(nvml.nvmlDeviceGetName(handle)),
                                  "utilization_percent": float(rates.gpu),
                                  "memory_used_mb": round(memory.used / 2**20, 1),
                                  "memory_total_mb": round(memory.total / 2**20, 1)})
            except Exception:
                return found
        return found

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
