"""Images/s of the training input pipeline on this host (load, resize, crop, flip, batch).

python benchmarks/input_pipeline.py                      # synthetic data, 286 -> 256
python benchmarks/input_pipeline.py --dataroot=datasets/horse2zebra --threads=8

Each image-iteration needs one A and one B image; the figure to compare with the
train step's images/s is `pairs/s`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import default  # noqa: E402
from cyclegan_jax.data.pipeline import UnalignedBatches  # noqa: E402
from cyclegan_jax.data.sources import open_split  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataroot", default="", help="folder dataset; default: synthetic")
    p.add_argument("--sizes", default="286:256,72:64", help="load:crop pairs")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--batches", type=int, default=20)
    args = p.parse_args(argv)
    config = default.get_config()
    config.batch_size = args.batch_size
    if args.dataroot:
        config.dataset, config.dataroot = "folder", args.dataroot
    else:
        config.dataset, config.synthetic_image_size = "synthetic", 256
    source_A, source_B = open_split(config, "trainA"), open_split(config, "trainB")
    print(f"data: {source_A.name} / {source_B.name}; batch {args.batch_size}, "
          f"{args.threads} threads, {os.cpu_count()} CPUs")
    print("load -> crop | pairs/s | ms/batch")
    for pair in args.sizes.split(","):
        config.load_size, config.crop_size = map(int, pair.split(":"))
        batches = UnalignedBatches(source_A, source_B, config, num_threads=args.threads)
        iterator = batches.iterate(0)
        next(iterator)  # warm-up
        t = time.perf_counter()
        for _ in range(args.batches):
            next(iterator)
        seconds = time.perf_counter() - t
        iterator.close()
        print(f"{config.load_size} -> {config.crop_size} | "
              f"{args.batches * args.batch_size / seconds:.1f} | {seconds / args.batches * 1e3:.1f}")


if __name__ == "__main__":
    main()
