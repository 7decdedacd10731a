"""wattprint: energy and CO2e of AI/ML work, measured where the hardware allows."""

__version__ = "0.1.0"
