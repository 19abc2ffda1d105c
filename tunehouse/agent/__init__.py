"""The agent: pulls queued tasks, restores their code and environment, runs them and
streams their console (``tunehouse agent``; docs/agent.md).

* :mod:`.daemon` – the loop: long-polled claims into free slots, heartbeats that renew
  leases and carry aborts, signals.
* :mod:`.runner` – one attempt of one task: prepare, run, watch, final status or retry.
* :mod:`.slots` – how many tasks run at once and which GPUs each sees.
* :mod:`.workspace` – the task's code back from git (cached mirrors) or the stored script.
* :mod:`.python_env` – the agent's Python, or a cached venv of the recorded packages.
* :mod:`.warm` – per slot, an interpreter started ahead that imported the task's recorded
  imports and runs the next task as ``__main__`` (:mod:`.warm_boot`, run as a file).
* :mod:`.launch` – the ``PR_SET_PDEATHSIG`` launcher that ties task processes to the agent.
* :mod:`.console` – stdout/stderr to the task's console, batched, live.
* :mod:`.machine` – host, GPUs (nvidia-ml-py) and CPU/memory/GPU use for heartbeats.
* :mod:`.isolation` – the agent's key out of task code's reach: non-dumpable, wiped from
  its environment, tasks as another OS user (``--task-user``).

Boundary (the ``layers`` contract, checked by import-linter in CI): the agent reaches the
records only through :mod:`tunehouse.client` / :mod:`tunehouse.store` interfaces, takes
the helpers it shares with the SDK from :mod:`tunehouse.common`, and imports neither
:mod:`tunehouse.sdk` nor :mod:`tunehouse.server`.
"""
