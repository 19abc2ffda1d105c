"""tunehouse: self-hosted experiment tracking and hyperparameter search for TensorFlow/Keras.

The SDK names are imported lazily so that ``import tunehouse`` stays fast and never pulls in
the server, SQLAlchemy or TensorFlow before they are needed::

    from tunehouse import Task, Logger
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunehouse.version import __version__

__all__ = ["Task", "Logger", "OutputModel", "InputModel", "__version__"]

if TYPE_CHECKING:
    from tunehouse.sdk.logger import Logger
    from tunehouse.sdk.models import InputModel, OutputModel
    from tunehouse.sdk.task import Task

_LAZY = {
    "Task": "tunehouse.sdk.task",
    "Logger": "tunehouse.sdk.logger",
    "OutputModel": "tunehouse.sdk.models",
    "InputModel": "tunehouse.sdk.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tunehouse' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
