"""PyTorch files without torch: `.pth` reading, official state_dicts, official checkpoints."""

from cyclegan_jax.torch_compat.official import (import_checkpoint, load_generator, official_files,
                                                save_generator)
from cyclegan_jax.torch_compat.pth import PthError, load_pth
from cyclegan_jax.torch_compat.state_dict import (StateDictError, describe, network_for,
                                                  params_from_state_dict)

__all__ = ["PthError", "StateDictError", "describe", "import_checkpoint", "load_generator",
           "load_pth", "network_for", "official_files", "params_from_state_dict",
           "save_generator"]
