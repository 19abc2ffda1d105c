"""Request bodies near the server's size limit (event batches, parameter lists,
configurations), built as raw JSON and sent at once (the large-body fault tests and
``benchmarks/faults.py``)."""

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


def parameter_list(count: int, value_bytes: int = 0) -> bytes:
    """The JSON body of ``PUT /tasks/{id}/parameters`` with ``count`` parameters: short
    float-like values, or values of ``value_bytes`` characters."""
    return orjson.dumps([{"section": "General", "name": f"param_{i:07d}",
                          "value": "x" * value_bytes if value_bytes else f"{i * 0.001:.6f}",
                          "type": "str" if value_bytes else "float"} for i in range(count)])


def post_batch(client: httpx.Client, body: bytes) -> httpx.Response:
    """``POST /events`` of a raw body (``client`` has the API prefix as base URL)."""
    return client.post("/events", content=body, timeout=600,
                       headers={"Content-Type": "application/json"})


def send_at_once(server: ServerProcess, requests: list[tuple[str, str, bytes]]) -> list[int]:
    """Send every ``(method, path under /api/v1, body)`` at the same time, one connection
    each, as the admin; the status codes, in the order of ``requests``."""
    codes = [0] * len(requests)

    def send(index: int, method: str, path: str, body: bytes) -> None:
        with httpx.Client(base_url=f"{server.url}/api/v1",
                          auth=(server.access_key, server.secret_key)) as client:
            codes[index] = client.request(method, path, content=body, timeout=900,
                                          headers={"Content-Type": "application/json"}
                                          ).status_code

    threads = [threading.Thread(target=send, args=(index, *request))
               for index, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def post_at_once(server: ServerProcess, bodies: list[bytes]) -> list[int]:
    """``POST /events`` of every batch at the same time (:func:`send_at_once`)."""
    return send_at_once(server, [("POST", "/events", body) for body in bodies])
