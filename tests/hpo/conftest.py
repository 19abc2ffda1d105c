"""Fixtures of the search tests (defined in :mod:`tests.hpo.helpers`)."""

from tests.hpo.helpers import env  # noqa: F401 - fixture
