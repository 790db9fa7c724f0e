"""A TPU VM or pod slice: the official model in bfloat16, a global batch split over all chips.

The global batch must be a multiple of the chip count (32: up to 32 chips, e.g. v5e-16 or
v4-32); check that a config fits a slice before renting it with
`benchmarks/tpu_compile.py`. The official results use batch 1; larger batches change
results somewhat even with instance norm (official docs/tips.md).
"""

from configs import default


def get_config():
    c = default.get_config()
    c.batch_size = 32  # global
    c.dtype = "bfloat16"
    c.log_every = 50
    c.sample_every = 500
    c.checkpoint_every = 2000
    return c
