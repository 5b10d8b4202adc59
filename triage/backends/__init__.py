"""Real local backends for `triage eval --backends real`: servers started on loopback, bundles
loaded into them, and the bundle's configuration rewritten to the production connector types.

    servers.py      one PostgreSQL, one Elasticsearch-API server, one GitHub API per eval run
    postgres.py     a throwaway PostgreSQL cluster; a database per bundle with `db.sql`
    prometheus.py   `metrics.csv` -> OpenMetrics -> `promtool` blocks -> a Prometheus on them
    elastic.py      `logs.jsonl` -> an index per bundle (osmem-server, the OpenSearch emulator)
    github.py       a loopback server speaking GitHub's REST API (deployments, commits, files)
    db_activity.py  `db_activity.yaml`: sessions held open while the investigation runs
    load.py         one bundle loaded and its `config` rewritten

    BackendError    a server could not start or a bundle could not be loaded (message says why)
"""

from __future__ import annotations


class BackendError(Exception):
    """A real backend is missing, would not start, or refused a bundle's data."""
