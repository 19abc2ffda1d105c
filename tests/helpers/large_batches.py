"""Event batches near the server's size limit, built as raw JSON and sent at once (the
large-batch fault tests and ``benchmarks/faults.py``)."""

from __future__ import annotations

import threading
import uuid

import httpx
import orjson

from tests.helpers.server import ServerProcess


def scalar_batch(task_id: str, count: int, **extra: object) -> bytes:
    """The JSON body of one batch of ``count`` scalars (plus ``extra`` fields)."""
    return orjson.dumps({"batch_id": uuid.uuid4().hex, "task_id": task_id,
                         "scalars": [["loss", "train", i, 0.5, 1_700_000_000.5]
                                     for i in range(count)], **extra})


def post_batch(client: httpx.Client, body: bytes) -> httpx.Response:
    """``POST /events`` of a raw body (``client`` has the API prefix as base URL)."""
    return client.post("/events", content=body, timeout=600,
                       headers={"Content-Type": "application/json"})


def post_at_once(server: ServerProcess, bodies: list[bytes]) -> list[int]:
    """Post every body at the same time, one connection each; the status codes."""
    codes: list[int] = []

    def send(body: bytes) -> None:
        with httpx.Client(base_url=f"{server.url}/api/v1",
                          auth=(server.access_key, server.secret_key)) as client:
            codes.append(post_batch(client, body).status_code)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes
