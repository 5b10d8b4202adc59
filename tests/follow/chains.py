"""Small multi-service worlds for the follow stage: each service's errors name the next one."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from tests.scenarios.synth import Incident, alert
from triage.config import parse_config
from triage.models import Source
from triage.replay import ReplayOutcome, replay

AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
ONSET = AT - timedelta(minutes=12)
TIMEOUT = "POST http://{host}:8080/v1/items timed out after 5s request_id={hex}"
OOM = "java.lang.OutOfMemoryError: Java heap space in ItemCache.load"


def lines(service: str, error: str | None, seed: int) -> list[dict[str, Any]]:
    """A line every ~3 s over 80 minutes; from ONSET a third of them are `error` (if any)."""
    rng, out, t = random.Random(seed), [], AT - timedelta(minutes=80)
    while t < AT + timedelta(minutes=10):
        t += timedelta(seconds=rng.uniform(0.5, 5.5))
        level, message = "info", f"GET /api/{service}/{rng.randint(1, 9999)} 200 in {rng.randint(5, 90)}ms"
        if error and t >= ONSET and rng.random() < 0.33:
            level, message = "error", error.format(hex=f"{rng.getrandbits(40):010x}")
        out.append({"timestamp": t.isoformat().replace("+00:00", "Z"), "service": service,
                    "host": f"{service}-1", "level": level, "message": message})
    return out


def world(tmp_path: Path, errors: dict[str, str | None], services: list[dict[str, Any]],
          **top: Any) -> ReplayOutcome:
    """Replay a page for the first service over the logs of every service in `errors`."""
    rows = [row for i, (name, error) in enumerate(errors.items()) for row in lines(name, error, i)]
    rows.sort(key=lambda row: str(row["timestamp"]))
    (tmp_path / "logs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    first = services[0]["name"]
    services[0].setdefault("match", {"pagerduty_service_ids": [f"P{first.upper()[:6]}"]})
    for service in services:
        service.setdefault("connectors", ["logs"])
    config = parse_config({"services": services, **top,
                           "connectors": {"logs": {"type": "files_logs", "path": "logs.jsonl"}}},
                          tmp_path, "test")
    page = Incident(name=f"{first}-page", description="", service=first, source="pagerduty",
                    alert_title=f"{first} is unhappy", alert_at=AT, onset_minutes_before=12,
                    incident_errors=[], metrics={}, expectations={})
    body = json.dumps(alert(page)).encode()
    return replay(make_settings(tmp_path), config, Source.PAGERDUTY, body)
