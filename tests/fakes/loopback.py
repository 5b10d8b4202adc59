"""The loopback JSON server now lives in the product (`triage.backends.loopback`), where the
`--backends real` harness serves GitHub's API from it; re-exported for the vendor fakes."""

from triage.backends.loopback import LoopbackServer, Reply, Route, Seen

__all__ = ["LoopbackServer", "Reply", "Route", "Seen"]
