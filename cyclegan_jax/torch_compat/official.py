"""Official PyTorch CycleGAN files -> our checkpoints and generator params, without torch.

Two kinds of file exist:
- a checkpoint folder written by the official `save_networks` (`models/base_model.py`)
  (`<epoch>_net_{G_A,G_B,D_A,D_B}.pth`, epoch `latest` or a number), which
  `import_checkpoint` turns into a workdir that `train.py` resumes from (fine-tuning:
  step 0, fresh Adam moments and empty pools, since the official files hold neither;
  `config.epoch_count` places the learning-rate schedule as the official option does)
  and `eval.py` reads;
- a single pretrained generator (`horse2zebra.pth`, from the official
  `scripts/download_cyclegan_model.sh`), which `load_generator` reads into
  params for `translate`; `save_generator` stores params as a Flax msgpack file.
"""

from __future__ import annotations

import os
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax import files
from cyclegan_jax.config import save_config, upgrade
from cyclegan_jax.errors import UserError
from cyclegan_jax.nn.networks import ResnetGenerator
from cyclegan_jax.torch_compat.pth import load_pth
from cyclegan_jax.torch_compat.state_dict import (StateDictError, describe, network_for,
                                                  params_from_state_dict)
from cyclegan_jax.train.checkpoints import Checkpoints
from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.state import init_params, raw_key, state_from_params

NETS = ("G_A", "G_B", "D_A", "D_B")


def official_files(folder: files.PathLike, epoch: str = "latest") -> dict[str, str]:
    """Paths of `<epoch>_net_<net>.pth` for the four networks; an error names what is missing."""
    root = files.resolve(folder)
    if not root.is_dir():
        raise UserError(f"official checkpoint folder {os.fspath(folder)!r} does not exist")
    paths = {net: str(root / f"{epoch}_net_{net}.pth") for net in NETS}
    missing = [f"{epoch}_net_{net}.pth" for net, p in paths.items() if not files.resolve(p).is_file()]
    if missing:
        present = sorted(p.name for p in root.iterdir() if p.name.endswith(".pth"))
        raise UserError(
            f"{folder} lacks {', '.join(missing)} (epoch {epoch!r}); it holds {present or 'no .pth files'}. "
            "Pass the epoch the files carry (e.g. --epoch=200), or a folder written by the "
            "official train.py (a single pretrained generator goes to --generator instead)")
    return paths


def _convert(path: str) -> dict:
    try:
        return params_from_state_dict(load_pth(path))
    except StateDictError as e:
        raise UserError(f"{path}: {e}") from e


def _architecture_hint(params: dict, hparams: HParams) -> str:
    """What the official files hold versus what the config asks for, with the fix."""
    gen, disc = params["G_A"], params["D_A"]
    blocks = sum(1 for k in gen if k.startswith("block_"))
    layers = sum(1 for k in disc if k.startswith("conv_")) - 2
    found = {
        "ngf": gen["conv_in"]["kernel"].shape[-1],
        "netG": {9: "resnet_9blocks", 6: "resnet_6blocks"}.get(blocks, f"<{blocks} blocks>"),
        "ndf": disc["conv_0"]["kernel"].shape[-1],
        "netD": "basic" if layers == 3 else "n_layers",
        "n_layers_D": layers,
        "norm": "instance_affine" if "scale" in gen.get("norm_in", {}) else "instance",
        "input_nc": gen["conv_in"]["kernel"].shape[2],
        "output_nc": gen["conv_out"]["kernel"].shape[-1],
    }
    configured = {"ngf": hparams.ngf, "netG": f"resnet_{hparams.n_blocks}blocks",
                  "ndf": hparams.ndf, "netD": "basic" if hparams.n_layers_D == 3 else "n_layers",
                  "n_layers_D": hparams.n_layers_D, "norm": hparams.norm,
                  "input_nc": hparams.input_nc, "output_nc": hparams.output_nc}
    fix = " ".join(f"--config.{k}={v}" for k, v in found.items() if configured[k] != v)
    return (f"the official networks do not match the config's model: "
            f"{', '.join(f'{k}={v}' for k, v in found.items())}. Pass {fix or '(no field differs: check use_dropout)'} "
            "here and to train.py")


def import_checkpoint(folder: files.PathLike, workdir: files.PathLike, config: Any,
                      epoch: str = "latest") -> int:
    """Writes the official checkpoint in `folder` as step 0 of a run in `workdir`.

    Args:
      folder: holds `<epoch>_net_{G_A,G_B,D_A,D_B}.pth` from the official code.
      workdir: a new run directory (refused if it already has checkpoints).
      config: the run's config (see `configs/default.py`); its model fields must
        describe the official networks, and `epoch_count` says which epoch training
        continues at (e.g. 201 after the official 200).
      epoch: the files' epoch label.

    Returns:
      The number of parameters imported.
    """
    config = upgrade(config)
    paths = official_files(folder, epoch)
    params = {net: _convert(path) for net, path in paths.items()}
    hparams = HParams.from_config(config)
    key = raw_key(config.seed)
    k_init, k_step = jax.random.split(key)
    expected = jax.eval_shape(lambda: init_params(hparams, k_init))
    shapes = lambda tree: jax.tree.map(lambda x: tuple(x.shape), tree)  # noqa: E731
    if shapes(params) != shapes(expected):  # nested dicts: names and shapes both compared
        raise UserError(f"{folder}: {_architecture_hint(params, hparams)}")

    checkpoints = Checkpoints(files.resolve(workdir) / "checkpoints", writer=True)
    try:
        if checkpoints.steps():
            raise UserError(f"{workdir} already has checkpoints (steps {checkpoints.steps()}); "
                            "import into a new --workdir")
        state = jax.jit(lambda p, k: state_from_params(hparams, p, k, config.pool_size,
                                                       config.crop_size))(params, k_step)
        save_config(workdir, config)
        checkpoints.save(state, {"data": None, "imported_from": str(files.resolve(folder)),
                                 "epoch": epoch, "step": 0})
    finally:
        checkpoints.close()
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def load_generator(path: str) -> dict:
    """Generator params from an official `.pth` (e.g. `horse2zebra.pth`) or our `.msgpack`,
    local or in a bucket."""
    if not files.resolve(path).is_file():
        raise UserError(f"generator file {path!r} does not exist")
    if path.endswith(".msgpack"):
        try:
            params = flax.serialization.msgpack_restore(files.read_bytes(path))
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001  (msgpack raises several types)
            raise UserError(f"{path} is not a Flax msgpack params file ({e})") from e
        return jax.tree.map(jnp.asarray, params)
    state_dict = load_pth(path)
    try:
        module = network_for(state_dict)
    except StateDictError as e:
        raise UserError(f"{path}: {e}") from e
    if not isinstance(module, ResnetGenerator):
        raise UserError(f"{path} holds a discriminator ({describe(module)}), not a generator")
    return _convert(path)


def save_generator(params: dict, path: files.PathLike) -> None:
    """Writes generator params as a Flax msgpack file (atomically)."""
    files.write_atomic(path, flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))
