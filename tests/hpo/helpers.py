"""Shared pieces of the search tests: a real embedded store in a temporary home, a base
task whose stored script is a cheap synthetic objective (no TensorFlow), and readers of
what a search left in the store."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunehouse.client import open_store
from tunehouse.common.environment_extra import WARM_IMPORTS_KEY
from tunehouse.hpo.trials import OUTCOME_CONFIG, Outcome
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Environment,
    Parameter,
    Script,
    Task,
    TaskCreate,
    TaskQuery,
)

#: The objective: ``value`` rises over the epochs towards a quality that peaks at
#: x=0.3, y=0.6; ``cost`` (x + y) is a second objective against it. Each epoch is
#: flushed, so it is stored when reported; ``clock/wall`` records when; ``chatter``
#: points per epoch load the store.
OBJECTIVE = '''
import argparse
import time

from tunehouse.sdk.task import Task

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=0.5)
parser.add_argument("--y", type=float, default=0.5)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.05)
parser.add_argument("--fail_above", type=float, default=10.0)
parser.add_argument("--chatter", type=int, default=0)
args = parser.parse_args()
task = Task.init(project_name="hpo-tests", task_name="objective",
                 auto_resource_monitoring=False)
logger = task.get_logger()
if args.x > args.fail_above:
    raise SystemExit(f"x={args.x} is above {args.fail_above}")
quality = 1.0 - (args.x - 0.3) ** 2 - (args.y - 0.6) ** 2
for epoch in range(args.epochs):
    logger.report_scalar("clock", "wall", time.time(), epoch)
    logger.report_scalar("objective", "value", quality * (1 - 0.5 ** (epoch + 1)), epoch)
    logger.report_scalar("objective", "cost", args.x + args.y, epoch)
    for point in range(args.chatter):
        logger.report_scalar("chatter", "point", point, epoch * args.chatter + point)
    task.flush()
    time.sleep(args.sleep)
'''


@dataclass
class Env:
    """A temporary home with its embedded store."""

    home: Path
    settings: Settings
    store: Store

    def base_task(self, epochs: int = 3, sleep: float = 0.05, fail_above: float = 10.0,
                  chatter: int = 0, project: str = "hpo-tests",
                  imports: list[str] | None = None) -> str:
        """A base task running :data:`OBJECTIVE` with these arguments (in ``Args``);
        ``imports``: its environment records them, as an SDK run records what it imported
        (its trials then run in the local agent's warm interpreters)."""
        tasks = self.store.tasks
        task = tasks.create_task(TaskCreate(project=project, name="objective"))
        tasks.set_script(task.id, Script(entry_point="objective.py", script_text=OBJECTIVE,
                                         argv=["objective.py"]))
        tasks.set_parameters(task.id, [
            Parameter(section="Args", name="x", value="0.5", type="float"),
            Parameter(section="Args", name="y", value="0.5", type="float"),
            Parameter(section="Args", name="epochs", value=str(epochs), type="int"),
            Parameter(section="Args", name="sleep", value=str(sleep), type="float"),
            Parameter(section="Args", name="fail_above", value=str(fail_above), type="float"),
            Parameter(section="Args", name="chatter", value=str(chatter), type="int"),
        ])
        if imports is not None:
            tasks.set_environment(task.id, Environment(extra={WARM_IMPORTS_KEY: imports}))
        return task.id

    def children(self, controller_id: str) -> list[Task]:
        return self.store.tasks.list_tasks(TaskQuery(parent_id=controller_id, limit=1000,
                                                     order_by="created",
                                                     descending=False)).tasks

    def trial_number(self, task_id: str) -> int:
        params = {(p.section, p.name): p.value for p in self.store.tasks.get_parameters(task_id)}
        return int(params[("hpo", "trial")])

    def params(self, task_id: str) -> dict[str, str]:
        return {f"{p.section}/{p.name}": p.value
                for p in self.store.tasks.get_parameters(task_id)}

    def outcome(self, task_id: str) -> Outcome | None:
        for config in self.store.tasks.get_configurations(task_id):
            if config.name == OUTCOME_CONFIG:
                return Outcome.from_json(config.text)
        return None

    def leaderboard(self, controller_id: str) -> dict:
        artifact = next(a for a in self.store.artifacts.list_artifacts(controller_id)
                        if a.name == "leaderboard")
        return json.loads(b"".join(self.store.artifacts.open_blob(artifact.sha256)))

    def scalars(self, task_id: str, title: str, series: str) -> tuple[list[int], list[float]]:
        data = self.store.events.get_scalars(task_id, title, series)
        if not data:
            return [], []
        return data[0].x, [v for v in data[0].y if v is not None]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings.from_env({"TUNEHOUSE_HOME": str(home)})
    store = open_store(settings)
    yield Env(home, settings, store)
    store.close()


def max_overlap(tasks: list[Task]) -> int:
    """The most tasks that ran at the same time (from started/completed)."""
    moments: list[tuple[float, int]] = []
    for task in tasks:
        if task.started is None or task.completed is None:
            continue
        moments.append((task.started.timestamp(), 1))
        moments.append((task.completed.timestamp(), -1))
    running = peak = 0
    for _, step in sorted(moments):
        running += step
        peak = max(peak, running)
    return peak


@dataclass
class Seeded:
    """One trial of :func:`seed_search`: its parameters (``Section/name`` -> text), the
    objective's last value (None: it reported none) and how it ended: ``completed``,
    ``failed``, ``pruned`` (the controller's outcome, then aborted) or ``running``."""

    parameters: dict[str, str]
    value: float | None
    end: str = "completed"


def seed_search(store: Store, space: str, trials: list[Seeded], *,
                objective: tuple[str, str, str] = ("objective", "value", "max"),
                total: int | None = None, project: str = "hpo-tests",
                ended: bool = True) -> str:
    """A search whose trials were made through the store, without running anything: a
    base task, its controller (strategy ``random``, queue ``default``) and one child per
    trial as the controller records it (``hpo/trial``, ``hpo.trial``, the objective's
    points, its status). ``total``: the budget (default: the trials); ``ended``: the
    controller ends ``completed``. Returns the controller's id."""
    from tunehouse.hpo.optimizer import HyperParameterOptimizer
    from tunehouse.hpo.space import parse_space
    from tunehouse.hpo.trials import Outcome, TrialSpec, create_child, save_outcome
    from tunehouse.store.records import EventBatch, ScalarEvent, StatusChange, TaskStatus

    title, series, sign = objective
    keys = sorted({key for trial in trials for key in trial.parameters})
    tasks = store.tasks
    base = tasks.create_task(TaskCreate(project=project, name="objective"))
    tasks.set_parameters(base.id, [Parameter(section=key.split("/")[0], name=key.split("/")[1],
                                             value=trials[0].parameters[key])
                                   for key in keys])
    search = HyperParameterOptimizer(base.id, parse_space(space), title, series, sign,
                                     strategy="random", execution_queue="default",
                                     total_max_jobs=total or len(trials), store=store)
    controller = search.create_controller()
    base_parameters = {f"{p.section}/{p.name}": p for p in tasks.get_parameters(base.id)}
    now = time.time()
    for number, trial in enumerate(trials):
        spec = TrialSpec(controller=controller.id, number=number, values=trial.parameters,
                         params={}, distributions={})
        child = create_child(store, controller, base, spec, base_parameters,
                             name=f"objective: trial {number}")
        if trial.end == "running":
            store.queues.enqueue(child.id, "default")
            continue
        tasks.change_status(child.id, StatusChange(status=TaskStatus.in_progress))
        if trial.value is not None:
            store.events.add_events(EventBatch(
                batch_id=uuid.uuid4().hex, task_id=child.id,
                scalars=[ScalarEvent(title, series, it, trial.value * (it + 1) / 2, now)
                         for it in range(2)]))
        if trial.end == "pruned":
            reason = "pruned at iteration 1: value 0.1 (median rule)"
            save_outcome(store, child.id, Outcome(controller=controller.id, number=number,
                                                  kind="pruned", reason=reason, iteration=1))
            tasks.change_status(child.id, StatusChange(status=TaskStatus.aborted,
                                                       reason=reason))
        elif trial.end == "failed":
            tasks.change_status(child.id, StatusChange(status=TaskStatus.failed,
                                                       reason="exit code 1: it broke"))
        else:
            tasks.change_status(child.id, StatusChange(status=TaskStatus.completed))
    if ended:
        tasks.change_status(controller.id, StatusChange(status=TaskStatus.in_progress))
        tasks.change_status(controller.id, StatusChange(status=TaskStatus.completed,
                                                        reason="seeded"))
    return controller.id


def write_leaderboard(store: Store, controller_id: str) -> None:
    """Write the controller's leaderboard as the controller does, from its children."""
    from tunehouse.hpo.progress import Progress
    from tunehouse.hpo.report import load_report

    report = load_report(store, controller_id)
    Progress(store, controller_id, report.objectives, time.time()).write_leaderboard(
        list(report.trials), list(report.front))
