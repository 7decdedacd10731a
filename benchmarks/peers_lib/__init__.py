"""Helpers for the peer benchmarks (not part of the wattprint package or its tests)."""
