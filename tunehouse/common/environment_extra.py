"""Keys of ``Environment.extra`` that the SDK records and the agent reads."""

from __future__ import annotations

#: The repository's folder on the recording machine (an agent on the same host may use it
#: instead of cloning; see :mod:`tunehouse.agent.workspace`).
CODE_ROOT_KEY = "code_root"
#: What only ClearML has of a task the clearml SDK recorded (through tunehouse's ClearML
#: API, :mod:`tunehouse.compat.clearml.task_model`): its presence marks such a task, which
#: the agent runs with the SDK's variables (:func:`tunehouse.common.clearml.sdk_environment`).
CLEARML_KEY = "clearml"
