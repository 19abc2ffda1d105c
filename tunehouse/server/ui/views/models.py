"""The model registry: every model name with its versions and stage aliases and, for the
model named by ``?name=``, its versions, promoting a version to a stage, rolling a stage
back, and the audit history of its stages. Each version shows the run that made it (its
task, the parameters that set the runs apart, its last metrics: :mod:`.model_runs`).

A stage is any alias matching the registry's rule (letters, digits, ``_ . -``; usually
``production`` or ``staging``). Promoting and rolling back are the same store operation
(``models.set_model_stage``, audited by the store as ``model.stage`` on target ``model``
/ the model's name) that ``tunehouse models promote`` and ``tunehouse models rollback``
call; a rollback moves the stage back to an *earlier* version, as the CLI requires: the
version that held it before (from the audit log), else the newest earlier version.
``models.js`` does both through the JSON API, after a confirm() dialog.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tunehouse.errors import NotFound
from tunehouse.server.ui.pages import Page
from tunehouse.server.ui.render import render
from tunehouse.server.ui.views.model_runs import run_table
from tunehouse.store.records import AuditEvent, Model

router = APIRouter()

#: Stages offered in the promote form besides those a model already has.
COMMON_STAGES = ("production", "staging")
#: Audit target of stage changes (see ``SqlModelStore.set_model_stage``).
AUDIT_TARGET = "model"
STAGE_ACTION = "model.stage"
AUDIT_SHOWN = 200


@dataclass
class Summary:
    """One model name in the overview."""

    name: str
    versions: int
    latest: Model
    stages: list[tuple[str, int]]


@dataclass
class StageRow:
    """Where one stage points, since when, and the version a rollback would go back to."""

    stage: str
    holder: Model
    since: datetime | None
    by: str
    rollback_to: int | None


@dataclass
class AuditRow:
    event: AuditEvent
    stage: str
    change: str
    kind: str


@router.get("/models")
def models_page(request: Request, who: Page, name: str = "") -> Response:
    """Every model; with ``name``, that model's versions, stages and their history."""
    models = who.store.models.list_models(name=name or None)
    if name and not models:
        raise NotFound(f"no model named {name!r}")
    by_name: dict[str, list[Model]] = defaultdict(list)
    for model in models:
        by_name[model.name].append(model)
    summaries = [Summary(key, len(versions), versions[-1], _stages(versions))
                 for key, versions in sorted(by_name.items())]
    context: dict[str, Any] = {"summaries": summaries, "name": name, "focus": None}
    if name:
        versions = sorted(by_name[name], key=lambda m: m.version, reverse=True)
        events = who.accounts.audit.list_audit_events(target_type=AUDIT_TARGET,
                                                      target_id=name, limit=AUDIT_SHOWN)
        stage_rows = stage_table(versions, events)
        context.update(
            focus=name, versions=versions, stage_rows=stage_rows,
            runs=run_table(who.store, versions),
            audit=[_audit_row(event) for event in events],
            stage_choices=sorted({*COMMON_STAGES, *(row.stage for row in stage_rows)}))
    title = f"{name} · Models · tunehouse" if name else "Models · tunehouse"
    return render(request, "models.html", title=title, user=who.user, **context)


def _stages(versions: list[Model]) -> list[tuple[str, int]]:
    return sorted((stage, model.version) for model in versions for stage in model.stages)


def stage_table(versions: list[Model], events: list[AuditEvent]) -> list[StageRow]:
    """Each stage of a model (``events``: its audit log, newest first)."""
    numbers = {model.version for model in versions}
    rows = []
    for model in versions:
        for stage in model.stages:
            moved = next((e for e in events if e.action == STAGE_ACTION
                          and e.details.get("stage") == stage
                          and e.details.get("to") == model.version), None)
            rows.append(StageRow(stage, model, moved.created if moved else None,
                                 moved.user if moved else "",
                                 rollback_target(model.version, moved, numbers)))
    return sorted(rows, key=lambda row: row.stage)


def rollback_target(current: int, moved: AuditEvent | None, versions: set[int]) -> int | None:
    """The earlier version a rollback of a stage at ``current`` goes back to: the one that
    held it before ``moved`` (the change that put it there), else the newest earlier
    version; None when there is no earlier version."""
    previous = moved.details.get("from") if moved else None
    if isinstance(previous, int) and previous < current and previous in versions:
        return previous
    earlier = [version for version in versions if version < current]
    return max(earlier) if earlier else None


def _audit_row(event: AuditEvent) -> AuditRow:
    details = event.details
    if event.action != STAGE_ACTION:
        return AuditRow(event, "", ", ".join(f"{k}={v}" for k, v in details.items()), "")
    before, after = details.get("from"), details.get("to")
    if before is None:
        change, kind = f"set to v{after}", "promote"
    else:
        change = f"v{before} → v{after}"
        kind = ("rollback" if isinstance(before, int) and isinstance(after, int)
                and after < before else "promote")
    return AuditRow(event, str(details.get("stage", "")), change, kind)
