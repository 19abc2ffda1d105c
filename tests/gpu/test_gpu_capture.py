"""GPU capture through nvidia-ml-py, on a machine that has an NVIDIA GPU.

Skipped where nvidia-ml-py sees no GPU (CI and the developers' machines have none); run on
a GPU machine with ``pytest tests/gpu``. A tracked script keeps the GPU busy (with PyTorch
or CuPy, whichever is importable) while the resource monitor samples every half second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunehouse.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _gpu_count() -> int:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 0


pytestmark = pytest.mark.skipif(_gpu_count() == 0, reason="no NVIDIA GPU visible to nvidia-ml-py")

SCRIPT = """
import time
from tunehouse import Task

task = Task.init(project_name="gpu", task_name="busy gpu", auto_resource_monitoring=0.5)
print("TASK_ID=" + task.id, flush=True)
try:
    import torch
    a = torch.randn(8192, 8192, device="cuda")
    deadline = time.time() + 4
    while time.time() < deadline:
        (a @ a).sum().item()
except ImportError:
    import cupy
    a = cupy.random.rand(8192, 8192, dtype=cupy.float32)
    deadline = time.time() + 4
    while time.time() < deadline:
        float((a @ a).sum())
task.close()
"""


def test_environment_and_monitor_record_the_gpu(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    path = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env.update(TUNEHOUSE_HOME=str(home), PYTHONPATH=os.pathsep.join(path))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    task_id = next(line.split("=", 1)[1] for line in done.stdout.splitlines()
                   if line.startswith("TASK_ID="))

    from tunehouse.store.sql import SqlStore

    store = SqlStore.from_settings(Settings.from_env(env=env))
    try:
        gpus = store.tasks.get_environment(task_id).gpus
        assert len(gpus) == _gpu_count()
        assert gpus[0]["name"] and gpus[0]["memory_mb"] > 0
        series = {(m.title, m.series): m for m in store.events.get_metric_summaries(task_id)}
        utilization = series[(":monitor:", "gpu0_utilization")]
        memory = series[(":monitor:", "gpu0_memory_mb")]
        assert utilization.max is not None and utilization.max > 0
        assert memory.max is not None and memory.max > 256  # the 8192x8192 matrices
    finally:
        store.close()
