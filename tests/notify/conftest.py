"""Fixtures of the notes tests (see fixtures.py)."""

from tests.notify.fixtures import _fresh, pd, pd_ca  # noqa: F401
from tests.notify.slack_fixtures import _fresh_slack, slack  # noqa: F401
