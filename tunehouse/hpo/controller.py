"""The search loop: rebuild the study from the trials the controller recorded, then, each
time a child changes and at least every :data:`CHILDREN_POLL_S`, watch the running children,
feed their objective to Optuna, prune or stop them, record the finished ones, and start new
trials while the budget allows.

Between two passes the loop waits on the store's long poll of the children
(:meth:`~tunehouse.store.interfaces.TaskStore.wait_for_children`): a report stored for a
child, or a child's end, wakes it at once (within
:data:`~tunehouse.store.sql.tasks.CHILDREN_CHANGE_POLL_S` of the SQL store when another process
wrote it), so a report is judged and a finished trial's slot refilled in a fraction of a
second, not at the next poll. The regular pass still runs for what no write announces:
time limits, lost leases, the controller's own sign of life and abort requests.

Watching reads, per running child whose row changed since its last read (storing events
sets its ``updated``), its metric summaries (one query) and the objective's series only
when the summary changed; one listing query finds every active child. So a pass woken by
one child's report reads that child's reports, not every child's. A prune decision is
stored on the child (``hpo.outcome``) and its abort requested in the same pass that read
the report, so it reaches the agent with its next heartbeat (every second).

Children nobody runs any more (their lease ran out, or the local agent that ran them
is known to be gone: see :func:`tunehouse.hpo.execution.worker_gone`) are reset and
queued again under the same trial number, at most :data:`MAX_LOST_RETRIES` times; a
server's watchdog may requeue them first, which is the same.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from optuna.trial import Trial, TrialState

from tunehouse.errors import InvalidTransition, NotFound, TunehouseError
from tunehouse.hpo.config import SearchConfig
from tunehouse.hpo.engine import Engine
from tunehouse.hpo.execution import Execution, worker_gone
from tunehouse.hpo.progress import COUNTED, Progress, TrialResult
from tunehouse.hpo.trials import (
    Outcome,
    SeriesWatch,
    TrialSpec,
    create_child,
    drop_pruned_tag,
    final_values,
    intermediate_values,
    read_new_points,
    read_record,
    read_records,
    save_outcome,
    save_spec,
)
from tunehouse.store.base import Store
from tunehouse.store.records import Parameter, StatusChange, Task, TaskQuery, TaskStatus
from tunehouse.store.status import TERMINAL

log = logging.getLogger("tunehouse.hpo")

CHILDREN_POLL_S = 0.5
#: A child whose lease ran out this long ago is lost (the server's watchdog acts sooner).
LOST_GRACE_S = 5.0
MAX_LOST_RETRIES = 3
#: How long the end of a search waits for the children it stopped.
STOP_WAIT_S = 30.0
#: The controller marks itself alive (and learns of an abort request) this often.
ALIVE_EVERY_S = 2.0
_ACTIVE = [TaskStatus.created, TaskStatus.queued, TaskStatus.in_progress]


@dataclass
class Child:
    """A trial and its child task, as the loop tracks it."""

    spec: TrialSpec
    task: Task
    trial: Trial | None = None
    watch: SeriesWatch = field(default_factory=SeriesWatch)
    #: ``running`` until finished, then a :class:`TrialResult` state.
    state: str = "running"
    outcome: Outcome | None = None
    values: list[float] | None = None
    reason: str = ""
    #: The child's ``updated`` when its reports were last read: while it stays the same,
    #: nothing was reported since (storing events sets it), and a pass woken by another
    #: child's write reads nothing of this one.
    read_at: datetime | None = None


@dataclass
class Ending:
    """How the search ended: the controller's final status and reason."""

    status: TaskStatus
    reason: str


class SearchRun:
    """One run of the loop for a controller (see the module doc)."""

    def __init__(self, store: Store, controller: Task, config: SearchConfig, base: Task,
                 base_parameters: list[Parameter], execution: Execution,
                 started: float) -> None:
        self.store = store
        self.controller = controller
        self.config = config
        self.base = base
        self.base_parameters = {f"{p.section}/{p.name}": p for p in base_parameters}
        self.execution = execution
        self.started = started
        self.engine = Engine(config, study_name=controller.id)
        self.progress: Progress | None = None
        self.children: dict[int, Child] = {}
        self.finished_order: list[int] = []
        self.stop_requested = threading.Event()
        self.lock = threading.RLock()
        self.ending: Ending | None = None
        self._last_alive = 0.0
        self._front: list[int] = []
        self._front_at = -1

    # ------------------------------------------------------------ rebuild
    def rebuild(self) -> None:
        """Rebuild the study and the children from the store: the trials the controller
        recorded (``hpo.trials``), nothing else that names it as parent (see
        :mod:`tunehouse.hpo.trials` for how a child maps to a state)."""
        record = read_record(self.store, self.controller.id)
        listed = {task.id: task for task in self._children(None)}
        found: dict[int, tuple[Task, TrialSpec, Outcome | None]] = {}
        for number, task_id in sorted(record.trials.items()):
            task = listed.pop(task_id, None)
            if task is None:
                continue  # deleted since: its number stays used (a failed trial)
            spec, outcome = read_records(self.store, task.id, self.controller.id)
            if spec is None or spec.number != number:
                self._remove_orphan(task)
                continue
            found[number] = (task, spec, outcome)
        for task in listed.values():
            if self._unrecorded_clone(task):
                self._remove_orphan(task)
        finished: list[tuple[datetime, int]] = []
        for number in range(max(found, default=-1) + 1):
            if number not in found:
                self.engine.add(None, TrialState.FAIL)
                continue
            task, spec, outcome = found[number]
            child = Child(spec=spec, task=task, outcome=outcome)
            self.children[number] = child
            if task.status in TERMINAL:
                self._classify(child)
                self._rewrite_reason(child)
                intermediate = ({} if self.config.multi_objective else
                                intermediate_values(self.store, task.id,
                                                    self.config.objectives[0]))
                self.engine.add(spec, _optuna_state(child.state), child.values, intermediate)
                finished.append((_aware(task.completed or task.updated), number))
            else:
                child.trial = self.engine.add(spec, TrialState.RUNNING)
        self.finished_order = [number for _, number in sorted(finished)]
        log.info("search %s: rebuilt %d trial(s), %d running", self.controller.id,
                 len(self.children), sum(c.state == "running" for c in self.children.values()))

    def _unrecorded_clone(self, task: Task) -> bool:
        """Whether ``task``, a child missing from the record, is a clone this search made
        just before a crash, before recording it: a draft of the controller's user in its
        project without a trial spec. Any other child is not the search's to touch."""
        controller = self.controller
        return (task.status is TaskStatus.created and task.project_id == controller.project_id
                and task.user == controller.user
                and read_records(self.store, task.id, controller.id)[0] is None)

    def _remove_orphan(self, task: Task) -> None:
        """A child without a (valid) spec never ran as a trial: remove it if it can."""
        if task.status is TaskStatus.created:
            try:
                self.store.tasks.delete_task(task.id)
                log.info("removed %s: a child the search created but never started", task.id)
            except TunehouseError as exc:
                log.warning("could not remove the unused child %s: %s", task.id, exc.message)

    # ------------------------------------------------------------ the loop
    def run(self) -> Ending:
        """Run until the search ends; returns how."""
        # made now: taking the controller over may have reset its scalars
        self.progress = Progress(self.store, self.controller.id, self.config.objectives,
                                 self.started)
        errors = 0
        version = self._wait_for_change(None, time.monotonic())
        while self.ending is None:
            started = time.monotonic()
            try:
                self.tick()
                errors = 0
            except TunehouseError as exc:
                errors += 1
                log.warning("search %s: %s (retrying)", self.controller.id, exc.message)
                if errors >= 60:
                    raise
            if self.ending is None:
                version = self._wait_for_change(version, started + CHILDREN_POLL_S)
        self._wind_down()
        return self.ending

    def _wait_for_change(self, version: str | None, deadline: float) -> str | None:
        """Wait until the children differ from ``version`` (what they were before the pass
        that just ran: a change during it, the pass's own writes included, ends the wait
        at once) or until ``deadline`` (``time.monotonic()``); returns their version then
        (None when the store could not tell: the next wait then returns at once)."""
        left = max(0.0, deadline - time.monotonic())
        try:
            return self.store.tasks.wait_for_children(self.controller.id, version, left)
        except TunehouseError as exc:
            log.warning("search %s: %s (waiting for the next pass)", self.controller.id,
                        exc.message)
            time.sleep(max(0.0, deadline - time.monotonic()))
            return None

    def tick(self) -> None:
        """One poll: watch, finish, decide whether to end, launch."""
        active = {task.id: task for task in self._children(_ACTIVE)}
        with self.lock:
            for child in self._running():
                self._update(child, active.get(child.task.id))
        why = self._why_end()
        if why is not None:
            self.ending = why
            return
        self._launch()
        self._publish()

    def _update(self, child: Child, record: Task | None) -> None:
        if record is None:
            try:
                record = self.store.tasks.get_task(child.task.id)
            except NotFound:
                child.task = child.task.model_copy(update={"status": TaskStatus.failed})
                child.reason = "the child task was deleted"
                self._finish(child, deleted=True)
                return
        child.task = record
        if record.status in TERMINAL:
            self._finish(child)
        elif record.status is TaskStatus.created:
            self.store.queues.enqueue(record.id, self.execution.queue)
        elif (record.status is TaskStatus.queued and record.queue != self.execution.queue
              and child.outcome is None):  # resumed with another execution
            with contextlib.suppress(InvalidTransition):
                self.store.queues.dequeue(record.id)
                child.task = self.store.queues.enqueue(record.id, self.execution.queue)
        elif record.status is TaskStatus.in_progress:
            self._watch(child, record)
        if (child.outcome is not None and record.status not in TERMINAL
                and not record.abort_requested and record.status is not TaskStatus.created):
            self._abort(child)  # decided before a crash, or the abort was lost

    def _watch(self, child: Child, record: Task) -> None:
        config = self.config
        points = ([] if record.updated == child.read_at else
                  read_new_points(self.store, record.id, config.objectives, child.watch))
        child.read_at = record.updated
        for iteration, value, seen in points:
            child.watch.fed = iteration
            if child.outcome is not None:
                continue
            if (not config.multi_objective and child.trial is not None
                    and self.engine.report(child.trial, iteration, value)):
                self._decide(child, "pruned", f"pruned at iteration {iteration}: value "
                             f"{value:.6g} ({self.engine.rule})", iteration, value, seen)
            elif (config.max_iteration_per_job is not None
                  and iteration >= config.max_iteration_per_job):
                self._decide(child, "stopped", f"stopped at iteration {iteration}: "
                             f"max_iteration_per_job={config.max_iteration_per_job} reached",
                             iteration, value, seen)
        now = time.time()
        if (child.outcome is None and config.time_limit_per_job is not None
                and record.started is not None
                and now - _aware(record.started).timestamp() > config.time_limit_per_job):
            self._decide(child, "stopped", f"stopped after {config.time_limit_per_job:g} s: "
                         f"time_limit_per_job reached (iteration "
                         f"{child.watch.last_iteration})", child.watch.last_iteration,
                         child.watch.last.get(config.objectives[0].label), now)
        lease = record.lease_expires
        if worker_gone(record.worker, self.controller.id) and record.worker != \
                self.execution.worker:
            self._lost(child, record, f"the local agent {record.worker} that ran it is gone")
        elif lease is not None and _aware(lease).timestamp() < now - LOST_GRACE_S:
            self._lost(child, record, f"the lease of worker {record.worker} on attempt "
                                      f"{record.attempt} ran out")

    def _decide(self, child: Child, kind: str, reason: str, iteration: int | None,
                value: float | None, seen: float) -> None:
        child.outcome = Outcome(controller=self.controller.id, number=child.spec.number,
                                kind=kind, reason=reason, iteration=iteration, value=value,
                                seen=seen)
        save_outcome(self.store, child.task.id, child.outcome)
        log.info("trial %d (%s): %s", child.spec.number, child.task.id, reason)
        self._abort(child)

    def _abort(self, child: Child) -> None:
        assert child.outcome is not None
        with contextlib.suppress(InvalidTransition):  # it ended: the next poll records it
            child.task = self.store.tasks.request_abort(child.task.id, child.outcome.reason)

    def _lost(self, child: Child, record: Task, why: str) -> None:
        """Nobody runs ``child`` any more: end it as decided, or run it again."""
        tasks = self.store.tasks
        if child.outcome is not None:
            tasks.change_status(record.id, StatusChange(
                status=TaskStatus.aborted, reason=child.outcome.reason, force=True))
        elif child.spec.retries >= MAX_LOST_RETRIES:
            tasks.change_status(record.id, StatusChange(
                status=TaskStatus.failed, force=True,
                reason=f"lost {child.spec.retries + 1} times; last: {why}"))
        else:
            log.warning("trial %d (%s): %s; running it again", child.spec.number, record.id,
                        why)
            tasks.change_status(record.id, StatusChange(
                status=TaskStatus.created, force=True, reason=f"{why}; run again"))
            child.spec.retries += 1
            save_spec(self.store, record.id, child.spec)
            child.watch.seen.clear()
            self.store.queues.enqueue(record.id, self.execution.queue)

    def _finish(self, child: Child, deleted: bool = False) -> None:
        """Record a child that ended: its last points, its state, Optuna's tell."""
        if not deleted:
            for iteration, value, _ in read_new_points(self.store, child.task.id,
                                                       self.config.objectives, child.watch):
                if not self.config.multi_objective and child.trial is not None:
                    self.engine.report(child.trial, iteration, value, prune=False)
                child.watch.fed = iteration
            self._classify(child)
            self._rewrite_reason(child)
        else:
            child.state = "failed"
        self.engine.tell(child.spec.number, _optuna_state(child.state), child.values)
        child.trial = None
        self.finished_order.append(child.spec.number)
        log.info("trial %d (%s): %s%s", child.spec.number, child.task.id, child.state,
                 f" {child.values}" if child.values else f" ({child.reason})")

    def _classify(self, child: Child) -> None:
        """Set the state, values and reason of an ended child from its status, outcome and
        last objective values (the same rules live and on rebuild)."""
        task = child.task
        if not child.watch.seen:
            read_new_points(self.store, task.id, self.config.objectives, child.watch)
        values = final_values(child.watch, self.config.objectives)
        outcome = child.outcome
        child.reason = outcome.reason if outcome is not None else task.status_reason
        if task.status is TaskStatus.completed:
            child.state = "completed" if values else "failed"
            if not values:
                child.reason = ("completed without reporting "
                                f"{', '.join(o.label for o in self.config.objectives)}")
            elif outcome is not None:
                child.reason = f"completed before it could be {outcome.kind} ({outcome.reason})"
        elif outcome is not None and outcome.kind == "pruned":
            child.state = "pruned"
        elif outcome is not None:
            child.state = "completed" if values else "stopped"
        else:
            child.state = "stopped" if task.status is TaskStatus.aborted else "failed"
        child.values = values if child.state == "completed" else None

    def _rewrite_reason(self, child: Child) -> None:
        """Put the outcome's reason in place of the agent's "aborted on request" (and
        untag a child that completed before its prune took effect)."""
        task, outcome = child.task, child.outcome
        if outcome is not None and outcome.kind == "pruned" and child.state == "completed":
            drop_pruned_tag(self.store, task.id)
        if (outcome is None or task.status is not TaskStatus.aborted
                or task.status_reason == outcome.reason):
            return
        try:
            child.task = self.store.tasks.change_status(task.id, StatusChange(
                status=TaskStatus.aborted, reason=outcome.reason,
                message=task.status_message, force=True))
        except TunehouseError as exc:
            log.warning("could not record why trial %d stopped: %s", child.spec.number,
                        exc.message)

    # ------------------------------------------------------------ ending and launching
    def _why_end(self) -> Ending | None:
        config = self.config
        counts = self.counts()
        if self.stop_requested.is_set():
            return Ending(TaskStatus.aborted, "stopped by request")
        if time.monotonic() - self._last_alive >= ALIVE_EVERY_S:
            self._last_alive = time.monotonic()
            if self.store.tasks.mark_alive(self.controller.id).abort_requested:
                return Ending(TaskStatus.aborted, "aborted on request")
        if (config.max_failed_jobs is not None
                and counts["failed"] >= config.max_failed_jobs):
            last = next((self.children[n] for n in reversed(self.finished_order)
                         if self.children.get(n) and self.children[n].state == "failed"),
                        None)
            detail = (f"; last: trial {last.spec.number} ({last.task.id}): {last.reason}"
                      if last is not None else "")
            return Ending(TaskStatus.failed, f"{counts['failed']} trials failed "
                          f"(max_failed_jobs={config.max_failed_jobs}){detail}")
        if (config.optimization_time_limit is not None
                and time.time() - self.started >= config.optimization_time_limit):
            return Ending(TaskStatus.completed, f"optimization_time_limit of "
                          f"{config.optimization_time_limit:g} s reached; {self.summary()}")
        if len(self.children) >= self.engine.budget and counts["running"] == 0:
            return Ending(TaskStatus.completed, self.summary())
        return None

    def _launch(self) -> None:
        with self.lock:
            while (not self.stop_requested.is_set()
                   and len(self.children) < self.engine.budget
                   and self.counts()["running"] < self.config.max_concurrent):
                trial, spec = self.engine.ask(self.controller.id)
                try:
                    task = create_child(self.store, self.controller, self.base, spec,
                                        self.base_parameters,
                                        name=f"{self.base.name}: trial {spec.number}")
                    task = self.store.queues.enqueue(task.id, self.execution.queue)
                except TunehouseError:
                    self.engine.tell(trial.number, TrialState.FAIL)  # a number never stored
                    raise
                self.children[spec.number] = Child(spec=spec, task=task, trial=trial)
                log.info("trial %d (%s): %s", spec.number, task.id, spec.values)

    def _wind_down(self) -> None:
        """Stop the children still running (recorded ``stopped`` with the reason the
        search ended) and wait for them to end."""
        assert self.ending is not None
        why = f"stopped: the search ended ({self.ending.reason})"
        deadline = time.monotonic() + STOP_WAIT_S
        with self.lock:
            for child in self._running():
                if child.outcome is None:
                    self._decide(child, "stopped", why, child.watch.last_iteration,
                                 child.watch.last.get(self.config.objectives[0].label),
                                 time.time())
        version: str | None = None
        while self._running() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                active = {task.id: task for task in self._children(_ACTIVE)}
                with self.lock:
                    for child in self._running():
                        self._update(child, active.get(child.task.id))
            except TunehouseError as exc:
                log.warning("search %s: %s (retrying)", self.controller.id, exc.message)
            if self._running():
                version = self._wait_for_change(version, started + CHILDREN_POLL_S)
        self._publish(force=True)

    # ------------------------------------------------------------ reading
    def nothing_left(self) -> bool:
        """Whether the budget is used and no trial runs."""
        with self.lock:
            return len(self.children) >= self.engine.budget and not self._running()

    def front(self) -> list[int]:
        """Trial numbers of the best trials (the Pareto front with several objectives)."""
        with self.lock:
            return self.engine.pareto_numbers()

    def _children(self, statuses: list[TaskStatus] | None) -> list[Task]:
        return list(self.store.tasks.iter_tasks(TaskQuery(
            parent_id=self.controller.id, status=statuses, order_by="created",
            descending=False, limit=1000)))

    def _running(self) -> list[Child]:
        return [c for c in self.children.values() if c.state == "running"]

    def counts(self) -> dict[str, int]:
        """Trials per state."""
        counts = dict.fromkeys(COUNTED, 0)
        for child in self.children.values():
            counts[child.state] += 1
        return counts

    def summary(self) -> str:
        counts = self.counts()
        return (f"{len(self.children)} trials: {counts['completed']} completed, "
                f"{counts['pruned']} pruned, {counts['failed']} failed"
                + (f", {counts['stopped']} stopped" if counts["stopped"] else ""))

    def results(self) -> list[TrialResult]:
        """Every trial's result, by number."""
        with self.lock:
            return [TrialResult(number=n, task_id=c.task.id, state=c.state,
                                values=list(c.values) if c.values else None,
                                iteration=c.watch.last_iteration,
                                parameters=dict(c.spec.values), reason=c.reason)
                    for n, c in sorted(self.children.items())]

    def _publish(self, force: bool = False) -> None:
        with self.lock:
            results = self.results()
            if len(self.finished_order) != self._front_at:
                self._front = self.engine.pareto_numbers()
                self._front_at = len(self.finished_order)
            front = list(self._front)
            order = list(self.finished_order)
        if self.progress is None:
            return
        try:
            self.progress.update(results, order, front, force=force)
        except TunehouseError as exc:
            log.warning("search %s: could not report progress: %s", self.controller.id,
                        exc.message)


def _optuna_state(state: str) -> TrialState:
    return {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
            "running": TrialState.RUNNING}.get(state, TrialState.FAIL)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
