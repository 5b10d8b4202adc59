"""Elasticsearch connector against `ElasticFront` (Elasticsearch 8 / 9 or OpenSearch in front of a real
osmem engine): wire compatibility, auth, retries, timeouts, check(), secrets, read-only traffic, CLI."""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml
from typer.testing import CliRunner

from connectors import EvidenceStatus
from connectors.elasticsearch.connector import ElasticsearchConnector
from tests.connectors._util import req
from tests.connectors.es_fixtures import API_KEY, IN_WINDOW, PASSWORD, es_connector, osmem_engine
from tests.connectors.test_es_dsl import ATTACKS
from tests.fakes.elasticsearch import ElasticFront, Grants, forbidden, rejected
from tests.fakes.loopback import Reply
from triage.cli import app

pytestmark = pytest.mark.slow
SEARCH = "/logs-*/_search"


@pytest.fixture(scope="module")
def engine() -> Iterator[str]:
    with osmem_engine() as url:
        yield url


@pytest.fixture(scope="module")
def front_server(engine: str) -> Iterator[ElasticFront]:
    front = ElasticFront(engine).start()
    yield front
    front.stop()


@pytest.fixture
def front(front_server: ElasticFront) -> ElasticFront:
    front_server.reset()
    return front_server


@pytest.fixture
def with_api_key(front: ElasticFront, monkeypatch: pytest.MonkeyPatch) -> ElasticFront:
    monkeypatch.setenv("ES_API_KEY", API_KEY)
    front.credentials = f"ApiKey {API_KEY}"
    return front


def connect(front: ElasticFront, **settings) -> ElasticsearchConnector:
    return es_connector(front.url, **settings)


def searches(front: ElasticFront) -> int:
    return sum(1 for seen in front.seen if seen.path.endswith("/_search"))


# --- wire compatibility -------------------------------------------------------------------------

@pytest.mark.parametrize(("product", "compatibility", "sent"), [
    ("elasticsearch9", "elasticsearch9", "application/vnd.elasticsearch+json; compatible-with=9"),
    ("elasticsearch9", "elasticsearch8", "application/vnd.elasticsearch+json; compatible-with=8"),
    ("elasticsearch8", "elasticsearch8", "application/vnd.elasticsearch+json; compatible-with=8"),
    ("opensearch", "opensearch", "application/json"),
])
def test_each_product_works_with_its_compatibility_setting(front, product, compatibility, sent):
    front.product = product
    es = connect(front, compatibility=compatibility)
    ev = es.query(req("count: level=error"))
    assert ev.status == EvidenceStatus.OK, ev.error
    assert ev.rows == [{"count": 40}]
    assert {(s.headers["accept"], s.headers["content-type"]) for s in front.seen} == {(sent, sent)}
    es.close()


@pytest.mark.parametrize(("product", "compatibility", "expected"), [
    ("elasticsearch8", "elasticsearch9",
     "HTTP 400: media_type_header_exception: Invalid media-type value on headers [Accept, Content-Type]; "
     "caused by: Accept version must be either version 8 or 7, but found 9."),
    ("opensearch", "elasticsearch9",
     "HTTP 406: Content-Type header [application/vnd.elasticsearch+json; compatible-with=9] is not "
     "supported — the server rejected the client's media type; set `compatibility`"),
    ("opensearch", "elasticsearch8", "HTTP 406: Content-Type header [application/vnd.elasticsearch+json; "
                                     "compatible-with=8] is not supported"),
])
def test_a_mismatched_compatibility_says_which_setting_to_change(front, product, compatibility, expected):
    front.product = product
    ev = connect(front, compatibility=compatibility).query(req("level=error"))
    assert ev.status == EvidenceStatus.ERROR
    assert ev.error is not None
    assert ev.error.startswith(expected)
    assert "set `compatibility` to elasticsearch8 or opensearch" in ev.error
    assert searches(front) == 1  # a deterministic refusal is not retried


def test_a_server_that_does_not_identify_as_elasticsearch(front):
    front.identify = False
    ev = connect(front).query(req("level=error"))
    assert ev.error is not None
    assert ev.error.startswith("the server does not identify as Elasticsearch (no X-Elastic-Product "
                               "header); for OpenSearch set `compatibility: opensearch`")


# --- authentication -----------------------------------------------------------------------------

def test_api_key_is_sent_as_documented(with_api_key):
    ev = connect(with_api_key, api_key={"env": "ES_API_KEY"}).query(req("count: "))
    assert ev.rows == [{"count": IN_WINDOW["checkout"] + IN_WINDOW["payments"]}]
    assert with_api_key.seen[0].headers["authorization"] == f"ApiKey {API_KEY}"


def test_basic_auth_password_from_a_file(front, tmp_path: Path):
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    front.credentials = "Basic " + base64.b64encode(f"triage:{PASSWORD}".encode()).decode()
    es = connect(front, username="triage", password={"file": str(tmp_path / "pw")})
    assert es.query(req("count: level=warn")).rows == [{"count": 5}]


def test_wrong_credentials_are_reported_not_retried(with_api_key, monkeypatch):
    monkeypatch.setenv("ES_API_KEY", "d3Jvbmc6a2V5")
    ev = connect(with_api_key, api_key={"env": "ES_API_KEY"}).query(req("level=error"))
    assert ev.error is not None
    assert ev.error.startswith("permission denied (HTTP 401): security_exception: unable to authenticate")
    assert searches(with_api_key) == 1


def test_a_missing_secret_is_error_evidence(front, monkeypatch):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    ev = connect(front, api_key={"env": "ES_API_KEY"}).query(req("level=error"))
    assert ev.error == "secret not set: environment variable ES_API_KEY is empty or unset"
    assert front.seen == []


@pytest.mark.parametrize("settings", [
    {"api_key": {"env": "A"}, "username": "u", "password": {"env": "B"}},
    {"username": "u"},
    {"password": {"env": "B"}},
    {"hosts": ["https://elastic:hunter2@es.example:9200"]},
    {"indices": ["logs-*,-logs-secret"]},
    {"indices": []},
    {"compatibility": "solr"},
])
def test_bad_settings_are_config_errors(settings):
    from connectors import ConnectorConfigError

    with pytest.raises(ConnectorConfigError):
        es_connector("http://127.0.0.1:9", **settings)


# --- retries and timeouts -----------------------------------------------------------------------

def test_429_is_retried_then_answered(front):
    front.server.queue(SEARCH, rejected("0"), rejected("0"))
    ev = connect(front).query(req("level=error"))
    assert ev.status == EvidenceStatus.OK
    assert ev.row_count == 40
    assert searches(front) == 3


def test_retry_after_is_honoured(front):
    front.server.queue(SEARCH, rejected("1"))
    started = time.monotonic()
    ev = connect(front).query(req("level=error"))
    assert ev.status == EvidenceStatus.OK
    assert time.monotonic() - started >= 1.0


def test_429_that_never_ends_is_error_evidence_after_the_last_attempt(front):
    front.server.queue(SEARCH, *[rejected("0")] * 5)
    ev = connect(front, max_attempts=3).query(req("level=error"))
    assert ev.error is not None
    assert ev.error.startswith("rate limited (HTTP 429) after retries: es_rejected_execution_exception: "
                               "rejected execution of TimedRunnable")
    assert searches(front) == 3


def test_503_unavailable_is_retried_but_too_many_buckets_is_not(front):
    unavailable = Reply(503, {"error": {"root_cause": [], "type": "search_phase_execution_exception",
                                        "reason": "all shards failed", "phase": "query"}, "status": 503},
                        {"Retry-After": "0"})
    front.server.queue(SEARCH, unavailable)
    assert connect(front).query(req("level=error")).status == EvidenceStatus.OK
    assert searches(front) == 2
    front.reset()
    buckets = Reply(503, {"error": {"root_cause": [], "type": "search_phase_execution_exception",
                                    "caused_by": {"type": "too_many_buckets_exception", "max_buckets": 65535,
                                                  "reason": "Trying to create too many buckets."}},
                          "status": 503})
    front.server.queue(SEARCH, buckets)
    ev = connect(front).query(req("level=error"))
    assert ev.error is not None and "Trying to create too many buckets" in ev.error
    assert searches(front) == 1


def test_403_is_reported_clearly_and_not_retried(front):
    front.server.queue(SEARCH, forbidden())
    ev = connect(front).query(req("level=error"))
    assert ev.error is not None
    assert ev.error.startswith("permission denied (HTTP 403): security_exception: action "
                               "[indices:data/read/search] is unauthorized for user [triage]")
    assert searches(front) == 1


def test_timeout_is_error_evidence_and_not_retried(front):
    front.server.queue(SEARCH, Reply(200, {}, delay=1.5))
    started = time.monotonic()
    ev = connect(front, request_timeout_seconds=0.3).query(req("level=error"))
    assert time.monotonic() - started < 1.4
    assert ev.error is not None
    assert ev.error.startswith("timed out: Connection timed out during request [sent: POST /logs-*/_search")
    assert "timeout=300ms" in ev.error  # the server-side search timeout follows the setting
    assert searches(front) == 1


def test_unreachable_cluster_is_error_evidence():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ev = es_connector(f"http://127.0.0.1:{port}", max_attempts=1).query(req("level=error"))
    assert ev.error is not None
    assert ev.error.startswith("cannot reach the cluster: ")
    assert "[sent: POST /logs-*/_search?timeout=10000ms" in ev.error


def test_which_failures_are_transient():
    from elastic_transport import ApiResponseMeta, ConnectionError, ConnectionTimeout, HttpHeaders, NodeConfig
    from elasticsearch import ApiError

    from connectors.elasticsearch.client import is_transient

    def api(status: int, body: object = None) -> ApiError:
        meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "127.0.0.1", 9200))
        return ApiError("x", meta, body)

    statuses = (400, 401, 403, 404, 406, 409, 429, 500, 502, 503, 504)
    assert [status for status in statuses if is_transient(api(status))] == [429, 502, 503, 504]
    assert not is_transient(api(503, {"error": {"caused_by": {"type": "too_many_buckets_exception"}}}))
    assert is_transient(ConnectionError("connection refused"))
    assert not is_transient(ConnectionTimeout("slow"))
    assert not is_transient(ValueError("a bug"))


def test_https_with_a_private_ca(engine: str, tmp_path: Path):
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    front = ElasticFront(engine, tls=context).start()
    try:
        assert front.url.startswith("https://")
        trusted = es_connector(front.url, ca_certs=str(tmp_path / "ca.pem"))
        assert trusted.query(req("count: level=error")).rows == [{"count": 40}]
        untrusted = es_connector(front.url).query(req("count: level=error"))
        assert untrusted.error is not None
        assert untrusted.error.startswith("TLS failed (check ca_certs / verify_certs): ")
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.error
        assert len(front.seen) == 1  # only the trusted request got through; the bad cert was not retried
    finally:
        front.stop()


# --- check() ------------------------------------------------------------------------------------

def test_check_read_only_credentials(with_api_key):
    result = connect(with_api_key, api_key={"env": "ES_API_KEY"}).check()
    assert (result.reachable, result.can_write) == (True, False)
    assert result.details[0] == f"osmem: opensearch 3.8.0 at {with_api_key.url}"
    stored = IN_WINDOW["checkout"] + IN_WINDOW["payments"] + 2  # + the two just outside the hour
    assert result.details[1] == f"read access: {stored} documents in logs-*"
    assert result.details[2] == "user 'triage' has no write, index, delete or manage privilege here"
    asked = next(s for s in with_api_key.seen if s.path == "/_security/user/_has_privileges").json()
    assert asked["index"][0]["names"] == ["logs-*"]
    assert {"read", "write", "index", "delete", "manage", "all"} <= set(asked["index"][0]["privileges"])


@pytest.mark.parametrize(("grants", "found"), [
    (Grants(index={"read", "write"}), "user 'triage' CAN WRITE: logs-*:write"),
    (Grants(index={"read", "create_doc", "delete"}),
     "user 'triage' CAN WRITE: logs-*:create_doc, logs-*:delete"),
    (Grants(cluster={"all"}, index={"read"}), "user 'triage' CAN WRITE: cluster:all"),
    (Grants(cluster={"manage"}, index={"read"}), "user 'triage' CAN WRITE: cluster:manage"),
])
def test_check_credentials_that_could_write(front, grants, found):
    front.grants = grants
    result = connect(front).check()
    assert (result.reachable, result.can_write) == (True, True)
    assert found in result.details


def test_check_without_read_privilege_says_so(front):
    front.grants = Grants(index={"view_index_metadata"})
    front.server.queue("/logs-*/_count", forbidden("indices:data/read/search"))
    result = connect(front).check()
    assert (result.reachable, result.can_write) == (False, False)
    assert result.details[1].startswith("CANNOT READ the allowed indices: permission denied (HTTP 403)")
    assert result.details[2] == ("user 'triage' has no write, index, delete or manage privilege here; "
                                 "user 'triage' lacks read on logs-*")


def test_check_security_disabled_means_anyone_can_write(front):
    front.security_disabled = True
    result = connect(front).check()
    assert result.can_write is True
    assert result.details[2].startswith("security is DISABLED on this cluster: anyone who can reach it can "
                                        "write (HTTP 500: exception: Security must be explicitly enabled")


def test_check_against_opensearch_cannot_tell(front):
    front.product = "opensearch"
    result = connect(front, compatibility="opensearch").check()
    assert (result.reachable, result.can_write) == (True, None)
    assert result.details[2] == (
        "cannot tell whether these credentials can write: no usable /_security/user/_has_privileges "
        "(HTTP 400: no handler found for uri [/_security/user/_has_privileges] and method [POST] "
        "[sent: POST /_security/user/_has_privileges])")


def test_check_unreachable_and_unauthenticated(front, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = es_connector(f"http://127.0.0.1:{port}", max_attempts=1).check()
    assert (down.reachable, down.can_write) == (False, None)
    assert down.details[0].startswith("cannot reach the cluster: ")
    monkeypatch.setenv("ES_API_KEY", "d3Jvbmc6a2V5")
    front.credentials = f"ApiKey {API_KEY}"
    denied = connect(front, api_key={"env": "ES_API_KEY"}).check()
    assert (denied.reachable, denied.can_write) == (False, None)
    assert denied.details[0].startswith("permission denied (HTTP 401)")
    monkeypatch.delenv("ES_API_KEY")
    unset = connect(front, api_key={"env": "ES_API_KEY"}).check()
    assert unset.details == ["secret not set: environment variable ES_API_KEY is empty or unset"]


# --- secrets never leak -------------------------------------------------------------------------

def test_planted_credentials_appear_nowhere(front, monkeypatch, caplog, tmp_path: Path):
    """A hostile backend quotes the Authorization header back in every error; nothing may carry it."""
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"triage:{PASSWORD}".encode()).decode()
    monkeypatch.setenv("ES_API_KEY", API_KEY)
    (tmp_path / "pw").write_text(PASSWORD)
    front.echo_authorization = True
    outputs: list[str] = []
    for auth in ({"api_key": {"env": "ES_API_KEY"}},
                 {"username": "triage", "password": {"file": str(tmp_path / "pw")}}):
        front.credentials = "nobody gets in"  # every request is refused with the header echoed
        es = connect(front, **auth)
        for text in ("level=error", "count: x", "histogram: x", "top: x", "fields:", '{"query": {"x": 1}}'):
            outputs.append(es.query(req(text)).model_dump_json())
        outputs.append(es.check().model_dump_json())
        front.credentials = None  # now answered: errors from the engine, 403s, 429s
        front.server.queue(SEARCH, forbidden(), *[rejected("0")] * 4)
        outputs += [es.query(req(text)).model_dump_json() for text in ("level=error", "level=error")]
        outputs.append(es.query(req('{"query": {"nope": {}}}')).model_dump_json())
        outputs.append(es.check().model_dump_json())
        es.close()
    echoed = [s.headers.get("authorization", "") for s in front.seen]
    assert f"ApiKey {API_KEY}" in echoed and f"Basic {basic}" in echoed  # the secrets were really sent
    assert any("[redacted]" in output for output in outputs)  # and really echoed back
    everything = "\n".join(outputs) + "\n" + caplog.text
    for secret in (API_KEY, PASSWORD, basic):
        assert secret not in everything


# --- read-only traffic --------------------------------------------------------------------------

def test_only_read_endpoints_are_ever_called_and_attacks_send_nothing(front, engine):
    es = connect(front)
    for _, body, _ in ATTACKS:
        ev = es.query(req(json.dumps(body)))
        assert ev.status == EvidenceStatus.ERROR
        assert ev.error is not None and ev.error.startswith("refused: ")
    assert front.seen == []  # refused before anything was sent
    for text in ("level=error", "count: x", "histogram: x", "top: x", "fields:",
                 '{"query": {"match_all": {}}, "aggs": {"l": {"terms": {"field": "log.level"}}}}'):
        assert es.query(req(text)).status != EvidenceStatus.ERROR
    es.check()
    calls = {(s.method, s.path) for s in front.seen}
    assert calls == {("POST", "/logs-*/_search"), ("POST", "/logs-*/_count"), ("GET", "/logs-*/_field_caps"),
                     ("GET", "/"), ("POST", "/_security/user/_has_privileges")}
    totals = es_connector(engine, compatibility="opensearch", indices=["*"]).query(req("count: "))
    assert totals.rows == [{"count": IN_WINDOW["checkout"] + IN_WINDOW["payments"] + 3}]  # nothing written


# --- the command line ---------------------------------------------------------------------------

@pytest.fixture
def triage_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, front: ElasticFront) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    monkeypatch.setenv("ES_API_KEY", API_KEY)
    for name in ("TRIAGE_CONFIG", "TRIAGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    front.credentials = f"ApiKey {API_KEY}"
    config = {"connectors": {"es": {"type": "elasticsearch", "hosts": [front.url], "indices": ["logs-*"],
                                    "api_key": {"env": "ES_API_KEY"}, "ui_url": "https://kibana.example"}}}
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_cli_connectors_test(triage_yaml: Path, front: ElasticFront):
    runner = CliRunner()
    result = runner.invoke(app, ["connectors", "test", "es"])
    assert result.exit_code == 0, result.output
    assert "es (logs): ok" in result.output
    assert "has no write, index, delete or manage privilege" in result.output
    front.grants = Grants(index={"read", "index"})
    loud = runner.invoke(app, ["connectors", "test", "es"])
    assert loud.exit_code == 1
    assert "WARNING: the credentials of 'es' CAN WRITE" in loud.output
    assert API_KEY not in result.output + loud.output


def test_cli_query_and_refusal(triage_yaml: Path):
    runner = CliRunner()
    result = runner.invoke(app, ["query", "es", "count: service=checkout", "--since", "2024-05-01T12:00:00Z",
                                 "--until", "2024-05-01T13:00:00Z", "--json"])
    assert result.exit_code == 0, result.output
    evidence = json.loads(result.output)
    assert evidence["rows"] == [{"count": IN_WINDOW["checkout"]}]
    assert evidence["link"].startswith("https://kibana.example/app/discover#/?_g=")
    refused = runner.invoke(app, ["query", "es", '{"query": {"script": {"script": "1"}}}'])
    assert refused.exit_code == 1
    assert "refused: scripts are not allowed: $.query.script" in refused.output
