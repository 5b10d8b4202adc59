"""Seeded incident worlds for `triage eval`: `python -m tests.scenarios.worlds --split train|holdout
--out DIR` (see README, "Scenario bundles"). The holdout split is never looked at while tuning."""
