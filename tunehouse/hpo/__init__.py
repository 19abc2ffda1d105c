"""Hyperparameter search: a search space, Optuna as the engine, tunehouse as the
orchestrator (docs/hpo.md).

* :mod:`.space` / :mod:`.space_text` – the parameter ranges and the YAML syntax.
* :mod:`.optimizer` – :class:`~tunehouse.hpo.optimizer.HyperParameterOptimizer`, the API.
* :mod:`.config` – the search's configuration, checked and stored on the controller task.
* :mod:`.engine` – the in-memory Optuna study: samplers, pruners, rebuild from the store.
* :mod:`.controller` – the loop: launch trials, feed reports to the pruner, stop trials.
* :mod:`.trials` – what each child task carries (trial number, Optuna's view, outcome).
* :mod:`.execution` – through a queue and agents, or ``local=N`` with an in-process agent.
* :mod:`.progress` – results, the controller's scalars and the leaderboard artifact.
* :mod:`.report` – the read model of a search (ranked trials, counts, budget) that the
  command line, the web UI and the optimizer all read.
* :mod:`.importance` – the parameters' importance: one method, cached per state.

Boundary (checked by import-linter in CI): never imports :mod:`tunehouse.server` or
:mod:`tunehouse.cli`; the store is the only source of truth.
"""
