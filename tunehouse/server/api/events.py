"""The ``events`` area: scalars and console lines, sent in batches by the SDK's reporter,
and read back as summaries, (downsampled) series and log pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tunehouse.server.api._deps import Acting, TaskId, json_body_doc, operation, parse_json_body
from tunehouse.server.bodies import LARGE_BODY_BYTES
from tunehouse.server.json_stream import batch_ids, event_chunks
from tunehouse.store.base import Store
from tunehouse.store.records import BatchResult, EventBatch, LogLine, MetricSummary, SeriesData

router = APIRouter(tags=["events"])


def _store_batch(store: Store, body: bytes) -> BatchResult:
    if len(body) <= LARGE_BODY_BYTES or not body.lstrip().startswith(b"{"):
        # small, or not an object at all (pydantic's parser names the error)
        return store.events.add_events(parse_json_body(EventBatch, body))
    batch_id, task_id = batch_ids(body)
    return store.events.add_event_chunks(batch_id, task_id,
                                         event_chunks(body, batch_id, task_id))


@operation(router, "events.get_metric_summaries", response_model=list[MetricSummary])
def get_metric_summaries(task_id: TaskId, who: Acting) -> list[MetricSummary]:
    return who.store.events.get_metric_summaries(task_id)


@operation(router, "events.get_scalars", response_model=list[SeriesData])
def get_scalars(task_id: TaskId, who: Acting, title: str | None = None,
                series: str | None = None,
                max_points: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                ) -> list[SeriesData]:
    """Reported series; with ``max_points`` longer series are downsampled."""
    return who.store.events.get_scalars(task_id, title=title, series=series, max_points=max_points)


@operation(router, "events.get_logs", response_model=list[LogLine])
def get_logs(task_id: TaskId, who: Acting,
             after_seq: Annotated[int, Query(ge=0)] = 0,
             limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> list[LogLine]:
    """Console lines with ``seq > after_seq``, oldest first."""
    return who.store.events.get_logs(task_id, after_seq=after_seq, limit=limit)


@operation(router, "events.add_events", response_model=BatchResult, openapi_extra=json_body_doc(EventBatch))
async def add_events(request: Request, who: Acting) -> BatchResult:
    """Store one batch of a task's events (scalars as ``[title, series, iteration, value,
    wall]`` arrays, logs as ``[stream, text, wall]``). A resent ``batch_id`` is stored once
    and answered with ``duplicate: true``. The body is parsed and validated by pydantic
    straight from the bytes, which is several times faster than FastAPI's generic path
    for 10,000-event batches; a body over 4 MiB is parsed incrementally in chunks
    (:mod:`tunehouse.server.json_stream`), and like every large body it waits for one of
    the server's large-body slots (:mod:`tunehouse.server.bodies`), so large batches
    cannot drive the server out of memory."""
    body = await request.body()
    return await run_in_threadpool(_store_batch, who.store, body)
