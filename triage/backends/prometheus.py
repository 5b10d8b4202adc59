"""A bundle's `metrics.csv` in a real Prometheus: written as OpenMetrics, backfilled with
`promtool tsdb create-blocks-from openmetrics` into a fresh TSDB, and served by the
`prometheus` binary (Debian package `prometheus`, 2.42 here) started on that TSDB.

Flags this needs: `--storage.tsdb.retention.time` far beyond the default 15 days (backfilled
incidents are weeks or years old and would be deleted on start); overlapping blocks are always
allowed since 2.39 (the old `--storage.tsdb.allow-overlapping-blocks` is a no-op) and
out-of-order ingestion is for scraped samples only, so neither is set.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from connectors.timeparse import parse_timestamp
from triage.backends import BackendError
from triage.backends.postgres import free_port

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RETENTION = "36500d"
# one sample a minute is the usual bundle: a value is current for two steps, not five minutes
LOOKBACK = "2m"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def csv_to_openmetrics(path: Path) -> str:
    """`timestamp,metric,value[,label...]` as OpenMetrics text (series in time order, `# EOF`)."""
    series: dict[str, list[tuple[float, str]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        labels = [c for c in reader.fieldnames or [] if c not in ("timestamp", "metric", "value")]
        for bad in [c for c in labels if not _LABEL.match(c) or c.startswith("__")]:
            raise BackendError(f"{path}: column {bad!r} is not a Prometheus label name")
        for line, row in enumerate(reader, start=2):
            name = row["metric"]
            if not _NAME.match(name or ""):
                raise BackendError(f"{path}:{line}: {name!r} is not a Prometheus metric name")
            try:
                value = float(row["value"])
                stamp = parse_timestamp(row["timestamp"]).timestamp()
            except (TypeError, ValueError) as exc:
                raise BackendError(f"{path}:{line}: {exc}") from exc
            pairs = ",".join(f'{k}="{_escape(row[k])}"' for k in labels if row.get(k))
            key = f"{name}{{{pairs}}}" if pairs else name
            text = "NaN" if math.isnan(value) else repr(value)
            series.setdefault(key, []).append((stamp, text))
    out = []
    for key, points in series.items():
        last = None
        for stamp, text in sorted(points):
            if stamp != last:  # a repeated timestamp is a duplicate sample: the TSDB keeps one
                out.append(f"{key} {text} {stamp:.3f}")
            last = stamp
    return "\n".join([*out, "# EOF"]) + "\n"


class PrometheusServer:
    """Prometheus on a fresh TSDB backfilled from one `metrics.csv`; `stop()` removes it."""

    def __init__(self, metrics_csv: Path, timeout: float = 60.0) -> None:
        binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
        if binary is None or promtool is None:
            raise BackendError("`prometheus` and `promtool` are not on PATH: install the "
                               "`prometheus` package (Debian)")
        self.root = Path(tempfile.mkdtemp(prefix="triage-eval-prom-"))
        self._process: subprocess.Popen[bytes] | None = None
        try:
            source = self.root / "metrics.om"
            source.write_text(csv_to_openmetrics(metrics_csv), encoding="utf-8")
            done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
                                   str(source), str(self.root / "data")], capture_output=True)
            if done.returncode != 0:
                raise BackendError(f"promtool could not backfill {metrics_csv}: "
                                   f"{done.stderr.decode(errors='replace').strip()}")
            (self.root / "prometheus.yml").write_text("scrape_configs: []\n", encoding="utf-8")
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self._log = (self.root / "log").open("wb")
            self._process = subprocess.Popen(
                [binary, f"--config.file={self.root / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.root / 'data'}",
                 f"--storage.tsdb.retention.time={RETENTION}", f"--query.lookback-delta={LOOKBACK}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdout=self._log, stderr=subprocess.STDOUT, cwd=self.root)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.root / "log").read_text(errors="replace")
                raise BackendError(f"prometheus exited with {self._process.returncode}: {log}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise BackendError(f"prometheus was not ready within {timeout:.0f}s")

    def stop(self) -> None:
        """Terminate the process and delete the TSDB."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._process is not None:
            self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)
