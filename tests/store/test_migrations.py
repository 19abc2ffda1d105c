"""Migrations create exactly the schema of the models; stale databases are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tunehouse.errors import InvalidInput, SchemaOutOfDate
from tunehouse.store.engine import get_engine, normalize_url
from tunehouse.store.migrate import (
    HEAD_REVISION,
    check_schema,
    current_revision,
    head_revision,
    upgrade,
)
from tunehouse.store.records import TaskQuery
from tunehouse.store.schema import metadata
from tunehouse.store.sql import SqlStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    assert upgrade(db_url) == head_revision()
    engine = get_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        assert current_revision(engine) == head_revision()
        check_schema(engine)
        assert upgrade(db_url) == head_revision()  # idempotent
    finally:
        engine.dispose()


def test_opening_an_empty_database_creates_the_schema(db_url: str, tmp_path: Path) -> None:
    store = SqlStore(db_url, tmp_path / "artifacts", user="u")
    try:
        assert current_revision(store.engine) == head_revision()
        assert store.tasks.list_projects() == []
    finally:
        store.close()


def test_fresh_home_directory_just_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'home' / 'tunehouse.db'}"
    store = SqlStore(url, tmp_path / "new" / "home" / "artifacts", user="u")
    try:
        assert store.tasks.get_or_create_project("p").name == "p"
    finally:
        store.close()


def test_tables_without_a_version_are_refused(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE projects (id VARCHAR(32) PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(SchemaOutOfDate) as info:
        SqlStore(db_url, tmp_path / "artifacts")
    assert "tunehouse db upgrade --db " in info.value.message


def test_an_older_revision_is_refused_with_the_upgrade_command(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(SchemaOutOfDate) as info:
        SqlStore(db_url, tmp_path / "artifacts")
    message = info.value.message
    assert "0000" in message and head_revision() in message
    assert f"tunehouse db upgrade --db {db_url}" in message


def test_upgrade_command_leaves_the_password_out() -> None:
    engine = get_engine("postgresql://alice:hunter2@127.0.0.1:1/nowhere")
    from tunehouse.store.migrate import upgrade_command

    command = upgrade_command(engine)
    engine.dispose()
    assert "hunter2" not in command
    assert command == "tunehouse db upgrade --db postgresql+psycopg://alice@127.0.0.1:1/nowhere"


@pytest.mark.parametrize("url, driver", [
    ("postgres://u@h/db", "postgresql+psycopg"),
    ("postgresql://u@h/db", "postgresql+psycopg"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ("sqlite:////tmp/x.db", "sqlite"),
])
def test_urls_are_normalised(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "sqlite://", "sqlite:///:memory:",
                                 "postgresql+psycopg2://u@h/db"])
def test_unsupported_urls_are_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_url(url)


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000,
                          "synchronous": 1}
    finally:
        engine.dispose()


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    assert head_revision() == HEAD_REVISION


def test_upgrading_keeps_the_scalars_and_their_summaries(sqlite_url: str, tmp_path: Path) -> None:
    assert upgrade(sqlite_url, "0002") == "0002"
    engine = get_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO projects VALUES ('p1', 'old', '', 'u', '2026-01-01 00:00:00')"))
        conn.execute(sa.text(
            "INSERT INTO tasks (id, project_id, name, type, status, status_reason, "
            "status_message, tags, comment, user, created, updated, queue_priority, attempt, "
            "max_retries, abort_requested) VALUES ('t1', 'p1', 'run', 'training', "
            "'completed', '', '', '[]', '', 'u', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 0, 1, 0, 0)"))
        conn.execute(sa.text(
            "INSERT INTO metrics VALUES (7, 't1', 'loss', 'train', 2, 0.25, 0.25, 0.5, 1, 1)"))
        conn.execute(sa.text("INSERT INTO scalars VALUES (7, 0, 0, 0.5, 1.0), (7, 1, 1, 0.25, 2.0)"))
    engine.dispose()
    assert upgrade(sqlite_url) == head_revision()
    store = SqlStore(sqlite_url, tmp_path / "artifacts", user="u")
    try:
        [series] = store.events.get_scalars("t1")
        assert (series.x, series.y) == ([0, 1], [0.5, 0.25])
        [summary] = store.events.get_metric_summaries("t1")
        assert (summary.count, summary.last, summary.min, summary.max) == (2, 0.25, 0.25, 0.5)
    finally:
        store.close()


def test_upgrading_fills_the_numbers_of_parameters(db_url: str, tmp_path: Path) -> None:
    assert upgrade(db_url, "0004") == "0004"
    engine = get_engine(db_url)
    values = {"a": "0.005", "b": "10", "c": "abc", "d": "nan", "e": "", "f": "1e400"}
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO projects VALUES ('p1', 'old', '', 'u', '2026-01-01 00:00:00')"))
        conn.execute(sa.text(
            'INSERT INTO tasks (id, project_id, name, type, status, status_reason, '
            'status_message, tags, comment, "user", created, updated, queue_priority, '
            "attempt, max_retries, abort_requested) VALUES ('t1', 'p1', 'run', 'training', "
            "'completed', '', '', '[]', '', 'u', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 0, 1, 0, false)"))
        conn.execute(sa.text(
            "INSERT INTO parameters VALUES ('t1', 'General', :name, :value, 'str', '', 'u')"),
            [{"name": name, "value": value} for name, value in values.items()])
    engine.dispose()
    assert upgrade(db_url) == head_revision()
    store = SqlStore(db_url, tmp_path / "artifacts", user="u")
    try:
        with store.engine.connect() as conn:
            numbers = dict(conn.execute(sa.text(
                "SELECT name, num_value FROM parameters ORDER BY name")).all())
        assert numbers == {"a": 0.005, "b": 10.0, "c": None, "d": None, "e": None, "f": None}
        page = store.tasks.list_tasks(TaskQuery(filters=["param:General/b > 9.5"],
                                                columns=["param:General/a"]))
        assert [task.id for task in page.tasks] == ["t1"]
        assert page.values == {"t1": {"param:General/a": 0.005}}
    finally:
        store.close()


def test_upgrading_records_the_trials_of_existing_searches(db_url: str, tmp_path: Path) -> None:
    assert upgrade(db_url, "0009") == "0009"
    engine = get_engine(db_url)
    task = ('INSERT INTO tasks (id, project_id, name, type, status, status_reason, '
            'status_message, parent_id, tags, comment, "user", created, updated, '
            "queue_priority, attempt, max_retries, abort_requested) VALUES (:id, :project, "
            ":id, :type, 'completed', '', '', :parent, '[]', '', :user, :created, "
            ":created, 0, 1, 0, false)")
    config = "INSERT INTO configurations VALUES (:task, :name, :text, '', 'u')"

    def spec(controller: str, number: int) -> str:
        return json.dumps({"controller": controller, "number": number, "values": {},
                           "params": {}, "distributions": {}})

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO projects VALUES (:id, :id, '', 'u', "
                             "'2026-01-01 00:00:00')"), [{"id": "p1"}, {"id": "p2"}])
        rows = [("search", "p1", "optimizer", None, "u", 0),
                ("t0", "p1", "training", "search", "u", 1),
                ("t1", "p1", "training", "search", "u", 2),
                ("again0", "p1", "training", "search", "u", 3),  # a clone of trial 0
                ("planted", "p2", "training", "search", "x", 4),  # from another project
                ("no-spec", "p1", "training", "search", "u", 5),
                ("old", "p1", "optimizer", None, "u", 6),  # a search with a record
                ("none", "p1", "optimizer", None, "u", 7)]  # no search configuration
        conn.execute(sa.text(task), [
            {"id": i, "project": p, "type": k, "parent": parent, "user": user,
             "created": f"2026-01-01 00:00:0{s}"} for i, p, k, parent, user, s in rows])
        conn.execute(sa.text(config), [
            {"task": "search", "name": "hpo", "text": "{}"},
            {"task": "old", "name": "hpo", "text": "{}"},
            {"task": "old", "name": "hpo.trials", "text": "kept"},
            {"task": "t0", "name": "hpo.trial", "text": spec("search", 0)},
            {"task": "t1", "name": "hpo.trial", "text": spec("search", 1)},
            {"task": "again0", "name": "hpo.trial", "text": spec("search", 0)},
            {"task": "planted", "name": "hpo.trial", "text": spec("search", 2)},
            {"task": "no-spec", "name": "hpo.trial", "text": "not json"}])
    engine.dispose()
    assert upgrade(db_url) == head_revision()
    store = SqlStore(db_url, tmp_path / "artifacts", user="u")
    try:
        texts = {c.name: c.text for c in store.tasks.get_configurations("search")}
        assert json.loads(texts["hpo.trials"]) == {"controller": "search",
                                                   "trials": {"0": "t0", "1": "t1"}}
        texts = {c.name: c.text for c in store.tasks.get_configurations("old")}
        assert texts["hpo.trials"] == "kept"
        assert "hpo.trials" not in {c.name for c in store.tasks.get_configurations("none")}
    finally:
        store.close()


def test_upgrading_leaves_monitor_samples_out_of_the_last_iteration(
        db_url: str, tmp_path: Path) -> None:
    assert upgrade(db_url, "0011") == "0011"
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO projects VALUES ('p1', 'old', '', 'u', '2026-01-01 00:00:00')"))
        conn.execute(sa.text(
            'INSERT INTO tasks (id, project_id, name, type, status, status_reason, '
            'status_message, tags, comment, "user", created, updated, queue_priority, '
            "attempt, max_retries, abort_requested, last_iteration) VALUES (:id, 'p1', :id, "
            "'training', 'completed', '', '', '[]', '', 'u', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 0, 1, 0, false, :last)"),
            [{"id": "trained", "last": 40}, {"id": "monitored", "last": 12},
             {"id": "plain", "last": 9}])
        conn.execute(sa.text(
            "INSERT INTO metrics (task_id, title, series, count, last, min, max, "
            "last_iteration, in_order) VALUES (:task, :title, 'x', 1, 1.0, 1.0, 1.0, :it, true)"),
            [{"task": "trained", "title": "loss", "it": 5},
             {"task": "trained", "title": ":monitor:", "it": 40},
             {"task": "monitored", "title": ":monitor:machine", "it": 12},
             {"task": "plain", "title": "loss", "it": 9}])
    engine.dispose()
    assert upgrade(db_url) == head_revision()
    store = SqlStore(db_url, tmp_path / "artifacts", user="u")
    try:
        last = {i: store.tasks.get_task(i).last_iteration for i in ("trained", "monitored", "plain")}
        assert last == {"trained": 5, "monitored": None, "plain": 9}
    finally:
        store.close()
