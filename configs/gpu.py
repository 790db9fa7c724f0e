"""One GPU or TPU host: larger global batch over all local devices.

The official code trains at batch 1; a larger batch keeps accelerators busy but, as
the official docs warn, changes results somewhat even with instance norm.
"""

from configs import default


def get_config():
    c = default.get_config()
    c.batch_size = 8  # global; must be divisible by the number of devices
    c.log_every = 50
    c.sample_every = 500
    c.checkpoint_every = 2000
    return c
