"""``HyperParameterOptimizer``: the search in the style users know from ClearML, with
Optuna as the engine and a controller that survives crashes.

::

    from tunehouse.hpo.optimizer import HyperParameterOptimizer
    from tunehouse.hpo.space import DiscreteParameterRange, UniformParameterRange

    search = HyperParameterOptimizer(
        base_task_id="...",
        hyper_parameters=[UniformParameterRange("Args/learning_rate", 0.0001, 0.01),
                          DiscreteParameterRange("Args/batch_size", [16, 32, 64])],
        objective_metric_title="validation", objective_metric_series="accuracy",
        objective_metric_sign="max", strategy="bohb", local=2, total_max_jobs=20)
    search.start()
    search.wait()
    print(search.get_best_parameters())

The controller is a task of type ``optimizer`` holding the whole configuration
(``hpo``), so ``HyperParameterOptimizer.resume(controller_id).start()`` continues a search
whose process died. Its children are clones of the base task (see
:mod:`tunehouse.hpo.trials` for what each carries).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tunehouse.agent.machine import host_name
from tunehouse.client import open_store
from tunehouse.errors import Conflict, InvalidInput, NotFound
from tunehouse.hpo.config import (
    CONFIG_NAME,
    SearchConfig,
    check,
    default_early_stopping,
    objectives_from,
)
from tunehouse.hpo.controller import Ending, SearchRun
from tunehouse.hpo.execution import Execution, LocalExecution, QueueExecution, pid_alive
from tunehouse.hpo.progress import TrialResult
from tunehouse.hpo.report import SearchReport, build_report, load_report
from tunehouse.hpo.space import ParameterRange, SearchSpace
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Configuration,
    Script,
    StatusChange,
    Task,
    TaskCreate,
    TaskStatus,
    TaskType,
)
from tunehouse.store.status import TERMINAL

log = logging.getLogger("tunehouse.hpo")

#: The controller's configuration naming the process that runs it.
PROCESS_CONFIG = "hpo.process"
#: What an agent runs for a controller handed to a queue (see ``enqueue``).
CONTROLLER_SCRIPT = """\
import sys

from tunehouse.cli.main import main

sys.exit(main(["hpo", "resume", "{controller_id}", "--force"]))
"""
#: A controller on another host that showed life this recently is taken as running.
ALIVE_WINDOW_S = 15.0

_LIVE_RUNS: set[str] = set()  # process tokens of the searches running in this process
_LIVE_LOCK = threading.Lock()


class HyperParameterOptimizer:
    """A hyperparameter search over clones of a base task.

    Args:
        base_task_id: The task whose clones are the trials; it must have a recorded
            entry point (its code comes back like any task an agent runs).
        hyper_parameters: The ranges (``tunehouse.hpo.space``), or a ``SearchSpace``.
            Names are ``"Section/name"``; a bare name finds the base task's parameter
            when exactly one matches.
        objective_metric_title: Title of the reported objective (``report_scalar``).
        objective_metric_series: Its series. A trial's value is the last one reported.
        objective_metric_sign: ``"max"`` or ``"min"``. Lists of titles, series and
            signs give several objectives, and a Pareto front instead of one best trial.
        strategy: ``grid`` (exactly the grid, then stop), ``random``, ``tpe`` or ``bohb``
            (TPE sampling with Hyperband pruning).
        early_stopping: ``asha``, ``hyperband``, ``median`` or ``none``; default
            ``hyperband`` for ``bohb``, else ``none`` (always ``none`` with several
            objectives).
        max_number_of_concurrent_tasks: Trials running at once.
        execution_queue: Queue the trials are put in for agents to run.
        local: Run N trials at a time here, with an agent inside this process.
            Give exactly one of ``execution_queue`` and ``local``.
        warm_start: With ``local``: start each trial in an interpreter that imported the
            base task's heavy packages ahead of time (default); False starts every trial
            in a fresh Python.
        total_max_jobs: How many trials in all (a grid search runs at most its grid).
        min_iteration_per_job: The iteration before which no trial is pruned (the
            minimum resource of Hyperband and ASHA, the warm-up of the median rule).
        max_iteration_per_job: A trial whose objective reaches this iteration is stopped
            and counts as complete with its last value (also Hyperband's maximum).
        time_limit_per_job: Seconds a trial may run before it is stopped (complete with
            its last value).
        optimization_time_limit: Seconds the whole search may take, counted from the
            controller's start (a resume after a crash keeps counting).
        max_failed_jobs: The search stops (controller ``failed``) once this many trials
            failed; failed trials below it are recorded and the search goes on.
        seed: Seed of the sampler (same seed, same suggestions for the same results).
        project: Project of the controller and the trials (default: the base task's).
        name: Name of the controller task (default ``HPO: <base task name>``).
        store: Where the records are (default: from ``settings``).
        settings: Settings of the store and, with ``local``, of the trial processes
            (default: from the environment); with ``local`` they must point at the
            same store as ``store``.

    Raises:
        InvalidInput: a bad space, objective, strategy or budget, named; the base task
            lacks a searched parameter.
        NotFound: no base task ``base_task_id``.
    """

    def __init__(self, base_task_id: str,
                 hyper_parameters: Sequence[ParameterRange] | SearchSpace,
                 objective_metric_title: str | Sequence[str],
                 objective_metric_series: str | Sequence[str],
                 objective_metric_sign: str | Sequence[str] = "max",
                 strategy: str = "bohb", early_stopping: str | None = None,
                 max_number_of_concurrent_tasks: int = 2, execution_queue: str | None = None,
                 local: int | None = None, warm_start: bool = True,
                 total_max_jobs: int = 20, min_iteration_per_job: int | None = None,
                 max_iteration_per_job: int | None = None,
                 time_limit_per_job: float | None = None,
                 optimization_time_limit: float | None = None,
                 max_failed_jobs: int | None = None, seed: int | None = None,
                 project: str | None = None, name: str | None = None,
                 store: Store | None = None, settings: Settings | None = None) -> None:
        self._open(store, settings)
        base = self.store.tasks.get_task(base_task_id)
        space = (hyper_parameters if isinstance(hyper_parameters, SearchSpace)
                 else SearchSpace(list(hyper_parameters)))
        space = space.resolve(self.store.tasks.get_parameters(base.id))
        objectives = objectives_from(objective_metric_title, objective_metric_series,
                                     objective_metric_sign)
        if strategy not in ("grid", "random", "tpe", "bohb"):
            raise InvalidInput(f"unknown strategy {strategy!r}; use one of grid, random, "
                               f"tpe, bohb")
        self.config = check(SearchConfig(
            base_task_id=base.id, space=space, objectives=objectives, strategy=strategy,
            early_stopping=(early_stopping if early_stopping is not None
                            else default_early_stopping(strategy, len(objectives) > 1)),
            total_max_jobs=total_max_jobs, max_concurrent=max_number_of_concurrent_tasks,
            execution_queue=execution_queue, local=local, warm=warm_start,
            min_iteration_per_job=min_iteration_per_job,
            max_iteration_per_job=max_iteration_per_job,
            time_limit_per_job=time_limit_per_job,
            optimization_time_limit=optimization_time_limit,
            max_failed_jobs=max_failed_jobs, seed=seed))
        self._project = project or base.project
        self._name = name or f"HPO: {base.name}"
        self._controller: Task | None = None

    def _open(self, store: Store | None, settings: Settings | None) -> None:
        self.settings = settings or Settings.from_env()
        self._owns_store = store is None
        self.store = store if store is not None else open_store(self.settings)
        self._run: SearchRun | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._ending: Ending | None = None
        self._token = f"{os.getpid()}-{id(self)}-{time.time()}"

    # ------------------------------------------------------------ resume
    @classmethod
    def resume(cls, controller_task_id: str, *, store: Store | None = None,
               settings: Settings | None = None, force: bool = False,
               execution_queue: str | None = None, local: int | None = None,
               total_max_jobs: int | None = None,
               max_number_of_concurrent_tasks: int | None = None,
               optimization_time_limit: float | None = None,
               max_failed_jobs: int | None = None,
               time_limit_per_job: float | None = None) -> HyperParameterOptimizer:
        """The search of controller ``controller_task_id``, ready to :meth:`start` again.

        The study is rebuilt from the children: completed, pruned and failed trials stay
        as they are, queued and running ones are adopted (and run again under the same
        trial number when nobody runs them any more), and the budget counts every trial
        already made. The keyword arguments change the stored configuration (giving
        ``execution_queue`` drops ``local`` and the other way round).

        Raises:
            NotFound: no such task.
            InvalidInput: the task is not a search controller.
            Conflict: the controller still runs in a live process (or, on another host,
                showed life within :data:`ALIVE_WINDOW_S`); ``force`` skips the check.
        """
        self = cls.__new__(cls)
        self._open(store, settings)
        controller = self.store.tasks.get_task(controller_task_id)
        stored = {c.name: c.text for c in self.store.tasks.get_configurations(controller.id)}
        if controller.type is not TaskType.optimizer or CONFIG_NAME not in stored:
            raise InvalidInput(f"task {controller.id} is not a search controller (an "
                               f"'optimizer' task with its configuration '{CONFIG_NAME}')")
        if not force:
            _check_not_running(controller, stored.get(PROCESS_CONFIG))
        config = SearchConfig.from_json(stored[CONFIG_NAME])
        changes: dict[str, Any] = {key: value for key, value in {
            "total_max_jobs": total_max_jobs, "max_concurrent": max_number_of_concurrent_tasks,
            "optimization_time_limit": optimization_time_limit,
            "max_failed_jobs": max_failed_jobs, "time_limit_per_job": time_limit_per_job,
        }.items() if value is not None}
        if execution_queue is not None:
            changes.update(execution_queue=execution_queue, local=None)
        if local is not None:
            changes.update(local=local, execution_queue=None)
        self.config = config.with_changes(**changes) if changes else config
        self._project = controller.project
        self._name = controller.name
        self._controller = controller
        return self

    # ------------------------------------------------------------ running
    @property
    def id(self) -> str | None:
        """The controller task's id (None before :meth:`start` of a new search)."""
        return self._controller.id if self._controller is not None else None

    def start(self) -> None:
        """Create the controller (a new search) or take it over (a resumed one), rebuild
        the study from the store and run the search in a background thread. Call
        :meth:`wait` to block until it ends.

        Raises:
            Conflict: already started.
        """
        if self._thread is not None:
            raise Conflict("this search was already started")
        store = self.store
        base = store.tasks.get_task(self.config.base_task_id)
        controller = self.create_controller()
        execution: Execution = (
            LocalExecution(store, self.settings, controller.id, self.config.local,
                           warm=self.config.warm)
            if self.config.local is not None
            else QueueExecution(store, self.config.execution_queue or ""))
        run = SearchRun(store, controller, self.config, base,
                        store.tasks.get_parameters(base.id), execution,
                        started=_started(controller))
        run.rebuild()
        self._run = run
        if controller.status in TERMINAL and run.nothing_left():
            self._ending = Ending(controller.status, controller.status_reason)
            self._done.set()  # an ended search: nothing to run, its results are readable
            return
        controller = self._take_over(controller)
        run.controller = controller
        run.started = _started(controller)
        with _LIVE_LOCK:
            _LIVE_RUNS.add(self._token)
        store.tasks.set_configuration(controller.id, Configuration(
            name=PROCESS_CONFIG, text=json.dumps({"host": host_name(), "pid": os.getpid(),
                                                  "token": self._token}),
            description="the process running this search (tunehouse hpo)"))
        execution.start()
        self._thread = threading.Thread(target=self._main, args=(run, execution),
                                        daemon=True, name=f"hpo-{controller.id[:12]}")
        self._thread.start()

    def create_controller(self) -> Task:
        """The controller task with the search's configuration stored on it, created if
        needed, without running anything: :meth:`enqueue` and :meth:`start` use it."""
        controller = self._controller
        if controller is None:
            controller = self.store.tasks.create_task(TaskCreate(
                project=self._project, name=self._name, type=TaskType.optimizer))
            self._controller = controller
        self.store.tasks.set_configuration(controller.id, Configuration(
            name=CONFIG_NAME, text=self.config.to_json(),
            description="the search: space, objectives, strategy, budgets (tunehouse hpo)"))
        return controller

    def enqueue(self, queue: str) -> Task:
        """Hand the controller itself to ``queue`` (a ``services`` queue, say) instead of
        running it here: an agent there runs ``tunehouse hpo resume ID`` for it, and runs
        it again from the store if that agent is lost. An ended search is reset first
        (:func:`reopen`). Returns the queued controller.

        Raises:
            Conflict: the controller is queued already.
        """
        controller = self.store.tasks.get_task(self.create_controller().id)
        if controller.status is TaskStatus.queued:
            raise Conflict(f"the search {controller.id} is already queued in "
                           f"{controller.queue!r}")
        controller = reopen(self.store, controller)
        launcher = CONTROLLER_SCRIPT.format(controller_id=controller.id)
        self.store.tasks.set_script(controller.id, Script(
            entry_point="tunehouse_search.py", script_text=launcher,
            argv=["tunehouse_search.py"]))
        return self.store.queues.enqueue(controller.id, queue)

    def _take_over(self, controller: Task) -> Task:
        """The controller ``in_progress`` (an ended one is reset first)."""
        if controller.status is TaskStatus.in_progress:
            return controller
        return self.store.tasks.change_status(reopen(self.store, controller).id, StatusChange(
            status=TaskStatus.in_progress, reason="searching"))

    def _main(self, run: SearchRun, execution: Execution) -> None:
        ending = Ending(TaskStatus.failed, "the controller stopped unexpectedly")
        try:
            ending = run.run()
        except Exception as exc:
            log.exception("search %s failed", run.controller.id)
            ending = Ending(TaskStatus.failed, f"the controller failed: {exc}")
        finally:
            try:
                execution.close()
                run.controller = self.store.tasks.change_status(run.controller.id, StatusChange(
                    status=ending.status, reason=ending.reason, message=run.summary()))
                log.info("search %s ended %s: %s", run.controller.id, ending.status.value,
                         ending.reason)
            except Exception:
                log.exception("search %s: could not record its end", run.controller.id)
            finally:
                with _LIVE_LOCK:
                    _LIVE_RUNS.discard(self._token)
                self._ending = ending
                self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the search ends (or ``timeout`` seconds pass); True when it ended.
        Ctrl-C while waiting stops the search (its running trials are aborted)."""
        if self._thread is None and not self._done.is_set():
            raise Conflict("the search was not started")
        try:
            return self._done.wait(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self, timeout: float | None = 60.0) -> None:
        """End the search: no new trials; running ones are aborted and recorded as
        stopped; the controller ends ``aborted`` ("stopped by request"). Waits up to
        ``timeout`` seconds for that."""
        if self._run is not None:
            self._run.stop_requested.set()
        if self._thread is not None:
            self._done.wait(timeout)

    @property
    def ending(self) -> tuple[str, str] | None:
        """``(status, reason)`` the controller ended with, or None while it runs."""
        return (self._ending.status.value, self._ending.reason) if self._ending else None

    def close(self) -> None:
        """Release the store when the search opened it (the search must have ended)."""
        if self._owns_store:
            self.store.close()

    # ------------------------------------------------------------ results
    def report(self) -> SearchReport:
        """The search as shown everywhere (:class:`~tunehouse.hpo.report.SearchReport`):
        the live trials while this process runs it, else what the store holds.

        Raises:
            Conflict: a new search that was not started (nothing to report).
        """
        run = self._run
        if run is not None:
            with run.lock:
                results = run.results()
                front = run.front()
            return build_report(run.controller, self.config, results, front)
        if self._controller is None:
            raise Conflict("the search was not started")
        return load_report(self.store, self._controller.id)

    def results(self) -> list[TrialResult]:
        """Every trial so far, best first (see :class:`~tunehouse.hpo.progress.TrialResult`)."""
        if self._run is None:
            return []
        return list(self.report().trials)

    def get_top_experiments(self, top_k: int) -> list[Task]:
        """The child tasks of the ``top_k`` best complete trials, best first (several
        objectives: the Pareto front first)."""
        found: list[Task] = []
        for result in self.results():
            if len(found) >= top_k or result.state != "completed":
                break
            try:
                found.append(self.store.tasks.get_task(result.task_id))
            except NotFound:
                continue
        return found

    def get_best_parameters(self) -> dict[str, str]:
        """The sampled parameters of the best trial, ``{"Section/name": text}`` as stored
        in its task ({} before any trial completed).

        Raises:
            InvalidInput: the search has several objectives (see
                :meth:`get_pareto_front`).
        """
        if self.config.multi_objective:
            raise InvalidInput("a search with several objectives has no single best trial: "
                               "use get_pareto_front()")
        best = next((r for r in self.results() if r.state == "completed"), None)
        return dict(best.parameters) if best is not None else {}

    def counts(self) -> dict[str, int]:
        """Trials per state: completed, running, pruned, failed, stopped."""
        return dict(self.report().counts) if self._run is not None else {}

    def parameter_importance(self) -> dict[str, float]:
        """The importance of each searched parameter (``"Section/name"``) for the
        objective, largest first, summing to 1: fANOVA with a fixed seed over the
        complete trials, as ``tunehouse hpo show`` and the search page give it ({}
        with fewer than three complete trials or several objectives). The trials it
        rests on and whether that is enough: ``report().importance()``."""
        if self._run is None or self.config.multi_objective:
            return {}
        return dict(self.report().importance().values)

    def get_pareto_front(self) -> list[TrialResult]:
        """The trials no other complete trial beats on every objective (Optuna's
        ``best_trials``), best first by the first objective; one objective: the best."""
        if self._run is None:
            return []
        front = set(self._run.front())
        return [r for r in self.results() if r.number in front and r.state == "completed"]


def reopen(store: Store, controller: Task) -> Task:
    """The one reset of a resumed search: an ended controller goes back to ``created``
    ("resumed"), which clears its scalars and leaderboard for the controller to write
    again; any other is returned as it is. Used by :meth:`HyperParameterOptimizer.start`
    (a resume in this process) and :meth:`HyperParameterOptimizer.enqueue` (a resume
    handed to an agent)."""
    if controller.status not in TERMINAL:
        return controller
    return store.tasks.change_status(controller.id, StatusChange(
        status=TaskStatus.created, reason="resumed", force=True))


def _started(controller: Task) -> float:
    moment = controller.started or controller.created
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _check_not_running(controller: Task, process_text: str | None) -> None:
    """Conflict when the controller's process still runs (see :meth:`resume`)."""
    if controller.status is not TaskStatus.in_progress:
        return
    try:
        process = json.loads(process_text or "{}")
    except ValueError:
        process = {}
    host, pid = process.get("host"), process.get("pid")
    if host == host_name() and isinstance(pid, int):
        if pid == os.getpid():
            with _LIVE_LOCK:
                alive = process.get("token") in _LIVE_RUNS
        else:
            alive = pid_alive(pid)
        if alive:
            raise Conflict(f"the search {controller.id} still runs in process {pid} on this "
                           f"host; stop it first (or resume with force=True)")
        return
    seen = controller.last_seen
    if seen is not None:
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        quiet = (datetime.now(UTC) - seen).total_seconds()
        if quiet < ALIVE_WINDOW_S:
            raise Conflict(f"the search {controller.id} showed life {quiet:.0f} s ago (its "
                           f"controller runs on {host or 'another host'}); stop it first "
                           f"or resume with force=True")
