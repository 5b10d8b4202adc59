"""A fresh held-out corpus of incident bundles, written blind (without reading the diagnosis) on the
blind corpus's kit, with incident kinds the blind corpus does not have: canaries, percentage
rollouts, rotated secrets, GC pressure, replica lag, retry storms, clock skew, IOPS throttles,
flapping alerts. `python -m tests.scenarios.fresh --split dev|holdout --out DIR [--all-sources]`."""
