"""GPU sensors: NVIDIA through NVML (``nvml``), AMD through amdsmi (``amd``), what they share
(``common``) and which GPUs count (``selection.open_gpu_sensors``).

Empty on purpose: vendor libraries are imported only when GPUs are opened.
"""
