"""PagerDuty connector package: see connector.py."""

from connectors.pagerduty.connector import PagerDutyConnector

__all__ = ["PagerDutyConnector"]
