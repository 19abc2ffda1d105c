"""The default name of a task's output models: the task's, or for a search trial its
search's base task's, so the baseline and the trials are versions of one model."""

from __future__ import annotations

import json
from pathlib import Path

from tunehouse.hpo.config import CONFIG_NAME
from tunehouse.sdk.models import SEARCH_BASE_KEY, SEARCH_CONFIG, default_model_name
from tunehouse.store.records import Configuration, TaskCreate, TaskType
from tunehouse.store.sql import SqlStore


def test_trials_are_named_after_their_search_base(sqlite_schema_url: str, tmp_path: Path) -> None:
    assert SEARCH_CONFIG == CONFIG_NAME
    store = SqlStore(sqlite_schema_url, tmp_path / "artifacts", user="u")
    try:
        base = store.tasks.create_task(TaskCreate(project="p", name="keras cnn"))
        search = store.tasks.create_task(TaskCreate(project="p", name="search",
                                                    type=TaskType.optimizer))
        store.tasks.set_configuration(search.id, Configuration(
            name=SEARCH_CONFIG, text=json.dumps({SEARCH_BASE_KEY: base.id})))
        trial = store.tasks.clone_task(base.id, name="keras cnn: trial 3", parent_id=search.id)
        assert default_model_name(store, base) == "keras cnn"
        assert default_model_name(store, trial) == "keras cnn"
        # a child of a task that is not a search, or of a search without its base: its own
        child = store.tasks.clone_task(base.id, name="child", parent_id=base.id)
        assert default_model_name(store, child) == "child"
        broken = store.tasks.create_task(TaskCreate(project="p", name="old search",
                                                    type=TaskType.optimizer))
        orphan = store.tasks.clone_task(base.id, name="orphan trial", parent_id=broken.id)
        assert default_model_name(store, orphan) == "orphan trial"
    finally:
        store.close()
