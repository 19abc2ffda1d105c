"""Helpers that the SDK and the agent both need, below both of them.

* :mod:`.retry` – ``retrying(call, deadline)`` with backoff, and which errors are worth
  another try (:func:`~.retry.is_retryable`).
* :mod:`.console_lines` – the one limit on a console line (:data:`~.console_lines.CONSOLE_LINE_CHARS`)
  and :func:`~.console_lines.truncate_line`.
* :mod:`.gpus` – nvidia-ml-py: open it, a GPU's UUID, the GPUs this process may use.
* :mod:`.environment_extra` – keys of ``Environment.extra`` the SDK writes and the agent reads.
* :mod:`.own_parsers` – marks the ``tunehouse`` command's parser so the SDK's argparse
  capture never records it.

This package imports nothing of tunehouse but :mod:`tunehouse.errors` (the ``layers``
contract in ``pyproject.toml`` keeps it below the store, the client, the SDK and the agent).
"""
