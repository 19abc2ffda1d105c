"""``Logger``: scalars, single values, text and tables of the running task.

``report_scalar`` is the hot path: it checks its arguments with cheap type tests and
appends one tuple to the reporter's buffer; nothing here waits on the network or disk
(except spilling to the spool when the buffer is full, see :mod:`tunehouse.sdk.reporter`).
"""

from __future__ import annotations

import csv
import io
import numbers
import time
from typing import TYPE_CHECKING, Any

from tunehouse.errors import InvalidInput
from tunehouse.sdk.artifacts import upload_bytes
from tunehouse.sdk.state import RUN_STATE, RunningTask

if TYPE_CHECKING:
    from tunehouse.sdk.reporter import Reporter

SINGLE_VALUE_TITLE = "Summary"


def _as_iteration(iteration: Any) -> int:
    if isinstance(iteration, numbers.Integral) and not isinstance(iteration, bool):
        return int(iteration)
    raise InvalidInput(f"iteration must be an int, not {type(iteration).__name__}",
                       detail={"argument": "iteration"})


def _as_value(value: Any, argument: str = "value") -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidInput(f"{argument} must be a number, not {type(value).__name__}",
                           detail={"argument": argument})
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{argument} must be a number, not {type(value).__name__}",
                           detail={"argument": argument}) from exc


def _bad_name(argument: str, value: Any) -> InvalidInput:
    return InvalidInput(f"{argument} must be a str, not {type(value).__name__}",
                        detail={"argument": argument})


class _ClosedBuffer:
    """Replaces the report buffer of a closed task: reporting after close is an error."""

    def append(self, _item: Any) -> None:
        raise InvalidInput("the task is closed: reports after close() would be lost")

    def __len__(self) -> int:
        return 0


class Logger:
    """Reports of one task. Get it with ``task.get_logger()`` or
    ``Logger.current_logger()``."""

    def __init__(self, task: RunningTask, reporter: Reporter) -> None:
        self._task = task
        self._reporter = reporter
        self._scalars = reporter.scalars
        self._limit = reporter.max_buffered

    def attach_reporter(self, reporter: Reporter) -> None:
        """Report through ``reporter`` from now on (used by the SDK in a forked child,
        which gets a reporter of its own)."""
        self._reporter = reporter
        self._scalars = reporter.scalars

    def detach(self) -> None:
        """The task closed: any further ``report_scalar`` raises ``InvalidInput`` instead
        of filling a buffer nobody sends (used by the SDK)."""
        self._scalars = _ClosedBuffer()  # type: ignore[assignment]

    @classmethod
    def current_logger(cls) -> Logger:
        """The logger of the task started by ``Task.init`` in this process.

        Raises:
            InvalidInput: when no task is running.
        """
        run = RUN_STATE.run
        logger = run.logger if run is not None else None
        if not isinstance(logger, Logger):
            raise InvalidInput("no task is running: call Task.init() first")
        return logger

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """Record ``value`` of ``title``/``series`` at ``iteration`` (never blocks).

        NaN and infinite values are stored as missing (``None``).

        Raises:
            InvalidInput: naming the argument when a title/series is not a str, the
                iteration not an int or the value not a number.
        """
        if type(title) is not str:
            raise _bad_name("title", title)
        if type(series) is not str:
            raise _bad_name("series", series)
        if type(iteration) is not int:
            iteration = _as_iteration(iteration)
        if type(value) is not float:
            value = _as_value(value)
        scalars = self._scalars
        scalars.append((title, series, iteration, value, time.time()))
        if len(scalars) >= self._limit:
            self._reporter.spill()

    def report_single_value(self, name: str, value: float) -> None:
        """Record one summary number (title ``Summary``, iteration 0)."""
        if type(name) is not str:
            raise _bad_name("name", name)
        self.report_scalar(SINGLE_VALUE_TITLE, name, _as_value(value), 0)

    def report_text(self, msg: Any, level: Any = None, print_console: bool = False) -> None:
        """Record a line of text in the task's console log (stream ``log``)."""
        text = str(msg)
        if print_console:
            print(text)
        for line in text.splitlines() or [""]:
            self._reporter.add_log("log", line)

    def report_table(self, title: str, series: str, iteration: int = 0,
                     table_plot: Any = None, csv: str | None = None,
                     url: str | None = None) -> None:
        """Store a table as a CSV artifact named ``table/<title>/<series>``.

        Args:
            title: Table title.
            series: Table series.
            iteration: Iteration the table belongs to.
            table_plot: A pandas DataFrame, or a list of rows (the first row the header).
            csv: Path of a CSV file, instead of ``table_plot``.
            url: Same as ``csv`` (ClearML's name for it).
        """
        if type(title) is not str:
            raise _bad_name("title", title)
        if type(series) is not str:
            raise _bad_name("series", series)
        iteration = _as_iteration(iteration)
        text = _table_csv(table_plot, csv or url)
        upload_bytes(
            self._task.store, self._task.id,
            f"table/{title}/{series}", text.encode("utf-8"), kind="table",
            content_type="text/csv",
            metadata={"title": title, "series": series, "iteration": iteration},
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything reported so far is stored (see ``Task.flush``)."""
        return self._task.flush(timeout)


def _table_csv(table: Any, path: str | None) -> str:
    if path is not None:
        with open(path, newline="") as fh:
            return fh.read()
    if table is None:
        raise InvalidInput("report_table needs table_plot or csv",
                           detail={"argument": "table_plot"})
    if hasattr(table, "to_csv"):
        return str(table.to_csv(index=True))
    if isinstance(table, (list, tuple)):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in table:
            if not isinstance(row, (list, tuple)):
                raise InvalidInput("table_plot rows must be lists",
                                   detail={"argument": "table_plot"})
            writer.writerow(row)
        return buffer.getvalue()
    raise InvalidInput(f"table_plot must be a DataFrame or a list of rows, not "
                       f"{type(table).__name__}", detail={"argument": "table_plot"})
