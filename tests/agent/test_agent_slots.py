"""Slots: several tasks at once on CPUs, one GPU each, packed on one GPU; cached venvs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.agent.conftest import StartAgent, console, script_task, unique, wait_for
from tests.helpers.server import ServerProcess
from tunehouse.store.records import TaskStatus

#: Each task leaves a marker and waits (up to a minute) for the markers of the others: all
#: complete only when they ran at the same time.
TOGETHER = textwrap.dedent("""
    import os, sys, time
    folder, me, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    open(os.path.join(folder, me), "w").close()
    for name in ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH",
                 "XLA_PYTHON_CLIENT_PREALLOCATE"):
        print(name, "=", os.environ.get(name), flush=True)
    deadline = time.time() + 60
    while len(os.listdir(folder)) < count:
        if time.time() > deadline:
            sys.exit("the other tasks did not run at the same time")
        time.sleep(0.05)
""")


def _run_together(tmp_path: Path, server: ServerProcess, start_agent: StartAgent, count: int,
                  *options: str) -> list[list[str]]:
    queue = unique("slots")
    folder = tmp_path / "markers"
    folder.mkdir()
    store = server.store()
    try:
        ids = [script_task(store, TOGETHER, argv=[str(folder), f"t{i}", str(count)])
               for i in range(count)]
        for task_id in ids:
            store.queues.enqueue(task_id, queue)
        agent = start_agent(server, "--queue", queue, *options)
        done = [wait_for(store, task_id, timeout=120) for task_id in ids]
        assert [t.status for t in done] == [TaskStatus.completed] * count, agent.log()
        assert {t.worker for t in done} == {agent.name}
        return [console(store, task_id) for task_id in ids]
    finally:
        store.close()


def test_cpu_only_slots_run_three_tasks_at_once(
        tmp_path: Path, server: ServerProcess, start_agent: StartAgent) -> None:
    consoles = _run_together(tmp_path, server, start_agent, 3, "--cpu-only", "--slots", "3")
    assert all("CUDA_VISIBLE_DEVICES = " in lines for lines in consoles)  # empty: no GPU


def test_each_gpu_slot_gets_its_own_device(
        tmp_path: Path, server: ServerProcess, start_agent: StartAgent) -> None:
    consoles = _run_together(tmp_path, server, start_agent, 2, "--gpus", "0,1",
                             "--gpus-per-task", "1")
    seen = sorted(line for lines in consoles for line in lines
                  if line.startswith("CUDA_VISIBLE_DEVICES"))
    assert seen == ["CUDA_VISIBLE_DEVICES = 0", "CUDA_VISIBLE_DEVICES = 1"]
    assert all("TF_FORCE_GPU_ALLOW_GROWTH = None" in lines for lines in consoles)


def test_packed_slots_share_a_gpu_with_memory_growth(
        tmp_path: Path, server: ServerProcess, start_agent: StartAgent) -> None:
    consoles = _run_together(tmp_path, server, start_agent, 2, "--gpus", "0",
                             "--tasks-per-gpu", "2")
    for lines in consoles:
        assert "CUDA_VISIBLE_DEVICES = 0" in lines
        assert "TF_FORCE_GPU_ALLOW_GROWTH = true" in lines
        assert "XLA_PYTHON_CLIENT_PREALLOCATE = false" in lines


def test_venv_environment_is_built_once_and_reused(
        server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("venv")
    script = textwrap.dedent("""
        import sys
        import pyjokes
        import tunehouse
        assert pyjokes.__file__.startswith(sys.prefix), (pyjokes.__file__, sys.prefix)
        print("pyjokes from the task's venv", sys.prefix)
    """)
    store = server.store()
    try:
        ids = [script_task(store, script, packages=["pyjokes==0.8.3", "tunehouse==0.0.0"])
               for _ in range(2)]
        agent = start_agent(server, "--queue", queue, "--cpu-only", "--env", "venv")
        ready = []
        for task_id in ids:
            store.queues.enqueue(task_id, queue)
            done = wait_for(store, task_id, timeout=300)
            lines = console(store, task_id)
            assert done.status is TaskStatus.completed, (done.status_reason, lines, agent.log())
            ready.append(next(line for line in lines if "python" in line and "ready in" in line))
        assert "(built)" in ready[0] and "(cached)" in ready[1]
    finally:
        store.close()
