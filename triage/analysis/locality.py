"""Failures confined to a few of the service's own machines: "2 of 9 nodes log 97% of the errors".

Drill-down scores one attribute value at a time, so two bad nodes (conntrack full on both, a
zone's two replicas) each explain half the errors and neither stands out. Here the values of each
placement field (node, host, pod, instance, zone) are taken together: the fewest values that
cover most of the logged errors, when they are a minority of the values serving traffic, are a
local cause (infrastructure) rather than a shared one (a dependency every replica calls).
"""

from __future__ import annotations

import re
from collections import Counter

from triage.analysis.drilldown import WindowCounts
from triage.analysis.signals import Signal, SignalKind

PLACEMENT = re.compile(r"(?i)(^|[._/])(host|hostname|host_name|node|node_name|nodename|pod|"
                       r"pod_name|instance|zone|az|availability_zone|datacenter|dc|rack|machine|vm)$")
COVER = 0.8  # the set must carry this share of the logged errors...
MAX_SET_SHARE = 0.34  # ...while being at most this share of the values that served traffic
MIN_ERRORS = 20
MIN_VALUES = 3  # fewer machines than this: "one of two" says little


def placement_signals(counts: WindowCounts, reading: str, step_id: str) -> list[Signal]:
    """At most one signal per placement field whose `reading` anomalies (the logged errors) sit
    on a small set of its values, from the drill-down's counts of the incident window."""
    errors: dict[str, Counter[str]] = {}
    serving: dict[str, Counter[str]] = {}
    for (name, value), count in counts.anomalous[reading].items():
        if PLACEMENT.search(name):
            errors.setdefault(name, Counter())[value] = count
    for (name, value), count in counts.incident.items():
        if name in errors:
            serving.setdefault(name, Counter())[value] = count
    signals = []
    for name, counted in errors.items():
        total = sum(counted.values())
        if total < MIN_ERRORS or len(serving[name]) < MIN_VALUES:
            continue
        chosen, covered = [], 0
        for value, count in counted.most_common():
            chosen.append(value)
            covered += count
            if covered >= COVER * total:
                break
        if len(chosen) < 2 or len(chosen) > MAX_SET_SHARE * len(serving[name]):
            continue  # one value alone is drill-down's to report; a large set is not local
        share = covered / total
        traffic = sum(serving[name][v] for v in chosen) / sum(serving[name].values())
        signals.append(Signal(
            kind=SignalKind.DRILLDOWN,
            title=(f"{name} in {{{', '.join(chosen)}}} ({len(chosen)} of {len(serving[name])}): "
                   f"{share:.0%} of logged errors, {traffic:.0%} of traffic"),
            strength=round(min(1.0, 0.3 + share * (1 - traffic)), 3), evidence=[step_id],
            detail={"field": name, "value": ", ".join(chosen), "mode": "concentration",
                    "share": share, "anomaly_share": share, "traffic_share": traffic,
                    "values": chosen, "of_values": len(serving[name])}))
    return signals
