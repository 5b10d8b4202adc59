"""Fuzzing in the suite (issue 12), on SQLite and PostgreSQL: generated bodies and mutations of
the real samples for each webhook (signed where the source signs), and schemathesis over
`/openapi.json`. No answer may be a 5xx, and the server still answers afterwards. Bounded and
derandomized, so the run is quick and the same on every machine."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.conftest import DD_TOKEN, sample
from tests.intake.conftest import AM_TOKEN, Intake, unique

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
# Literal JSON the encoder cannot write, spliced in for a marker string `@@raw:<index>@@`.
RAW = ["[" * 1000 + "]" * 1000, "9" * 4301, "-" + "1" * 5000, "1e400", "-1E+999", "NaN",
       "Infinity", "-Infinity", '{"a":' * 100 + "0" + "}" * 100, "123456789012345678901234567890"]
NASTY_TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\ud83d\ude00", "\ufeff", "9" * 19,
              "253402300800000", "-1", "1e308", "0001-01-01T00:00:00+01:00",
              "9999-12-31T23:59:59-00:01", "9999-12-31T23:59:59", "0001-01-01T00:00:00",
              "2024-05-14T09:12:03.512345678Z", "x" * 600, "javascript:alert(1)", "$DATE",
              "incident.resolved", "incident.triggered", "Recovered", "Triggered", "resolved",
              "firing", "4", "%s%n", "../../etc/passwd", "ghp_" + "a1B2c3D4" * 4 + "e5F6"]
# What breaks a store or a reply wherever it lands: NUL, lone surrogates, over-long, empty.
SPRINKLES = ["\x00", "\ud800", "x\udfffy", "x" * 600, "", " \ufeff"]
SAMPLES = {"pagerduty": ["pagerduty/incident_triggered.json", "pagerduty/incident_resolved.json",
                         "pagerduty/incident_acknowledged.json"],
           "alertmanager": ["alertmanager/firing.json", "alertmanager/resolved.json"],
           "datadog": ["datadog/triggered.json", "datadog/recovered.json"]}

texts = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=30),
                  st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lo"]), max_size=8))
raw_markers = st.sampled_from([f"@@raw:{index}@@" for index in range(len(RAW))])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts, raw_markers)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)


def encode(payload: Any) -> bytes:
    """JSON as a careless sender writes it: NaN as is, lone surrogates escaped, raw splices."""
    text = json.dumps(payload)
    for index, literal in enumerate(RAW):
        text = text.replace(json.dumps(f"@@raw:{index}@@"), literal)
    return text.encode()


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*at, index))
    return found


def _fresh_ids(source: str, payload: dict[str, Any]) -> None:
    # Without new ids every delivery after the first is a duplicate, and insertion goes unfuzzed.
    if source == "pagerduty" and isinstance(payload.get("event"), dict):
        payload["event"]["id"] = unique("ev-")
        if isinstance(payload["event"].get("data"), dict):
            payload["event"]["data"]["id"] = unique("P")
    elif source == "alertmanager":
        for alert in payload.get("alerts", []):
            alert["fingerprint"] = unique("fp")
    elif source == "datadog":
        payload.update(id=str(10**15 + int(unique(""))), alert_cycle_key=unique(""))


@st.composite
def mutated(draw: st.DrawFn, source: str) -> bytes:
    """A real sample of `source` with fresh ids and one to three fields replaced or deleted."""
    payload = copy.deepcopy(sample(draw(st.sampled_from(SAMPLES[source]))))
    _fresh_ids(source, payload)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(payload)))
        parent = payload
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
            break
        parent[path[-1]] = draw(values)
        if not isinstance(parent[path[-1]], dict | list):
            continue
        break  # the path list is stale once a container is replaced
    return encode(payload)


@st.composite
def sprinkled(draw: st.DrawFn, source: str) -> bytes:
    """A real sample of `source` with fresh ids and one nasty text put into (or in place of)
    some of its strings: what every field does with it, ids and titles included."""
    payload = copy.deepcopy(sample(draw(st.sampled_from(SAMPLES[source]))))
    _fresh_ids(source, payload)
    nasty = draw(st.one_of(st.sampled_from(SPRINKLES), st.sampled_from(SPRINKLES), texts))

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str) and draw(st.booleans()):
            return value + nasty if draw(st.booleans()) else nasty
        return value

    return encode(walk(payload))


def bodies(source: str) -> st.SearchStrategy[bytes]:
    """Mutated samples mostly; generated objects and raw bytes too."""
    return st.one_of(mutated(source), sprinkled(source), values.map(encode),
                     st.binary(max_size=64))


def _fuzz(intake: Intake, send: Callable[[bytes], Any], body: bytes) -> None:
    response = send(body)
    assert response.status_code < 500, (body[:300], response.text)
    assert response.status_code in {202, 400, 413}, (body[:300], response.text)


@FUZZ
@given(body=bodies("pagerduty"))
def test_fuzz_pagerduty_signed(intake: Intake, body: bytes) -> None:
    _fuzz(intake, intake.pagerduty, body)


@FUZZ
@given(body=bodies("alertmanager"))
def test_fuzz_alertmanager(intake: Intake, body: bytes) -> None:
    _fuzz(intake, intake.alertmanager, body)


@FUZZ
@given(body=bodies("datadog"))
def test_fuzz_datadog(intake: Intake, body: bytes) -> None:
    _fuzz(intake, intake.datadog, body)


def test_after_the_fuzzing_the_server_still_answers_and_accepts(intake: Intake) -> None:
    """Runs after the fuzz tests of this module, on the same server and store."""
    assert intake.answers()
    payload = sample("datadog/triggered.json")
    _fresh_ids("datadog", payload)
    assert intake.datadog(payload).json()["results"][0]["status"] == "accepted"


def _operations(intake: Intake) -> list[schemathesis.APIOperation[Any, Any, Any, Any]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", intake.client.app)
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the app's schema must load whole
        found.append(result.ok())
    return found


def _fuzz_operation(operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> None:
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))
    token = {"datadog": DD_TOKEN, "alertmanager": AM_TOKEN}.get(operation.path.split("/")[-1])
    headers = {"authorization": f"Bearer {token}"} if token else {}

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def call(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    call()


def test_schemathesis_finds_no_server_error(intake: Intake) -> None:
    """Every operation of the app's own schema, valid and invalid inputs, called in process."""
    operations = _operations(intake)
    assert len(operations) >= 8
    for operation in operations:
        _fuzz_operation(operation)
    assert intake.answers()
