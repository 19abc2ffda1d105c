"""The parameters' importance of a search: one method, one definition of the trials it
rests on, computed once per state of the search.

* **Method**: Optuna's fANOVA (``FanovaImportanceEvaluator``) with a fixed seed
  (:data:`SEED`), so the same trials always give the same figures. Optuna's default
  evaluator is not used: it changed from an unseeded fANOVA (Optuna 4) to PED-ANOVA
  (Optuna 5), a different question (what matters to reach the top 10 %).
* **Trials it rests on**: the complete trials (state ``completed``: ran to the end, or
  stopped by a per-trial limit with their last values) with a finite value of the
  **first** objective, each searched value read from the trial's stored parameters. A
  trial whose value lies outside the stored space (unreadable, out of range, not one of
  the choices) is left out, and the note says how many.
* **Encoding**: from the stored search space, per task parameter (``Section/name``):
  ``uniform``, ``loguniform`` and ``int`` ranges are numbers within their bounds;
  ``choice``, ``grid`` and the keys of a parameter set are categorical over the values
  the space lists. So a grid search or a parameter set is judged per parameter, not by
  Optuna's internal index of the grid point or the combination.
* **Cache**: keyed by a hash of everything the figures depend on (space, objective, and
  each complete trial's number, value and parameters), so a running search computes again
  only when a trial completes. At most :data:`CACHE_SIZE` results are kept per process;
  losing them only costs a computation.

scikit-learn (which fANOVA needs) and Optuna are imported on the first computation.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunehouse.hpo.config import Objective
from tunehouse.hpo.progress import TrialResult
from tunehouse.hpo.space import SearchSpace, format_value

#: The one method, named where the figures are shown.
METHOD = "fANOVA"
#: Seed of fANOVA's random forest: the same trials give the same figures.
SEED = 0
#: Fewer complete trials than this give no figures at all.
MIN_TRIALS = 3
RELIABLE_MIN_TRIALS = 15
"""Figures resting on fewer complete trials than :func:`reliable_minimum` are marked
unreliable. Measured with ``benchmarks/importance_reliability.py``: synthetic searches
like the example's (three parameters, and six), 20 independent sets of random trials per
size, compared with the figures of 400 trials. With 10 trials the most important
parameter was wrong in 5 of 20 sets and the largest error of a figure averaged 0.22
(three parameters) to 0.27 (six); with 15 trials for three parameters and 30 for six it
was right in 19 and 20 of 20 and the largest error averaged 0.15 and 0.10. Hence at least
:data:`RELIABLE_MIN_TRIALS`, and at least :data:`RELIABLE_TRIALS_PER_PARAMETER` per
searched parameter."""
#: See :data:`RELIABLE_MIN_TRIALS`.
RELIABLE_TRIALS_PER_PARAMETER = 5
#: Results kept per process (each a few hundred bytes).
CACHE_SIZE = 256
_KEY_VERSION = 1
_NUMERIC = ("uniform", "loguniform", "int")

_CACHE: OrderedDict[str, Importance] = OrderedDict()
_LOCK = threading.Lock()  # one computation at a time: a second caller finds it cached


def reliable_minimum(parameters: int) -> int:
    """Complete trials needed for reliable figures over ``parameters`` searched
    parameters (see :data:`RELIABLE_MIN_TRIALS`)."""
    return max(RELIABLE_MIN_TRIALS, RELIABLE_TRIALS_PER_PARAMETER * parameters)


@dataclass(frozen=True)
class Importance:
    """The importance of each searched parameter for one objective.

    Attributes:
        objective: The objective's label (``title/series``).
        values: ``{"Section/name": share}``, largest first (ties by name), summing to 1;
            empty when there are no figures (``note`` says why).
        n_trials: The complete trials the figures rest on.
        minimum: Complete trials needed for reliable figures (:func:`reliable_minimum`).
        note: Why there are no figures, why they are unreliable, or trials left out.
        method: :data:`METHOD`.
    """

    objective: str
    values: dict[str, float]
    n_trials: int
    minimum: int
    note: str = ""
    method: str = field(default=METHOD)

    @property
    def reliable(self) -> bool:
        """Whether there are figures resting on at least :attr:`minimum` trials."""
        return bool(self.values) and self.n_trials >= self.minimum

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: objective, method, n_trials, minimum, reliable, note and
        ``importance`` as ``[[name, value], ...]`` largest first."""
        return {"objective": self.objective, "method": self.method,
                "n_trials": self.n_trials, "minimum": self.minimum,
                "reliable": self.reliable, "note": self.note,
                "importance": [[name, value] for name, value in self.values.items()]}


@dataclass(frozen=True)
class _Dimension:
    key: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return not self.choices

    def read(self, text: str | None) -> float | str | None:
        """The trial's value in this dimension, or None when outside it."""
        if text is None:
            return None
        if self.numeric:
            try:
                value = float(text)
            except ValueError:
                return None
            slack = 1e-9 * max(1.0, abs(self.low), abs(self.high))
            if not math.isfinite(value) or not self.low - slack <= value <= self.high + slack:
                return None
            return min(max(value, self.low), self.high)
        if text in self.choices:
            return text
        try:
            number = float(text)
        except ValueError:
            return None
        for choice in self.choices:
            try:
                if float(choice) == number:
                    return choice
            except ValueError:
                continue
        return None


def dimensions(space: SearchSpace) -> list[_Dimension]:
    """One dimension per task parameter the space sets (see the module doc)."""
    found: list[_Dimension] = []
    for parameter in space.parameters:
        spec = parameter.to_dict()
        if spec["kind"] in _NUMERIC:
            found.append(_Dimension(parameter.name, float(spec["min"]), float(spec["max"]),
                                    log=spec["kind"] == "loguniform"))
        elif spec["kind"] == "set":
            combinations: list[dict[str, Any]] = spec["combinations"]
            for key in parameter.task_keys():
                texts = [format_value(c[key]) if key in c else "" for c in combinations]
                found.append(_Dimension(key, choices=tuple(dict.fromkeys(texts))))
        else:
            texts = [format_value(value) for value in parameter.grid_values() or []]
            found.append(_Dimension(parameter.name, choices=tuple(dict.fromkeys(texts))))
    return found


def compute_importance(space: SearchSpace, objective: Objective,
                       results: Sequence[TrialResult], index: int = 0) -> Importance:
    """The importance of each searched parameter for ``objective`` (the ``index``-th
    objective of the trials' values) over the complete trials of ``results`` (see the
    module doc); cached per state of the search."""
    dims = dimensions(space)
    minimum = reliable_minimum(len(dims))
    rows: list[tuple[int, float, list[float | str]]] = []
    left_out = 0
    for result in sorted(results, key=lambda r: r.number):
        values = result.values
        if result.state != "completed" or not values or len(values) <= index:
            continue
        value = values[index]
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        point = [dim.read(result.parameters.get(dim.key)) for dim in dims]
        if any(item is None for item in point):
            left_out += 1
            continue
        rows.append((result.number, float(value), [item for item in point if item is not None]))
    count = len(rows)
    left = (f"; {left_out} complete trial{'s' if left_out != 1 else ''} left out (a value "
            f"outside the search space)" if left_out else "")
    if count < MIN_TRIALS:
        return Importance(objective.label, {}, count, minimum,
                          f"needs at least {MIN_TRIALS} complete trials ({count} so far)"
                          + left)
    key = _cache_key(space, objective, rows)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
        try:
            shares = _fanova(dims, objective, rows)
        except ImportError as exc:  # not cached: installing scikit-learn fixes it
            return Importance(objective.label, {}, count, minimum,
                              f"needs scikit-learn (pip install scikit-learn): {exc}")
        if not shares:
            note = "not computable: the complete trials do not vary enough"
        elif count < minimum:
            note = (f"reliable from {minimum} complete trials "
                    f"({RELIABLE_TRIALS_PER_PARAMETER} per parameter, at least "
                    f"{RELIABLE_MIN_TRIALS})")
        else:
            note = ""
        found = Importance(objective.label, shares, count, minimum, (note + left).lstrip("; "))
        _CACHE[key] = found
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return found


def _cache_key(space: SearchSpace, objective: Objective,
               rows: list[tuple[int, float, list[float | str]]]) -> str:
    text = json.dumps({"version": _KEY_VERSION, "method": METHOD, "seed": SEED,
                       "space": space.to_dict(), "objective": [objective.label, objective.sign],
                       "trials": rows}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _fanova(dims: list[_Dimension], objective: Objective,
            rows: list[tuple[int, float, list[float | str]]]) -> dict[str, float]:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
    )

    if optuna.logging.get_verbosity() == optuna.logging.INFO:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # "a new study created ..."
    distributions: dict[str, BaseDistribution] = {
        dim.key: (FloatDistribution(dim.low, dim.high, log=dim.log) if dim.numeric
                  else CategoricalDistribution(dim.choices)) for dim in dims}
    study = optuna.create_study(direction=("maximize" if objective.sign == "max"
                                           else "minimize"),
                                sampler=optuna.samplers.RandomSampler(seed=SEED))
    for _, value, point in rows:
        study.add_trial(optuna.trial.create_trial(
            params=dict(zip(distributions, point, strict=True)),
            distributions=distributions, value=value))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=SEED)
    try:
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial alike
        return {}
    shares = {name: float(share) for name, share in found.items()}
    if not shares or not all(math.isfinite(v) for v in shares.values()):
        return {}
    return dict(sorted(shares.items(), key=lambda item: (-item[1], item[0])))
