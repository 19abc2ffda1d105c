"""One bound on every large request body (issue 18): a body over ``LARGE_BODY_BYTES``, of
any route, waits for one of the server's large-body slots (one on SQLite) and holds it
while it is read, parsed and stored; small bodies pass, a client without valid
credentials is refused before it could hold a slot, and a body over the size limit is 413
naming the limit. Long parameter lists are parsed and stored in chunks.

The app runs in this process (``inprocess_server``), so the test can hold a body half-sent
and read the slots' counters instead of timing anything."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import orjson

from tests.helpers.event_loop import run_async
from tests.helpers.large_batches import parameter_list, scalar_batch
from tests.helpers.wait import wait_until
from tests.server.inprocess import BASE_URL, InProcessServer, inprocess_server
from tunehouse.server.bodies import LARGE_BODY_BYTES, MAX_JSON_VALUES, LargeBodySlots
from tunehouse.store.records import TaskCreate

MIB = 1 << 20
#: The size limit of these tests' server: above LARGE_BODY_BYTES, so both apply.
MAX_REQUEST_MB = 6


def _slots(server: InProcessServer) -> LargeBodySlots:
    return server.app.app.state.large_bodies  # type: ignore[no-any-return]  # behind the proxy-headers middleware


def _new_task(server: InProcessServer) -> str:
    return server.store.tasks.create_task(TaskCreate(project="bodies", name="t")).id


def _send_at_once(server: InProcessServer, requests: list[tuple[str, str, Any]],
                  codes: dict[int, int], in_turn: bool = False) -> threading.Thread:
    """A started thread sending every ``(method, path, content)`` at once in one event
    loop, through the app's ASGI interface, as the admin; each status code lands in
    ``codes``. ``content`` is bytes (sent with its length) or an async iterator of bytes
    (sent chunked). ``in_turn``: each request is sent once the ones before it hold or
    wait for a large-body slot, so they get the slots in that order."""
    slots = _slots(server)

    def taken(count: int) -> None:
        wait_until(lambda: slots.held + slots.waiting >= count, 60,
                   f"{count} large bodies holding or waiting for a slot")

    async def send_all() -> None:
        transport = httpx.ASGITransport(app=server.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=f"{BASE_URL}/api/v1",
                                     auth=(server.access_key, server.secret_key),
                                     timeout=120) as client:
            async def send(index: int, method: str, path: str, content: Any) -> None:
                response = await client.request(method, path, content=content,
                                                headers={"Content-Type": "application/json"})
                codes[index] = response.status_code

            async with anyio.create_task_group() as group:
                for index, request in enumerate(requests):
                    group.start_soon(send, index, *request)
                    if in_turn:
                        await anyio.to_thread.run_sync(taken, index + 1)

    thread = threading.Thread(target=run_async, args=(send_all,))
    thread.start()
    return thread


async def _chunked(*parts: bytes, wait_for: threading.Event | None = None
                   ) -> AsyncIterator[bytes]:
    """``parts`` sent without a Content-Length; with ``wait_for``, the last one only
    once it is set."""
    for index, part in enumerate(parts):
        if wait_for is not None and index == len(parts) - 1:
            await anyio.to_thread.run_sync(wait_for.wait)
        yield part


def test_large_bodies_of_every_route_take_turns(sqlite_schema_url: str, tmp_path: Path) -> None:
    with inprocess_server(sqlite_schema_url, tmp_path / "home",
                          max_request_mb=MAX_REQUEST_MB) as server:
        slots = _slots(server)
        assert slots.count == 1, slots.count  # SQLite
        first, config, events, small = (_new_task(server) for _ in range(4))
        parameters = parameter_list(65_000)
        assert LARGE_BODY_BYTES < len(parameters) < MAX_REQUEST_MB * MIB
        configuration = orjson.dumps({"name": "big", "text": "x" * (5 * MIB)})
        batch = scalar_batch(events, 120_000)
        assert len(batch) > LARGE_BODY_BYTES
        released = threading.Event()
        codes: dict[int, int] = {}
        # the parameters hold the slot, half-sent, until released
        sender = _send_at_once(server, [
            ("PUT", f"/tasks/{first}/parameters",
             _chunked(parameters[:LARGE_BODY_BYTES + 1], parameters[LARGE_BODY_BYTES + 1:],
                      wait_for=released)),
            ("PUT", f"/tasks/{config}/configurations", configuration),
            ("POST", "/events", batch)], codes, in_turn=True)
        try:
            wait_until(lambda: slots.held == 1 and slots.waiting == 2, 60,
                       "one large body holding the slot and two waiting",
                       seen=lambda: (slots.held, slots.waiting, codes))
            # the configuration and the batch wait: nothing of them is stored yet
            assert server.store.tasks.get_configurations(config) == []
            assert server.store.events.get_metric_summaries(events) == []
            with server.admin() as api:
                # a small body passes meanwhile
                assert api.put(f"/tasks/{small}/parameters",
                               json=[{"name": "lr", "value": "0.1"}]).status_code == 204
                # a body declared over the limit is 413 at once, naming the limit
                over = api.put(f"/tasks/{small}/configurations",
                               content=b" " * (MAX_REQUEST_MB * MIB + 1))
                assert over.status_code == 413, over.text
                assert over.json()["error"]["code"] == "payload_too_large"
                assert f"limit of {MAX_REQUEST_MB} MiB" in over.json()["error"]["message"]
            # a large body without valid credentials is refused at once, holding nothing
            with server.client(base="/api/v1") as anonymous:
                refused = anonymous.put(f"/tasks/{small}/configurations", content=configuration)
            assert refused.status_code == 401, refused.text
            assert (slots.held, slots.waiting, codes) == (1, 2, {})
        finally:
            released.set()
            sender.join()
        assert codes == {0: 204, 1: 204, 2: 200}
        assert (slots.held, slots.waiting) == (0, 0)
        assert len(server.store.tasks.get_parameters(first)) == 65_000
        assert server.store.tasks.get_configurations(config)[0].text == "x" * (5 * MIB)
        assert server.store.events.get_metric_summaries(events)[0].count == 120_000

        # chunked bodies are counted as they come: over the limit is 413, under it stored
        codes.clear()
        _send_at_once(server, [
            ("PUT", f"/tasks/{small}/configurations", _chunked(*[b"x" * MIB] * 7)),
            ("PUT", f"/tasks/{config}/configurations",
             _chunked(configuration[:MIB], configuration[MIB:]))], codes).join()
        assert codes == {0: 413, 1: 204}


def _audit_details(server: InProcessServer, task_id: str) -> list[dict[str, Any]]:
    entries = server.accounts.audit.list_audit_events("task", task_id, action="task.parameters",
                                                      oldest_first=True)
    return [entry.details for entry in entries]


def test_a_long_parameter_list_is_stored_in_chunks_like_a_short_one(
        sqlite_schema_url: str, tmp_path: Path) -> None:
    with inprocess_server(sqlite_schema_url, tmp_path / "home") as server, \
            server.admin() as api:
        task_id = _new_task(server)
        body: list[dict[str, str]] = [{"section": "Args", "name": f"p{i}", "value": "1"}
                                      for i in range(100_000)]
        body[61_234] = {"section": "Args", "value": "no name"}
        invalid = orjson.dumps(body)
        assert len(invalid) > LARGE_BODY_BYTES  # the streamed path
        refused = api.put(f"/tasks/{task_id}/parameters", content=invalid)
        assert refused.status_code == 422, refused.text
        assert "body.61234.name: Field required" in refused.json()["error"]["message"]
        assert server.store.tasks.get_parameters(task_id) == []  # nothing of it

        api.put(f"/tasks/{task_id}/parameters", json=[{"section": "Old", "name": "gone"}])
        body[61_234] = {"section": "Args", "name": "p61234", "value": "2"}
        replaced = api.put(f"/tasks/{task_id}/parameters", params={"replace": "true"},
                           content=orjson.dumps(body))
        assert replaced.status_code == 204, replaced.text
        stored = server.store.tasks.get_parameters(task_id)
        assert len(stored) == 100_000 and {p.section for p in stored} == {"Args"}
        assert next(p.value for p in stored if p.name == "p61234") == "2"
        details = _audit_details(server, task_id)[-1]
        assert details["count"] == 100_001 and details["truncated"] is True  # and Old/gone
        assert len(details["changed"]) == 50


def test_a_large_body_parsed_whole_may_hold_a_million_json_values(
        sqlite_schema_url: str, tmp_path: Path) -> None:
    """A body of tiny containers costs some 20 times its size once parsed: over 4 MiB,
    bodies the route parses whole are counted first (declared or chunked), and refused
    past MAX_JSON_VALUES; a large body of few values passes."""
    with inprocess_server(sqlite_schema_url, tmp_path / "home",
                          max_request_mb=MAX_REQUEST_MB) as server, server.admin() as api:
        task_id = _new_task(server)
        tiny = orjson.dumps({"extra": {"junk": [[]] * 1_500_000}})
        assert LARGE_BODY_BYTES < len(tiny) < MAX_REQUEST_MB * MIB
        json_type = {"Content-Type": "application/json"}
        refused = api.put(f"/tasks/{task_id}/environment", content=tiny, headers=json_type)
        assert refused.status_code == 413, refused.text
        assert f"more than {MAX_JSON_VALUES:,} JSON values" in refused.json()["error"]["message"]
        codes: dict[int, int] = {}
        _send_at_once(server, [("PUT", f"/tasks/{task_id}/environment",
                                _chunked(tiny[:MIB], tiny[MIB:]))], codes).join()
        assert codes == {0: 413}
        assert server.store.tasks.get_environment(task_id).extra == {}
        few = orjson.dumps({"extra": {"notes": "x" * (5 * MIB)}})
        stored = api.put(f"/tasks/{task_id}/environment", content=few, headers=json_type)
        assert stored.status_code in (200, 204), stored.text
        assert server.store.tasks.get_environment(task_id).extra == {"notes": "x" * (5 * MIB)}
