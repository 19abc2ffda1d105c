"""The one console line limit: a line is cut once, to at most the limit, marker included."""

from __future__ import annotations

from tunehouse.common.console_lines import CONSOLE_LINE_CHARS, truncate_line


def test_a_short_line_is_kept_as_it_is() -> None:
    line = "x" * CONSOLE_LINE_CHARS
    assert truncate_line(line) is line


def test_a_long_line_is_cut_to_the_limit_and_says_how_much_went() -> None:
    cut = truncate_line("x" * (CONSOLE_LINE_CHARS * 3))
    assert len(cut) <= CONSOLE_LINE_CHARS
    kept = len(cut) - len(cut.lstrip("x"))
    assert cut.endswith(f"... [tunehouse: {CONSOLE_LINE_CHARS * 3 - kept} characters truncated]")


def test_cutting_a_cut_line_again_changes_nothing() -> None:
    once = truncate_line("y" * 100_000)
    assert truncate_line(once) == once


def test_characters_dropped_before_are_counted() -> None:
    assert truncate_line("abc", limit=100, cut=7) == "abc... [tunehouse: 7 characters truncated]"
    cut = truncate_line("a" * 200, limit=100, cut=5)
    kept = len(cut) - len(cut.lstrip("a"))
    assert len(cut) <= 100
    assert cut.endswith(f"[tunehouse: {5 + 200 - kept} characters truncated]")
