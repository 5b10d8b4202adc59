"""The ack path's remembering redactor answers exactly what the configured redactor answers,
on first sight and from memory, counts included."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import sample
from tests.intake.test_at_rest import AWS_KEY, GITHUB_TOKEN
from triage.analysis.redaction import RedactionConfig, Redactor
from triage.intake.pipeline import MemoRedactor


def with_secrets(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with secrets in a value, a credential-named field and a nested object."""
    return payload | {"note": f"token {GITHUB_TOKEN}", "password": "hunter2",
                      "nested": [{"aws": f"key={AWS_KEY}", "card": 4111111111111111}],
                      "same": {"password": "hunter2"}}


@pytest.mark.parametrize("path", ["pagerduty/incident_triggered.json", "alertmanager/firing.json",
                                  "datadog/triggered.json"])
def test_it_redacts_as_the_configured_redactor_does(path: str) -> None:
    config = RedactionConfig(allow=[r"hunter2"], keep_pii=["phone"])
    base, memo = Redactor(config), MemoRedactor(Redactor(config))
    payload = with_secrets(sample(path))
    expected_counts: Counter[str] = Counter()
    expected = base.redact_value(payload, expected_counts)
    assert expected != payload and expected_counts  # the payload does hold secrets
    for _ in range(2):  # first from the rules, then from memory
        counts: Counter[str] = Counter()
        assert memo.redact_value(payload, counts) == expected
        assert counts == expected_counts
    assert memo.redact_text(f"x {GITHUB_TOKEN}") == base.redact_text(f"x {GITHUB_TOKEN}")
