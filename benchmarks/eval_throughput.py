"""Images/s of eval.py's folder translation on this host (translate + reconstruct + PNGs).

python benchmarks/eval_throughput.py                         # ResNet-9, ngf 64, 256x256
python benchmarks/eval_throughput.py --size=512 --count=8 --fid_weights=pt_inception-....pth

Random images and freshly initialised generators: the speed does not depend on the
weights. The first pass (compilation) is not timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cyclegan_jax import host_memory  # noqa: E402
from cyclegan_jax.eval import runner  # noqa: E402
from cyclegan_jax.nn import ResnetGenerator  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--count", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n_blocks", type=int, default=9)
    p.add_argument("--fid_weights", default="")
    args = p.parse_args(argv)
    host_memory.keep_freed_host_memory()  # before the first JAX computation
    net = ResnetGenerator(ngf=args.ngf, n_blocks=args.n_blocks)
    x = np.zeros((1, 64, 64, 3), np.float32)
    g_a = net.init(jax.random.key(0), x)["params"]
    g_b = net.init(jax.random.key(1), x)["params"]
    options = runner.EvalOptions(batch_size=args.batch_size, fid_weights=args.fid_weights)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "in")
        os.makedirs(folder)
        seed = np.random.default_rng(0)
        for i in range(args.count):
            image = seed.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
            Image.fromarray(image).save(os.path.join(folder, f"{i:04d}.png"))
        reference = folder if args.fid_weights else None
        runner.translate_folder(g_a, folder, os.path.join(tmp, "warm"), options, g_b,
                                  reference_dir=reference)
        start = time.perf_counter()
        runner.translate_folder(g_a, folder, os.path.join(tmp, "out"), options, g_b,
                                  reference_dir=reference)
        seconds = time.perf_counter() - start
    print(f"device: {jax.devices()[0].device_kind}; {args.count} images of {args.size}x{args.size}, "
          f"ResNet-{args.n_blocks} ngf {args.ngf}, batch {args.batch_size}, "
          f"FID {'on' if args.fid_weights else 'off'}")
    print(f"{args.count / seconds:.2f} images/s ({seconds / args.count * 1e3:.0f} ms/image: "
          "translate, reconstruct, 3 PNGs" + (", FID features" if args.fid_weights else "") + ")")


if __name__ == "__main__":
    main()
