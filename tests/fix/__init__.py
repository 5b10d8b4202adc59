"""Tests of triage.fix: templating, verdicts, reproduction, bisect, revert, publish, stages."""
