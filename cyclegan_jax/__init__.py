"""cyclegan_jax: the official CycleGAN (Zhu et al. 2017) and pix2pix in JAX/Flax.

Public entry points:
  create_train_state(config, rng) -> TrainState
  train_step(state, batch) -> (state, metrics)      one jitted official CycleGAN iteration
  pix2pix_step(state, batch) -> (state, metrics)    one jitted official pix2pix iteration
  translate(params, images) -> images               one generator, any image size
  translate_tiled(params, image, tile) -> image     the same in tiles, bounded memory
  discriminate(params, images) -> scores             one discriminator
  load_params(workdir) -> params                     the newest checkpoint of a run
  params_from_state_dict(sd), load_pth(path)         official PyTorch weights, no torch

The package: `nn` (networks), `ops` (convolution algorithms), `train` (state, step,
loop, checkpoints), `eval` (inference, metrics, the evaluation program), `torch_compat`
(PyTorch files), `data` (input). Importing it changes nothing in the process; programs
that run JAX on the CPU call `host_memory.keep_freed_host_memory()` first.
"""

import os as _os

from cyclegan_jax.eval.inference import discriminate, translate, translate_canvas
from cyclegan_jax.eval.runner import evaluate_run, translate_folder
from cyclegan_jax.eval.tiled import translate_tiled
from cyclegan_jax.images import float_to_uint8, uint8_to_float
from cyclegan_jax.nn import (BatchNorm, ConvLayers, InstanceNorm, PatchDiscriminator,
                             PixelDiscriminator, ResnetGenerator, UnetGenerator)
from cyclegan_jax.torch_compat import (import_checkpoint, load_generator, load_pth,
                                       params_from_state_dict)
from cyclegan_jax.train.checkpoints import load_params
from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.loop import train_and_evaluate
from cyclegan_jax.train.optimizer import learning_rate
from cyclegan_jax.train.pix2pix_step import pix2pix_step
from cyclegan_jax.train.sharding import data_mesh, replicate, shard_batch
from cyclegan_jax.train.state import TrainState, create_train_state
from cyclegan_jax.train.step import discriminator_loss, generator_loss, train_step

# The module paths of the flat layout before the package was split into folders
# (`cyclegan_jax.models`, `cyclegan_jax.torch_import`, ...) still import: `_legacy/`
# holds one re-export module for each.
__path__.append(_os.path.join(_os.path.dirname(__file__), "_legacy"))

__all__ = [
    "BatchNorm", "ConvLayers", "HParams", "InstanceNorm", "PatchDiscriminator",
    "PixelDiscriminator", "ResnetGenerator", "TrainState", "UnetGenerator", "create_train_state",
    "data_mesh", "discriminate", "discriminator_loss", "evaluate_run",
    "float_to_uint8", "generator_loss", "import_checkpoint", "learning_rate", "load_generator",
    "load_params", "load_pth", "params_from_state_dict", "pix2pix_step", "replicate",
    "shard_batch",
    "train_and_evaluate", "train_step", "translate", "translate_canvas", "translate_folder",
    "translate_tiled",
    "uint8_to_float",
]
