"""Grid carbon intensity: where the energy was drawn and what it emitted."""
