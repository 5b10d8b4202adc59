"""Analyzers: turn recorded evidence into signals (what moved, when, how much, why we think so)."""
