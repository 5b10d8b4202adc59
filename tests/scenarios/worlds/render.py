"""A world's telemetry as bundle files: `logs.jsonl`, `metrics.csv`, `deploys.json`."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.worlds.model import Stream, World

CLIENTS = ["web", "ios", "android", "partner-api"]
REGIONS = ["eu-west", "us-east", "ap-south"]
CURRENCIES = ["USD", "EUR", "GBP"]
METHODS = ["GET", "GET", "GET", "POST"]


def iso(t: datetime) -> str:
    """ISO 8601 with a Z, as the bundles write times."""
    return t.isoformat().replace("+00:00", "Z")


def fill(template: str, rng: random.Random) -> str:
    """A template's placeholders with plausible values."""
    return template.format(n=rng.randint(1000, 99999), ms=rng.randint(5, 900),
                           s=rng.randint(2, 30), hex=f"{rng.getrandbits(48):012x}",
                           pct=rng.randint(80, 99), k=rng.randint(2, 3))


def _attributes(world: World, t: datetime, rng: random.Random) -> dict[str, Any]:
    """One request's attributes: path, client, region, currency, host, latency."""
    traffic = world.traffic
    attrs: dict[str, Any] = {
        "method": rng.choice(METHODS), "path": rng.choice(traffic.paths),
        "client": rng.choice(CLIENTS), "region": rng.choice(REGIONS),
        "currency": rng.choice(CURRENCIES), "host": rng.choice(world.hosts), "status": 200}
    factor = traffic.factor(t)
    if factor > 1.0 and rng.random() < (factor - 1.0) / factor:
        attrs.update(traffic.surge_fields)  # the extra requests the surge brings
    slow = traffic.slow_factor if traffic.slow_start and t >= traffic.slow_start else 1.0
    attrs["duration_ms"] = int(traffic.latency_ms * slow * rng.lognormvariate(0, 0.35))
    return attrs


def _query(attrs: dict[str, Any]) -> str:
    skip = ("method", "path", "host", "client", "status", "duration_ms")
    return "&".join(f"{k}={v}" for k, v in attrs.items() if k not in skip)


def _record(world: World, t: datetime, level: str, text: str | None,
            attrs: dict[str, Any]) -> dict[str, Any]:
    """One log record in the world's style; `text` None is an access line."""
    base = {"timestamp": iso(t), "service": world.service, "level": level}
    line = f"{attrs['method']} {attrs['path']}"
    if world.style == "json":
        fields = {k: v for k, v in attrs.items() if k not in ("method",)}
        message = text or f"{line} {attrs['status']}"
        return {**base, "message": message, "method": attrs["method"], **fields}
    if world.style == "kv":
        pairs = " ".join(f"{k}={v}" for k, v in attrs.items() if k not in ("method", "path", "host"))
        message = f"{text} path={attrs['path']} {pairs}" if text else f"{line} {pairs}"
        return {**base, "message": message, "host": attrs["host"]}
    access = f"{line}?{_query(attrs)} {attrs['status']} in {attrs['duration_ms']}ms"
    message = f"{text} ({access})" if text else access
    return {**base, "message": message, "host": attrs["host"], "client": attrs["client"]}


def _stream_line(world: World, stream: Stream, t: datetime, rng: random.Random) -> dict[str, Any]:
    attrs = _attributes(world, t, rng)
    attrs.update(stream.fields)
    attrs["status"] = stream.status
    if stream.path:
        attrs["path"] = stream.path
    record = _record(world, t, stream.level, fill(stream.template, rng), attrs)
    if stream.request is not None:
        record["request"] = stream.request(rng)
    return record


def logs(world: World) -> list[dict[str, Any]]:
    """Background access lines, the incident's streams from their start, and sporadic lines."""
    rng = random.Random(world.seed * 7919 + 1)
    lines: list[tuple[datetime, dict[str, Any]]] = []
    t = world.start
    while t < world.end:
        rate = world.traffic.per_minute * world.traffic.factor(t)
        t += timedelta(seconds=rng.uniform(0.05, 2 * 60 / rate))
        roll = rng.random()
        for stream in world.streams:
            share = stream.share_at(t)
            if roll < share:
                lines.append((t, _stream_line(world, stream, t, rng)))
                break
            roll -= share
        else:
            lines.append((t, _record(world, t, "info", None, _attributes(world, t, rng))))
    for sporadic in world.sporadic:  # not request lines: a message, where it was logged
        for at in sporadic.at:
            lines.append((at, {"timestamp": iso(at), "service": world.service,
                               "level": sporadic.level, "message": fill(sporadic.template, rng),
                               "host": rng.choice(world.hosts), **sporadic.fields}))
    lines.sort(key=lambda pair: pair[0])
    return [record for _, record in lines]


def metrics_csv(world: World) -> str:
    """One point a minute per series; label columns are the union of the series' labels."""
    rng = random.Random(world.seed * 7919 + 2)
    label_keys = sorted({k for s in world.series for k in s.labels} - {"service"})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "metric", "value", "service", *label_keys])
    t = world.start.replace(second=0, microsecond=0)
    while t < world.end:
        for series in world.series:
            writer.writerow([iso(t), series.name, series.value(t, rng), world.service,
                             *[series.labels.get(k, "") for k in label_keys]])
        t += timedelta(minutes=1)
    return out.getvalue()


def deploys_json(world: World) -> str:
    """The deploy history, oldest first."""
    rows = []
    for i, deploy in enumerate(sorted(world.deploys, key=lambda d: d.at), 1):
        row: dict[str, Any] = {"id": f"dep-{world.seed % 1000 * 10 + i}",
                               "service": deploy.service or world.service, "commit": deploy.commit}
        if deploy.previous_commit:
            row["previous_commit"] = deploy.previous_commit
        row.update({"deployed_at": iso(deploy.at), "author": deploy.author,
                    "description": deploy.description, "files": deploy.files})
        rows.append(row)
    return json.dumps(rows, indent=2) + "\n"
