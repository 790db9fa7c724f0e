"""Step-1 losses of the golden fixture on this machine's default device, float32 and bf16.

python benchmarks/golden_check.py
Prints each loss's relative difference from the official PyTorch value. Useful on
accelerators, whose float32 convolutions may use TF32 and differ more than on CPU.
Needs only jax, flax, optax, orbax and numpy.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import cyclegan_jax  # noqa: E402
from cyclegan_jax.torch_compat import params_from_state_dict  # noqa: E402
from train_step import config_for, parse_args  # noqa: E402

NETS = ("G_A", "G_B", "D_A", "D_B")


def main() -> None:
    npz = np.load(os.path.join(ROOT, "tests", "fixtures", "train_two_steps_ngf8.npz"))
    batch = {k: npz[f"step1/{k}_nchw"].transpose(0, 2, 3, 1) for k in "AB"}
    print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}")
    model_args = parse_args(["--ngf=8", "--ndf=8", "--netG=resnet_6blocks"])  # the fixture's
    for dtype in ("float32", "bfloat16"):
        config = config_for(model_args, 64, 1, dtype)
        state = cyclegan_jax.create_train_state(config, 0)
        state = state.replace(params={
            n: params_from_state_dict({k[len(f"before/{n}/"):]: npz[k] for k in npz.files
                                       if k.startswith(f"before/{n}/")}) for n in NETS})
        _, metrics = cyclegan_jax.train_step(state, batch)
        rel = {k: abs(float(v) - float(npz[f"step1/loss/{k}"])) / float(npz[f"step1/loss/{k}"])
               for k, v in metrics.items()}
        print(f"{dtype}: max relative loss difference {max(rel.values()):.2e}; "
              + ", ".join(f"{k} {v:.1e}" for k, v in sorted(rel.items())))


if __name__ == "__main__":
    main()
