"""What the framework integrations cost per training step. Prints figures; asserts nothing.

    python benchmarks/frameworks.py [--calls 20000] [--steps 200] [--repeat 5]

* ``run.step(samples=, tokens=)``: one call, the floor of every callback;
* each callback's per-step hook called the way its framework calls it, with the
  framework's real objects (Hugging Face ``TrainerState``/``TrainingArguments``,
  a Lightning batch through ``extract_batch_size``, Keras' ``on_train_batch_end``);
* the per-log / per-epoch hook (a fresh counter read plus the figures), which
  runs every ``logging_steps`` or once per epoch, not every step;
* a plain loop of ~20 ms steps (busy-waited, so the step itself has no jitter)
  with ``run.step`` + a window per epoch: the time spent inside wattprint's
  calls per step, and the wall time against the same loop untracked (on a
  shared host that difference is the host's noise, far above the calls' cost;
  the sampler thread's own CPU is ``core.py``'s figure, ~0.4 ms per second);
* the job layer's cost at a callback's start and end, once per ``train()``/``fit()``:
  ``Tracker.start()`` and ``stop()`` in 2 ranks under ``torchrun`` (gloo), which every
  rank's callback now does (the exchange of boot ids, then the gather and merge),
  against the same tracker with ``job="off"``.

Counters are a fake powercap tree (the same code path as real RAPL, without
its permission needs). Targets: ≤ 50 µs per step call, ≤ 1 % of a 20 ms step.
A framework that is not installed is left out with a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("WATTPRINT_NO_CLOUD_PROBE", "1")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

STEP_S = 0.020


def per_call_us(fn: Callable[[int], Any], calls: int, repeat: int) -> float:
    """Median over ``repeat`` rounds of the mean µs per call of ``fn(i)``."""
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for i in range(calls):
            fn(i)
        rounds.append((time.perf_counter_ns() - t0) / calls / 1e3)
    return statistics.median(rounds)


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def tracker_kwargs(root: Path) -> dict[str, Any]:
    return {"rapl_root": root, "gpus": "none", "store": False, "country": "FR", "sensors": "rapl"}


def hf_hooks(kw: dict[str, Any]) -> tuple[Callable[[int], Any], Callable[[int], Any], Callable[[], None]]:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from wattprint.integrations.transformers import WattprintCallback

    args = TrainingArguments("/nonexistent-out", per_device_train_batch_size=8, report_to=[], use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    cb = WattprintCallback(**kw)
    cb.on_train_begin(args, state, control)
    state.log_history = []

    def step(i: int) -> None:
        state.global_step += 1
        state.num_input_tokens_seen += 512
        cb.on_step_end(args, state, control)

    def log(i: int) -> None:
        logs = {"loss": 1.0}
        state.log_history.append({**logs, "step": state.global_step})
        cb.on_log(args, state, control, logs=logs)

    return step, log, lambda: cb.on_train_end(args, state, control)


def lightning_hooks(kw: dict[str, Any]) -> tuple[Callable[[int], Any], Callable[[int], Any], Callable[[], None]]:
    import torch

    from wattprint.integrations.lightning import WattprintCallback

    class Trainer:  # the attributes the callback reads, as Lightning's Trainer has them
        local_rank, world_size, node_rank, global_step, current_epoch, sanity_checking = 0, 1, 0, 0, 0, False
        is_global_zero, loggers = True, ()

    class Module:
        def log_dict(self, *a: Any, **k: Any) -> None:
            pass

    trainer, module = Trainer(), Module()
    batch = (torch.zeros(32, 16), torch.zeros(32, 1))
    cb = WattprintCallback(**kw)
    cb.on_fit_start(trainer, module)

    def step(i: int) -> None:
        trainer.global_step += 1
        cb.on_train_batch_end(trainer, module, None, batch, i)

    def epoch(i: int) -> None:
        cb.on_train_epoch_start(trainer, module)
        cb.on_train_epoch_end(trainer, module)

    return step, epoch, lambda: cb.on_fit_end(trainer, module)


def keras_hooks(kw: dict[str, Any]) -> tuple[Callable[[int], Any], Callable[[int], Any], Callable[[], None]]:
    from wattprint.integrations.keras import WattprintCallback

    cb = WattprintCallback(samples_per_epoch=1024, **kw)
    cb.on_train_begin()

    def epoch(i: int) -> None:
        cb.on_epoch_begin(i)
        cb.on_epoch_end(i, {"loss": 1.0})

    return cb.on_train_batch_end, epoch, cb.on_train_end


def loop_s(steps: int, with_wattprint: bool, kw: dict[str, Any]) -> tuple[float, float]:
    """Seconds for ``steps`` steps of the loop, and the seconds spent inside wattprint's calls.

    The run's start and stop are outside the timing (they happen once per job).
    """
    import wattprint

    if not with_wattprint:
        t0 = time.perf_counter()
        for _ in range(steps):
            busy(STEP_S)
        return time.perf_counter() - t0, 0.0
    clock = time.perf_counter
    inside = 0.0
    with wattprint.track("bench", **kw) as run:
        t0 = clock()
        for epoch in range(2):
            a = clock()
            window = run.open_window(f"epoch-{epoch}")
            inside += clock() - a
            for _ in range(steps // 2):
                busy(STEP_S)
                a = clock()
                run.step(samples=32, tokens=4096)
                inside += clock() - a
            a = clock()
            window.close()
            inside += clock() - a
        return clock() - t0, inside


JOB_SCRIPT = """
import json, os, sys, tempfile, time
import torch.distributed as dist
sys.path[:0] = [os.environ["WP_SRC"], os.environ["WP_TESTS"]]
from pathlib import Path
from fake_rapl import make_tree
from wattprint import Tracker
dist.init_process_group("gloo")
root = make_tree(Path(tempfile.mkdtemp()) / "pc", packages=1, dram=True)
out = {}
for job in ("off", None, "off", None):  # alternated: a noisy neighbour hits both alike
    kw = {"rapl_root": root, "gpus": "none", "country": "FR", "sensors": "rapl", "job": job,
          "store": os.path.join(os.environ["WP_TMP"], "runs.db")}
    dist.barrier()
    t0 = time.perf_counter(); tracker = Tracker("bench", **kw); tracker.start(); t1 = time.perf_counter()
    tracker.stop(); t2 = time.perf_counter()
    out.setdefault(job or "job", []).append((t1 - t0, t2 - t1))
print("TIMES", dist.get_rank(), json.dumps(out), flush=True)
dist.destroy_process_group()
"""


def job_layer_ms() -> dict[str, tuple[float, float]] | None:
    """Per mode (``job``, ``off``): the slowest rank's start and stop in ms (best of 2 rounds)."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "job.py"
        script.write_text(JOB_SCRIPT, encoding="utf-8")
        env = dict(os.environ, WP_SRC=str(ROOT / "src"), WP_TESTS=str(ROOT / "tests"), WP_TMP=tmp)
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            str(script)], capture_output=True, text=True, env=env, timeout=300)
    ranks = [json.loads(line.split(" ", 2)[2]) for line in r.stdout.splitlines() if line.startswith("TIMES ")]
    if r.returncode != 0 or len(ranks) != 2:
        print(f"job layer: torchrun failed ({r.returncode}): {r.stderr.strip()[-300:]}")
        return None
    return {mode: (min(max(rk[mode][i][0] for rk in ranks) for i in range(2)) * 1e3,
                   min(max(rk[mode][i][1] for rk in ranks) for i in range(2)) * 1e3) for mode in ("job", "off")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    import warnings

    import wattprint
    from fake_rapl import make_tree

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        kw = tracker_kwargs(make_tree(Path(tmp) / "pc", packages=1, dram=True))
        with wattprint.track("bench", **kw) as run:
            us = per_call_us(lambda i: run.step(samples=32, tokens=4096), opts.calls, opts.repeat)
        print(f"run.step(samples=, tokens=)            {us:8.2f} µs/call  ({us / (STEP_S * 1e6):.4%} of a 20 ms step)")
        for label, module, hooks in (("transformers", "transformers", hf_hooks),
                                     ("lightning", "lightning", lightning_hooks),
                                     ("keras", "keras", keras_hooks)):
            if importlib.util.find_spec(module) is None:
                print(f"{label:<12} not installed: left out")
                continue
            step, periodic, end = hooks(kw)
            step_us = per_call_us(step, opts.calls, opts.repeat)
            periodic_us = per_call_us(periodic, max(50, opts.calls // 100), opts.repeat)
            end()
            what = "on_log" if label == "transformers" else "epoch start+end"
            print(f"{label:<12} per-step hook               {step_us:8.2f} µs/call  "
                  f"({step_us / (STEP_S * 1e6):.4%} of a 20 ms step)")
            print(f"{label:<12} {what:<27} {periodic_us:8.2f} µs/call  (once per log or epoch)")
        bare, tracked, inside = [], [], []
        for _ in range(opts.repeat):  # interleaved, so a noisy neighbour hits both alike
            bare.append(loop_s(opts.steps, False, kw)[0])
            wall, spent = loop_s(opts.steps, True, kw)
            tracked.append(wall)
            inside.append(spent)
        diff_us = (statistics.median(tracked) - statistics.median(bare)) / opts.steps * 1e6
        in_us = statistics.median(inside) / opts.steps * 1e6
        print(f"plain loop, {opts.steps} x 20 ms steps (median of {opts.repeat}): inside wattprint's calls "
              f"{in_us:.2f} µs/step ({in_us / (STEP_S * 1e6):.4%}); wall bare {statistics.median(bare):.4f} s, "
              f"tracked {statistics.median(tracked):.4f} s: {diff_us:+.1f} µs/step "
              f"({diff_us / (STEP_S * 1e6):+.3%}; the host's noise, run start/stop not timed)")
    if importlib.util.find_spec("torch") is not None:
        ms = job_layer_ms()
        for mode, (start, stop) in (ms or {}).items():
            what = "one job of 2 ranks (gloo)" if mode == "job" else 'each rank alone (job="off")'
            print(f"Tracker start / stop, 2 ranks under torchrun, {what:<28} start {start:7.1f} ms, "
                  f"stop {stop:7.1f} ms (slowest rank, best of 2; once per train()/fit())")


if __name__ == "__main__":
    main()
