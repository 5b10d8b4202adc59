"""Loopback servers that speak vendors' documented APIs, for driving the real client libraries."""
