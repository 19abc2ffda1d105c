"""Preferences: JSON documents a user keeps on the server under a key (the web UI's
project dashboards: ``dashboard:<project id>``); see :mod:`tunehouse.store.preferences`
for the keys, the limits and the values known keys must hold."""

from __future__ import annotations

import abc
from typing import Any


class Preferences(abc.ABC):
    """The acting user's own preferences (over HTTP: ``/preferences/{key}``); nobody
    reads or writes another user's. A malformed key, a value that is not JSON, is too
    large or is not what a known key holds is InvalidInput naming the problem."""

    @abc.abstractmethod
    def get_preference(self, key: str) -> Any | None:
        """The acting user's value of preference ``key``; None when it has none."""

    @abc.abstractmethod
    def set_preference(self, key: str, value: Any) -> Any:
        """Keep ``value`` as the acting user's preference ``key`` (replacing the one
        before); None removes it. Returns the value as stored."""
