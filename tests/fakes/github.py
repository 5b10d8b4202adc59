"""The loopback GitHub API lives in `triage.backends.github` (the `--backends real` harness
serves bundles' deployments from it); re-exported for the tests."""

from triage.backends.github import PREFIX, App, FakeGitHub, Token

__all__ = ["PREFIX", "App", "FakeGitHub", "Token"]
