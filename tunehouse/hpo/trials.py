"""The children of a search as stored: what each trial is and how it ended.

A search's trials are the tasks its controller records as its own: the controller's
configuration ``hpo.trials`` (:class:`TrialRecord`) maps each trial number to the child
task made for it, written as the child is made, before anything else is written on it
or it is queued (:func:`create_child`). Naming the controller as parent does not make a
task a trial: the rebuild of a resumed search, the report (and so ``tunehouse hpo show``
and the search page) read the record and leave every other child alone.

Each trial is a child task of the controller (a clone of the base task) that carries

* the parameter ``hpo/trial``: its trial number (the only place the number lives; it
  sorts and filters in task tables like any parameter);
* the configuration ``hpo.trial`` (:class:`TrialSpec`, JSON): the controller's id, the
  number again for checking, the sampled values as stored in the task's parameters, and
  Optuna's own view of the sample (parameters, distributions, system attributes), so the
  study is rebuilt exactly whatever the search space maps values to. It is written
  last, after the parameters: a child without it never ran and is removed on rebuild;
* once the controller stops it, the configuration ``hpo.outcome`` (:class:`Outcome`):
  ``pruned`` (why: iteration, value and the rule that fired) or ``stopped``
  (``max_iteration_per_job``, ``time_limit_per_job`` or the end of the search). It is
  written *before* the abort is requested, so a controller that crashes in between
  finds the decision again. The agent ends an aborted task with "aborted on request";
  the controller then writes the outcome's reason over it (status stays ``aborted``) and
  tags pruned children ``pruned``.

How a child maps to an Optuna state (the same live and on rebuild): ``completed`` ->
COMPLETE with the last reported value of each objective, even when a prune was decided
(it finished before the abort reached it: its reason says so and it loses the ``pruned``
tag; the outcome stays as the record of the decision); an outcome ``pruned`` ->
PRUNED; an outcome ``stopped`` -> COMPLETE with its last values (FAIL when it reported
none); ``failed`` or ``aborted`` without an outcome -> FAIL.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tunehouse.errors import NotFound
from tunehouse.hpo.config import Objective
from tunehouse.store.base import Store
from tunehouse.store.records import Configuration, Parameter, Task, TaskUpdate

TRIAL_SECTION = "hpo"
TRIAL_PARAMETER = "trial"
SPEC_CONFIG = "hpo.trial"
#: The controller's record of the trials it made (:class:`TrialRecord`).
RECORD_CONFIG = "hpo.trials"
OUTCOME_CONFIG = "hpo.outcome"
PRUNED_TAG = "pruned"
#: Tags a clone may have inherited from a base task that was itself a trial.
_TRIAL_TAGS = {PRUNED_TAG}


@dataclass
class TrialSpec:
    """What a child is: stored as its configuration ``hpo.trial``."""

    controller: str
    number: int
    #: The sampled values as written into the child's parameters (``Section/name``).
    values: dict[str, str]
    #: Optuna's parameters (external form) and distributions (Optuna's JSON).
    params: dict[str, Any]
    distributions: dict[str, str]
    system_attrs: dict[str, Any] = field(default_factory=dict)
    #: How often the child was found lost (nobody ran it any more) and run again.
    retries: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrialSpec | None:
        """The spec, or None when ``text`` is not one."""
        try:
            data = json.loads(text)
            return cls(controller=str(data["controller"]), number=int(data["number"]),
                       values=dict(data["values"]), params=dict(data["params"]),
                       distributions=dict(data["distributions"]),
                       system_attrs=dict(data.get("system_attrs") or {}),
                       retries=int(data.get("retries", 0)))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class Outcome:
    """The controller's decision to stop a child: its configuration ``hpo.outcome``."""

    controller: str
    number: int
    #: ``pruned`` or ``stopped``.
    kind: str
    #: Status reason the child ends with, e.g. "pruned at iteration 3: value 0.41 (...)".
    reason: str
    iteration: int | None = None
    value: float | None = None
    #: When the controller read the point that triggered it (its clock).
    seen: float | None = None
    #: When the controller decided (its clock).
    decided: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Outcome | None:
        try:
            data = json.loads(text)
            return cls(**{key: data[key] for key in (
                "controller", "number", "kind", "reason", "iteration", "value", "seen",
                "decided")})
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class TrialRecord:
    """The trials a controller made: its configuration ``hpo.trials``, the one list of
    a search's trials (see the module doc).

    Attributes:
        controller: The controller's id (a clone of a controller carries its source's
            record, which is then not its own: :func:`read_record` ignores it).
        trials: Trial number -> the child task made for it.
    """

    controller: str
    trials: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"controller": self.controller,
                           "trials": {str(n): t for n, t in sorted(self.trials.items())}},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrialRecord | None:
        """The record, or None when ``text`` is not one."""
        try:
            data = json.loads(text)
            return cls(controller=str(data["controller"]),
                       trials={int(n): str(t) for n, t in dict(data["trials"]).items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    @property
    def task_ids(self) -> set[str]:
        """The trials' task ids."""
        return set(self.trials.values())


def record_from(configurations: Iterable[Configuration], controller_id: str) -> TrialRecord:
    """The controller's record among its ``configurations`` (empty when it has none, or
    one that is not its own)."""
    for config in configurations:
        if config.name == RECORD_CONFIG:
            record = TrialRecord.from_json(config.text)
            if record is not None and record.controller == controller_id:
                return record
    return TrialRecord(controller=controller_id)


def read_record(store: Store, controller_id: str) -> TrialRecord:
    """The trials controller ``controller_id`` made (:func:`record_from`)."""
    return record_from(store.tasks.get_configurations(controller_id), controller_id)


def record_trial(store: Store, controller_id: str, number: int, task_id: str) -> None:
    """Add trial ``number`` = task ``task_id`` to the controller's record (replacing an
    earlier task of that number: one made just before a crash, never run)."""
    record = read_record(store, controller_id)
    record.trials[number] = task_id
    store.tasks.set_configuration(controller_id, Configuration(
        name=RECORD_CONFIG, text=record.to_json(),
        description="the trials this search made: number -> task (tunehouse hpo)"))


def trial_parameter(number: int) -> Parameter:
    """The child's ``hpo/trial`` parameter."""
    return Parameter(section=TRIAL_SECTION, name=TRIAL_PARAMETER, value=str(number),
                     type="int", description="trial number in its search")


def create_child(store: Store, controller: Task, base: Task, spec: TrialSpec,
                 base_parameters: dict[str, Parameter], name: str) -> Task:
    """Clone the base task as a ``created`` child of ``controller``, record it as the
    controller's trial ``spec.number``, then write the sampled values, ``hpo/trial`` and,
    last, ``hpo.trial``."""
    child = store.tasks.clone_task(base.id, name=name, parent_id=controller.id,
                                   project=controller.project)
    record_trial(store, controller.id, spec.number, child.id)
    params = [trial_parameter(spec.number)]
    for key, text in spec.values.items():
        section, _, pname = key.partition("/")
        known = base_parameters.get(key)
        params.append(Parameter(section=section, name=pname, value=text,
                                type=known.type if known else "str",
                                description=known.description if known else ""))
    store.tasks.set_parameters(child.id, params)
    if _TRIAL_TAGS & set(child.tags):
        store.tasks.update_task(child.id, TaskUpdate(
            tags=[tag for tag in child.tags if tag not in _TRIAL_TAGS]))
    store.tasks.set_configuration(child.id, Configuration(
        name=SPEC_CONFIG, text=spec.to_json(),
        description="the trial as the search sampled it (tunehouse hpo)"))
    return store.tasks.get_task(child.id)


def read_records(store: Store, child_id: str, controller_id: str
                 ) -> tuple[TrialSpec | None, Outcome | None]:
    """The child's spec and outcome, each None when absent or not of this controller
    (a clone of a former trial carries its source's)."""
    spec: TrialSpec | None = None
    outcome: Outcome | None = None
    for config in store.tasks.get_configurations(child_id):
        if config.name == SPEC_CONFIG:
            spec = TrialSpec.from_json(config.text)
        elif config.name == OUTCOME_CONFIG:
            outcome = Outcome.from_json(config.text)
    if spec is None or spec.controller != controller_id:
        return None, None
    if outcome is not None and (outcome.controller != controller_id
                                or outcome.number != spec.number):
        outcome = None
    return spec, outcome


def save_spec(store: Store, child_id: str, spec: TrialSpec) -> None:
    store.tasks.set_configuration(child_id, Configuration(
        name=SPEC_CONFIG, text=spec.to_json(),
        description="the trial as the search sampled it (tunehouse hpo)"))


def save_outcome(store: Store, child_id: str, outcome: Outcome) -> None:
    store.tasks.set_configuration(child_id, Configuration(
        name=OUTCOME_CONFIG, text=outcome.to_json(),
        description="why the search stopped this trial (tunehouse hpo)"))
    if outcome.kind == "pruned":
        tags = store.tasks.get_task(child_id).tags
        if PRUNED_TAG not in tags:
            store.tasks.update_task(child_id, TaskUpdate(tags=[*tags, PRUNED_TAG]))


def drop_pruned_tag(store: Store, child_id: str) -> None:
    """Take the ``pruned`` tag off a child that completed before its prune took effect."""
    tags = store.tasks.get_task(child_id).tags
    if PRUNED_TAG in tags:
        store.tasks.update_task(child_id, TaskUpdate(
            tags=[tag for tag in tags if tag != PRUNED_TAG]))


@dataclass
class SeriesWatch:
    """What the controller has read of one child's objectives so far."""

    #: Summary (count, last iteration) per objective at the last read.
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Last value and iteration per objective (None: nothing reported yet).
    last: dict[str, float | None] = field(default_factory=dict)
    last_iteration: int | None = None
    #: Highest iteration of the first objective handed to Optuna.
    fed: int = -1


def read_new_points(store: Store, task_id: str, objectives: tuple[Objective, ...],
                    watch: SeriesWatch) -> list[tuple[int, float, float]]:
    """Update ``watch`` from the child's metric summaries and return the first
    objective's new points ``(iteration, value, seen)`` beyond ``watch.fed`` (finite
    values only; ``seen`` is when they were read). Reads the series only when its summary changed."""
    try:
        summaries = {(s.title, s.series): s for s in store.events.get_metric_summaries(task_id)}
    except NotFound:
        return []
    points: list[tuple[int, float, float]] = []
    for index, objective in enumerate(objectives):
        summary = summaries.get((objective.title, objective.series))
        if summary is None:
            continue
        state = (summary.count, summary.last_iteration)
        if watch.seen.get(objective.label) == state:
            continue
        watch.seen[objective.label] = state
        watch.last[objective.label] = _finite(summary.last)
        if index == 0:
            watch.last_iteration = summary.last_iteration
            if summary.last_iteration > watch.fed:
                points = _points_after(store, task_id, objective, watch.fed)
    return points


def _points_after(store: Store, task_id: str, objective: Objective,
                  after: int) -> list[tuple[int, float, float]]:
    """The series' points beyond iteration ``after``, one per iteration (the last
    reported), in order, with the time they were read."""
    data = store.events.get_scalars(task_id, objective.title, objective.series)
    if not data:
        return []
    latest: dict[int, float | None] = {}
    for x, y in zip(data[0].x, data[0].y, strict=True):
        if x > after:
            latest[x] = y
    now = time.time()
    return [(x, y, now) for x, y in sorted(latest.items()) if y is not None and math.isfinite(y)]


def final_values(watch: SeriesWatch, objectives: tuple[Objective, ...]) -> list[float] | None:
    """The last value of every objective, or None when one is missing or not finite."""
    values = [watch.last.get(o.label) for o in objectives]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values if v is not None]


def intermediate_values(store: Store, task_id: str, objective: Objective) -> dict[int, float]:
    """Every finite (iteration -> last value reported there) of ``objective``."""
    data = store.events.get_scalars(task_id, objective.title, objective.series)
    if not data:
        return {}
    found: dict[int, float] = {}
    for x, y in zip(data[0].x, data[0].y, strict=True):
        if y is not None and math.isfinite(y):
            found[x] = float(y)
    return found


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
