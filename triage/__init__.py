"""SRE auto-triage: the control plane (state, credentials, model calls) lives here."""

__version__ = "0.1.0"
