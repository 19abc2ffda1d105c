"""The agent on a machine with NVIDIA GPUs: discovery, one device per slot, two tasks
packed on one GPU, GPU use in heartbeats and in the task's monitor scalars.

Skipped where nvidia-ml-py sees no GPU (CI and the developers' machines have none); run
on a GPU machine with ``pytest tests/gpu`` (docs/agent.md says how). The busy task uses
PyTorch or JAX, whichever the machine has.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.agent.conftest import StartAgent, console, script_task, unique
from tests.gpu.test_gpu_capture import _gpu_count
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
from tunehouse.agent.machine import MachineStats
from tunehouse.store.records import TaskStatus

pytestmark = pytest.mark.skipif(_gpu_count() == 0, reason="no NVIDIA GPU visible to nvidia-ml-py")

BUSY = textwrap.dedent("""
    import os, time
    from tunehouse import Task
    task = Task.init(project_name="gpu-agent", task_name="busy", auto_resource_monitoring=0.5)
    print("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
    deadline = time.time() + 6
    try:
        import torch
        a = torch.randn(4096, 4096, device="cuda")
        while time.time() < deadline:
            (a @ a).sum().item()
    except ImportError:
        import jax.numpy as jnp
        a = jnp.ones((4096, 4096))
        while time.time() < deadline:
            (a @ a).block_until_ready()
    print("done", flush=True)
""")


def test_discovery_sees_every_gpu() -> None:
    stats = MachineStats()
    try:
        assert stats.discover_gpus() == [str(i) for i in range(_gpu_count())]
        sample = stats.sample()
        assert len(sample["gpus"]) == _gpu_count()
        assert {"utilization_percent", "memory_used_mb", "memory_total_mb"} <= set(
            sample["gpus"][0])
    finally:
        stats.close()


def test_two_tasks_packed_on_one_gpu_complete_and_report_gpu_use(
        tmp_path: Path, shared_server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("gpu")
    store = shared_server.store()
    try:
        ids = [script_task(store, BUSY, name=f"busy-{i}") for i in range(2)]
        agent = start_agent(shared_server, "--queue", queue, "--gpus", "0",
                            "--tasks-per-gpu", "2")
        for task_id in ids:
            store.queues.enqueue(task_id, queue)
        busy = [0.0]

        def completed(task_id: str) -> bool:
            """Whether the task completed; notes the GPU's utilisation the agent reports."""
            worker = {w.name: w for w in store.queues.list_workers()}.get(agent.name)
            if worker and worker.stats.get("gpus"):
                busy.append(worker.stats["gpus"][0]["utilization_percent"])
            done = store.tasks.get_task(task_id)
            assert done.status not in (TaskStatus.failed, TaskStatus.aborted), (
                done.status_reason, done.status_message, agent.log())
            return done.status is TaskStatus.completed

        for task_id in ids:
            wait_until(lambda task_id=task_id: completed(task_id), 300,
                       f"GPU task {task_id} to complete", interval=0.2, seen=agent.log)
        busy_seen = max(busy)
        assert busy_seen > 0, "the heartbeats never showed the GPU busy"
        for task_id in ids:
            assert "CUDA_VISIBLE_DEVICES 0" in console(store, task_id)
            series = {s.series for s in store.events.get_metric_summaries(task_id)}
            assert "gpu0_utilization" in series and "gpu1_utilization" not in series
        print(f"peak GPU utilisation in heartbeats: {busy_seen:.0f}%")
    finally:
        store.close()
