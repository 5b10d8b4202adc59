"""Notifications out of the control plane: PagerDuty incident notes and GitHub draft pull requests."""
