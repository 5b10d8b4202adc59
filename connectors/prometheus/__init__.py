"""Prometheus connector package: see connector.py."""

from connectors.prometheus.connector import PrometheusConnector

__all__ = ["PrometheusConnector"]
