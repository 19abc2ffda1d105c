"""A search counts only the trials its controller made (its record ``hpo.trials``), not
every task that names the controller as its parent: a task planted under a search,
written straight into the store (as an admin could, past the server's checks) in another
project, with a trial number, a trial spec naming the controller and an objective no
trial reaches, is not shown, ranked or counted by the report, ``tunehouse hpo show``
and the leaderboard, and a resumed search neither adopts nor removes it."""

from __future__ import annotations

import time
import uuid

from tests.helpers.cli import run_cli
from tests.helpers.server import clean_env
from tests.hpo.helpers import Env, Seeded, seed_search, write_leaderboard
from tunehouse.hpo.optimizer import HyperParameterOptimizer
from tunehouse.hpo.report import load_report
from tunehouse.hpo.space import UniformParameterRange
from tunehouse.hpo.trials import SPEC_CONFIG, TrialSpec, read_record, trial_parameter
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Configuration,
    EventBatch,
    Parameter,
    ScalarEvent,
    StatusChange,
    TaskCreate,
    TaskStatus,
)

PLANTED = "planted: trial 0"


def plant(store: Store, controller_id: str, number: int, value: float,
          status: TaskStatus = TaskStatus.completed) -> str:
    """A task of user ``mallory`` in a project of hers whose parent is the search: the
    trial parameter and spec of trial ``number``, ``value`` as its objective."""
    mallory = store.with_user("mallory")
    tasks = mallory.tasks
    task = tasks.create_task(TaskCreate(project=f"mallory-{uuid.uuid4().hex[:6]}",
                                        name=PLANTED, parent_id=controller_id))
    if status is TaskStatus.created:
        return task.id
    tasks.set_parameters(task.id, [trial_parameter(number),
                                   Parameter(section="Args", name="x", value="0.3")])
    tasks.set_configuration(task.id, Configuration(name=SPEC_CONFIG, text=TrialSpec(
        controller=controller_id, number=number, values={"Args/x": "0.3"}, params={},
        distributions={}).to_json()))
    tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
    mallory.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id, scalars=[
        ScalarEvent("objective", "value", 1, value, time.time())]))
    tasks.change_status(task.id, StatusChange(status=status))
    return task.id


def test_the_report_and_the_command_line_show_only_the_recorded_trials(env: Env) -> None:
    trials = [Seeded({"Args/x": "0.1"}, 0.3), Seeded({"Args/x": "0.2"}, 0.5)]
    controller = seed_search(env.store, "Args/x: uniform(0.0, 1.0)", trials)
    recorded = read_record(env.store, controller).trials
    assert sorted(recorded) == [0, 1]
    planted = {plant(env.store, controller, 0, 1000.0), plant(env.store, controller, 2, 999.0)}

    for report in (load_report(env.store, controller),
                   (write_leaderboard(env.store, controller),
                    load_report(env.store, controller))[1]):
        assert [(t.number, t.task_id) for t in report.trials] == [
            (1, recorded[1]), (0, recorded[0])]
        assert report.best is not None and report.best.values == [0.5]
        assert report.counts["completed"] == 2 and report.budget.made == 2
        assert not planted & set(report.names)
    assert load_report(env.store, controller).source == "leaderboard"
    assert all(row["task_id"] not in planted for row in env.leaderboard(controller)["trials"])

    shown = run_cli("hpo", "show", controller, cwd=env.home, env=clean_env(
        TUNEHOUSE_HOME=str(env.home), COLUMNS="200"))
    assert shown.returncode == 0, shown.stderr
    assert "leaderboard (2 trials)" in shown.stdout
    assert PLANTED not in shown.stdout and "1000" not in shown.stdout


def test_a_resumed_search_neither_adopts_nor_removes_planted_children(env: Env) -> None:
    base = env.base_task(epochs=2, sleep=0.01)
    search = HyperParameterOptimizer(
        base, [UniformParameterRange("x", 0.0, 1.0)], "objective", "value",
        strategy="random", local=2, total_max_jobs=2, seed=4, store=env.store,
        settings=env.settings)
    search.start()
    assert search.wait(timeout=60)
    controller = search.id or ""
    made = {c.id for c in env.children(controller)}
    # the next trial number, as if the search had made it; and a draft with no spec (the
    # rebuild removes drafts the search made itself just before a crash)
    done = plant(env.store, controller, 2, 1000.0)
    draft = plant(env.store, controller, 3, 0.0, status=TaskStatus.created)

    more = HyperParameterOptimizer.resume(controller, store=env.store, settings=env.settings,
                                          total_max_jobs=3)
    more.start()
    assert more.wait(timeout=60)
    assert more.ending == ("completed", "3 trials: 3 completed, 0 pruned, 0 failed")
    results = more.results()
    assert sorted(r.number for r in results) == [0, 1, 2]
    assert done not in {r.task_id for r in results} and max(r.values[0] for r in results
                                                            if r.values) < 1000
    ours = set(read_record(env.store, controller).trials.values())
    assert made < ours and done not in ours and len(ours) == 3
    assert env.store.tasks.get_task(done).status is TaskStatus.completed  # left alone
    assert env.store.tasks.get_task(draft).status is TaskStatus.created
    report = load_report(env.store, controller)
    assert {t.task_id for t in report.trials} == ours
    assert [row["rank"] for row in env.leaderboard(controller)["trials"]] == [1, 2, 3]
