"""Which recorded scalar titles are the system's own rather than the user's training.

The resource monitor (``tunehouse.sdk.capture.resources``) reports under ``:monitor:``,
ClearML's SDK under ``:monitor:machine`` and ``:monitor:gpu`` (through the ClearML API).
Their iteration is a sample counter (seconds since the task started), not a training
step: these series do not advance a task's last iteration, are not offered as
objectives, and the UI draws them as resource charts.
"""

from __future__ import annotations

#: The title of the SDK's resource monitor; every title starting with it is a system title.
MONITOR_TITLE = ":monitor:"


def is_system_title(title: str) -> bool:
    """True for a title of system series (resource monitoring), not of training metrics."""
    return title.startswith(MONITOR_TITLE)


#: The title of the training speed the Keras integration reports (``epoch_seconds``,
#: ``examples_per_second``): a measure of the run, not an objective.
SPEED_TITLE = "speed"


def is_resource_title(title: str) -> bool:
    """True for speed and system titles: drawn after the training curves, never offered
    as an objective."""
    return title == SPEED_TITLE or is_system_title(title)
