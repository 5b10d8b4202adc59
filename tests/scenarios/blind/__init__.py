"""A blind corpus of incident bundles, written without reading the diagnosis code or the worlds
generator: realistic telemetry (access logs, zap/logrus/Spring/Python lines, Kubernetes events,
PostgreSQL and pgbouncer logs, exporter-named metrics) for the eight truth categories.
`python -m tests.scenarios.blind --split dev|holdout --out DIR`."""
