"""Optuna as the search's engine: the in-memory study, its sampler and pruner per
strategy, new trials (ask), reports and pruning, and the rebuild of the study from the
trials stored as child tasks (``create_trial`` + ``add_trial``).

No Optuna storage besides memory: the store is the only source of truth, and the study is
rebuilt from it whenever a controller starts or resumes.

=============  ============================================  ===============================
strategy       sampler                                       default early stopping
=============  ============================================  ===============================
``grid``       ``GridSampler`` over the indices of           none
               ``SearchSpace.grid()`` (exactly the grid)
``random``     ``RandomSampler``                             none
``tpe``        ``TPESampler`` (constant liar)                none
``bohb``       ``TPESampler`` (constant liar)                ``hyperband``
=============  ============================================  ===============================

Early stopping: ``hyperband`` is ``HyperbandPruner``, ``asha`` is
``SuccessiveHalvingPruner`` (asynchronous successive halving), ``median`` is
``MedianPruner``; iterations are the steps, ``min_iteration_per_job`` the minimum
resource (warm-up for the median rule) and ``max_iteration_per_job`` Hyperband's maximum.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState, create_trial

from tunehouse.hpo.config import SearchConfig
from tunehouse.hpo.trials import TrialSpec

log = logging.getLogger("tunehouse.hpo")

#: Optuna's name of the grid index parameter of a grid search.
GRID_PARAMETER = "hpo/grid_point"
#: Reduction factor of the successive-halving rules (keep the best third at each rung).
REDUCTION_FACTOR = 3

RULES = {
    "hyperband": "Hyperband: not in the best third of its bracket at this rung",
    "asha": "ASHA: not in the best third of the trials at this rung",
    "median": "median rule: worse than the median of earlier trials at this iteration",
}


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` after the last point, which
    only works inside ``study.optimize``: the controller counts the grid itself."""

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        return None


class Engine:
    """The study of one search (see the module doc).

    Args:
        config: The search.
        study_name: The controller's id, so Hyperband's brackets (a hash of study name
            and trial number) are the same after a rebuild.
    """

    def __init__(self, config: SearchConfig, study_name: str) -> None:
        self.config = config
        self.grid: list[dict[str, str]] | None = (
            config.space.grid() if config.strategy == "grid" else None)
        if optuna.logging.get_verbosity() == optuna.logging.INFO:
            # one line per trial on stderr otherwise; the controller reports its own
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            directions=[_direction(o.direction) for o in config.objectives],
            sampler=self._sampler(),
            pruner=self._pruner(), study_name=study_name)

    @property
    def budget(self) -> int:
        """How many trials the search runs (:attr:`SearchConfig.planned_trials`)."""
        return self.config.planned_trials

    @property
    def rule(self) -> str:
        """The early-stopping rule in words ("" without one)."""
        return RULES.get(self.config.early_stopping, "")

    @property
    def prunes(self) -> bool:
        return self.config.early_stopping != "none"

    def _sampler(self) -> optuna.samplers.BaseSampler:
        seed = self.config.seed
        if self.grid is not None:
            return _GridSampler({GRID_PARAMETER: list(range(len(self.grid)))}, seed=seed)
        if self.config.strategy == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)

    def _pruner(self) -> optuna.pruners.BasePruner:
        config = self.config
        minimum = config.min_iteration_per_job
        if config.early_stopping == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=minimum or 1,
                max_resource=config.max_iteration_per_job or "auto",
                reduction_factor=REDUCTION_FACTOR)
        if config.early_stopping == "asha":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=minimum or "auto", reduction_factor=REDUCTION_FACTOR)
        if config.early_stopping == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=minimum or 0)
        return optuna.pruners.NopPruner()

    # ------------------------------------------------------------ new trials
    def ask(self, controller_id: str) -> tuple[Trial, TrialSpec]:
        """A new trial and what to store for it (its number is the study's next)."""
        trial = self.study.ask()
        if self.grid is not None:
            index = trial.suggest_int(GRID_PARAMETER, 0, len(self.grid) - 1)
            values = dict(self.grid[index])
        else:
            values = self.config.space.sample(trial)
        # the grid sampler's copy of the grid is not stored: add() puts it back
        frozen = self.study.get_trials(deepcopy=False)[trial.number]
        system_attrs = {key: value for key, value in frozen.system_attrs.items()
                        if key != "search_space" and _json_able(value)}
        return trial, TrialSpec(
            controller=controller_id, number=trial.number, values=values,
            params=dict(trial.params),
            distributions={name: distribution_to_json(dist)
                           for name, dist in trial.distributions.items()},
            system_attrs=system_attrs)

    # ------------------------------------------------------------ running trials
    def report(self, trial: Trial, iteration: int, value: float, prune: bool = True) -> bool:
        """Hand one intermediate value (single objective) to Optuna; True when ``prune``
        and the pruner says stop."""
        trial.report(value, iteration)
        return prune and self.prunes and trial.should_prune()

    def tell(self, number: int, state: TrialState, values: list[float] | None = None) -> None:
        """Finish trial ``number`` (COMPLETE needs ``values``, one per objective)."""
        if state is TrialState.COMPLETE:
            if values is None:
                raise ValueError("a complete trial needs its values")
            self.study.tell(number, values if len(values) > 1 else values[0])
        else:
            self.study.tell(number, state=state)

    # ------------------------------------------------------------ rebuild
    def add(self, spec: TrialSpec | None, state: TrialState, values: list[float] | None = None,
            intermediate: dict[int, float] | None = None) -> Trial | None:
        """Add a stored trial (``spec`` None: a placeholder for a number never stored);
        answers the live trial for a RUNNING one."""
        params: dict[str, Any] = {}
        distributions: dict[str, BaseDistribution] = {}
        system_attrs: dict[str, Any] = {}
        if spec is not None:
            distributions = {name: json_to_distribution(text)
                             for name, text in spec.distributions.items()}
            params = {name: _external(distributions[name], value)
                      for name, value in spec.params.items() if name in distributions}
            system_attrs = dict(spec.system_attrs)
            if "grid_id" in system_attrs and self.grid is not None:
                system_attrs["search_space"] = {GRID_PARAMETER: list(range(len(self.grid)))}
        else:
            system_attrs = {"tunehouse:placeholder": True}
        if state is TrialState.COMPLETE and values is not None:
            value_args: dict[str, Any] = ({"values": values} if len(values) > 1
                                          else {"value": values[0]})
        elif state is TrialState.PRUNED and intermediate:
            value_args = {"value": intermediate[max(intermediate)]}
        else:
            value_args = {}
        frozen = create_trial(state=state, params=params, distributions=distributions,
                              system_attrs=system_attrs,
                              intermediate_values=(intermediate
                                                   if not self.config.multi_objective
                                                   else None),
                              **value_args)
        self.study.add_trial(frozen)
        if state is not TrialState.RUNNING:
            return None
        stored = self.study.trials[-1]
        return Trial(self.study, stored._trial_id)

    def pareto_numbers(self) -> list[int]:
        """Trial numbers of the best trials: the best one, or the Pareto front.
        (``study.best_trial`` for one objective: ``best_trials`` copies every trial, 60 ms
        at 1,000 trials, and this runs whenever a trial ends.)"""
        try:
            if len(self.study.directions) == 1:
                return [self.study.best_trial.number]
            return [t.number for t in self.study.best_trials]
        except ValueError:
            return []


def _external(distribution: BaseDistribution, value: Any) -> Any:
    """A stored parameter value as Optuna's external form (JSON turns tuple choices and
    the like into lists; categorical values must be one of the choices)."""
    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            if choice == value and type(choice) is type(value):
                return choice
        for choice in distribution.choices:
            if choice == value:
                return choice
    return value


def _direction(name: str) -> StudyDirection:
    return StudyDirection.MAXIMIZE if name == "maximize" else StudyDirection.MINIMIZE


def _json_able(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
