"""Fixtures of the notes tests (see fixtures.py)."""

from tests.notify.fixtures import _fresh, pd, pd_ca  # noqa: F401
