"""Feedback on a verdict, one validation and one store for every source: the command line
(`triage feedback`), Slack's buttons and modal, and PagerDuty resolution notes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from triage import repository as repo
from triage.analysis.redaction import Redactor
from triage.store import Store

# The truth categories a playbook's hypotheses use, and `abstain`: no cause should have been named.
CATEGORIES = ("bad-deploy", "config-change", "resource-exhaustion", "db-contention",
              "dependency-failure", "traffic-surge", "infrastructure", "false-alarm", "abstain")
COMMIT = re.compile(r"^[0-9a-fA-F]{7,40}$")
MAX_NOTE = 2_000


class FeedbackError(Exception):
    """Feedback that cannot be stored; the message says why."""


@dataclass(frozen=True)
class Feedback:
    """What someone says about a verdict: it was right, or the true category (and culprit)."""

    right: bool
    author: str
    category: str | None = None
    culprit: str | None = None
    note: str | None = None

    def validate(self) -> None:
        """Raise FeedbackError for an unknown category, a malformed commit or no verdict."""
        if not self.right and self.category is None:
            raise FeedbackError("say the verdict was right, or give the true cause's category")
        if self.category is not None and self.category not in CATEGORIES:
            raise FeedbackError(f"unknown category {self.category!r}: one of "
                                f"{', '.join(CATEGORIES)}")
        if self.culprit is not None and not COMMIT.match(self.culprit):
            raise FeedbackError(f"culprit {self.culprit!r} is not a commit: 7 to 40 hex digits")


def record(store: Store, redactor: Redactor, investigation_id: str, given: Feedback,
           source: str = "cli") -> None:
    """Store feedback on an existing investigation (the note redacted, as all stored text)."""
    given.validate()
    with store.transaction() as conn:
        if repo.get_investigation(conn, investigation_id) is None:
            raise FeedbackError(f"no investigation {investigation_id} in this store")
        repo.add_feedback(conn, investigation_id, "right" if given.right else "wrong", source,
                          given.author, category=given.category,
                          culprit=given.culprit.lower() if given.culprit else None,
                          note=redactor.redact_text(given.note[:MAX_NOTE]) if given.note else None)
