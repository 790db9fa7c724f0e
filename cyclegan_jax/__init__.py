"""cyclegan_jax: the official CycleGAN (Zhu et al. 2017) in JAX/Flax.

Public entry points:
  create_train_state(config, rng) -> TrainState
  train_step(state, batch) -> (state, metrics)      one jitted official iteration
  translate(params, images) -> images               one generator, any image size
  load_params(workdir) -> params                     the newest checkpoint of a run
"""

from cyclegan_jax.checkpointing import load_params
from cyclegan_jax.inference import float_to_uint8, translate, uint8_to_float
from cyclegan_jax.models import PatchDiscriminator, ResnetGenerator
from cyclegan_jax.state import HParams, TrainState, create_train_state, learning_rate
from cyclegan_jax.step import discriminator_loss, generator_loss, train_step

__all__ = [
    "HParams", "PatchDiscriminator", "ResnetGenerator", "TrainState", "create_train_state",
    "discriminator_loss", "float_to_uint8", "generator_loss", "learning_rate", "load_params",
    "train_step",
    "translate", "uint8_to_float",
]
