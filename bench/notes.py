"""Notes benchmark: how soon after intake the first-response note is on the PagerDuty incident.

Run from the repository root, in the project's virtualenv:

    python bench/notes.py                 # 10 incidents, one after the other
    python bench/notes.py --incidents 30

What one run does: starts the real app with its in-process worker (SQLite store in a temporary
directory, the bundled demo's connectors) and a loopback HTTPS PagerDuty (the test fake, with a
throwaway CA); then, one incident at a time, posts a signed `incident.triggered` delivery and
watches the fake until the first and the final note are on the incident.

Figures, per incident, from the moment the delivery was sent:
- baseline: the end of the `analyze` stage (from the store): the earliest a first note could go;
- first note: the moment the fake holds it;
- final note: likewise.
It prints p50 / p90 / max of each, and the first note's lag behind the baseline (what the note
stage itself costs: composing, one GET and one POST over TLS, recording). Exit code 0 whatever
the figures; 1 if an incident never got its notes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.fakes.pagerduty import FakePagerDuty, Key, incident
from triage.app import create_app
from triage.config import Settings, parse_config
from triage.intake.pagerduty import sign
from triage.models import utcnow
from triage.runtime import Runtime
from triage.scenarios import load_scenario, stage_bundle
from triage.store import stage_runs

DEMO = Path(__file__).resolve().parents[1] / "triage" / "demo" / "checkout-bad-deploy"
KEY, SECRET, SENDER = "pdkey-bench", "bench-webhook-secret", "ops-bot@example.com"


def _quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  "
            f"max {ordered[-1] * 1000:7.1f} ms")


def run(incidents: int) -> int:
    """Deliver `incidents` alerts one by one; print how soon their notes appeared."""
    fake = FakePagerDuty()
    fake.keys = {KEY: Key(read_only=False)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fake.ca.cert_pem.write_to_path(str(root / "ca.pem"))
        stage_bundle(DEMO, root / "bundle")
        config = parse_config(load_scenario(DEMO).config, root / "bundle", "demo")
        settings = Settings(data_dir=root / "data", pagerduty_webhook_secrets=[SecretStr(SECRET)],
                            pagerduty_api_key=SecretStr(KEY), pagerduty_from=SENDER,
                            pagerduty_base_url=fake.url, pagerduty_ca_bundle=root / "ca.pem",
                            public_url="http://triage.bench")
        runtime = Runtime.from_settings(settings, config)
        template = json.loads((DEMO / "alert.json").read_text())
        baseline, first, final = [], [], []
        with TestClient(create_app(runtime, run_worker=True)) as client:
            for n in range(incidents):
                incident_id = f"QBENCH{n:06d}"
                fake.incidents[incident_id] = incident(incident_id, n, "bench", "2026-01-01T00:00:00Z")
                template["event"]["id"] = f"bench-event-{n}"
                template["event"]["data"]["id"] = incident_id
                body = json.dumps(template).encode()
                sent, clock = utcnow(), time.perf_counter()
                answer = client.post("/webhooks/pagerduty", content=body, headers={
                    "content-type": "application/json", "x-pagerduty-signature": sign(body, SECRET)})
                inv = answer.json()["results"][0]["investigation_id"]
                seen_first = seen_final = None
                while time.perf_counter() - clock < 60 and seen_final is None:
                    count = len(fake.notes.get(incident_id, []))
                    if count >= 1 and seen_first is None:
                        seen_first = time.perf_counter() - clock
                    if count >= 2:
                        seen_final = time.perf_counter() - clock
                    time.sleep(0.002)
                if seen_first is None or seen_final is None:
                    print(f"incident {incident_id}: notes missing after 60 s", file=sys.stderr)
                    return 1
                first.append(seen_first)
                final.append(seen_final)
                baseline.append(_analyzed(runtime, inv, sent))
        runtime.close()
    fake.server.stop()
    lag = [f - b for f, b in zip(first, baseline, strict=True)]
    print(f"{incidents} incidents, one at a time; seconds after the delivery was sent")
    print(f"  baseline: analyze done  {_quantiles(baseline)}")
    print(f"  first note on incident  {_quantiles(first)}")
    print(f"  final note on incident  {_quantiles(final)}")
    print(f"  first note - baseline   {_quantiles(lag)}  "
          f"(ratio of medians {statistics.median(first) / statistics.median(baseline):.2f}x)")
    return 0


def _analyzed(runtime: Runtime, investigation_id: str, sent: datetime) -> float:
    with runtime.store.read() as conn:
        done = conn.execute(sa.select(stage_runs.c.finished_at).where(
            stage_runs.c.investigation_id == investigation_id,
            stage_runs.c.stage == "analyze")).scalar_one()
    return float((done - sent).total_seconds())


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10)
    sys.exit(run(parser.parse_args().incidents))


if __name__ == "__main__":
    main()
