"""The one limit on a console line, wherever the line comes from.

A line captured from stdout or stderr by the SDK, a line streamed by the agent, a
``report_text`` line and a traceback line are all cut the same way: at most
:data:`CONSOLE_LINE_CHARS` characters, marker included, so a line looks the same whichever
path stored it, and cutting a line twice changes nothing.
"""

from __future__ import annotations

#: The most characters a stored console line has (the truncation marker included).
CONSOLE_LINE_CHARS = 16_384
#: Characters kept free at the end of a cut line for the marker (it is shorter).
_MARKER_ROOM = 64


def truncate_line(text: str, limit: int = CONSOLE_LINE_CHARS, cut: int = 0) -> str:
    """``text`` in at most ``limit`` characters. A line that lost characters (``cut`` of
    them already, before it got here, plus those dropped now) ends with
    ``... [tunehouse: N characters truncated]``."""
    if cut == 0 and len(text) <= limit:
        return text
    keep = max(0, min(len(text), limit - _MARKER_ROOM))
    cut += len(text) - keep
    return f"{text[:keep]}... [tunehouse: {cut} characters truncated]"
