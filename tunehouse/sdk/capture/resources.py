"""Resource usage sampled by a named thread and reported as scalars.

Every ``interval`` seconds ``tunehouse-monitor`` reports, under the title ``:monitor:``,
the machine's CPU and memory use, this process's resident memory and, when nvidia-ml-py
is importable, the utilisation and memory of each GPU the process may use
(``CUDA_VISIBLE_DEVICES``). The iteration is the number of seconds
since the task started: a sample counter, which does not advance the task's last
iteration (:func:`tunehouse.common.series.is_system_title`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from tunehouse.common.gpus import open_nvml, visible_gpus
from tunehouse.common.series import MONITOR_TITLE

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

