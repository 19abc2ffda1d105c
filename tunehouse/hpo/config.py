"""What a search is: objectives, strategy, budgets, where trials run; checked once and
stored on the controller task (configuration ``hpo``, JSON) so that a resume needs only
the controller's id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tunehouse.errors import InvalidInput
from tunehouse.hpo.space import SearchSpace

#: Sampling strategies: ``bohb`` is TPE sampling with Hyperband pruning.
STRATEGIES = ("grid", "random", "tpe", "bohb")
#: Early-stopping rules (Optuna pruners): ``asha`` is asynchronous successive halving.
EARLY_STOPPING = ("asha", "hyperband", "median", "none")
#: Name of the controller's configuration that holds :class:`SearchConfig`.
CONFIG_NAME = "hpo"
FORMAT_VERSION = 1

_SIGNS = {"max": "max", "maximize": "max", "min": "min", "minimize": "min"}


@dataclass(frozen=True)
class Objective:
    """One reported series to optimise: ``title``/``series`` as given to
    ``report_scalar``, maximised (``sign="max"``) or minimised (``"min"``). A trial's
    value is the last value it reported."""

    title: str
    series: str
    sign: str = "max"

    @property
    def direction(self) -> str:
        """Optuna's name of the direction: ``maximize`` or ``minimize``."""
        return "maximize" if self.sign == "max" else "minimize"

    @property
    def label(self) -> str:
        """``title/series``."""
        return f"{self.title}/{self.series}"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is better than ``b``."""
        return a > b if self.sign == "max" else a < b


def objectives_from(titles: str | Sequence[str], series: str | Sequence[str],
                    signs: str | Sequence[str]) -> tuple[Objective, ...]:
    """The objectives of ``HyperParameterOptimizer``'s arguments: single strings, or lists
    of the same length (a single string is used for every objective)."""
    title_list = [titles] if isinstance(titles, str) else list(titles)
    series_list = [series] if isinstance(series, str) else list(series)
    sign_list = [signs] if isinstance(signs, str) else list(signs)
    count = max(len(title_list), len(series_list), len(sign_list))
    if count == 0:
        raise InvalidInput("give at least one objective (objective_metric_title and "
                           "objective_metric_series)")

    def spread(values: list[str], what: str) -> list[str]:
        if len(values) == 1:
            return values * count
        if len(values) != count:
            raise InvalidInput(f"{what} lists {len(values)} values but there are {count} "
                               f"objectives; give one value or one per objective")
        return values

    found: list[Objective] = []
    for title, name, sign in zip(spread(title_list, "objective_metric_title"),
                                 spread(series_list, "objective_metric_series"),
                                 spread(sign_list, "objective_metric_sign"), strict=True):
        for what, value in (("objective_metric_title", title),
                            ("objective_metric_series", name)):
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"{what} must be non-empty text, not {value!r}")
        if not isinstance(sign, str) or sign.lower() not in _SIGNS:
            raise InvalidInput(f"objective {title}/{name}: objective_metric_sign must be "
                               f"'max' or 'min', not {sign!r}")
        objective = Objective(title, name, _SIGNS[sign.lower()])
        if any(o.label == objective.label for o in found):
            raise InvalidInput(f"the objective {objective.label} is given twice")
        found.append(objective)
    return tuple(found)


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search is, as stored on its controller. See
    :class:`tunehouse.hpo.optimizer.HyperParameterOptimizer` for the meaning of each."""

    base_task_id: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    strategy: str = "bohb"
    early_stopping: str = "hyperband"
    total_max_jobs: int = 20
    max_concurrent: int = 2
    execution_queue: str | None = None
    local: int | None = None
    #: With ``local``: run trials in warm interpreters (:mod:`tunehouse.agent.warm`).
    warm: bool = True
    min_iteration_per_job: int | None = None
    max_iteration_per_job: int | None = None
    time_limit_per_job: float | None = None
    optimization_time_limit: float | None = None
    max_failed_jobs: int | None = None
    seed: int | None = None

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def planned_trials(self) -> int:
        """How many trials the search runs: ``total_max_jobs``, or a grid search's grid
        when that is smaller."""
        if self.strategy == "grid":
            size = self.space.grid_size()
            if size is not None:
                return min(self.total_max_jobs, size)
        return self.total_max_jobs

    def with_changes(self, **changes: Any) -> SearchConfig:
        """A checked copy with ``changes`` (the budgets and execution a resume may
        change)."""
        return check(replace(self, **changes))

    def to_json(self) -> str:
        """The stored form (JSON text)."""
        return json.dumps({
            "version": FORMAT_VERSION, "base_task_id": self.base_task_id,
            "space": self.space.to_dict(),
            "objectives": [{"title": o.title, "series": o.series, "sign": o.sign}
                           for o in self.objectives],
            "strategy": self.strategy, "early_stopping": self.early_stopping,
            "total_max_jobs": self.total_max_jobs, "max_concurrent": self.max_concurrent,
            "execution_queue": self.execution_queue, "local": self.local,
            "warm": self.warm, "min_iteration_per_job": self.min_iteration_per_job,
            "max_iteration_per_job": self.max_iteration_per_job,
            "time_limit_per_job": self.time_limit_per_job,
            "optimization_time_limit": self.optimization_time_limit,
            "max_failed_jobs": self.max_failed_jobs, "seed": self.seed,
        }, indent=2)

    @classmethod
    def from_json(cls, text: str) -> SearchConfig:
        """The configuration :meth:`to_json` wrote.

        Raises:
            InvalidInput: the text is not a stored search configuration.
        """
        try:
            data = json.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise InvalidInput(f"unknown search configuration version "
                                   f"{data.get('version')!r}")
            fields = {key: data[key] for key in (
                "base_task_id", "strategy", "early_stopping", "total_max_jobs",
                "max_concurrent", "execution_queue", "local", "min_iteration_per_job",
                "max_iteration_per_job", "time_limit_per_job", "optimization_time_limit",
                "max_failed_jobs", "seed")}
            fields["warm"] = bool(data.get("warm", True))  # absent before it existed
            objectives = tuple(Objective(o["title"], o["series"], o["sign"])
                               for o in data["objectives"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"the stored search configuration is unreadable: {exc}") from exc
        return check(cls(space=SearchSpace.from_dict(data["space"]), objectives=objectives,
                         **fields))


def default_early_stopping(strategy: str, multi_objective: bool) -> str:
    """``hyperband`` for ``bohb`` with one objective, else ``none``."""
    return "hyperband" if strategy == "bohb" and not multi_objective else "none"


def check(config: SearchConfig) -> SearchConfig:
    """``config`` when every field is acceptable.

    Raises:
        InvalidInput: naming the field and the problem.
    """
    if config.strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {config.strategy!r}; use one of "
                           f"{', '.join(STRATEGIES)}")
    if config.early_stopping not in EARLY_STOPPING:
        raise InvalidInput(f"unknown early_stopping {config.early_stopping!r}; use one of "
                           f"{', '.join(EARLY_STOPPING)}")
    if config.multi_objective and config.early_stopping != "none":
        raise InvalidInput("early stopping needs a single objective: with several "
                           "objectives use early_stopping='none'")
    if (config.execution_queue is None) == (config.local is None):
        raise InvalidInput("give exactly one of execution_queue (trials run by agents "
                           "serving that queue) and local=N (N trials at a time here)")
    if config.execution_queue is not None and (
            not isinstance(config.execution_queue, str) or not config.execution_queue):
        raise InvalidInput("execution_queue must be a queue name")
    _positive_int("local", config.local)
    _positive_int("total_max_jobs", config.total_max_jobs, required=True)
    _positive_int("max_number_of_concurrent_tasks", config.max_concurrent, required=True)
    _positive_int("min_iteration_per_job", config.min_iteration_per_job)
    _positive_int("max_iteration_per_job", config.max_iteration_per_job)
    _positive_int("max_failed_jobs", config.max_failed_jobs)
    if (config.min_iteration_per_job is not None and config.max_iteration_per_job is not None
            and config.min_iteration_per_job > config.max_iteration_per_job):
        raise InvalidInput("min_iteration_per_job must not exceed max_iteration_per_job")
    for name in ("time_limit_per_job", "optimization_time_limit"):
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise InvalidInput(f"{name} must be a positive number of seconds, not {value!r}")
    if config.seed is not None and (isinstance(config.seed, bool)
                                    or not isinstance(config.seed, int)):
        raise InvalidInput(f"seed must be an int, not {config.seed!r}")
    if config.strategy == "grid":
        config.space.grid()  # refuses continuous ranges and huge grids, naming them
    return config


def _positive_int(name: str, value: Any, required: bool = False) -> None:
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a whole number of at least 1, not {value!r}")
