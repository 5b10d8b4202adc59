"""Playbooks: durations, strict models, the library (errors, named, select), rendering, windows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from connectors import EvidenceKind
from triage.models import Alert, Source
from triage.playbook import (
    Match,
    Playbook,
    PlaybookError,
    PlaybookLibrary,
    QuerySpec,
    Window,
    builtin_dir,
    load_playbook,
    parse_duration,
)

STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "source": Source.PAGERDUTY, "dedup_key": "k1", "title": "High error rate on checkout",
        "started_at": STARTED, "labels": {"env": "prod", "team": "payments"},
        "service": "checkout",
    }
    values.update(overrides)
    return Alert(**values)


def write(directory: Path, filename: str, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


# --- parse_duration -----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("90s", timedelta(seconds=90)),
    ("15m", timedelta(minutes=15)),
    ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)),
    ("0s", timedelta(0)),
    (" 5m ", timedelta(minutes=5)),
    ("007m", timedelta(minutes=7)),
    (30, timedelta(seconds=30)),
    (1.5, timedelta(seconds=1.5)),
    (0, timedelta(0)),
    (timedelta(minutes=3), timedelta(minutes=3)),
])
def test_parse_duration_valid(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", [
    "", "m", "5", "1w", "1.5h", "-5m", "5 m", "5M", "1h30m", "h5", "5ms", "five minutes",
    True, False, None, [5], "5m\nx",
])
def test_parse_duration_invalid(value):
    with pytest.raises(ValueError, match=r"not a duration: .* \(use e\.g\. 90s, 15m, 2h, 1d\)"):
        parse_duration(value)


# --- strict models / load_playbook --------------------------------------------------------------

GOOD: dict[str, Any] = {
    "name": "checkout-errors",
    "description": "checkout error spikes",
    "priority": 5,
    "match": {"service": "^checkout$", "title": "error", "labels": {"env": "prod"},
              "sources": ["pagerduty"]},
    "window": {"before": "30m", "onset": "10m", "after": 120},
    "queries": [{"id": "errs", "kind": "logs", "query": "service={{ service }} level=error",
                 "limit": 100}],
}


def test_load_good_playbook(tmp_path: Path):
    playbook = load_playbook(write(tmp_path, "good.yaml", GOOD))
    assert playbook.name == "checkout-errors"
    assert playbook.window == Window(before=timedelta(minutes=30), onset=timedelta(minutes=10),
                                     after=timedelta(minutes=2))
    assert playbook.queries[0].kind == EvidenceKind.LOGS
    assert playbook.queries[0].limit == 100


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d.update(nmae="x"), "nmae: Extra inputs are not permitted"),
    (lambda d: d["window"].update(befor="5m"), "window.befor: Extra inputs are not permitted"),
    (lambda d: d["match"].update(severity="critical"),
     "match.severity: Extra inputs are not permitted"),
    (lambda d: d["queries"][0].update(timeout=5),
     "queries.0.timeout: Extra inputs are not permitted"),
    (lambda d: d["window"].update(before="1w"), "window.before: Value error, not a duration: '1w'"),
    (lambda d: d["queries"][0].update(kind="traces"), "queries.0.kind: Input should be"),
    (lambda d: d["queries"][0].update(id="Bad-Id"), "queries.0.id: String should match pattern"),
    (lambda d: d["queries"][0].update(limit=0), "queries.0.limit: Input should be greater than"),
    (lambda d: d.update(name="Has Spaces"), "name: String should match pattern"),
    (lambda d: d.pop("name"), "name: Field required"),
])
def test_strict_models_reject_with_file_name(tmp_path: Path, mutate, where: str):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(data)
    path = write(tmp_path, "broken.yaml", data)
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    message = str(info.value)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", message)
    assert where in message


def test_validation_errors_carry_the_line(tmp_path: Path):
    path = tmp_path / "lines.yaml"
    path.write_text("name: lines\nqueries:\n  - id: ok\n    kind: logs\n    query: x\n"
                    "  - id: bad\n    kind: logz\n    query: y\n")
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert str(info.value).startswith(f"{path}:7: queries.1.kind: Input should be")


@pytest.mark.parametrize("text", ["name: [unclosed", "a: b: c", "", "- just\n- a list\n"])
def test_unparseable_or_non_mapping_yaml_names_the_file(tmp_path: Path, text: str):
    path = write(tmp_path, "weird.yaml", text)
    with pytest.raises(PlaybookError, match=re.escape(str(path))):
        load_playbook(path)


def test_missing_file_names_the_file(tmp_path: Path):
    path = tmp_path / "gone.yaml"
    with pytest.raises(PlaybookError, match=re.escape(str(path))):
        load_playbook(path)


def test_builtin_default_is_valid():
    playbook = load_playbook(builtin_dir() / "default.yaml")
    assert playbook.name == "default"
    assert playbook.match == Match()
    assert [q.id for q in playbook.queries] == ["error_logs", "all_logs", "service_metrics",
                                               "recent_deploys"]


# --- PlaybookLibrary ----------------------------------------------------------------------------

def test_bad_file_is_reported_and_good_ones_still_load(tmp_path: Path):
    write(tmp_path, "a-good.yaml", GOOD)
    bad = write(tmp_path, "b-bad.yaml", {"name": "bad", "unknown_key": 1})
    write(tmp_path, "c-also-good.yaml", {"name": "also-good"})
    write(tmp_path, "d-broken.yaml", "name: [")
    write(tmp_path, "also-loaded.yml", {"name": "yml-too"})
    write(tmp_path, "notes.txt", "not a playbook")
    library = PlaybookLibrary([tmp_path], builtins=["default"])
    assert sorted(library.playbooks) == ["also-good", "checkout-errors", "default", "yml-too"]
    assert len(library.errors) == 2
    assert library.errors[0].startswith(f"{bad}:2: ")
    assert "unknown_key: Extra inputs are not permitted" in library.errors[0]
    assert library.errors[1].startswith(f"{tmp_path / 'd-broken.yaml'}: ")


def test_missing_directory_is_just_empty(tmp_path: Path):
    library = PlaybookLibrary([tmp_path / "nope"], builtins=["default"])
    assert list(library.playbooks) == ["default"]
    assert library.errors == []


def test_later_directory_overrides_same_name(tmp_path: Path):
    write(tmp_path, "default.yaml", {"name": "default", "description": "mine"})
    assert PlaybookLibrary([tmp_path], builtins=["default"]).named("default").description == "mine"


def test_huge_duration_is_reported_not_fatal(tmp_path: Path):
    write(tmp_path, "huge.yaml", {"name": "huge", "window": {"before": "99999999999d"}})
    library = PlaybookLibrary([tmp_path], builtins=["default"])
    assert "huge" not in library.playbooks
    assert len(library.errors) == 1


def test_non_utf8_file_is_reported_not_fatal(tmp_path: Path):
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    library = PlaybookLibrary([tmp_path], builtins=["default"])
    assert len(library.errors) == 1


def test_invalid_match_regex_is_rejected_at_load(tmp_path: Path):
    write(tmp_path, "rx.yaml", {"name": "rx", "match": {"title": "("}})
    library = PlaybookLibrary([tmp_path], builtins=["default"])
    assert library.select(alert()).name == "default"
    assert "rx" not in library.playbooks
    assert len(library.errors) == 1


def test_named(tmp_path: Path):
    write(tmp_path, "good.yaml", GOOD)
    library = PlaybookLibrary([tmp_path], builtins=["default"])
    assert library.named("checkout-errors").priority == 5
    with pytest.raises(PlaybookError) as info:
        library.named("nope")
    assert str(info.value) == "unknown playbook 'nope'; loaded: checkout-errors, default"


# --- select / Match -----------------------------------------------------------------------------

def library_of(tmp_path: Path, *playbooks: dict[str, Any]) -> PlaybookLibrary:
    for pb in playbooks:
        write(tmp_path, f"{pb['name']}.yaml", pb)
    library = PlaybookLibrary([tmp_path], builtins=["default"])
    assert library.errors == []
    return library


def test_select_falls_back_to_default(tmp_path: Path):
    library = library_of(tmp_path, {"name": "db", "match": {"service": "^db$"}})
    assert library.select(alert()).name == "default"


def test_select_prefers_priority_over_specificity(tmp_path: Path):
    library = library_of(
        tmp_path,
        {"name": "specific", "priority": 0,
         "match": {"service": "checkout", "title": "error", "labels": {"env": "prod"}}},
        {"name": "broad", "priority": 1, "match": {"sources": ["pagerduty"]}},
    )
    assert library.select(alert()).name == "broad"


def test_select_prefers_specificity_at_equal_priority(tmp_path: Path):
    library = library_of(
        tmp_path,
        {"name": "one-rule", "match": {"service": "checkout"}},
        {"name": "three-rules", "match": {"service": "checkout", "title": "error",
                                          "labels": {"env": "prod"}}},
        {"name": "two-rules", "match": {"service": "checkout", "sources": ["pagerduty"]}},
    )
    assert library.select(alert()).name == "three-rules"
    assert library.select(alert(labels={})).name == "two-rules"
    assert library.select(alert(labels={}, source=Source.DATADOG)).name == "one-rule"
    assert library.select(alert(service=None)).name == "default"


def test_select_ties_break_by_name(tmp_path: Path):
    library = library_of(tmp_path, {"name": "aaa", "match": {"service": "checkout"}},
                         {"name": "zzz", "match": {"service": "checkout"}})
    assert library.select(alert()).name == "zzz"


def test_select_without_any_match_raises(tmp_path: Path):
    library = library_of(tmp_path)
    library.playbooks.pop("default")
    with pytest.raises(PlaybookError, match="no playbook matches alert 'High error rate"):
        library.select(alert())


@pytest.mark.parametrize(("match", "overrides", "score"), [
    ({}, {}, 0),
    ({"title": "error"}, {}, 1),
    ({"title": "^error"}, {}, None),  # search, anchored pattern must match at the start
    ({"title": "(?i)^HIGH"}, {}, 1),
    ({"title": "Error"}, {}, None),  # case-sensitive unless the pattern says otherwise
    ({"service": "^check"}, {}, 1),
    ({"service": "."}, {"service": None}, None),
    ({"service": "^$"}, {"service": None}, 1),
    ({"labels": {"env": "prod|staging"}}, {}, 1),
    ({"labels": {"env": "^staging$"}}, {}, None),
    ({"labels": {"region": "."}}, {}, None),  # absent label is ""
    ({"labels": {"env": "prod", "team": "pay"}}, {}, 2),
    ({"sources": ["pagerduty", "datadog"]}, {}, 1),
    ({"sources": ["alertmanager"]}, {}, None),
    ({"sources": ["datadog"], "title": "rate"}, {"source": Source.DATADOG}, 2),
    ({"sources": ["pagerduty"], "service": "checkout", "title": "rate",
      "labels": {"env": "prod"}}, {}, 4),
])
def test_match_score(match, overrides, score):
    assert Match(**match).score(alert(**overrides)) == score


# --- QuerySpec.render ---------------------------------------------------------------------------

def spec(query: str) -> QuerySpec:
    return QuerySpec(id="q1", kind=EvidenceKind.LOGS, query=query)


def test_render_with_alert_fields():
    text = spec("service={{ service }} env={{ alert.labels.env }} title={{ alert.title }} "
                "at={{ alert.started_at }} src={{ alert.source }} sev={{ alert.severity }}"
                ).render(alert(), "checkout-svc")
    assert text == ("service=checkout-svc env=prod title=High error rate on checkout "
                    "at=2024-05-01T12:00:00Z src=pagerduty sev=error")


def test_render_without_service_is_empty_string():
    assert spec("[{{ service }}]").render(alert(), None) == "[]"


def test_render_builtin_default_queries():
    playbook = load_playbook(builtin_dir() / "default.yaml")
    rendered = {q.id: q.render(alert(), "checkout") for q in playbook.queries}
    assert rendered == {"error_logs": "service=checkout level!=info level!=debug",
                        "all_logs": "service=checkout",
                        "service_metrics": '{service="checkout"}',
                        "recent_deploys": "service=checkout"}
    rendered = {q.id: q.render(alert(), None) for q in playbook.queries}
    assert rendered["error_logs"] == "level!=info level!=debug"
    assert rendered["all_logs"] == ""
    assert rendered["recent_deploys"] == ""


@pytest.mark.parametrize(("query", "detail"), [
    ("{{ nope }}", "'nope' is undefined"),
    ("{{ alert.labels.region }}", "has no attribute 'region'"),
    ("{% if service %}unterminated", "Unexpected end of template"),
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
])
def test_render_template_error_is_playbook_error(query: str, detail: str):
    with pytest.raises(PlaybookError) as info:
        spec(query).render(alert(), "checkout")
    assert str(info.value).startswith("query 'q1': template error: ")
    assert detail in str(info.value)


def test_render_runtime_error_is_playbook_error():
    with pytest.raises(PlaybookError):
        spec("{{ 1 / 0 }}").render(alert(), "checkout")


# --- Window -------------------------------------------------------------------------------------

def test_window_defaults_and_bounds():
    assert Window().bounds(STARTED) == (STARTED - timedelta(minutes=60),
                                        STARTED - timedelta(minutes=15),
                                        STARTED + timedelta(minutes=5))


def test_window_bounds_from_yaml_strings():
    window = Playbook.model_validate(
        {"name": "w", "window": {"before": "2h", "onset": "90s", "after": "1d"}}).window
    assert window.bounds(STARTED) == (STARTED - timedelta(hours=2), STARTED - timedelta(seconds=90),
                                      STARTED + timedelta(days=1))


def test_window_zero_onset_and_after():
    start, onset, end = Window(before="10m", onset=0, after="0s").bounds(STARTED)
    assert (start, onset, end) == (STARTED - timedelta(minutes=10), STARTED, STARTED)


def test_window_rejects_bad_duration():
    with pytest.raises(ValidationError, match="not a duration"):
        Window(before="soon")
