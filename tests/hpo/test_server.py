"""One search through a real server (HTTP store) and two real agents."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.helpers.server import ServerProcess
from tests.hpo.helpers import Env
from tunehouse.client import open_store
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import UniformParameterRange
from tunehouse.settings import Settings
from tunehouse.store.records import TaskStatus


def test_a_search_through_a_server_and_two_agents(shared_server: ServerProcess,
                                                  tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env(shared_server.client_env(home=home))
    queue = f"hpo-{uuid.uuid4().hex[:8]}"
    agents: list[subprocess.Popen[bytes]] = []
    with open_store(settings) as store:
        env = Env(home, settings, store)
        try:
            for index in range(2):
                agents.append(subprocess.Popen(
                    [sys.executable, "-m", "tunehouse", "agent", "--queue", queue,
                     "--cpu-only", "--name", f"{queue}-{index}"],
                    env=shared_server.client_env(home=tmp_path / f"agent-{index}"),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
            deadline = time.monotonic() + 60
            names = {f"{queue}-0", f"{queue}-1"}
            while not names <= {w.name for w in store.queues.list_workers()}:
                assert time.monotonic() < deadline, "the agents did not start"
                time.sleep(0.2)
            base = env.base_task(epochs=6, sleep=0.15)
            search = HyperParameterOptimizer(
                base, [UniformParameterRange("x", 0.0, 1.0),
                       UniformParameterRange("y", 0.0, 1.0)],
                "objective", "value", strategy="bohb", execution_queue=queue,
                total_max_jobs=6, max_iteration_per_job=6, seed=3, store=store,
                settings=settings)
            search.start()
            assert search.wait(timeout=150)
        finally:
            for agent in agents:
                agent.send_signal(signal.SIGTERM)
                agent.send_signal(signal.SIGTERM)
            for agent in agents:
                agent.wait(timeout=30)
        assert search.ending is not None and search.ending[0] == "completed", search.ending
        children = env.children(search.id or "")
        assert sorted(env.trial_number(c.id) for c in children) == list(range(6))
        assert {c.worker for c in children} == {f"{queue}-0", f"{queue}-1"}
        for child in children:
            assert child.status in (TaskStatus.completed, TaskStatus.aborted)
            if child.status is TaskStatus.aborted:
                assert child.status_reason.startswith("pruned at iteration ")
        board = env.leaderboard(search.id or "")
        assert len(board["trials"]) == 6 and board["trials"][0]["rank"] == 1
        assert search.get_best_parameters().keys() == {"Args/x", "Args/y"}
