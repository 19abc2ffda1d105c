"""The controller survives crashes, and trials run through a queue by real agents: a
controller process killed with SIGKILL is resumed, an agent killed mid-trial has its
trial run again elsewhere; budgets and trial numbers hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.wait import wait_until
from tests.hpo.helpers import Env
from tunehouse.errors import Conflict, NotFound
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import UniformParameterRange
from tunehouse.hpo.trials import SPEC_CONFIG, TrialSpec
from tunehouse.store.records import TaskStatus

DRIVER = '''
import json
import sys

from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.space import UniformParameterRange

search = HyperParameterOptimizer(
    sys.argv[1], [UniformParameterRange("x", 0.0, 1.0), UniformParameterRange("y", 0.0, 1.0)],
    "objective", "value", strategy="tpe", total_max_jobs=6, seed=11,
    **json.loads(sys.argv[2]))
search.start()
print(search.id, flush=True)
search.wait()
'''


def _environment(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    environ["TUNEHOUSE_HOME"] = str(home)
    return environ


def test_sigkilled_controller_resumes_without_repeating_trials(env: Env, tmp_path: Path) -> None:
    base = env.base_task(epochs=8, sleep=0.25)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), base, '{"local": 2}'],
                            env=_environment(env.home),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        controller_id = proc.stdout.readline().decode().strip()

        def mid_search() -> bool:
            statuses = [c.status for c in env.children(controller_id)]
            return (statuses.count(TaskStatus.completed) >= 2
                    and TaskStatus.in_progress in statuses)

        wait_until(mid_search, 90, "two finished trials and one running")
        with pytest.raises(Conflict, match="still runs in process"):
            HyperParameterOptimizer.resume(controller_id, store=env.store,
                                           settings=env.settings)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {c.id: c for c in env.children(controller_id)}
    done_before = {i: c for i, c in before.items() if c.status is TaskStatus.completed}
    running_before = [i for i, c in before.items() if c.status is TaskStatus.in_progress]
    assert running_before

    search = HyperParameterOptimizer.resume(controller_id, store=env.store,
                                            settings=env.settings)
    search.start()
    assert search.wait(timeout=120)
    assert search.ending is not None and search.ending[0] == "completed", search.ending
    children = env.children(controller_id)
    assert len(children) == 6
    assert sorted(env.trial_number(c.id) for c in children) == list(range(6))
    assert all(c.status is TaskStatus.completed for c in children)
    for child in children:  # finished trials were not run again
        if child.id in done_before:
            assert child.completed == done_before[child.id].completed
            assert child.attempt == done_before[child.id].attempt
    for task_id in running_before:  # the trials the kill interrupted ran again, same number
        spec = _spec(env, task_id)
        assert spec.retries == 1 and spec.number == env.trial_number(task_id)
    assert {r.number for r in search.results()} == set(range(6))
    assert [row["rank"] for row in env.leaderboard(controller_id)["trials"]] == [1, 2, 3, 4, 5, 6]
    assert env.store.tasks.get_task(controller_id).status is TaskStatus.completed


def _spec(env: Env, task_id: str) -> TrialSpec:
    text = next(c.text for c in env.store.tasks.get_configurations(task_id)
                if c.name == SPEC_CONFIG)
    spec = TrialSpec.from_json(text)
    assert spec is not None
    return spec


@pytest.fixture
def agents(env: Env, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for agent in started:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


def test_trials_run_on_agents_and_a_lost_trial_runs_again(
        env: Env, tmp_path: Path, agents: list[subprocess.Popen[bytes]]) -> None:
    def agent(name: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the test
        proc = subprocess.Popen(
            [sys.executable, "-m", "tunehouse", "agent", "--queue", "hpo-tests", "--cpu-only",
             "--slots", "2", "--lease", "2", "--name", name], env=_environment(env.home),
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        agents.append(proc)
        return proc

    base = env.base_task(epochs=10, sleep=0.2)
    first = agent("agent-one")
    search = HyperParameterOptimizer(
        base, [UniformParameterRange("x", 0.0, 1.0)], "objective", "value",
        strategy="random", execution_queue="hpo-tests", total_max_jobs=3, seed=2,
        store=env.store, settings=env.settings)
    search.start()
    wait_until(lambda: any(c.status is TaskStatus.in_progress and c.worker == "agent-one"
                            for c in env.children(search.id or "")), 60, "a running trial")
    first.send_signal(signal.SIGKILL)
    first.wait()
    lost = [c.id for c in env.children(search.id or "") if c.status is TaskStatus.in_progress]
    agent("agent-two")
    assert search.wait(timeout=120)
    assert search.ending == ("completed", "3 trials: 3 completed, 0 pruned, 0 failed")
    children = env.children(search.id or "")
    assert sorted(env.trial_number(c.id) for c in children) == [0, 1, 2]
    assert all(c.status is TaskStatus.completed and c.worker == "agent-two" for c in children)
    for task_id in lost:
        assert _spec(env, task_id).retries == 1


def test_an_ended_search_resumes_with_a_larger_budget(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.01)
    search = HyperParameterOptimizer(
        base, [UniformParameterRange("x", 0.0, 1.0)], "objective", "value",
        strategy="tpe", local=2, total_max_jobs=2, seed=4, store=env.store,
        settings=env.settings)
    search.start()
    assert search.wait(timeout=60)
    controller_id = search.id or ""
    # a child made just before a crash, before its trial was written: it never ran
    orphan = env.store.tasks.clone_task(base, name="orphan", parent_id=controller_id)

    again = HyperParameterOptimizer.resume(controller_id, store=env.store,
                                           settings=env.settings)
    again.start()  # the budget is used: nothing runs, the results are there to read
    assert again.wait(timeout=5)
    assert len(again.results()) == 2 and again.get_best_parameters()
    with pytest.raises(NotFound):
        env.store.tasks.get_task(orphan.id)

    more = HyperParameterOptimizer.resume(controller_id, store=env.store,
                                          settings=env.settings, total_max_jobs=4)
    assert more.config.total_max_jobs == 4
    more.start()
    assert more.wait(timeout=60)
    assert more.ending == ("completed", "4 trials: 4 completed, 0 pruned, 0 failed")
    children = env.children(controller_id)
    assert sorted(env.trial_number(c.id) for c in children) == [0, 1, 2, 3]
    steps, best = env.scalars(controller_id, "best objective", "objective/value")
    assert steps == [1, 2, 3, 4] and len(best) == 4


def test_queued_trials_move_to_the_execution_of_the_resumed_search(env: Env,
                                                                    tmp_path: Path) -> None:
    base = env.base_task(epochs=2, sleep=0.01)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    options = '{"execution_queue": "nobody-serves-this", "max_number_of_concurrent_tasks": 2}'
    proc = subprocess.Popen([sys.executable, str(driver), base, options],
                            env=_environment(env.home), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        controller_id = proc.stdout.readline().decode().strip()
        # queued, not only made: a child is cloned and recorded before it is enqueued
        wait_until(lambda: [c.queue for c in env.children(controller_id)] ==
                   ["nobody-serves-this"] * 2, 30, "two queued trials")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert {c.queue for c in env.children(controller_id)} == {"nobody-serves-this"}

    search = HyperParameterOptimizer.resume(controller_id, store=env.store,
                                            settings=env.settings, local=2)
    assert search.config.execution_queue is None and search.config.local == 2
    search.start()
    assert search.wait(timeout=60)
    assert search.ending == ("completed", "6 trials: 6 completed, 0 pruned, 0 failed")
    children = env.children(controller_id)
    assert sorted(env.trial_number(c.id) for c in children) == list(range(6))
    assert {c.queue for c in children} == {f"hpo-{controller_id[:12]}"}
