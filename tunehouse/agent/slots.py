"""Slots: how many tasks an agent runs at once, and which GPUs each one sees.

* ``--gpus 0,1,2,3 --gpus-per-task 1``: four slots, one GPU each.
* ``--gpus 0,1,2,3 --gpus-per-task 2``: two slots of two GPUs.
* ``--gpus 0 --tasks-per-gpu 8``: eight slots packed on one GPU; their processes get
  TensorFlow's memory growth on and JAX's preallocation off, so that they share it.
* ``--cpu-only --slots 3``: three slots that see no GPU at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunehouse.errors import InvalidInput


@dataclass(frozen=True)
class Slot:
    """One place a task runs: its index and the GPUs (ids as given to ``--gpus``)."""

    index: int
    gpus: tuple[str, ...] = ()
    #: Other slots use the same GPUs (``--tasks-per-gpu`` > 1).
    shared: bool = False

    def environment(self) -> dict[str, str]:
        """Variables a task's process gets in this slot."""
        env = {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus)}
        if self.shared:
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return env

    @property
    def label(self) -> str:
        return f"slot {self.index} (GPU {','.join(self.gpus)})" if self.gpus else \
            f"slot {self.index} (CPU)"


def parse_gpus(text: str) -> list[str]:
    """``"0,1,2"`` -> ``["0", "1", "2"]``; also ranges ``"0-3"`` and GPU UUIDs."""
    found: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if dash and low.isdigit() and high.isdigit():
            if int(high) < int(low):
                raise InvalidInput(f"--gpus: the range {part!r} runs backwards")
            found.extend(str(i) for i in range(int(low), int(high) + 1))
        else:
            found.append(part)
    if len(set(found)) != len(found):
        raise InvalidInput(f"--gpus lists a GPU twice: {text!r}")
    if not found:
        raise InvalidInput("--gpus is empty")
    return found


def plan_slots(gpus: list[str], gpus_per_task: int = 1, tasks_per_gpu: int = 1,
               cpu_slots: int = 1) -> list[Slot]:
    """The slots for ``gpus`` (empty: CPU only, ``cpu_slots`` of them)."""
    if gpus_per_task < 1 or tasks_per_gpu < 1 or cpu_slots < 1:
        raise InvalidInput("--gpus-per-task, --tasks-per-gpu and --slots must be at least 1")
    if not gpus:
        return [Slot(index) for index in range(cpu_slots)]
    if tasks_per_gpu > 1 and gpus_per_task > 1:
        raise InvalidInput("--tasks-per-gpu packs several tasks on one GPU: use it with "
                           "--gpus-per-task 1")
    if len(gpus) % gpus_per_task:
        raise InvalidInput(f"{len(gpus)} GPU(s) cannot be split in groups of "
                           f"{gpus_per_task} (--gpus-per-task)")
    groups = [tuple(gpus[i:i + gpus_per_task]) for i in range(0, len(gpus), gpus_per_task)]
    # round-robin, so that the lowest free slot spreads tasks over the GPUs first
    slots: list[Slot] = []
    for _ in range(tasks_per_gpu):
        for group in groups:
            slots.append(Slot(len(slots), group, shared=tasks_per_gpu > 1))
    return slots
