"""Brains and the tool registry they share."""
