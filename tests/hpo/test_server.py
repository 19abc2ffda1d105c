"""One search through a real server (HTTP store) and two real agents."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_until
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
            names = {f"{queue}-0", f"{queue}-1"}
            wait_until(lambda: names <= {w.name for w in store.queues.list_workers()}, 60,
                       "the two agents to register", interval=0.2)
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


def test_a_search_handed_to_a_services_queue_runs_on_an_agent(
        shared_server: ServerProcess, tmp_path: Path) -> None:
    """``tunehouse hpo start --enqueue services``: the controller itself runs on an agent
    (the laptop may close), its trials on another queue."""
    home = tmp_path / "home"
    client_env = shared_server.client_env(home=home)
    settings = Settings.from_env(client_env)
    tag = uuid.uuid4().hex[:8]
    services, trials = f"services-{tag}", f"trials-{tag}"
    space = tmp_path / "space.yaml"
    space.write_text("x: uniform(0.0, 1.0)\n")
    with open_store(settings) as store:
        env = Env(home, settings, store)
        base = env.base_task(epochs=2)
        started = run_cli(
            "hpo", "start", "--base-task", base, "--space", str(space), "--objective",
            "objective/value:max", "--strategy", "random", "--max-trials", "3", "--queue",
            trials, "--enqueue", services, env=client_env, cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        controller_id = started.stdout.split()[1]
        assert store.tasks.get_task(controller_id).status is TaskStatus.queued
        agent = subprocess.Popen(
            [sys.executable, "-m", "tunehouse", "agent", "--queue", services, "--queue",
             trials, "--cpu-only", "--slots", "3", "--name", f"services-{tag}"],
            env=shared_server.client_env(home=tmp_path / "agent"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        try:
            wait_until(lambda: store.tasks.get_task(controller_id).status in (
                TaskStatus.completed, TaskStatus.failed, TaskStatus.aborted), 180,
                "the search to end", interval=0.3)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=60)
        controller = store.tasks.get_task(controller_id)
        assert controller.status is TaskStatus.completed, (controller.status_reason,
                                                           controller.status_message)
        assert controller.worker == f"services-{tag}"
        children = env.children(controller_id)
        assert sorted(env.trial_number(c.id) for c in children) == [0, 1, 2]
        assert all(c.status is TaskStatus.completed for c in children)
