"""The train step as XLA compiles it for an H100, without a GPU: kernels and memory traffic.

python benchmarks/gpu_hlo.py --out=/tmp/h100.hlo              # compile and summarise
python benchmarks/gpu_hlo.py --hlo=/tmp/h100.hlo --base=/tmp/before.hlo   # compare two

Between GPU leases, this shows what a change does to the GPU step. The bf16 step at
256^2 is memory-bound outside its convolutions, so the bytes its kernels read and write
are a proxy for that part of its time. Compiling needs the CUDA plugin of the installed
jax (`pip install "jax[cuda12]==$(python -c 'import jax; print(jax.__version__)')"`,
~5.5 GB, best in a separate venv) but no GPU or driver: jax's deviceless compile for a
target config. How closely it matches a device's own compile: docs/performance.md.

The traffic of a kernel is counted as the sizes of its operands plus its outputs, so a
slice that reads a few elements of a large operand counts the whole operand (here ~10 GB
of "slice_fusion" per step, the norms' one-pixel shifts). `--hlo` summarises any
optimized HLO text, e.g. one that `train_step.py --trace_dir` wrote on a GPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]  # cyclegan_jax, and train_step beside this file

# One H100 80GB SXM as XLA describes it (stream_executor GpuTargetConfigProto, text format).
H100_TARGET = """
gpu_device_info {
  threads_per_block_limit: 1024 threads_per_warp: 32 shared_memory_per_block: 49152
  shared_memory_per_core: 233472 threads_per_core_limit: 2048 core_count: 132
  fpus_per_core: 128 block_dim_limit_x: 2147483647 block_dim_limit_y: 65535
  block_dim_limit_z: 65535 memory_bandwidth: 3352320000000 l2_cache_size: 52428800
  clock_rate_ghz: 1.98 device_memory_size: 84929347584
  shared_memory_per_block_optin: 232448 cuda_compute_capability { major: 9 }
  registers_per_core_limit: 65536 registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 8 }
runtime_version { major: 12 minor: 8 }
device_description_str: "NVIDIA H100 80GB HBM3"
"""

_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "f32": 4, "s32": 4, "u32": 4,
          "f64": 8, "s64": 8, "u64": 8}
_KERNEL_OPS = ("fusion", "custom-call", "copy", "transpose", "reduce", "convolution", "gather",
               "scatter", "dynamic-update-slice", "concatenate", "pad", "slice")
_INSTR = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\(.*?\)|\S+) ([\w\-]+)\((.*?)\)(, .*)?$")


def shape_bytes(shape: str) -> int:
    """Bytes of every array in an HLO shape string, e.g. '(f32[2,3]{1,0}, bf16[4])' -> 32."""
    total = 0
    for dtype, dims in re.findall(r"\b(" + "|".join(_BYTES) + r")\[([\d,]*)\]", shape):
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * _BYTES[dtype]
    return total


def kernels(hlo: str) -> list[tuple[str, str, int]]:
    """(kind, op_name, operand + output bytes) of each kernel-launching instruction of an
    optimized HLO module: those outside fusion bodies, whose instructions launch nothing."""
    lines = hlo.splitlines()
    shapes = {m.group(1): m.group(2) for m in map(_INSTR.match, lines) if m}
    rows, in_body = [], False
    for line in lines:
        if line.startswith(("%", "ENTRY")):
            in_body = line.startswith("%") and re.match(r"%(fused|wrapped|region|triton|gemm)", line)
            continue
        m = _INSTR.match(line)
        if in_body or not m or m.group(3) not in _KERNEL_OPS:
            continue
        name, shape, op, operands, attrs = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5) or ""
        kind = re.sub(r"[._]\d+$", "", name)
        if op == "custom-call":
            target = re.search(r'custom_call_target="([^"]+)"', attrs)
            kind = target.group(1) if target else op
        op_name = re.search(r'op_name="([^"]+)"', attrs)
        traffic = shape_bytes(shape) + sum(shape_bytes(shapes.get(o, ""))
                                           for o in re.findall(r"%([\w.\-]+)", operands))
        rows.append((re.sub(r"^(loop|input)_", "", kind), op_name.group(1) if op_name else "", traffic))
    return rows


def by_kind(rows: list[tuple[str, str, int]]) -> dict[str, tuple[int, int]]:
    """{kind: (kernels, bytes)}, largest traffic first."""
    acc = collections.defaultdict(lambda: [0, 0])
    for kind, _, traffic in rows:
        acc[kind][0] += 1
        acc[kind][1] += traffic
    return {k: (n, b) for k, (n, b) in sorted(acc.items(), key=lambda kv: -kv[1][1])}


def compile_step_hlo(size: int, batch: int, dtype: str) -> str:
    """The optimized HLO of `cyclegan_jax.train_step` (default model) compiled for one H100."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import topologies

    import cyclegan_jax
    import train_step

    args = train_step.parse_args([f"--sizes={size}", "--conv_impl=s2d"])  # "auto" on a GPU
    state = jax.eval_shape(lambda: cyclegan_jax.create_train_state(
        train_step.config_for(args, size, batch, dtype), 0))
    topology = topologies.get_topology_desc(platform="cuda", target_config=H100_TARGET,
                                            topology="1x1x1")
    mesh = topologies.make_mesh(topology, (1,), ("data",))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                            state)
    images = {k: jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32, sharding=replicated)
              for k in "AB"}
    return cyclegan_jax.train_step.lower(abstract, images).compile().as_text()


def print_table(rows: list, base_rows: list | None, top: int) -> None:
    kinds, base = by_kind(rows), by_kind(base_rows or [])
    total = sum(b for _, b in kinds.values())
    line = f"{len(rows)} kernels, {total / 1e9:.1f} GB per step"
    if base_rows is not None:
        line += f" (base: {len(base_rows)} kernels, {sum(b for _, b in base.values()) / 1e9:.1f} GB)"
    print(line)
    for kind in list(kinds)[:top] + [k for k in base if k not in kinds][:top]:
        n, b = kinds.get(kind, (0, 0))
        row = f"  {kind:42s} {n:5d} {b / 1e9:8.2f} GB"
        if base_rows is not None:
            bn, bb = base.get(kind, (0, 0))
            row += f"   base {bn:5d} {bb / 1e9:8.2f} GB   {(b - bb) / 1e9:+7.2f} GB"
        print(row)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hlo", default="", help="summarise this optimized HLO text instead of compiling")
    p.add_argument("--out", default="", help="where to write the compiled HLO text")
    p.add_argument("--base", default="", help="an HLO text to compare with, kind by kind")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args(argv)
    if args.hlo:
        with open(args.hlo) as f:
            hlo = f.read()
    else:
        t = time.perf_counter()
        hlo = compile_step_hlo(args.size, args.batch, args.dtype)
        print(f"compiled for an H100 in {time.perf_counter() - t:.1f} s "
              f"({args.size}^2, batch {args.batch}, {args.dtype})")
        if args.out:
            with open(args.out, "w") as f:
                f.write(hlo)
    base = None
    if args.base:
        with open(args.base) as f:
            base = kernels(f.read())
    print_table(kernels(hlo), base, args.top)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no GPU here: compile only
    main()
