"""Another user's latency while one user is brute-forced.

Starts a real server (SQLite, or PostgreSQL with ``--pg``) and two users: ``alice``, the
target, and ``bob``, who works on (20 tasks, an API key and a web session). It measures
the median latency of bob's requests, ``GET /api/v1/tasks`` with his API key and
``GET /projects`` (a page) with his session, first idle, then while ``--threads`` threads
send ``--attempts`` wrong sign-ins for alice as fast as they can (each from an address of
its own through ``X-Forwarded-For``, as a botnet would: only alice's counter stops them;
``--one-address`` sends them all from 127.0.0.1). The attacker is a process of its own, so
that its threads do not hold the measuring client's interpreter lock. It prints both
medians, their ratio, and how the attempts were answered (401: checked, 429: refused at
once). Client, attacker and server share the machine's cores: run it on a quiet machine.
``--control`` first sends as many requests without credentials (``GET /api/v1/auth/me``,
401, nothing throttled): bob's latency under a flood that the throttle plays no part in.
``--pin`` gives the attacker a CPU of its own (the last one) and the server and bob the
others, as if the attacker were another machine (Linux; needs 2 CPUs or more).

Target (issue 12): bob's medians under attack within 2x of idle.

    .venv/bin/python benchmarks/brute_force.py [--attempts 1000] [--threads 8] [--pg]
                                               [--control] [--one-address] [--pin]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import fresh_postgres  # noqa: E402
from tests.helpers.server import ServerProcess, running_server  # noqa: E402

REQUESTS = {"GET /api/v1/tasks (API key)": ("key", "/api/v1/tasks?limit=20"),
            "GET /projects (session)": ("session", "/projects")}


def _setup(server: ServerProcess) -> tuple[httpx.Client, httpx.Client]:
    """Users alice and bob; bob's 20 tasks; clients with bob's key and bob's session."""
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60,
                      auth=(server.access_key, server.secret_key)) as admin:
        for name in ("alice", "bob"):
            assert admin.post("/users", json={"name": name, "password": f"{name}-pw-1"}
                              ).status_code == 201
        key = admin.post("/keys", json={"user": "bob"}).json()
    by_key = httpx.Client(base_url=server.url, timeout=60,
                          auth=(key["access_key"], key["secret_key"]))
    for i in range(20):
        assert by_key.post("/api/v1/tasks", json={"project": "bench/bob", "name": f"t{i}"}
                           ).status_code == 201
    by_session = httpx.Client(base_url=server.url, timeout=60,
                              headers={"Accept": "text/html"})
    answer = by_session.post("/api/v1/auth/login",
                             json={"username": "bob", "password": "bob-pw-1"})
    assert answer.status_code == 200, answer.text
    return by_key, by_session


def _latencies(clients: dict[str, httpx.Client], until: threading.Event | None,
               runs: int) -> dict[str, list[float]]:
    """Bob's requests in turn: ``runs`` of each, or (with ``until``) until it is set."""
    times: dict[str, list[float]] = {name: [] for name in REQUESTS}
    done = 0
    while (until is None and done < runs) or (until is not None and not until.is_set()):
        for name, (kind, path) in REQUESTS.items():
            started = time.perf_counter()
            answer = clients[kind].get(path)
            times[name].append(time.perf_counter() - started)
            assert answer.status_code == 200, (name, answer.status_code, answer.text[:200])
        done += 1
    return times


def _pin(pid: int, cpus: set[int]) -> None:
    """Run every thread of process ``pid`` (and those it starts) on ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def _attack(url: str, attempts: int, threads: int, one_address: bool, control: bool,
            cpus: set[int] | None, results: multiprocessing.Queue[dict[int, int]]) -> None:
    """``attempts`` wrong sign-ins for alice (``control``: requests without credentials)
    from ``threads`` threads (on ``cpus``); the statuses counted go to ``results`` (run in
    a process of its own)."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    counts: Counter[int] = Counter()
    lock = threading.Lock()
    per_thread = [attempts // threads + (i < attempts % threads) for i in range(threads)]

    def run(count: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(count):
                headers = {} if one_address else {
                    "X-Forwarded-For": f"203.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"}
                if control:
                    answer = client.get("/api/v1/auth/me", headers=headers)
                else:
                    answer = client.post("/api/v1/auth/login", headers=headers,
                                         json={"username": "alice", "password": "guess"})
                with lock:
                    counts[answer.status_code] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, per_thread))
    results.put(dict(counts))


def _flood(url: str, clients: dict[str, httpx.Client], args: argparse.Namespace,
           control: bool) -> tuple[dict[str, list[float]], Counter[int], float]:
    """Bob's latencies while the attacker process runs; its answers; how long it took."""
    stop = threading.Event()
    measured: dict[str, list[float]] = {}

    def measure() -> None:
        measured.update(_latencies(clients, stop, 0))

    results: multiprocessing.Queue[dict[int, int]] = multiprocessing.Queue()
    attacker = multiprocessing.Process(target=_attack, args=(
        url, args.attempts, args.threads, args.one_address, control, args.attacker_cpus,
        results))
    meter = threading.Thread(target=measure)
    started = time.perf_counter()
    attacker.start()
    meter.start()
    counts = Counter(results.get(timeout=600))
    took = time.perf_counter() - started
    attacker.join()
    stop.set()
    meter.join()
    return measured, counts, took


def _report(title: str, idle: dict[str, list[float]], measured: dict[str, list[float]],
            counts: Counter[int], took: float) -> None:
    answers = ", ".join(f"{count} answered {status}" for status, count in sorted(counts.items()))
    print(f"{title} in {took:.2f} s: {answers}")
    print(f"  {'bob, median latency':40} {'idle':>9} {'flooded':>9} {'ratio':>6} {'n':>5}")
    for name in REQUESTS:
        before, during = statistics.median(idle[name]), statistics.median(measured[name])
        print(f"  {name:40} {before * 1000:7.2f}ms {during * 1000:7.2f}ms "
              f"{during / before:5.2f}x {len(measured[name]):5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--idle-runs", type=int, default=200)
    parser.add_argument("--one-address", action="store_true",
                        help="send every attempt from 127.0.0.1 (no X-Forwarded-For)")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--control", action="store_true",
                        help="first measure under as many requests without credentials")
    parser.add_argument("--pin", action="store_true",
                        help="the attacker on the last CPU, the server and bob on the others")
    args = parser.parse_args()
    where = "one address" if args.one_address else "an address each"
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) < 2:
        parser.error("--pin needs 2 CPUs or more")
    args.attacker_cpus = {cpus[-1]} if args.pin else None
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "home"
        db_url = stack.enter_context(fresh_postgres()) if args.pg else None
        with running_server(home, db_url=db_url) as server:
            if args.pin:
                _pin(server.proc.pid, set(cpus[:-1]))
                _pin(os.getpid(), set(cpus[:-1]))
            by_key, by_session = _setup(server)
            clients = {"key": by_key, "session": by_session}
            _latencies(clients, None, 20)  # warm-up
            idle = _latencies(clients, None, args.idle_runs)
            pinned = (f", attacker pinned to CPU {cpus[-1]}, server and bob to "
                      f"{cpus[:-1]}" if args.pin else "")
            print(f"{'PostgreSQL' if args.pg else 'SQLite'}, {args.threads} attacking threads "
                  f"({where}){pinned}")
            if args.control:
                _report(f"control: {args.attempts} requests without credentials", idle,
                        *_flood(server.url, clients, args, control=True))
            measured, counts, took = _flood(server.url, clients, args, control=False)
            _report(f"attack: {args.attempts} wrong sign-ins for alice", idle, measured,
                    counts, took)
            by_key.close()
            by_session.close()
    print(f"refused with 429: {counts.get(429, 0)} of {args.attempts}")


if __name__ == "__main__":
    main()
