"""Our CPU train step against the PyTorch restatement, their steps alternated in time.

pip install torch==2.13.0 && python benchmarks/cpu_vs_torch.py --sizes=64,128 --pairs=10

This machine's speed can drift by 20 % within minutes, so two benchmark processes run
one after the other compare two different machines. Here each side runs in its own
worker process (its own threads and malloc settings, as `train_step.py` and
`torch_reference_step.py` run them), both are compiled and warmed up, and then they
take turns: one step of torch then one of ours, ours then torch, and so on, each step
timed in its worker. The figure is the median of the per-pair ratios ours / torch,
beside each side's median step. Same model and work as those two benchmarks
(ResNet-9, ngf 64, PatchGAN, batch 1, float32); torch with `--threads` threads,
XLA:CPU with its defaults (all cores).

python benchmarks/cpu_vs_torch.py --against=/tmp/base --sizes=64 --pairs=16

times our step against another checkout of this repository instead (say `git worktree
add /tmp/base HEAD~1`), the same way: the figure is then ours / base. Each side runs its
own tree's copy of this script, which puts that tree first on `sys.path`: PYTHONPATH
cannot choose the library (A/Bs run with one copy of this script and two PYTHONPATHs ran
the same library on both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# Pause before each timed step, so that the other side's idle threads have stopped
# spinning.
_PAUSE_S = 0.2


def _ours(size: int):
    """A function running one warmed-up train step of ours at `size`^2."""
    from train_step import parse_args, step_inputs

    import cyclegan_jax
    import jax
    from cyclegan_jax import host_memory

    host_memory.keep_freed_host_memory()  # before the first JAX computation
    state, batch = step_inputs(parse_args([]), size, 1, "float32")
    step = cyclegan_jax.train_step.lower(state, batch).compile()

    def run():
        nonlocal state
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
    return run


def _torch(size: int, threads: int):
    """A function running one iteration of the PyTorch restatement at `size`^2."""
    import torch
    from torch_reference_step import Iteration

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    iteration = Iteration()
    A, B = torch.rand(1, 3, size, size) * 2 - 1, torch.rand(1, 3, size, size) * 2 - 1
    return lambda: iteration(A, B)


def worker(side: str, size: int, threads: int, warmup: int) -> None:
    """Sets one side up, says "ready", then runs and times a step per "step" line."""
    run = _ours(size) if side == "ours" else _torch(size, threads)
    for _ in range(warmup):
        run()
    print("ready", flush=True)
    for _ in sys.stdin:
        t = time.perf_counter()
        run()
        print(f"{(time.perf_counter() - t) * 1e3:.2f}", flush=True)


class _Worker:
    def __init__(self, side: str, size: int, threads: int, warmup: int, script: str = __file__):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(script), f"--worker={side}", f"--sizes={size}",
             f"--threads={threads}", f"--warmup={warmup}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the {side} worker at {size}^2 failed (said {line!r}); "
                               "its error is printed above")

    def step_ms(self) -> float:
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def cpu_model() -> str:
    """This machine's CPU model and count, e.g. "Intel(R) Xeon(R) Processor @ 2.50GHz x 2":
    the ratio depends on it (torch's kernels use AVX-512 where there is one)."""
    names = []
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        pass
    return f"{names[0] if names else platform.processor() or 'unknown CPU'} x {os.cpu_count()}"


def _script_in(tree: str) -> str:
    """This script's path in another checkout `tree` of this repository."""
    return os.path.join(tree, "benchmarks", os.path.basename(__file__))


def _other_side(against: str) -> str:
    """The name of the side timed against ours: "base" (another checkout) or "torch"."""
    return "base" if against else "torch"


def compare(size: int, pairs: int, threads: int, warmup: int, against: str = "") -> dict:
    """Alternated timing of both steps at `size`^2: ms medians and per-pair ratios. The
    other side is torch, or with `against` (a checkout of this repository) its step."""
    other = _other_side(against)
    workers = {"ours": _Worker("ours", size, threads, warmup)}
    workers[other] = (_Worker("ours", size, threads, warmup, _script_in(against)) if against
                      else _Worker("torch", size, threads, warmup))
    times = {"ours": [], other: []}
    try:
        for i in range(pairs):
            for side in ((other, "ours") if i % 2 == 0 else ("ours", other)):
                time.sleep(_PAUSE_S)
                times[side].append(workers[side].step_ms())
    finally:
        for w in workers.values():
            w.close()
    ratios = [o / t for o, t in zip(times["ours"], times[other])]
    return {"size": size, "pairs": pairs,
            "ours_ms": round(statistics.median(times["ours"]), 1),
            f"{other}_ms": round(statistics.median(times[other]), 1),
            "median_ratio": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
            "ours_all_ms": times["ours"], f"{other}_all_ms": times[other]}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="64,128")
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch's intra-op threads")
    p.add_argument("--against", default="",
                   help="a checkout of this repository to time instead of torch")
    p.add_argument("--out", default="", help="write the results as JSON here")
    p.add_argument("--worker", choices=("ours", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, int(args.sizes), args.threads, args.warmup)
        return []
    if args.against and not os.path.isfile(_script_in(args.against)):
        p.error(f"--against={args.against} is not a checkout of this repository "
                f"(no {_script_in(args.against)})")
    cpu = cpu_model()
    other = f"base ({args.against})" if args.against else f"torch with {args.threads} threads"
    name = _other_side(args.against)
    print(f"{cpu}; {other}; each side in its own process, steps alternated")
    print(f"size | pairs | ours ms (median) | {name} ms (median) | ours/{name} (median of pairs) "
          "| min-max")
    rows = []
    for size in map(int, args.sizes.split(",")):
        r = compare(size, args.pairs, args.threads, args.warmup, args.against)
        rows.append(r)
        print(f"{size} | {r['pairs']} | {r['ours_ms']:.0f} | {r[name + '_ms']:.0f} | "
              f"{r['median_ratio']:.3f} | {r['ratio_min']:.2f}-{r['ratio_max']:.2f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"cpu": cpu, "threads": args.threads, "against": args.against,
                       "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
