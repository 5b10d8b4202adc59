"""Tests of triage.notify: PagerDuty notes."""
