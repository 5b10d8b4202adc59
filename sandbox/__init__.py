"""Sandboxes: the control plane's hands. They receive a repository and commands, never a
credential, and have no network. Never imports `triage` or `connectors`."""
