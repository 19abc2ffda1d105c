"""``tunehouse agent``: run queued tasks on this machine (see docs/agent.md)."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from typing import Any

from tunehouse.cli._options import add_common_options, settings_from_args
from tunehouse.errors import InvalidInput


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agent", help="run queued tasks on this machine",
        description="Take tasks from the queues (in the order given) and run them: code and "
                    "environment restored, console streamed, aborts obeyed, retries and "
                    "GPU slots handled. See docs/agent.md.")
    parser.add_argument("--queue", action="append", default=None, metavar="QUEUE",
                        help="queue to serve (repeatable, served in this order; "
                             "default: default)")
    parser.add_argument("--gpus", default=None, metavar="IDS",
                        help="GPUs to use, e.g. 0,1,2,3 or 0-3 (default: every GPU "
                             "nvidia-ml-py sees; none: CPU only)")
    parser.add_argument("--gpus-per-task", type=int, default=1, metavar="N",
                        help="GPUs each task gets (default 1)")
    parser.add_argument("--tasks-per-gpu", type=int, default=1, metavar="K",
                        help="tasks packed on each GPU (default 1)")
    parser.add_argument("--cpu-only", action="store_true",
                        help="use no GPU: tasks see CUDA_VISIBLE_DEVICES empty")
    parser.add_argument("--slots", type=int, default=1, metavar="N",
                        help="tasks at once without GPUs (default 1)")
    parser.add_argument("--retries", type=int, default=0, metavar="N",
                        help="put a failed task back in its queue up to N times (a task's "
                             "own max_retries counts when higher; default 0)")
    parser.add_argument("--env", choices=("current", "venv"), default="current",
                        help="current: this agent's Python; venv: a cached virtualenv of the "
                             "task's recorded packages, built with uv (default current)")
    parser.add_argument("--python", default=None, metavar="PATH",
                        help="with --env current: run every task with this interpreter "
                             "instead of the agent's own, as it is (e.g. a venv that has "
                             "the clearml SDK for tasks it recorded)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop and fail a task running longer than this")
    parser.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between SIGTERM and SIGKILL when stopping a task")
    parser.add_argument("--lease", type=float, default=60.0, metavar="SECONDS",
                        help="lease of a claimed task: when the agent stops renewing it "
                             "for this long the server requeues the task (default 60)")
    parser.add_argument("--task-user", default=None, metavar="USER",
                        help="run every task process as this OS user (the agent runs as "
                             "root to switch to it): task code then cannot read the "
                             "agent's key, memory or files (see docs/security.md)")
    parser.add_argument("--no-warm", dest="warm", action="store_false",
                        help="start every task in a fresh Python instead of a warm "
                             "interpreter that imported its packages ahead of time "
                             "(see docs/agent.md)")
    parser.add_argument("--name", default=None,
                        help="worker name (default: HOST:gpuIDS or HOST:cpu)")
    parser.add_argument("--detach", action="store_true",
                        help="run in the background; logs go to "
                             "$TUNEHOUSE_HOME/agent/NAME.log")
    add_common_options(parser)
    parser.set_defaults(func=run_agent)


def run_agent(args: argparse.Namespace) -> int:
    from tunehouse.agent.machine import MachineStats, host_name
    from tunehouse.agent.slots import parse_gpus, plan_slots

    settings = settings_from_args(args)
    if args.cpu_only and args.gpus:
        raise InvalidInput("--cpu-only and --gpus exclude each other")
    if args.retries < 0 or args.grace < 0 or args.lease <= 0:
        raise InvalidInput("--retries and --grace must be >= 0 and --lease > 0")
    if args.time_limit is not None and args.time_limit <= 0:
        raise InvalidInput("--time-limit must be positive")
    python = _task_python(args.python, args.env)
    if args.cpu_only:
        gpus: list[str] = []
    elif args.gpus:
        gpus = parse_gpus(args.gpus)
    else:
        probe = MachineStats()
        gpus = probe.discover_gpus()
        probe.close()
    slots = plan_slots(gpus, args.gpus_per_task, args.tasks_per_gpu, args.slots)
    name = args.name or f"{host_name()}:{'gpu' + ','.join(gpus) if gpus else 'cpu'}"
    queues = args.queue or ["default"]
    from tunehouse.agent import isolation

    task_user = isolation.resolve_task_user(args.task_user) if args.task_user else None
    if task_user is not None and not settings.server:
        raise InvalidInput("--task-user needs a server (TUNEHOUSE_SERVER): with the embedded "
                           "store a task would need the database file itself")
    if args.detach:
        return _detach(args, settings.home / "agent", name)
    from tunehouse.agent.daemon import Agent
    from tunehouse.agent.runner import AgentConfig
    from tunehouse.agent.workspace import check_folder
    from tunehouse.client import open_store

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore"):  # one line per heartbeat otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    isolation.protect_agent_process()  # the key is in ``settings`` now, nowhere else
    if task_user is None:
        isolation.warn_tasks_share_agent_rights()
    else:
        isolation.check_task_user_can_run(task_user, sys.executable)
    home = check_folder(settings.home / "agent")
    config = AgentConfig(name=name, queues=queues, settings=settings, env_kind=args.env,
                         python=python,
                         retries=args.retries, time_limit_s=args.time_limit,
                         grace_s=args.grace, lease_s=args.lease, home=home,
                         task_user=task_user, warm=args.warm)
    config.open_to_task_user()
    with open_store(settings) as store:
        agent = Agent(store, config, slots, gpus)
        agent.install_signal_handlers()
        return agent.run()


def _task_python(python: str | None, env_kind: str) -> str | None:
    """The absolute path of ``--python`` (None when not given); InvalidInput when it
    is no executable file or comes with ``--env venv``."""
    if python is None:
        return None
    if env_kind != "current":
        raise InvalidInput("--python goes with --env current (a venv is built on the "
                           "agent's own Python)")
    path = os.path.abspath(os.path.expanduser(python))
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise InvalidInput(f"--python {python}: not an executable file")
    return path


def _detach(args: argparse.Namespace, folder: Any, name: str) -> int:
    """Start this same command without ``--detach`` in a new session; print its pid."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = folder / (name.replace("/", "_").replace(":", "_") + ".log")
    argv = [a for a in sys.argv[1:] if a != "--detach"]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "tunehouse", *argv],
                                   stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ))
    print(f"agent {name} started in the background (pid {process.pid}); log: {log_path}")
    return 0
