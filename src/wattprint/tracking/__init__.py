"""The tracking engine: sampler, runs and windows, the run record, attribution, baseline, the tracker.

The data core (sampler, measure, record, run, attribution, baseline) imports only sensors/,
intensity/ and the base modules; the orchestration (tracker, pool, endings) also wires in the
store sink. Nothing here imports the CLI or the reports (tests/test_layers.py checks).
"""
