"""Peak device memory of translating one image whole versus in tiles (`translate_tiled`).

python benchmarks/tiled_memory.py                        # ResNet-9, ngf 64, 1024 and 2048 px
python benchmarks/tiled_memory.py --sizes=1024,4096 --tile=512 --run

The peak is XLA's plan for each compiled program (`memory_analysis()`: arguments, outputs
and temporaries, the weights included), so it needs no accelerator; the tiled figure is
that of the one window program every pass runs, whatever the image size. With `--run`
the tiled translation also runs (on random weights) and its time is printed, with the
passes it took: (norm layers + 1) per window.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cyclegan_jax.eval import tiled  # noqa: E402
from cyclegan_jax.nn import ConvLayers, ResnetGenerator  # noqa: E402


def _peak_bytes(compiled) -> int:
    m = compiled.memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1024,2048", help="square image sides, comma-separated")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n_blocks", type=int, default=9)
    p.add_argument("--run", action="store_true", help="also run the tiled translation")
    args = p.parse_args(argv)

    net = ResnetGenerator(ngf=args.ngf, n_blocks=args.n_blocks, conv=ConvLayers("xla"))
    params = net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
    print(f"device: {jax.devices()[0].device_kind}; ResNet-{args.n_blocks} ngf {args.ngf}, "
          f"tile {args.tile} (halo {tiled.halo(net)})")
    window = jax.ShapeDtypeStruct((1, args.tile, args.tile, 3), jnp.float32)
    layers = jax.eval_shape(lambda x, c: tiled._window(net, params, x, None, c), window,
                            jax.ShapeDtypeStruct((4,), jnp.int32))[1]
    stats = [(jnp.zeros(m.shape), jnp.ones(m.shape)) for _, m, _ in layers]
    tile_peak = _peak_bytes(tiled._window.lower(net, params, window, stats,
                                                jnp.zeros(4, jnp.int32)).compile())
    print(f"{'image':>11} {'whole MiB':>10} {'tiled MiB':>10} {'windows':>8} {'seconds':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        whole = jax.jit(lambda x: net.apply({"params": params}, x)).lower(
            jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)).compile()
        windows = len(tiled._cores(size, args.tile, tiled.halo(net))) ** 2
        seconds = float("nan")
        if args.run:
            image = np.random.default_rng(0).uniform(-1, 1, (size, size, 3)).astype(np.float32)
            start = time.perf_counter()
            tiled.translate_tiled(params, image, args.tile)
            seconds = time.perf_counter() - start
        print(f"{size:>5}x{size:<5} {_peak_bytes(whole) / 2**20:>10.1f} "
              f"{tile_peak / 2**20:>10.1f} {windows:>8} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
