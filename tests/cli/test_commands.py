"""The `triage` command line: demo, eval, run, config check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import DEMO, PD_SECRET, compact, sample
from triage.cli import app

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / ".triage"))
    for name in ("TRIAGE_CONFIG", "TRIAGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_second_demo_keeps_the_first_ones_reports_and_says_where_links_open(
        workdir: Path) -> None:
    first, second = (runner.invoke(app, ["demo"]) for _ in range(2))
    reports = [next(Path(line.split("report: ")[1]) for line in run.output.splitlines()
                    if line.startswith("report: ")) for run in (first, second)]
    assert reports[0] != reports[1] and all(path.is_file() for path in reports)
    run_dir = reports[1].parents[1]
    assert f"(the link opens under `TRIAGE_DATA_DIR={run_dir} triage serve`" in second.output


def test_demo_prints_findings_and_report_location(workdir: Path) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert ("summary: Code change: commit 8d41ce5b1eb8 'Switch cart totals to Decimal' (Lee Park) in "
            "deploy 6457c33dee76 — reproduced and bisected") in result.output
    culprit = "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"  # found by bisect in the demo repository
    assert f"culprit: {culprit} 'Switch cart totals to Decimal'" in result.output
    assert "verified revert " in result.output and " on local branch triage/inv_" in result.output
    report = next(line.split("report: ")[1] for line in result.output.splitlines()
                  if line.startswith("report: "))
    assert Path(report).is_file()


def test_eval_passes_the_demo_and_fails_a_wrong_expectation(workdir: Path) -> None:
    good = runner.invoke(app, ["eval", str(DEMO)])
    assert good.exit_code == 0, good.output
    assert "1 passed, 0 failed" in good.output

    wrong = workdir / "wrong"
    shutil.copytree(DEMO, wrong)
    scenario = yaml.safe_load((wrong / "scenario.yaml").read_text())
    scenario["expectations"]["top_category"] = "traffic-surge"
    (wrong / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    bad = runner.invoke(app, ["eval", str(DEMO), str(wrong), "--json", "-"])
    assert bad.exit_code == 1
    results = json.loads(bad.output)["results"]
    assert [r["passed"] for r in results] == [True, False]
    missed = [c for c in results[1]["checks"] if not c["met"]]
    assert missed == [{"name": "top category", "met": False,
                       "detail": "expected traffic-surge, got bad-deploy"}]


def test_eval_reports_a_broken_bundle_without_crashing(workdir: Path) -> None:
    broken = workdir / "broken"
    broken.mkdir()
    (broken / "scenario.yaml").write_text("name: broken\nsource: nowhere\n")
    result = runner.invoke(app, ["eval", str(broken)])
    assert result.exit_code == 1
    assert "FAIL  broken" in result.output
    assert "source" in result.output


def test_run_investigates_every_alert_of_an_alertmanager_group(workdir: Path) -> None:
    alert = workdir / "alert.json"
    group = sample("alertmanager/firing.json")
    alert.write_bytes(compact(group))
    result = runner.invoke(app, ["run", str(alert), "--source", "alertmanager"])
    assert result.exit_code == 0, result.output
    titles = [line for line in result.output.splitlines() if line.startswith("Checkout")]
    assert len(titles) == len(group["alerts"]) == 2
    assert result.output.count("state: completed") == 2
    reports = [Path(line.split("report: ")[1]) for line in result.output.splitlines()
               if line.startswith("report: ")]
    assert len(set(reports)) == 2 and all(path.is_file() for path in reports)


def test_run_without_source_hints_at_the_one_the_body_looks_like(workdir: Path) -> None:
    alert = workdir / "alert.json"
    alert.write_bytes(compact(sample("alertmanager/firing.json")))
    result = runner.invoke(app, ["run", str(alert)])
    assert result.exit_code == 1
    assert "answered 400" in result.output
    assert f"hint: this body looks like an alertmanager webhook: try `triage run --source " \
           f"alertmanager {alert}`" in result.output


def test_run_of_an_unmapped_alert_says_nothing_was_queried(workdir: Path) -> None:
    alert = workdir / "alert.json"
    alert.write_bytes(compact(sample("pagerduty/incident_triggered.json")))
    result = runner.invoke(app, ["run", str(alert)])
    assert result.exit_code == 0, result.output
    assert ("summary: No service in triage.yaml matched this alert, so nothing was queried"
            in result.output)
    assert "0 queries" in result.output


def test_run_refuses_a_malformed_alert_file(workdir: Path) -> None:
    alert = workdir / "alert.json"
    alert.write_text("{not json")
    result = runner.invoke(app, ["run", str(alert)])
    assert result.exit_code == 1
    assert "answered 400" in result.output and "malformed JSON" in result.output


def test_config_check_reports_enabled_and_disabled_parts(workdir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_PAGERDUTY_WEBHOOK_SECRETS", f"{PD_SECRET},older")
    monkeypatch.delenv("TRIAGE_DATADOG_WEBHOOK_TOKEN", raising=False)
    config = yaml.safe_load((DEMO / "scenario.yaml").read_text())["config"]
    (workdir / "triage.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "PagerDuty intake: enabled" in result.output
    assert "Datadog intake: disabled — set TRIAGE_DATADOG_WEBHOOK_TOKEN" in result.output
    assert "checkout: connectors ['logs', 'metrics', 'orders_db', 'deploys']" in result.output
    assert "Slack threads: disabled — TRIAGE_SLACK_BOT_TOKEN is not set" in result.output
    assert ("Slack buttons and /triage: disabled — set TRIAGE_SLACK_SIGNING_SECRET"
            in result.output)


def test_config_check_says_where_slack_threads_go(workdir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_SLACK_BOT_TOKEN", "xoxb-test-token")
    (workdir / "triage.yaml").write_text(yaml.safe_dump({
        "services": [{"name": "checkout", "slack_channel": "C0CHECKOUT1"}, {"name": "search"}]}))
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert ("Slack threads: enabled (own channel for checkout, the PagerDuty incident's channel "
            "first when it links one); no thread for search (no channel of its own, no default)"
            in result.output)
    (workdir / "triage.yaml").write_text(yaml.safe_dump({"services": [{"name": "search"}]}))
    monkeypatch.setenv("TRIAGE_SLACK_SIGNING_SECRET", "s3cr3t-signing")
    monkeypatch.delenv("TRIAGE_SLACK_BOT_TOKEN")
    result = runner.invoke(app, ["config", "check"])
    assert "Slack threads: disabled — TRIAGE_SLACK_BOT_TOKEN is not set" in result.output
    assert ("Slack buttons and /triage: enabled (requests verified with the signing secret); the "
            "Wrong cause… form cannot open without TRIAGE_SLACK_BOT_TOKEN") in result.output


def test_config_check_flags_an_unset_secret_naming_connector_and_variable(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_PASSWORD", raising=False)
    (workdir / "triage.yaml").write_text(yaml.safe_dump({
        "services": [{"name": "orders", "connectors": ["orders_db"]}],
        "connectors": {"orders_db": {"type": "postgres", "password": {"env": "PG_PASSWORD"},
                                     "dsn": "postgresql://triage_ro@127.0.0.1:9/orders"}}}))
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 1
    assert ("secret error: connector 'orders_db': secret not set: environment variable "
            "PG_PASSWORD is empty or unset") in result.output
    monkeypatch.setenv("PG_PASSWORD", "set-now")
    assert runner.invoke(app, ["config", "check"]).exit_code == 0


def test_config_check_suggests_the_key_a_typo_meant(workdir: Path) -> None:
    (workdir / "triage.yaml").write_text(
        "services:\n  - name: a\n    conectors: []\nconnectors:\n"
        "  logs: {type: files_logs, pth: x.jsonl}\n")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "services.0.conectors: Extra inputs are not permitted (did you mean 'connectors'?)" \
        in result.output


def test_config_check_names_the_bad_field(workdir: Path) -> None:
    (workdir / "triage.yaml").write_text("services:\n  - name: checkout\n    conectors: [logs]\n")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "services.0.conectors: Extra inputs are not permitted" in result.output


def test_config_check_names_an_undefined_connector(workdir: Path) -> None:
    (workdir / "triage.yaml").write_text("services:\n  - name: checkout\n    connectors: [logs]\n")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "uses undefined connectors ['logs']" in result.output


def test_config_check_refuses_an_unknown_playbook(workdir: Path) -> None:
    (workdir / "triage.yaml").write_text("services:\n  - name: checkout\n    playbook: nope\n")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "service 'checkout' names unknown playbook 'nope'; loaded: backlog-disk, " in result.output


def test_config_check_reports_a_bad_playbook_file_and_keeps_the_others(workdir: Path) -> None:
    books = workdir / "books"
    books.mkdir()
    (books / "broken.yaml").write_text("name: broken\nqueries: [{id: x, kind: logs}]\n")
    (workdir / "triage.yaml").write_text("playbook_dirs: [books]\n")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 1
    assert "playbooks: backlog-disk, crash-loop-oom, database-saturation, default," in result.output
    assert "broken.yaml:2: queries.0.query: Field required" in result.output


@pytest.fixture
def demo_config(workdir: Path) -> Path:
    from triage.scenarios import stage_bundle

    stage_bundle(DEMO, workdir)
    config = yaml.safe_load((DEMO / "scenario.yaml").read_text())["config"]
    (workdir / "triage.yaml").write_text(yaml.safe_dump(config))
    return workdir


def test_connectors_test_reports_each_connector(demo_config: Path) -> None:
    result = runner.invoke(app, ["connectors", "test"])
    assert result.exit_code == 0, result.output
    assert "orders_db (database): ok" in result.output
    assert "logs (logs): ok" in result.output
    assert "CAN WRITE" not in result.output


def test_connectors_test_fails_for_a_missing_file(demo_config: Path) -> None:
    (demo_config / "metrics.csv").unlink()
    result = runner.invoke(app, ["connectors", "test", "metrics"])
    assert result.exit_code == 1
    assert "metrics (metrics): UNREACHABLE" in result.output


def test_query_runs_a_read_and_prints_rows(demo_config: Path) -> None:
    result = runner.invoke(app, ["query", "orders_db", "SELECT count(*) AS n FROM orders",
                                 "--since", "3650d", "--json"])
    assert result.exit_code == 0, result.output
    evidence = json.loads(result.output)
    assert evidence["status"] == "ok"
    assert evidence["rows"][0]["n"] > 0


def test_query_refuses_a_write_with_the_reason(demo_config: Path) -> None:
    result = runner.invoke(app, ["query", "orders_db", "DELETE FROM orders"])
    assert result.exit_code == 1
    assert "refused: only SELECT / WITH / VALUES statements run here, not DELETE" in result.output


def test_query_unknown_connector_names_the_configured_ones(demo_config: Path) -> None:
    result = runner.invoke(app, ["query", "nope", "x"])
    assert result.exit_code == 2
    assert "unknown connector 'nope'; configured: deploys, logs, metrics, orders_db" in result.output


def test_playbooks_validate_names_file_and_line(workdir: Path) -> None:
    books = workdir / "books"
    books.mkdir()
    (books / "good.yaml").write_text("name: good\n")
    (books / "bad.yaml").write_text("name: bad\nqueries:\n  - id: q\n    kind: logz\n    query: x\n")
    result = runner.invoke(app, ["playbooks", "validate", str(books)])
    assert result.exit_code == 1
    assert f"ok     {books / 'good.yaml'}: good (0 queries, 0 hypotheses)" in result.output
    assert f"error  {books / 'bad.yaml'}:4: queries.0.kind: Input should be" in result.output


def test_playbooks_validate_the_built_ins(workdir: Path) -> None:
    from triage.playbook import builtin_dir

    result = runner.invoke(app, ["playbooks", "validate", str(builtin_dir())])
    assert result.exit_code == 0, result.output


def test_playbooks_test_shows_queries_signals_and_the_winner(workdir: Path) -> None:
    from triage.playbook import builtin_dir

    bundle = Path(__file__).parents[1] / "scenarios" / "bundles" / "orders-db-lock-contention"
    result = runner.invoke(app, ["playbooks", "test", str(builtin_dir()), "--scenario", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "playbook latency-regression" in result.output
    assert "warning_logs on logs" in result.output
    assert "new_errors" in result.output
    assert "result: won: db-contention" in result.output
