"""Every shipped scenario bundle is triaged as its expectations say (the rules brain's eval)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DEMO, make_settings
from triage.scenarios import evaluate, find_bundles

BUNDLES = [*find_bundles([Path(__file__).parent / "scenarios" / "bundles"]), DEMO]


def test_there_is_a_bundle_per_category() -> None:
    assert {b.name for b in BUNDLES} >= {"search-bad-deploy", "orders-db-lock-contention",
                                         "payments-dependency-timeout", "catalog-traffic-surge",
                                         "inventory-false-alarm", "checkout-bad-deploy"}


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda b: b.name)
def test_bundle_meets_every_expectation(bundle: Path, tmp_path: Path) -> None:
    result = evaluate(bundle, make_settings(tmp_path))
    assert result.error is None
    missed = [c for c in result.checks if not c.met]
    assert missed == []
