# torch, CPU build (torchrun/gloo for the distributed tests, the framework callbacks). Pinned:
# 2.13.0 installs a CPU-only wheel on these machines; an unpinned torch pulls a 5 GB CUDA build.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/pip" install --quiet "torch==2.13.0" numpy
