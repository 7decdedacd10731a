"""One short, fixed step of GPU work for ``wattprint tune-power`` (issue 16's real-GPU check).

A fixed number of BF16 matrix products on the first visible CUDA GPU: the same work at
every power limit, so the sweep's time and energy per run compare. Without torch or a
CUDA GPU it says which and exits with status 2 (``tune-power`` then stops and restores
the limits).

    sudo .venv/bin/wattprint tune-power --gpus 0 --points 6 --max-slowdown 10 \\
        -- .venv/bin/python benchmarks/matmul_step.py --size 8192 --count 400

(``--count 400`` at 8192² is ~0.44 PFLOP: about 1-2 s on an H100/H200, ~3-5 s on an A100.)
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8192, help="square matrix side (default 8192)")
    ap.add_argument("--count", type=int, default=400, help="matrix products per run (default 400)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("matmul_step: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("matmul_step: no CUDA GPU visible to torch", file=sys.stderr)
        return 2
    a = torch.randn(args.size, args.size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(args.size, args.size, device="cuda", dtype=torch.bfloat16)
    for _ in range(args.count):
        a = (a @ b).mul_(args.size ** -0.5)  # unit scale kept: no underflow to zeros (which draw less)
    torch.cuda.synchronize()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
