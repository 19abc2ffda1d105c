"""Keys of ``Environment.extra`` that the SDK records and the agent reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: The repository's folder on the recording machine (an agent on the same host may use it
#: instead of cloning; see :mod:`tunehouse.agent.workspace`).
CODE_ROOT_KEY = "code_root"
#: What only ClearML has of a task the clearml SDK recorded (through tunehouse's ClearML
#: API, :mod:`tunehouse.compat.clearml.task_model`): its presence marks such a task, which
#: the agent runs with the SDK's variables (:func:`tunehouse.common.clearml.sdk_environment`).
CLEARML_KEY = "clearml"
#: The top-level modules of installed distributions the recording run had imported when it
#: closed: what a warm interpreter imports ahead of a clone (:mod:`tunehouse.agent.warm`).
WARM_IMPORTS_KEY = "warm_imports"


def modules_in_folder(names: Iterable[str], folder: Path) -> list[str]:
    """The module names ``folder`` provides (``NAME.py`` or a ``NAME`` folder): a script in
    ``folder`` imports those from there, not from the installed distributions."""
    return [name for name in names
            if (folder / f"{name}.py").exists() or (folder / name).is_dir()]
