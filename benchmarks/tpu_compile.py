"""Compiles the train step for TPU pod slices on a machine without a TPU: memory and FLOPs per
device, and compile time, so that a config is known to fit before a slice is rented.

libtpu compiles for any TPU topology on the CPU (`jax.experimental.topologies`), as
MaxText's train_compile.py does. Install it in its own venv: libtpu in the test
environment would change how JAX sees this machine.

  python3 -m venv ~/tpu && ~/tpu/bin/pip install -r requirements.txt \
      "jax[tpu]==$(python -c 'import jax; print(jax.__version__)')"
  ~/tpu/bin/python benchmarks/tpu_compile.py --topologies=v5e:2x2,v5e:4x4 --per_device_batch=2

Each slice runs the step as train.py does on a pod: data-parallel over all its devices
(params replicated, the global batch split on the `data` axis), over the devices JAX lists
for the topology: one per chip for v5e and v5p, but eight for "v4:2x2x1" (four chips), so a
v4 row may not be the program a v4 VM runs. The step is compiled with an explicit conv form (`--conv_impl`), since "auto" would read this
machine's backend. Memory is XLA's own accounting of one device's compiled program
(arguments + outputs + temporaries - aliased buffers); FLOPs and bytes accessed are
XLA's cost analysis of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                os.path.dirname(os.path.abspath(__file__))]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import topologies  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

import cyclegan_jax  # noqa: E402
from train_step import config_for, iteration_flops, parse_args  # noqa: E402


def compile_for(topology: str, args) -> dict:
    """The step compiled for `topology` (e.g. "v5e:2x2"): its figures per device."""
    desc = topologies.get_topology_desc(topology_name=topology, platform="tpu")
    devices = len(desc.devices)
    batch = args.per_device_batch * devices
    mesh = Mesh(np.asarray(desc.devices), ("data",))
    model = parse_args([f"--ngf={args.ngf}", f"--ndf={args.ngf}", f"--netG={args.netG}",
                        f"--conv_impl={args.conv_impl}"])
    config = config_for(model, args.size, batch, args.dtype)
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                         jax.eval_shape(lambda: cyclegan_jax.create_train_state(config, 0)))
    images = {k: jax.ShapeDtypeStruct((batch, args.size, args.size, 3), jnp.float32,
                                      sharding=split) for k in "AB"}
    start = time.perf_counter()
    compiled = cyclegan_jax.train_step.lower(state, images).compile()
    seconds = time.perf_counter() - start
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    per_device = (memory.argument_size_in_bytes + memory.output_size_in_bytes
                + memory.temp_size_in_bytes - memory.alias_size_in_bytes)
    blocks = 9 if args.netG == "resnet_9blocks" else 6
    return {
        "topology": topology, "device": desc.devices[0].device_kind, "devices": devices,
        "global_batch": batch, "size": args.size, "dtype": args.dtype,
        "conv_impl": args.conv_impl, "compile_s": round(seconds, 1),
        "memory_gib_per_device": round(per_device / 2 ** 30, 2),
        "temporaries_gib_per_device": round(memory.temp_size_in_bytes / 2 ** 30, 2),
        "xla_tflop_per_device_step": round(float(cost.get("flops", float("nan"))) / 1e12, 3),
        "xla_gb_accessed_per_device_step": round(float(cost.get("bytes accessed", float("nan")))
                                               / 1e9, 2),
        "analytic_tflop_per_device_step": round(
            iteration_flops(args.size, args.ngf, blocks, args.ngf, 3) * args.per_device_batch
            / 1e12, 3),
    }


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--topologies", default="v5e:2x2", help="comma-separated, e.g. "
                   "v5e:2x2,v5e:4x4,v4:2x2x1,v5p:2x2x1")
    p.add_argument("--per_device_batch", type=int, default=1)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--netG", default="resnet_9blocks")
    p.add_argument("--conv_impl", default="xla", choices=("xla", "s2d"),
                   help='the form "auto" picks on TPUs is "xla"')
    p.add_argument("--out", default="", help="write the rows as JSON here")
    args = p.parse_args(argv)
    print(f"jax {jax.__version__}; {args.size}^2, ngf {args.ngf}, {args.netG}, {args.dtype}, "
          f"conv_impl {args.conv_impl}, {args.per_device_batch} image(s) per device")
    cols = ("topology", "devices", "global_batch", "compile_s", "memory_gib_per_device",
            "temporaries_gib_per_device", "xla_tflop_per_device_step", "analytic_tflop_per_device_step",
            "xla_gb_accessed_per_device_step")
    print(" | ".join(cols))
    rows = []
    for topology in args.topologies.split(","):
        try:
            rows.append(compile_for(topology, args))
        except Exception as e:  # noqa: BLE001  (report it and go on with the other slices)
            print(f"{topology} | FAILED: {type(e).__name__}: {str(e)[:300]}", flush=True)
            continue
        print(" | ".join(str(rows[-1][c]) for c in cols), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"jax": jax.__version__, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
