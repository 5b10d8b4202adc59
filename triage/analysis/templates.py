"""Streaming log template mining (drain3) with one generic configuration and bounded memory.

    miner = TemplateMiner()
    cluster_id = miner.add("GET /api/cart/90817 200 in 407ms")
    miner.template(cluster_id)            # 'GET <PATH> <NUM> in <DUR>'

Two changes to drain3's Drain make one configuration fit many log sources (see `bench/loghub.py`):

- similarity counts only *words*: two different masked values in the same position (`<IP>` vs
  `LOCAL(<NUM>)`) are treated like a wildcard, while two different words (`Started` vs `Paused`)
  are a real difference; a template with no word left matches nothing new;
- a token holding a masked value routes like a number in the prefix tree, so `<NUM>` and `<HEX>`
  in the first tokens do not split one event in two.

Memory is bounded by `max_clusters`: the least recently matched template is evicted (drain3's LRU
cache) and whoever keeps per-template state is told through `on_evict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drain3.drain import Drain, LogClusterCache  # type: ignore[import-untyped]

from triage.analysis.masking import Masker, is_masked
from triage.analysis.signals import AnalysisWindow

WILDCARD = "<*>"


@dataclass(frozen=True)
class MinerConfig:
    """Drain parameters: one configuration for every log source."""

    # depth 5: token count, then the first two tokens, route a message down the prefix tree.
    depth: int = 5
    # Share of words that must agree; high, because masking already removed what varies.
    sim_threshold: float = 0.85
    max_children: int = 100
    max_clusters: int = 5_000


def _variable_token(token: str) -> bool:
    """Whether a token is a value rather than a word: it holds a digit or a masked value."""
    return is_masked(token) or any(char.isdigit() for char in token)


class _EvictingCache(LogClusterCache):  # type: ignore[misc]
    """drain3's LRU cluster cache that reports which cluster it dropped."""

    def __init__(self, maxsize: int, on_evict: Callable[[int], None]) -> None:
        super().__init__(maxsize=maxsize)
        self._on_evict = on_evict

    def popitem(self) -> tuple[int, Any]:
        """Evict the least recently used cluster and report its id."""
        key, value = super().popitem()
        self._on_evict(key)
        return key, value


class _WordDrain(Drain):  # type: ignore[misc]
    """drain3's Drain with word-based similarity and masked values routed as numbers."""

    has_numbers = staticmethod(_variable_token)

    def get_seq_distance(self, seq1: Sequence[str], seq2: Sequence[str],
                         include_params: bool) -> tuple[float, int]:
        """Share of the template's words that the message repeats, and its wildcard count."""
        words = same = params = 0
        for template_token, token in zip(seq1, seq2, strict=True):
            if template_token == WILDCARD:
                params += 1
            elif template_token == token:
                same += 1
                words += 1
            elif is_masked(template_token) and is_masked(token):
                params += 1  # two values of different shapes: a parameter, not a new word
            else:
                words += 1
        if include_params:  # drain3's exact `match`: wildcards count as agreeing
            return (same + params) / len(seq1) if seq1 else 1.0, params
        if words == 0:
            # All wildcards: it would swallow every message of this length. Empty: exact.
            return (0.0 if seq1 else 1.0), params
        return same / words, params


class TemplateMiner:
    """Masks each message and files it under a Drain template; at most `max_clusters` kept."""

    def __init__(self, config: MinerConfig | None = None, masker: Masker | None = None,
                 on_evict: Callable[[int], None] | None = None) -> None:
        self.config = config or MinerConfig()
        self._masker = masker or Masker()
        self._on_evict = on_evict
        self.evicted = 0
        self._drain = _WordDrain(depth=self.config.depth, sim_th=self.config.sim_threshold,
                                 max_children=self.config.max_children,
                                 max_clusters=self.config.max_clusters, param_str=WILDCARD)
        self._drain.id_to_cluster = _EvictingCache(self.config.max_clusters, self._evicted)

    def _evicted(self, cluster_id: int) -> None:
        """Count an eviction and pass it on."""
        self.evicted += 1
        if self._on_evict is not None:
            self._on_evict(cluster_id)

    def add(self, message: str) -> int:
        """File one message; the id of the template (cluster) it now belongs to."""
        cluster, _change = self._drain.add_log_message(self._masker.mask(message))
        cluster_id: int = cluster.cluster_id
        return cluster_id

    def template(self, cluster_id: int) -> str | None:
        """The current template of a cluster, or None once it has been evicted."""
        cluster = self._drain.id_to_cluster.get(cluster_id)
        return None if cluster is None else str(cluster.get_template())

    @property
    def cluster_count(self) -> int:
        """How many templates are held now (never more than `max_clusters`)."""
        return len(self._drain.id_to_cluster)


def no_redaction(text: str) -> str:
    """The default redact hook: the text as it is."""
    return text


@dataclass(frozen=True)
class TemplateChange:
    """One template's counts in the baseline and incident windows, with redacted samples."""

    template: str
    baseline_count: int
    incident_count: int
    baseline_per_min: float
    incident_per_min: float
    first_seen: datetime
    last_seen: datetime
    samples: tuple[str, ...]
    severity: int = 0

    @property
    def ratio(self) -> float | None:
        """Incident rate over baseline rate; None for a template new in the incident window."""
        return self.incident_per_min / self.baseline_per_min if self.baseline_count else None

    def as_detail(self) -> dict[str, Any]:
        """JSON-ready form for a signal's detail (the shape reports and rules read)."""
        ratio = self.ratio
        return {
            "template": self.template, "count": self.incident_count,
            "baseline_count": self.baseline_count,
            "ratio": None if ratio is None else round(ratio, 2),
            "first_seen": self.first_seen.isoformat(), "last_seen": self.last_seen.isoformat(),
            "sample": self.samples[0] if self.samples else "", "samples": list(self.samples),
        }


@dataclass(frozen=True)
class TemplateDiff:
    """What changed between the windows: new templates, risen ones, and the busiest overall."""

    new: list[TemplateChange]
    risen: list[TemplateChange]
    top: list[TemplateChange]
    baseline_lines: int
    incident_lines: int
    templates: int
    evicted: int


@dataclass
class _Stats:
    first_seen: datetime
    last_seen: datetime
    baseline: int = 0
    incident: int = 0
    severity: int = 0
    samples: list[str] = field(default_factory=list)
    # Hashes of the (redacted) lines already sampled, so samples differ.
    sampled: set[int] = field(default_factory=set)


class TemplateWindows:
    """Streams timestamped lines and compares the incident window [onset, …) with the baseline.

    Memory is bounded: at most `max_clusters` templates (LRU), `samples` samples per template.
    Every line goes through `redact` first, before it is masked, mined, sampled or clipped, so
    neither a template nor a sample is made from raw text, and a secret is never cut in half (or
    its digits masked) before redaction could recognise it.
    """

    def __init__(self, window: AnalysisWindow, *, config: MinerConfig | None = None,
                 samples: int = 3, max_sample_chars: int = 300,
                 redact: Callable[[str], str] = no_redaction) -> None:
        self.window = window
        self._stats: dict[int, _Stats] = {}
        self.miner = TemplateMiner(config, on_evict=self._forget)
        self._samples = samples
        self._max_sample_chars = max_sample_chars
        self._redact = redact
        self.baseline_lines = 0
        self.incident_lines = 0

    def _forget(self, cluster_id: int) -> None:
        """Drop the counts of an evicted template."""
        self._stats.pop(cluster_id, None)

    def add(self, stamp: datetime, message: str, severity: int = 0) -> int:
        """Count one line in its window; the id of its template. Severity: the caller's rank of
        the line's level (e.g. 2 error, 1 warning); a template keeps the highest it has seen."""
        # Redact the raw line before masking: masking rewrites digits, and a half-masked secret
        # (`AKIA1B2C…` -> `AKIA<NUM>B…`) no longer matches a redaction rule.
        message = self._redact(message)
        cluster_id = self.miner.add(message)
        stats = self._stats.get(cluster_id)
        if stats is None:
            stats = self._stats[cluster_id] = _Stats(first_seen=stamp, last_seen=stamp)
        else:
            stats.first_seen = min(stats.first_seen, stamp)
            stats.last_seen = max(stats.last_seen, stamp)
        stats.severity = max(stats.severity, severity)
        if stamp < self.window.onset:
            stats.baseline += 1
            self.baseline_lines += 1
            return cluster_id
        stats.incident += 1
        self.incident_lines += 1
        if len(stats.samples) < self._samples and hash(message) not in stats.sampled:
            stats.sampled.add(hash(message))
            stats.samples.append(_clip(message, self._max_sample_chars))
        return cluster_id

    def _change(self, cluster_id: int, stats: _Stats) -> TemplateChange:
        """The public view of one template's counts."""
        return TemplateChange(
            template=self.miner.template(cluster_id) or "",
            baseline_count=stats.baseline, incident_count=stats.incident,
            baseline_per_min=stats.baseline / self.window.minutes(incident=False),
            incident_per_min=stats.incident / self.window.minutes(incident=True),
            first_seen=stats.first_seen, last_seen=stats.last_seen, samples=tuple(stats.samples),
            severity=stats.severity,
        )

    def diff(self, *, limit: int | None = None, min_ratio: float = 2.0, min_count: int = 3,
             min_surprise: float = 3.0) -> TemplateDiff:
        """New templates (most frequent first) and risen ones (most surprising first).

        Risen: seen in the baseline, at least `min_count` incident lines, a rate at least
        `min_ratio` times the baseline's, and a surprise (Poisson z-score) of `min_surprise`.
        """
        new: list[tuple[float, TemplateChange]] = []
        risen: list[tuple[float, TemplateChange]] = []
        top: list[tuple[float, TemplateChange]] = []
        incident_minutes = self.window.minutes(incident=True)
        for cluster_id, stats in self._stats.items():
            if not stats.incident:
                continue
            change = self._change(cluster_id, stats)
            top.append((-stats.incident, change))
            if not stats.baseline:
                new.append((-stats.incident, change))
                continue
            expected = change.baseline_per_min * incident_minutes
            # Poisson-style surprise: weighs how far the rate rose by how much data backs it.
            surprise = (stats.incident - expected) / math.sqrt(expected + 1)
            if (stats.incident >= min_count and (change.ratio or 0.0) >= min_ratio
                    and surprise >= min_surprise):
                risen.append((-surprise, change))

        def ranked(items: list[tuple[float, TemplateChange]]) -> list[TemplateChange]:
            """Sort by key, then first seen; keep at most `limit`."""
            items.sort(key=lambda item: (item[0], item[1].first_seen))
            return [change for _, change in items[:limit]]

        return TemplateDiff(new=ranked(new), risen=ranked(risen), top=ranked(top),
                            baseline_lines=self.baseline_lines, incident_lines=self.incident_lines,
                            templates=self.miner.cluster_count, evicted=self.miner.evicted)


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
