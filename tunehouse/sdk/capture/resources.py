"""Resource usage sampled by a named thread and reported as scalars.

Every ``interval`` seconds ``tunehouse-monitor`` reports, under the title ``:monitor:``,
the machine's CPU and memory use, this process's resident memory and, when nvidia-ml-py
is importable, the utilisation and memory of each GPU the process may use
(``CUDA_VISIBLE_DEVICES``). The iteration is the number of seconds
since the task started.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

MONITOR_TITLE = ":monitor:"
DEFAULT_INTERVAL_S = 5.0

ScalarSink = Callable[[str, str, float, int], None]


class ResourceMonitor:
    """Samples resources every ``interval`` seconds into ``sink(title, series, value, it)``."""

    def __init__(self, sink: ScalarSink, interval: float = DEFAULT_INTERVAL_S) -> None:
        self._sink = sink
        self._interval = interval
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="tunehouse-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        process = psutil.Process()
        process.cpu_percent(None)
        psutil.cpu_percent(None)
        nvml = open_nvml()
        try:
            while not self._stop.wait(self._interval):
                self._sample(psutil, process, nvml)
        finally:
            if nvml is not None:
                with contextlib.suppress(Exception):
                    nvml.nvmlShutdown()

    def _sample(self, psutil: Any, process: Any, nvml: Any) -> None:
        iteration = int(time.monotonic() - self._started)
        report = self._sink
        try:
            memory = psutil.virtual_memory()
            report(MONITOR_TITLE, "cpu_percent", float(psutil.cpu_percent(None)), iteration)
            report(MONITOR_TITLE, "memory_used_percent", float(memory.percent), iteration)
            report(MONITOR_TITLE, "memory_used_gb", memory.used / 2**30, iteration)
            report(MONITOR_TITLE, "process_cpu_percent", float(process.cpu_percent(None)),
                   iteration)
            report(MONITOR_TITLE, "process_rss_mb", process.memory_info().rss / 2**20, iteration)
        except Exception:
            return
        if nvml is None:
            return
        try:
            for index, handle in visible_gpus(nvml):
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                used = nvml.nvmlDeviceGetMemoryInfo(handle).used
                report(MONITOR_TITLE, f"gpu{index}_utilization", float(rates.gpu), iteration)
                report(MONITOR_TITLE, f"gpu{index}_memory_mb", used / 2**20, iteration)
        except Exception:
            return


def visible_gpus(nvml: Any, visible: str | None = None) -> list[tuple[int, Any]]:
    """``(index, handle)`` of the GPUs this process may use: those ``CUDA_VISIBLE_DEVICES``
    names (indices or UUIDs; an agent sets it per slot), numbered as the process sees them
    (0, 1, ...); every GPU when it is unset."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    if visible is None:
        return list(enumerate(handles))
    found = []
    for wanted in (part.strip() for part in visible.split(",")):
        if not wanted:
            continue
        if wanted.isdigit():
            if int(wanted) >= len(handles):
                break  # CUDA stops at the first invalid entry too
            found.append(handles[int(wanted)])
            continue
        match = [h for h in handles if gpu_uuid(nvml, h).startswith(wanted)]
        if not match:
            break
        found.append(match[0])
    return list(enumerate(found))


def gpu_uuid(nvml: Any, handle: Any) -> str:
    """The UUID (``GPU-...``) of a GPU handle, as text."""
    value = nvml.nvmlDeviceGetUUID(handle)
    return value.decode() if isinstance(value, bytes) else str(value)


def open_nvml() -> Any:
    """The initialised ``pynvml`` module, or None without nvidia-ml-py or a driver."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None
