"""Sensors: hardware (or a model of it) → cumulative joules per channel."""
