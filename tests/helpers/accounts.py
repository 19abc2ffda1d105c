"""Accounts for tests that work on a database directly.

:data:`FAST_HASHER` is argon2id with the least work it allows: tests that sign in or
create users by the dozen, and do not test hashing itself, use it instead of the server's
hasher (about 50 ms a hash, seconds on a loaded machine). Servers started as subprocesses
keep the real one.
"""

from __future__ import annotations

from tunehouse.server.accounts import Argon2Hasher

FAST_HASHER = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)
