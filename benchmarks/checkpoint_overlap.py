"""Step time with a checkpoint every N steps against none, with synchronous and asynchronous saves.

python benchmarks/checkpoint_overlap.py --size=64 --every=5 --steps=20 --rounds=3 [--workdir=gs://B/x]

One warmed-up step trains on; in each round every mode runs `--steps` steps, saving the
whole train state (`train.checkpoints.Checkpoints`, as train.py does) every `--every`
steps, the modes in turn (this machine's speed drifts, so the modes alternate and each
round gives a ratio against "none"). A mode's clock stops when its last step's outputs
are ready and a save still being written is awaited. Asynchronous saves overlap the
writing with the next steps; they still copy the state off the devices before the next
step reuses its buffers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                os.path.dirname(os.path.abspath(__file__))]

import jax  # noqa: E402

import cyclegan_jax  # noqa: E402
from cyclegan_jax import files, host_memory  # noqa: E402
from cyclegan_jax.train.checkpoints import Checkpoints  # noqa: E402
from train_step import parse_args, step_inputs  # noqa: E402  (benchmarks/train_step.py)


def time_mode(mode: str, state, batch, args, folder: str):
    """(state, ms per step) of `--steps` steps in `mode`, the last save awaited."""
    checkpoints = None
    if mode != "none":
        checkpoints = Checkpoints(folder, keep=2, async_save=mode == "async", writer=True)
    start = time.perf_counter()
    for i in range(args.steps):
        state, metrics = cyclegan_jax.train_step(state, batch)
        if checkpoints is not None and (i + 1) % args.every == 0:
            checkpoints.save(state, {"step": int(state.step)})
    jax.block_until_ready(metrics)
    if checkpoints is not None:
        checkpoints.close()
    return state, (time.perf_counter() - start) / args.steps * 1e3


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--netG", default="resnet_9blocks")
    p.add_argument("--out", default="", help="write the times as JSON here")
    p.add_argument("--workdir", default="", help="where checkpoints go (default: a temporary "
                                                 "local folder); a bucket works too")
    args = p.parse_args(argv)
    host_memory.keep_freed_host_memory()  # before the first JAX computation
    model = parse_args([f"--ngf={args.ngf}", f"--ndf={args.ndf}", f"--netG={args.netG}"])
    state, batch = step_inputs(model, args.size, 1, "float32")
    for _ in range(2):  # compile and warm up
        state, metrics = cyclegan_jax.train_step(state, batch)
    jax.block_until_ready(metrics)
    modes = ("none", "sync", "async")
    times: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        root = str(files.resolve(args.workdir or tmp))
        print(f"device: {jax.devices()[0].device_kind}; {args.size}^2, ngf {args.ngf}, "
              f"{args.netG}; a save every {args.every} of {args.steps} steps per round, "
              f"{args.rounds} rounds, into {root}")
        for r in range(args.rounds):
            for mode in modes:
                state, ms = time_mode(mode, state, batch, args, f"{root}/{mode}_{r}")
                times[mode].append(ms)
    print("saves | ms/step (median) | ms/step / no saves (median of rounds)")
    for mode in modes:
        ratios = [t / n for t, n in zip(times[mode], times["none"])]
        print(f"{mode} | {statistics.median(times[mode]):.1f} | {statistics.median(ratios):.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": jax.devices()[0].device_kind, "args": vars(args),
                       "ms_per_step": times}, f, indent=1)

if __name__ == "__main__":
    main()
