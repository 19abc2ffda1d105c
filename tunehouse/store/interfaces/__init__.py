"""The store's interfaces, one per area of records.

Each area is an abstract class with its own contract tests
(``tests/store/contract/test_<area>.py``) that run against SQLite, PostgreSQL and the HTTP
client. :class:`tunehouse.store.base.Store` gives one object holding all of them.

=============  ===========================================================================
area           records
=============  ===========================================================================
``tasks``      projects, tasks and what a task is configured with: parameters,
               configurations, script, environment; status changes; listing
``events``     scalars and console lines: batched ingest, summaries, downsampled reads
``artifacts``  content-addressed blobs and the artifacts of a task
``models``     the model registry: versions, tags, publishing, stage aliases
``queues``     queues, claims and workers
=============  ===========================================================================
"""

from tunehouse.store.interfaces.artifacts import ArtifactStore
from tunehouse.store.interfaces.events import EventStore
from tunehouse.store.interfaces.models import ModelStore
from tunehouse.store.interfaces.queues import QueueStore
from tunehouse.store.interfaces.tasks import TaskStore

#: Area name (the attribute of :class:`~tunehouse.store.base.Store`) -> interface.
AREAS: dict[str, type] = {
    "tasks": TaskStore,
    "events": EventStore,
    "artifacts": ArtifactStore,
    "models": ModelStore,
    "queues": QueueStore,
}

__all__ = ["AREAS", "ArtifactStore", "EventStore", "ModelStore", "QueueStore", "TaskStore"]
