"""NVIDIA GPUs through nvidia-ml-py (``pynvml``), for the SDK's resource monitor and the
agent's machine stats. Without nvidia-ml-py or a driver there are simply no GPUs."""

from __future__ import annotations

import os
from typing import Any


def open_nvml() -> Any:
    """The initialised ``pynvml`` module, or None without nvidia-ml-py or a driver."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def gpu_uuid(nvml: Any, handle: Any) -> str:
    """The UUID (``GPU-...``) of a GPU handle, as text."""
    value = nvml.nvmlDeviceGetUUID(handle)
    return value.decode() if isinstance(value, bytes) else str(value)


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
