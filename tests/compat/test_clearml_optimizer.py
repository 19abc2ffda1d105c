"""ClearML's own ``HyperParameterOptimizer`` with its Optuna strategy against tunehouse,
its trials pulled by ``clearml-agent``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compat.agent_flows import (
    RECORD,
    admin_env,
    open_store,
    serving_agent,
)
from tests.compat.conftest import Key
from tests.helpers.clearml import run_sdk
from tests.helpers.server import ServerProcess
from tunehouse.store.records import TaskQuery, TaskStatus

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(agent_server: ServerProcess) -> ServerProcess:
    """This module's own server, where a pulled task's lease is short."""
    return agent_server


OPTIMIZE = """
import json, sys
from clearml import Task
from clearml.automation import (HyperParameterOptimizer, UniformParameterRange,
                                DiscreteParameterRange)
from clearml.automation.optuna import OptimizerOptuna

task = Task.init(project_name="clearml-agent", task_name="optimizer",
                 task_type=Task.TaskTypes.optimizer, reuse_last_task_id=False,
                 auto_resource_monitoring=False)
optimizer = HyperParameterOptimizer(
    base_task_id=sys.argv[1],
    hyper_parameters=[UniformParameterRange("General/lr", min_value=0.01, max_value=1.0),
                      DiscreteParameterRange("Args/epochs", values=[2, 3])],
    objective_metric_title="loss", objective_metric_series="train",
    objective_metric_sign="min", optimizer_class=OptimizerOptuna,
    execution_queue=sys.argv[2], max_number_of_concurrent_tasks=1, total_max_jobs=3,
    pool_period_min=0.02, min_iteration_per_job=1, max_iteration_per_job=10,
    optuna_sampler=None, save_top_k_tasks_only=None)
# the progress report's period (5 min by default): stop() waits for its next report
optimizer.set_report_period(0.05)
optimizer.start()
optimizer.wait()
top = optimizer.get_top_experiments(top_k=3)
print("TOP=" + json.dumps([t.id for t in top]))
optimizer.stop()
print("OPTIMIZER=" + task.id)
"""


def test_clearml_hyper_parameter_optimizer_with_optuna(server: ServerProcess, admin_key: Key,
                                                       runner_key: Key, sdk_python: Path,
                                                       tmp_path: Path) -> None:
    with serving_agent(server, runner_key, sdk_python, tmp_path / "agent", "optuna",
                "box-e:cpu:0") as agent:
        env = admin_env(server, admin_key, tmp_path)
        recorded = run_sdk(sdk_python, RECORD, env, tmp_path / "record")
        assert recorded.returncode == 0, recorded.stderr
        base = recorded.value("TASK_ID")
        search = run_sdk(sdk_python, OPTIMIZE, env, tmp_path / "optimize",
                         args=(base, "optuna"), timeout=240)
        assert search.returncode == 0, (search.stdout[-3000:], search.stderr[-3000:],
                                        agent.log()[-2000:])
        top = json.loads(search.value("TOP"))
        optimizer = search.value("OPTIMIZER")
    with open_store(server) as store:
        trials = list(store.tasks.iter_tasks(TaskQuery(parent_id=optimizer)))
        assert len(trials) == 3 and all(t.status is TaskStatus.completed for t in trials)
        assert sorted(top) == sorted(t.id for t in trials)
        lrs = {t.id: float(next(p.value for p in store.tasks.get_parameters(t.id)
                                if p.name == "lr")) for t in trials}
        assert len(set(lrs.values())) == 3  # each trial its own sampled value
        finals = {t.id: store.events.get_metric_summaries(t.id) for t in trials}
    last = {tid: next(s.last for s in summaries if s.title == "loss") for tid, summaries
            in finals.items()}
    values = [last[tid] for tid in top]
    assert None not in values and values == sorted(v for v in values if v is not None)
