"""The agent's pure logic: slot plans, GPU lists, the requirements of a venv."""

from __future__ import annotations

import pytest

from tunehouse.agent.python_env import env_key, requirements
from tunehouse.agent.slots import Slot, parse_gpus, plan_slots
from tunehouse.errors import InvalidInput


def test_parse_gpus() -> None:
    assert parse_gpus("0,1, 3") == ["0", "1", "3"]
    assert parse_gpus("0-3") == ["0", "1", "2", "3"]
    assert parse_gpus("GPU-8f2a,GPU-91bc") == ["GPU-8f2a", "GPU-91bc"]
    for bad in ("", "0,0", "3-1"):
        with pytest.raises(InvalidInput):
            parse_gpus(bad)


def test_plan_slots() -> None:
    assert plan_slots([], cpu_slots=3) == [Slot(0), Slot(1), Slot(2)]
    assert [s.gpus for s in plan_slots(["0", "1", "2", "3"])] == [("0",), ("1",), ("2",), ("3",)]
    assert [s.gpus for s in plan_slots(["0", "1", "2", "3"], gpus_per_task=2)] == [
        ("0", "1"), ("2", "3")]
    packed = plan_slots(["0", "1"], tasks_per_gpu=2)
    assert [s.gpus for s in packed] == [("0",), ("1",), ("0",), ("1",)]  # spread first
    assert all(s.shared for s in packed)
    assert packed[0].environment() == {"CUDA_VISIBLE_DEVICES": "0",
                                       "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                                       "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert Slot(0).environment() == {"CUDA_VISIBLE_DEVICES": ""}
    with pytest.raises(InvalidInput, match="groups of 2"):
        plan_slots(["0", "1", "2"], gpus_per_task=2)
    with pytest.raises(InvalidInput, match="--gpus-per-task 1"):
        plan_slots(["0", "1"], gpus_per_task=2, tasks_per_gpu=2)
    with pytest.raises(InvalidInput):
        plan_slots([], cpu_slots=0)


def test_requirements_leave_tunehouse_to_the_agent() -> None:
    listed = ["numpy==1.26.4", "tunehouse==0.3.0", "Keras==3.3.0", "numpy==1.26.4"]
    assert requirements(listed) == ["Keras==3.3.0", "numpy==1.26.4"]
    assert env_key(listed) == env_key(list(reversed(listed)))
    assert env_key(listed) != env_key(["numpy==1.26.3"])
