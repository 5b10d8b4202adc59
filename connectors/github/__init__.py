"""GitHub connector package: see connector.py."""

from connectors.github.connector import GitHubConnector

__all__ = ["GitHubConnector"]
