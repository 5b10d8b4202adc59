"""Log dialects the blind kit does not write (logfmt, plain-text lines a shipper tagged with a
level, JVM unified GC logs, multi-line Java stack traces) and cumulative counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind.kit import Curve, Telemetry, iso
from tests.scenarios.blind.stacks import Pod, Svc


def _quote(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if any(c in text for c in ' ="') else text


def logfmt(svc: Svc, t: datetime, level: str, msg: str, pod: Pod | None = None, **kv: Any) -> dict[str, Any]:
    """A go-kit logfmt line as fluent-bit ships it unparsed: the raw line in `message`."""
    fields = {"ts": iso(t), "level": level, "caller": kv.pop("caller", "main.go:88"), "msg": msg, **kv}
    record = svc.base(pod)
    record.update(
        {
            "message": " ".join(f"{k}={_quote(v)}" for k, v in fields.items()),
            "stream": "stderr",
            "level": level,
        }
    )
    return record


def plain(
    svc: Svc, t: datetime, level: str, logger: str, msg: str, pod: Pod | None = None, thread: str = "main"
) -> dict[str, Any]:
    """A logback pattern-layout line (`%d %-5level [%thread] %logger - %msg`), multi-line joined
    by the shipper's multiline parser; the level extracted by its regex parser."""
    stamp = t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    record = svc.base(pod)
    record.update(
        {
            "message": f"{stamp} {level.upper():<5} [{thread}] {logger} - {msg}",
            "stream": "stdout",
            "level": level.lower(),
        }
    )
    return record


def java_trace(
    exc: str, frames: list[str], cause: str | None = None, cause_frames: list[str] | None = None
) -> str:
    """A Java stack trace as printed: `at` frames, `Caused by:`, `... N more`."""
    lines = [exc, *(f"\tat {f}" for f in frames)]
    if cause:
        lines += [
            f"Caused by: {cause}",
            *(f"\tat {f}" for f in cause_frames or []),
            f"\t... {len(frames) + 9} more",
        ]
    return "\n".join(lines)


def gc_log(svc: Svc, t: datetime, pod: Pod, uptime: float, text: str) -> dict[str, Any]:
    """A JVM unified-logging GC line on stdout (`-Xlog:gc:stdout:time,uptime,level,tags`): no
    level field, the shipper only knows the stream."""
    record = svc.base(pod)
    record.update({"message": f"[{iso(t)}][{uptime:.3f}s][info][gc] {text}", "stream": "stdout"})
    return record


def counter(
    tel: Telemetry,
    metric: str,
    rate: Curve,
    start: float,
    resets: tuple[float, ...] = (),
    noise: float = 0.03,
    **labels: str,
) -> None:
    """A cumulative counter scraped once a minute (`rate` per minute), back to 0 at each reset
    (a restarted process)."""
    value = start
    for m in tel.minutes():
        if any(m - 1 < r <= m for r in resets):
            value = 0.0
        value += max(0.0, rate(float(m)) * (1 + tel.rng.gauss(0, noise)))
        tel.metrics.append((tel.at(m), metric, round(value), labels))
