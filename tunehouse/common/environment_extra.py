"""Keys of ``Environment.extra`` that the SDK records and the agent reads."""

from __future__ import annotations

#: The repository's folder on the recording machine (an agent on the same host may use it
#: instead of cloning; see :mod:`tunehouse.agent.workspace`).
CODE_ROOT_KEY = "code_root"
