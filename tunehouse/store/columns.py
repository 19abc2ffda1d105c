"""Column specs of task tables, without SQL: what a spec names and how it is written.

A column spec is ``param:<section>/<name>`` (the section is before the first ``/``) or
``metric:<title>/<series>`` with an optional ``:last``, ``:min`` or ``:max`` (the series
is after the last ``/``). The SQL read model (:mod:`tunehouse.store.sql.task_columns`)
and the checks of what users keep (dashboard pins, :mod:`tunehouse.store.preferences`)
read specs here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunehouse.errors import InvalidInput

PARAM_PREFIX = "param:"
METRIC_PREFIX = "metric:"
METRIC_FIELDS = ("last", "min", "max")
SPEC_HELP = "param:<section>/<name> or metric:<title>/<series>[:last|:min|:max]"


@dataclass(frozen=True)
class ParamColumn:
    """``param:<section>/<name>``."""

    section: str
    name: str

    @property
    def spec(self) -> str:
        return f"{PARAM_PREFIX}{self.section}/{self.name}"


@dataclass(frozen=True)
class MetricColumn:
    """``metric:<title>/<series>:<field>``; ``field`` is ``last``, ``min`` or ``max``."""

    title: str
    series: str
    field: str

    @property
    def spec(self) -> str:
        return f"{METRIC_PREFIX}{self.title}/{self.series}:{self.field}"


Column = ParamColumn | MetricColumn


def parse_column(spec: str, default_field: str = "last") -> Column:
    """The column ``spec`` names; ``InvalidInput`` showing the syntax when it names none."""
    text = spec.strip()
    if text.startswith(PARAM_PREFIX):
        section, slash, name = text[len(PARAM_PREFIX):].partition("/")
        if slash and section and name:
            return ParamColumn(section, name)
    elif text.startswith(METRIC_PREFIX):
        rest, field = text[len(METRIC_PREFIX):], default_field
        head, colon, suffix = rest.rpartition(":")
        if colon and suffix in METRIC_FIELDS:
            rest, field = head, suffix
        title, slash, series = rest.rpartition("/")
        if slash and title and series:
            return MetricColumn(title, series, field)
    raise InvalidInput(f"invalid column {spec!r}: use {SPEC_HELP}")
