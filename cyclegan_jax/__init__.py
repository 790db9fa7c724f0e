"""cyclegan_jax: the official CycleGAN (Zhu et al. 2017) in JAX/Flax.

Public entry points:
  create_train_state(config, rng) -> TrainState
  train_step(state, batch) -> (state, metrics)      one jitted official iteration
  translate(params, images) -> images               one generator, any image size
  load_params(workdir) -> params                     the newest checkpoint of a run

Where JAX runs on the CPU only, importing it first keeps the host memory XLA:CPU frees
after each step for the next (`host_memory.keep_freed_host_memory`;
CYCLEGAN_JAX_KEEP_HOST_MEMORY=0 turns it off).
"""

from cyclegan_jax.host_memory import keep_freed_host_memory

keep_freed_host_memory()  # before JAX starts its CPU client's threads

from cyclegan_jax.checkpointing import load_params  # noqa: E402
from cyclegan_jax.inference import float_to_uint8, translate, uint8_to_float  # noqa: E402
from cyclegan_jax.models import PatchDiscriminator, ResnetGenerator  # noqa: E402
from cyclegan_jax.state import HParams, TrainState, create_train_state, learning_rate  # noqa: E402
from cyclegan_jax.step import discriminator_loss, generator_loss, train_step  # noqa: E402

__all__ = [
    "HParams", "PatchDiscriminator", "ResnetGenerator", "TrainState", "create_train_state",
    "discriminator_loss", "float_to_uint8", "generator_loss", "learning_rate", "load_params",
    "train_step",
    "translate", "uint8_to_float",
]
