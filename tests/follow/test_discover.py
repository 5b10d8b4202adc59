"""Which services a failure's lines name, how names map to services, and what counts as a lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from triage.analysis.signals import AnalysisWindow
from triage.config import TriageConfig, parse_config
from triage.follow.discover import discover, names_in, resolve

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
WINDOW = AnalysisWindow(START, START + timedelta(minutes=60), START + timedelta(minutes=75))


def config(*services: dict[str, Any]) -> TriageConfig:
    return parse_config({"services": list(services)}, Path("."), "test")


def row(message: str, level: str = "error", **fields: Any) -> dict[str, Any]:
    return {"service": "checkout", "host": "checkout-1", "level": level, "message": message,
            **fields}


def test_names_come_from_urls_fields_and_connection_errors() -> None:
    assert names_in(row("POST https://ledger.internal:8443/v1/x timed out")) == {"ledger.internal"}
    assert names_in(row("call failed service=ledger upstream=vault:8200")) == {"ledger", "vault"}
    assert names_in(row("dial tcp ledger:5432: connect: connection refused")) == {"ledger"}
    assert names_in(row('connection refused: is the server running on host "pg-main"')) == {"pg-main"}
    assert names_in(row("x failed", **{"peer.service": "ledger"})) == {"ledger"}
    envoy: dict[str, Any] = {"upstream_cluster": "outbound|8080||ledger.prod.svc.cluster.local",
                             "upstream_host": "10.0.3.4:8080", "response_code": 503}
    assert names_in(row("", **envoy)) == {"ledger.prod.svc.cluster.local"}


def test_the_emitter_and_source_positions_are_not_callees() -> None:
    assert names_in(row("request failed host=checkout-1 service=checkout")) == set()
    # `host:port` only counts in connection-shaped lines, never as a source file position.
    assert names_in(row("KeyError at cart.py:88 in total()")) == set()
    assert names_in(row("OutOfMemoryError at EntryCache.warm(EntryCache.java:11)")) == set()


def test_names_map_to_services_by_name_hosts_labels_and_first_label() -> None:
    known = config({"name": "checkout"}, {"name": "ledger", "hosts": ["*.ledger.svc"]},
                   {"name": "vault", "match": {"labels": {"app": "secrets-api"}}})
    assert resolve("ledger", known) == ("ledger", True)
    assert resolve("ledger.prod.internal", known) == ("ledger", True)
    assert resolve("items-7.ledger.svc", known) == ("ledger", True)
    assert resolve("secrets-api", known) == ("vault", True)
    assert resolve("billing.internal", known) == ("billing", False)  # internal: look for it
    assert resolve("billing", known) == ("billing", False)
    assert resolve("api.cardproc.example", known) is None  # external


def _lines(message: str, per_minute_before: int, per_minute_after: int,
           noise: int = 0) -> list[tuple[datetime, dict[str, Any]]]:
    out = []
    for minute in range(75):
        at = START + timedelta(minutes=minute)
        count = per_minute_after if at >= WINDOW.onset else per_minute_before
        out += [(at + timedelta(seconds=i), row(message)) for i in range(count)]
        out += [(at + timedelta(seconds=30 + i), row("KeyError: 'x'")) for i in range(noise)]
    return out


def test_a_name_that_rose_with_the_failure_is_a_candidate_with_its_share() -> None:
    known = config({"name": "checkout"}, {"name": "ledger"})
    rows = _lines("POST http://ledger.internal/v1 timed out", 0, 3, noise=1)
    found = discover(known.services[0], "checkout", rows, WINDOW, known)
    assert [(c.service, c.configured, c.share) for c in found.candidates] == [("ledger", True, 0.75)]
    assert found.candidates[0].reason == ("named in 75% of checkout's anomalous lines "
                                          "(as ledger.internal)")


def test_a_steady_trickle_naming_a_host_is_no_lead() -> None:
    known = config({"name": "checkout"}, {"name": "ledger"})
    rows = _lines("POST http://ledger.internal/v1 timed out", 2, 2, noise=5)
    assert discover(known.services[0], "checkout", rows, WINDOW, known).candidates == []


def test_external_hosts_are_listed_not_followed() -> None:
    known = config({"name": "checkout"})
    rows = _lines("POST https://api.cardproc.example/v1/charges timed out", 0, 4)
    found = discover(known.services[0], "checkout", rows, WINDOW, known)
    assert found.candidates == []
    assert [u.name for u in found.unfollowed] == ["api.cardproc.example"]


def test_declared_dependencies_follow_named_ones_only_for_dependency_shaped_failures() -> None:
    known = config({"name": "checkout", "depends_on": ["ledger", "vault"]}, {"name": "ledger"},
                   {"name": "vault"})
    shaped = _lines("POST http://vault.internal/v1 timed out", 0, 3, noise=1)
    found = discover(known.services[0], "checkout", shaped, WINDOW, known)
    assert [(c.service, c.declared) for c in found.candidates] == [("vault", False),
                                                                   ("ledger", True)]
    code = _lines("KeyError: 'locale'", 0, 4)
    found = discover(known.services[0], "checkout", code, WINDOW, known)
    assert found.candidates == []
    assert {u.name for u in found.unfollowed} == {"ledger", "vault"}
