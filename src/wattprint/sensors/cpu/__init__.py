"""CPU and memory sensors: RAPL counters (``rapl``), the TDP × load and RAM model (``model``),
and the choice between them (``choice.open_cpu_sensors``).

Empty on purpose: importing one sensor module must not import the others.
"""
